"""The rows the real-data benchmarks score: the held-out split and labelled eval files
(scripts/bench_encoder.py, shared by bench_distill.py). No model is trained here."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np
import pytest
from competition_files import qc_row, write_jsonl

from relevance.evaluate.baseline import tfidf_baseline
from relevance.evaluate.metrics import auc, score_rows

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from bench_encoder import (
    MeanScorer,
    baseline_figures,
    eval_rows,
    eval_summary,
    fold_members,
    hard_negative_rows,
    holdout_split,
    labelled_rows,
    model_figures,
    scores_on,
    selfval_kept,
)


def _train_dir(root: Path) -> Path:
    rows = [qc_row(i, language=lang, label=i % 2) for i, lang in enumerate(["en", "fr", "JA"] * 10)]
    write_jsonl(root / "train_QC.txt", rows)
    return root


def test_holdout_split_keeps_every_row_once(tmp_path: Path) -> None:
    train, valid, held = holdout_split(_train_dir(tmp_path), "ja", seed=1, train_rows=0, fill=0)
    assert set(held["lang"]) == {"ja"} and len(held) == 10  # "JA" is ja
    assert len(train) + len(valid) == 20 and "ja" not in set(train["lang"]) | set(valid["lang"])
    ids = set(train["id"]) | set(valid["id"]) | set(held["id"])
    assert len(ids) == 30


def test_holdout_none_trains_on_every_language(tmp_path: Path) -> None:
    train, valid, held = holdout_split(_train_dir(tmp_path), "none", seed=1, train_rows=0, fill=0)
    assert held.empty and len(train) + len(valid) == 30
    with pytest.raises(click.BadParameter, match="got --holdout none"):
        holdout_split(tmp_path, "none", seed=1, train_rows=0, fill=5)
    with pytest.raises(click.BadParameter, match=r"one of \['en', 'fr', 'ja'\] .* got 'de'"):
        holdout_split(tmp_path, "de", seed=1, train_rows=0, fill=0)


def test_labelled_rows_refuses_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "eval.txt"
    path.write_text("")
    with pytest.raises(click.ClickException, match=r"eval.txt: no records"):
        labelled_rows(path)


def test_labelled_rows_joins_a_labels_file(tmp_path: Path) -> None:
    rows = [qc_row(i, language="DE", query=f"q{i}", label=None) for i in range(4)]
    path = write_jsonl(tmp_path / "eval.txt", rows)
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\n0,1\n1,0\n2,1\n3,0\n")
    frame = labelled_rows(path, labels)
    assert frame["label"].tolist() == [1, 0, 1, 0]
    assert frame["lang"].tolist() == ["de"] * 4
    assert frame["query"].tolist() == ["q0", "q1", "q2", "q3"]


def test_labelled_rows_refuses_unlabelled_and_unknown_rows(tmp_path: Path) -> None:
    rows = [qc_row(i, label=None) for i in range(3)]
    path = write_jsonl(tmp_path / "eval.txt", rows)
    with pytest.raises(click.ClickException, match=r"3 of 3 rows .*eval.txt:1, id 0"):
        labelled_rows(path)
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\n0,1\n1,0\n2,1\n9,0\n")
    with pytest.raises(click.ClickException, match=r"labels.csv:5: unknown_id"):
        labelled_rows(path, labels)


def test_scores_on_gives_auc_overall_and_per_language(tmp_path: Path) -> None:
    rows = [qc_row(i, language=["de", "pl"][i % 2], label=(i // 2) % 2) for i in range(40)]
    frame = labelled_rows(write_jsonl(tmp_path / "eval.txt", rows))
    p = np.random.default_rng(0).random(len(frame))
    result = scores_on(frame, p, 0.5)
    labels = frame["label"].to_numpy()
    assert result["auc"] == pytest.approx(auc(labels, p))
    for lang in ("de", "pl"):
        index = (frame["lang"] == lang).to_numpy()
        assert result["auc_by_language"][lang] == pytest.approx(auc(labels[index], p[index]))
    assert result["threshold"] == 0.5
    assert result["f1"] == score_rows(labels, p, 0.5)["f1"]


def test_training_file_is_read_by_the_pipelines_ingest(tmp_path: Path) -> None:
    # A byte order mark and upper-case codes read as the pipeline reads them; a bad label
    # stops the run at its line instead of training on it.
    rows = [qc_row(1, language="EN", label=1), qc_row(2, language="Fr", label=0)]
    path = write_jsonl(tmp_path / "train_QC.txt", rows)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    _, _, held = holdout_split(tmp_path, "fr", seed=1, train_rows=0, fill=0)
    assert held["id"].tolist() == [2]
    write_jsonl(path, [qc_row(1, label=1), qc_row(2, label=7)])
    with pytest.raises(click.ClickException, match=r"train_QC.txt:2: bad_label"):
        holdout_split(tmp_path, "en", seed=1, train_rows=0, fill=0)


def test_eval_rows_need_complete_rows_and_say_what_overlaps_training(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\n0,1\n")
    with pytest.raises(click.UsageError, match="needs --eval-file"):
        eval_rows(None, labels)
    assert eval_rows(None, None) is None
    rows = [qc_row(0, label=1), {**qc_row(1, label=0), "category_path": None}]
    with pytest.raises(click.ClickException, match=r"eval.txt:2, id 1, missing_field"):
        eval_rows(write_jsonl(tmp_path / "eval.txt", rows), None)
    rows = [qc_row(0, query="a", label=1), qc_row(1, query="b", label=0)]
    frame = eval_rows(write_jsonl(tmp_path / "eval.txt", rows), None)
    train = frame.iloc[:1]  # the pair (a, candidate) is also a training row
    summary = eval_summary(tmp_path / "eval.txt", frame, train)
    assert summary["pairs_also_in_training"] == 1 and summary["rows"] == 2


class _LabelScorer:
    """p(yes) = 0.1 + 0.8 * label: a perfect ranking, to check the figures' plumbing."""

    def score(self, task: object, rows: object, *, label: str = "") -> np.ndarray:
        return 0.1 + 0.8 * rows["label"].to_numpy(float)


