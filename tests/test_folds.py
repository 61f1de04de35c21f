"""The folds wing end to end on hand-written rows: the selfval, filter and cv stages through
their command lines with the fold models faked (hand-written p(yes), no training), the
CV report on a hand-written 2-fold table, and flags matched by id."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import stages.cv as cv_stage
import stages.filter as filter_stage
import stages.selfval as selfval_stage
from relevance.errors import DataError
from relevance.evaluate.metrics import cv_report
from relevance.folds import training
from relevance.folds.filter import apply_filter
from relevance.tables import AUGMENTED_SCHEMA, PIVOT_SCHEMA, empty_frame, write_table

# Eight training rows, split folds 0/1 alternating. By hand (see test_noise.py for the
# rule): t_1 = mean p(yes) of label 1 = (.9 + .8 + .2 + .7) / 4 = .65, t_0 = mean p(no)
# of label 0 = (.9 + .7 + .1 + .8) / 4 = .625. Flagged: r2 (label 1, p(no) .8) and r5
# (label 0, p(yes) .9); nothing else crosses its threshold.
IDS = [f"r{i}" for i in range(8)]
LABELS = [1, 1, 1, 0, 0, 0, 1, 0]
P_YES = dict(zip(IDS, [0.9, 0.8, 0.2, 0.1, 0.3, 0.9, 0.7, 0.2], strict=True))
PARAMS = """\
models: {allow_download: false}
selfval: {enabled: %s, mode: oof, folds: 2, max_flag_fraction: 1.0, min_confidence: 0.5}
filter: {action: remove}
cv: {folds: %d, ensemble: false, weights: []}
input: {pivot_en: false, lowercase: false}
train: {qc: {}}
"""


def _rows() -> pd.DataFrame:
    languages = ["en"] * 4 + ["de"] * 4
    return pd.DataFrame(
        {
            "id": IDS,
            "source": ["original"] * 5 + ["translated"] + ["original"] * 2,
            "source_id": range(8),
            "language": languages,
            "lang": languages,
            "query": [f"query {i}" for i in range(8)],
            "candidate": [f"category {i}" for i in range(8)],
            "label": LABELS,
            "category_levels": [None] * 8,
            "fold": [0, 1] * 4,
        }
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Training rows, an empty pivot table and a params writer in ``tmp_path``; hub access
    restored after the test (the stages switch it off for the whole process)."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", constants.HF_HUB_OFFLINE)
    write_table(_rows(), tmp_path / "augmented.parquet", AUGMENTED_SCHEMA)
    write_table(empty_frame(PIVOT_SCHEMA), tmp_path / "pivot.parquet", PIVOT_SCHEMA)
    return tmp_path


def _params(root: Path, *, selfval: bool = True, cv_folds: int = 0) -> str:
    path = root / "params.yaml"
    path.write_text(PARAMS % ("true" if selfval else "false", cv_folds))
    return str(path)


def _fake_training(monkeypatch: pytest.MonkeyPatch) -> list[list[list[str]]]:
    """Replace LoRA training with the hand-written p(yes); returns the ids each call's
    models trained on, so a test can check no row was scored by its own trainer."""
    calls: list[list[list[str]]] = []

    def fake(rows: pd.DataFrame, plan, **kwargs) -> tuple[pd.DataFrame, list[dict]]:
        p_yes, model = np.full(len(rows), np.nan), np.full(len(rows), -1, dtype=np.int16)
        calls.append([])
        for k, (train_idx, score_idx) in enumerate(plan):
            calls[-1].append(rows["id"].iloc[train_idx].tolist())
            p_yes[score_idx] = rows["id"].iloc[score_idx].map(P_YES)
            model[score_idx] = k
        scores = pd.DataFrame(
            {"id": rows["id"], "fold": rows["fold"], "model": model, "p_yes": p_yes}
        )
        return scores, [{"train_rows": len(t), "scored_rows": len(s)} for t, s in plan]

    monkeypatch.setattr(training, "train_fold_models", fake)
    return calls


def _run(command: click.Command, root: Path, *args: str) -> None:
    result = CliRunner().invoke(command, [*args, "--params", str(root / "params.yaml")])
    assert result.exit_code == 0, result.output


def _selfval(root: Path) -> None:
    _run(
        selfval_stage.main, root, "--task", "qc", "--train", str(root / "augmented.parquet"),
        "--base-model", str(root / "llm"), "--work-dir", str(root / "work"),
        "--scores", str(root / "scores.parquet"), "--flagged", str(root / "flagged.parquet"),
        "--metrics", str(root / "selfval.json"),
    )  # fmt: skip


def _filter(root: Path) -> pd.DataFrame:
    _run(
        filter_stage.main, root, "--task", "qc", "--train", str(root / "augmented.parquet"),
        "--flagged", str(root / "flagged.parquet"), "--out", str(root / "filtered.parquet"),
        "--metrics", str(root / "filter.json"),
    )  # fmt: skip
    return pd.read_parquet(root / "filtered.parquet")


def test_selfval_then_filter_stages(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_training(monkeypatch)
    _params(project)
    _selfval(project)
    (models,) = calls
    # Two filter models; each trains on the fold the other scores.
    assert models == [["r1", "r3", "r5", "r7"], ["r0", "r2", "r4", "r6"]]
    scores = pd.read_parquet(project / "scores.parquet")
    assert scores["id"].tolist() == IDS and scores["model"].tolist() == [0, 1] * 4
    flagged = pd.read_parquet(project / "flagged.parquet")
    assert flagged["id"].tolist() == ["r2", "r5"]
    assert flagged["reason"].tolist() == ["label_1_model_says_no", "label_0_model_says_yes"]
    assert flagged["threshold"].tolist() == pytest.approx([0.625, 0.65])
    metrics = json.loads((project / "selfval.json").read_text())
    assert metrics == {
        "enabled": True,
        "mode": "oof",
        "filter_models": [{"train_rows": 4, "scored_rows": 4}] * 2,
        "rows_in": 8,
        "flagged": 2,
        "flagged_by_reason": {"label_0_model_says_yes": 1, "label_1_model_says_no": 1},
        "flagged_by_source": {"original": 1, "translated": 1},
        "per_language": {"de": {"rows": 4, "flagged": 1}, "en": {"rows": 4, "flagged": 1}},
    }
    assert (project / "work").is_dir()

    filtered = _filter(project)
    assert filtered["id"].tolist() == ["r0", "r1", "r3", "r4", "r6", "r7"]
    counts = json.loads((project / "filter.json").read_text())
    assert (counts["action"], counts["rows_in"], counts["removed"], counts["rows_out"]) == (
        "remove", 8, 2, 6,
    )  # fmt: skip


def test_selfval_disabled_filter_passes_rows_through(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_training(monkeypatch)
    _params(project, selfval=False)
    _selfval(project)
    assert calls == []  # nothing trained
    assert pd.read_parquet(project / "flagged.parquet").empty
    assert json.loads((project / "selfval.json").read_text()) == {
        "enabled": False,
        "rows_in": 8,
        "flagged": 0,
    }
    filtered = _filter(project)
    pd.testing.assert_frame_equal(filtered, pd.read_parquet(project / "augmented.parquet"))
    counts = json.loads((project / "filter.json").read_text())
    assert counts["rows_out"] == 8 and counts["flagged"] == 0
    assert counts["by_reason"] == {"label_0_model_says_yes": 0, "label_1_model_says_no": 0}


def _cv(root: Path, *, expect_exit: int = 0) -> str:
    result = CliRunner().invoke(
        cv_stage.main,
        ["--task", "qc", "--train", str(root / "augmented.parquet"),
         "--pivot", str(root / "pivot.parquet"), "--base-model", str(root / "llm"),
         "--work-dir", str(root / "cv_work"), "--models-dir", str(root / "cv_models"),
         "--oof", str(root / "oof.parquet"), "--metrics", str(root / "cv.json"),
         "--params", str(root / "params.yaml")],
    )  # fmt: skip
    assert result.exit_code == expect_exit, result.output
    return result.output


def test_cv_stage_writes_the_out_of_fold_table(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_training(monkeypatch)
    _params(project, cv_folds=2)
    _cv(project)
    oof = pd.read_parquet(project / "oof.parquet")
    assert oof.columns.tolist() == ["id", "fold", "model", "language", "label", "p_yes"]
    assert oof["id"].tolist() == IDS and oof["label"].tolist() == LABELS
    assert oof["p_yes"].tolist() == list(P_YES.values())
    assert json.loads((project / "cv.json").read_text())["folds"] == 2


def test_cv_folds_above_split_folds_names_cv_folds(project: Path) -> None:
    _params(project, cv_folds=3)  # the rows have split folds 0..1
    output = _cv(project, expect_exit=1)
    assert "cv.folds=3 exceeds the 2 split folds" in output
    assert "selfval" not in output


def test_cv_off_trains_nothing(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_training(monkeypatch)
    _params(project, cv_folds=0)
    _cv(project)
    assert calls == [] and pd.read_parquet(project / "oof.parquet").empty
    assert [p.name for p in (project / "cv_models").iterdir()] == ["NO_CV_MODELS"]
    assert json.loads((project / "cv.json").read_text()) == {"folds": 0}


# ------------------------------------------------------------------ cv_report


def test_cv_report_on_a_two_fold_table() -> None:
    # Model 0: labels 1 0 1 0, p .9 .2 .3 .6 -> at .5: tp 1, fp 1, fn 1: F1 .5; AUC 3/4
    # (.3 < .6 is the one pair out of order). Model 1: every row right: F1 1, AUC 1.
    oof = pd.DataFrame(
        {
            "model": [0, 0, 0, 0, 1, 1, 1, 1],
            "language": ["en", "en", "de", "de"] * 2,
            "label": [1, 0, 1, 0] * 2,
            "p_yes": [0.9, 0.2, 0.3, 0.6, 0.8, 0.4, 0.7, 0.1],
        }
    )
    report = cv_report(oof, threshold=0.5)
    assert report["per_fold"] == [
        {"model": 0, "rows": 4, "f1": 0.5, "auc": 0.75},
        {"model": 1, "rows": 4, "f1": 1.0, "auc": 1.0},
    ]
    assert (report["folds"], report["threshold"]) == (2, 0.5)
    assert (report["f1_mean"], report["auc_mean"]) == (0.75, 0.875)
    assert report["f1_std"] == pytest.approx(0.5 / np.sqrt(2), abs=1e-6)  # sample std
    # en: both models right. de: model 0 gets both wrong (F1 0, AUC 0), model 1 both right.
    assert report["per_language"]["en"] == {"f1_mean": 1.0, "f1_std": 0.0, "auc_mean": 1.0}
    assert report["per_language"]["de"]["f1_mean"] == 0.5
    assert report["per_language"]["de"]["auc_mean"] == 0.5
    assert cv_report(oof.iloc[:0], threshold=0.5) == {"folds": 0}
    with pytest.raises(DataError, match=r"out-of-fold scores: missing columns \['p_yes'\]"):
        cv_report(oof.drop(columns="p_yes"), threshold=0.5)


def test_cv_report_auc_skips_a_fold_with_one_class() -> None:
    oof = pd.DataFrame(
        {"model": [0, 0, 1, 1], "language": "en", "label": [1, 1, 1, 0],
         "p_yes": [0.9, 0.8, 0.7, 0.2]}
    )  # fmt: skip
    report = cv_report(oof, threshold=0.5)
    assert [f["auc"] for f in report["per_fold"]] == [None, 1.0]
    assert report["auc_mean"] == 1.0


# ------------------------------------------------------------ flags matched by id


@pytest.mark.parametrize("action", ["remove", "relabel"])
def test_apply_filter_matches_flags_by_id_in_any_order(action: str) -> None:
    rows = pd.DataFrame(
        {"id": ["a", "b", "c", "d"], "lang": ["en", "de", "en", "de"], "label": [1, 0, 1, 1]}
    )
    flags = pd.DataFrame(  # not in row order, and not as many as rows
        {"id": ["d", "b"], "reason": ["label_1_model_says_no", "label_0_model_says_yes"]}
    )
    out, counts = apply_filter(rows, flags, action=action)
    if action == "remove":
        assert out["id"].tolist() == ["a", "c"]
    else:
        assert out["label"].tolist() == [1, 1, 1, 0]
        assert out["relabelled"].tolist() == [False, True, False, True]
    assert counts["by_reason"] == {"label_1_model_says_no": 1, "label_0_model_says_yes": 1}
    assert counts["by_language"]["de"]["flagged"] == 2


def test_fold_models_stay_in_one_process_with_vllm_or_an_encoder(
    caplog, tiny_lm_dir, tmp_path
) -> None:
    """vLLM's engine does not start inside a launched group: with predict.backend vllm
    the fold models train in one process, whatever train.<task>.num_processes says. An
    encoder backbone trains in one process too."""
    import logging

    from tiny_lm import build_tiny_bert

    from relevance.folds.training import fold_processes
    from relevance.model.predict import PredictParams
    from relevance.model.train import TrainParams
    from relevance.schema import TASKS

    train = TrainParams(num_processes=4)
    hf, vllm = PredictParams(backend="hf"), PredictParams(backend="vllm")
    assert fold_processes(TASKS["qc"], tiny_lm_dir, train, hf) == 4
    with caplog.at_level(logging.WARNING):
        assert fold_processes(TASKS["qc"], tiny_lm_dir, train, vllm) == 1
        assert fold_processes(TASKS["qc"], build_tiny_bert(tmp_path / "bert"), train, hf) == 1
    assert "vLLM does not start inside a launched group" in caplog.text
    assert "is an encoder: it trains in one process" in caplog.text