def test_model_and_baseline_figures_on_held_and_eval_rows(tmp_path: Path) -> None:
    rows = [qc_row(i, language=["de", "pl"][i % 2], query=f"q{i}", label=(i // 2) % 2)
            for i in range(40)]  # fmt: skip
    frame = labelled_rows(write_jsonl(tmp_path / "rows.txt", rows))
    valid, held, extra = frame.iloc[:10], frame.iloc[10:25], frame.iloc[25:]
    figures, on_extra, first = model_figures(
        _LabelScorer(), None, "m", valid=valid, held=held, holdout="de", extra=extra
    )
    assert figures["validation_auc"] == 1.0 and figures["auc"] == 1.0
    assert figures["f1_at_tuned"] == 1.0 and figures["pairs_per_s"] > 0
    assert on_extra["auc"] == 1.0 and set(on_extra["auc_by_language"]) == {"de", "pl"}
    assert np.array_equal(first, 0.1 + 0.8 * held["label"].to_numpy(float))
    _, none_extra, first = model_figures(
        _LabelScorer(), None, "m", valid=valid, held=held.iloc[:0], holdout="none", extra=extra
    )
    assert none_extra is not None and len(first) == len(extra)
    on_held, tfidf_extra = baseline_figures(frame.iloc[:20], held, extra)
    labels = held["label"].to_numpy()
    assert on_held["all_positive_f1"] == score_rows(labels, np.ones(len(labels)), 0.5)["f1"]
    (p_extra,) = tfidf_baseline(frame.iloc[:20], [extra])
    assert tfidf_extra == scores_on(extra, p_extra, 0.5)
    assert baseline_figures(frame.iloc[:20], held.iloc[:0], None) == ({}, None)


def test_fold_members_leave_out_each_category_branch_once(tmp_path: Path) -> None:
    branches = [f"top{b // 2},branch{b},leaf" for b in range(8)]
    rows = [qc_row(i, language=["en", "fr"][i % 2], path=branches[i % 8], label=(i // 2) % 2)
            for i in range(64)]  # fmt: skip
    train = labelled_rows(write_jsonl(tmp_path / "rows.txt", rows), split="train")
    members = fold_members(train, 4, seed=3)
    assert len(members) == 4
    left_out = [set(train["id"]) - set(m["id"]) for m in members]
    assert all(left_out) and sorted(i for out in left_out for i in out) == sorted(train["id"])
    for m, out in zip(members, left_out, strict=True):  # a branch is wholly in or out
        out_paths = set(train.loc[train["id"].isin(out), "candidate"])
        assert out_paths and not out_paths & set(m["candidate"])
    assert [len(m) for m in fold_members(train, 4, seed=3)] == [len(m) for m in members]


def test_selfval_kept_drops_what_out_of_fold_models_confidently_contradict(
    tmp_path: Path,
) -> None:
    branches = [f"top{b // 2},branch{b},leaf" for b in range(10)]
    rows = [qc_row(i, language=["en", "fr"][i % 2], path=branches[i % 10], label=(i // 2) % 2)
            for i in range(80)]  # fmt: skip
    train = labelled_rows(write_jsonl(tmp_path / "rows.txt", rows), split="train")
    wrong = {3, 4, 11, 12}  # ids whose label the stand-in filter confidently denies
    trained_on: list[set] = []

    def train_model(fit, k: int) -> set:
        trained_on.append(set(fit["id"]))
        return set(fit["id"])

    def score_model(seen: set, scored) -> np.ndarray:
        assert not seen & set(scored["id"])  # every row is scored by a model that did not see it
        labels = zip(scored["id"], scored["label"], strict=True)
        says_yes = [(label == 1) != (i in wrong) for i, label in labels]
        return np.where(says_yes, 0.95, 0.05)

    kept, summary = selfval_kept(train, seed=3, train_model=train_model, score_model=score_model)
    assert len(trained_on) == 2  # params.yaml selfval.folds
    assert set(train["id"]) - set(kept["id"]) == wrong
    assert summary["flagged"] == 4 and summary["candidates"] == 4
    assert summary["flagged_by_reason"] == {"label_1_model_says_no": 2, "label_0_model_says_yes": 2}
    assert list(kept.columns) == list(train.columns) and len(kept) == 76


def test_mean_scorer_is_the_ensembles_mean_p_yes(tmp_path: Path) -> None:
    class Fixed:
        def __init__(self, value: float) -> None:
            self.value = value

        def score(self, task: object, rows, *, label: str = "") -> np.ndarray:
            return np.full(len(rows), self.value)

    rows = labelled_rows(write_jsonl(tmp_path / "rows.txt", [qc_row(i) for i in range(3)]))
    assert np.allclose(MeanScorer([Fixed(0.2), Fixed(0.6), _LabelScorer()]).score(None, rows),
                       (0.2 + 0.6 + 0.9) / 3)  # fmt: skip


@pytest.fixture
def stand_in_pivot(monkeypatch) -> dict:
    """bench_encoder.pivoted with a stand-in translator: row ``i`` of split ``s`` gets the
    English ``en{i}`` (``{s}:en{i}`` in split ``eval``), odd Japanese ids fail the gate.
    Returns a dict that gets the rows the pivot pass saw, under ``rows``."""
    import contextlib

    from relevance.augment import pivot as pivot_module
    from relevance.augment import translators

    seen = {}

    def fake_pivot_rows(rows, **_):
        seen["rows"] = rows
        english = [
            None if lang == "ja" and i % 2 else ("eval:" if split == "eval" else "") + f"en{i}"
            for i, lang, split in zip(rows["id"], rows["lang"], rows["split"], strict=True)
        ]
        table = rows.assign(query_en=english, reason=None)[
            ["id", "split", "language", "query", "query_en", "reason"]
        ]
        return pivot_module.PivotRows(table, {"total": {"rows": len(rows)}})

    tools = type("Tools", (), {"parts": lambda self: {}})()
    monkeypatch.setattr(pivot_module, "pivot_rows", fake_pivot_rows)
    monkeypatch.setattr(translators, "open_translation", lambda _: contextlib.nullcontext(tools))
    return seen


def test_pivoted_gives_each_split_its_own_english(tmp_path: Path, stand_in_pivot) -> None:
    """--pivot: one pivot pass over every split (its rows as the pipeline's pivot@<task>
    gets them), then the pipeline's prepare_rows on each."""
    import bench_encoder

    seen = stand_in_pivot
    train, valid, held = holdout_split(_train_dir(tmp_path), "ja", seed=1, train_rows=0, fill=0)
    frames = {"train": train, "valid": valid, "held": held}
    replaced = bench_encoder.pivoted(frames, "replace")
    assert sorted(seen["rows"]["split"].unique()) == ["held", "train", "valid"]
    assert len(seen["rows"]) == 30
    for name, rows in replaced.items():
        for (i, lang, query), new in zip(
            frames[name][["id", "lang", "query"]].itertuples(index=False), rows["query"],
            strict=True,
        ):  # fmt: skip
            failed = lang == "ja" and i % 2
            assert new == (query if lang == "en" or failed else f"en{i}")
    appended = bench_encoder.pivoted({"held": held}, "append")["held"]
    assert all(
        q == (old if i % 2 else f"{old} - en{i}")
        for i, old, q in zip(held["id"], held["query"], appended["query"], strict=True)
    )


def test_pivoted_eval_rows_may_share_ids_with_training(tmp_path: Path, stand_in_pivot) -> None:
    """--pivot with --eval-file: a dev file numbers its rows as the training file does;
    each split looks its own English up."""
    import bench_encoder

    train, _, _ = holdout_split(_train_dir(tmp_path), "ja", seed=1, train_rows=0, fill=0)
    rows = [qc_row(i, language="de", query=f"anfrage {i}") for i in range(6)]
    extra = labelled_rows(write_jsonl(tmp_path / "dev.txt", rows))
    assert set(extra["id"]) & set(train["id"])
    frames = bench_encoder.pivoted({"train": train, "eval": extra}, "replace")
    assert list(frames["eval"]["query"]) == [f"eval:en{i}" for i in extra["id"]]
    assert all(q == old if lang == "en" else q == f"en{i}" for i, lang, old, q in zip(
        train["id"], train["lang"], train["query"], frames["train"]["query"], strict=True
    ))  # fmt: skip


def test_hard_negative_rows_are_new_label_0_rows_of_other_categories(
    tmp_path: Path, monkeypatch
) -> None:
    """--negatives: the pipeline's mining over the training rows, a stand-in embedder
    (category paths as points on a line: rank = distance); no translation."""
    import contextlib

    from relevance.augment import translators

    def embed(texts):
        angle = np.array([int(t.split(",")[1][3:]) for t in texts]) / 200.0
        return np.stack([np.cos(angle), np.sin(angle)], axis=1)

    tools = type("Tools", (), {"embedder": type("E", (), {"encode": staticmethod(embed)})()})()
    monkeypatch.setattr(translators, "open_translation", lambda _: contextlib.nullcontext(tools))
    rows = [qc_row(i, language=["en", "KO"][i % 2], query=f"query {i}",
                   path=f"top{i % 3},cat{i},leaf", label=1) for i in range(80)]  # fmt: skip
    train = labelled_rows(write_jsonl(tmp_path / "rows.txt", rows), split="train")
    mined = hard_negative_rows(train, 12, seed=5)
    assert len(mined) == 12 and set(mined["label"]) == {0}
    assert list(mined.columns) == ["id", "language", "lang", "query", "candidate", "label"]
    assert mined["id"].min() > train["id"].max() and mined["id"].is_unique
    source = train.set_index("query").loc[mined["query"]]
    assert list(mined["language"]) == list(source["language"])  # its positive's language
    assert set(mined["lang"]) <= {"en", "ko"}
    for candidate, own in zip(mined["candidate"], source["candidate"], strict=True):
        # ranked 20..50 from its own: another category, not a neighbour
        distance = abs(int(candidate.split(",")[1][3:]) - int(own.split(",")[1][3:]))
        assert candidate != own and distance >= 10
    assert hard_negative_rows(train, 12, seed=5).equals(mined)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--batch-size", "0"], "per_device_batch_size must be >= 1"),
        (["--folds", "1"], "expected 0 (one model) or >= 2, got 1"),
        (["--negatives", "-1"], "expected >= 0 rows, got -1"),
        (["--seeds", "2", "--folds", "3"], "1 with --folds"),
    ],
)
def test_bad_options_stop_before_any_data_is_read(tmp_path: Path, option, message) -> None:
    import bench_encoder
    from click.testing import CliRunner

    # An empty folder: reading its training file would fail with another message.
    result = CliRunner().invoke(bench_encoder.main, ["--data", str(tmp_path), *option])
    assert result.exit_code == 2, result.output
    assert message in result.output
