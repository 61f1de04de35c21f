"""Submission files answer every dev/test id once, in input order, and evaluate@<task>
runs on the competition's unlabelled dev (hand-written rows, no models)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from competition_files import qi_row, write_jsonl

from relevance.data.ingest import DataParams, ingest_task
from relevance.errors import DataError
from relevance.evaluate.submission import ROW_COLUMNS, write_submission
from relevance.schema import TASKS

QI = TASKS["qi"]


def _rows(*ids_lines: tuple[int, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"id": i, "language_raw": "EN", "query_raw": f"q{i}", "candidate_raw": f"t{i}",
             "source_line": line}
            for i, line in ids_lines
        ],
        columns=ROW_COLUMNS,
    )  # fmt: skip


def _quarantined(*entries: tuple[int | None, int, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"id": i, "source_line": line, "reason": reason, "source_file": "dev.txt",
             "language_raw": "en", "query_raw": "q", "candidate_raw": None}
            for i, line, reason in entries
        ]
    )  # fmt: skip


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_fields_in_competition_order_raw_text_and_threshold(tmp_path) -> None:
    path = tmp_path / "submit_QI.txt"
    counts = write_submission(
        path,
        task=QI,
        rows=_rows((7, 1), (3, 2)),
        p_yes=pd.Series({3: 0.2, 7: 0.19999}),
        threshold=0.2,
    )
    assert counts == {"lines": 2, "scored": 2, "fallback": 0, "fallback_by_reason": {}}
    first, second = _lines(path)
    assert list(first) == ["id", "task", "language", "origin_query", "item_title", "prediction"]
    assert first == {"id": 7, "task": "QI", "language": "EN", "origin_query": "q7",
                     "item_title": "t7", "prediction": 0}  # fmt: skip
    assert second["prediction"] == 1  # p(yes) == threshold counts as yes


def test_quarantined_ids_are_answered_with_the_fallback_in_input_order(tmp_path) -> None:
    path = tmp_path / "submit_QI.txt"
    counts = write_submission(
        path,
        task=QI,
        rows=_rows((1, 1), (4, 5)),
        p_yes=pd.Series({1: 0.9, 4: 0.0}),
        threshold=0.5,
        quarantined=_quarantined((2, 2, "wrong_task"), (3, 4, "too_long"), (1, 6, "duplicate_id")),
        fallback_label=1,
    )
    assert [(r["id"], r["prediction"]) for r in _lines(path)] == [(1, 1), (2, 1), (3, 1), (4, 0)]
    assert counts["fallback"] == 2
    assert counts["fallback_by_reason"] == {"too_long": 1, "wrong_task": 1}
    assert _lines(path)[1]["item_title"] is None  # a field the record did not have: null


def test_a_fallback_id_that_a_later_row_scores_is_answered_once(tmp_path) -> None:
    path = tmp_path / "s.txt"
    write_submission(
        path,
        task=QI,
        rows=_rows((5, 3)),
        p_yes=pd.Series({5: 0.9}),
        threshold=0.5,
        quarantined=_quarantined((5, 1, "wrong_task"), (6, 2, "bad_id_hint")),
        fallback_label=0,
    )
    assert [(r["id"], r["prediction"]) for r in _lines(path)] == [(6, 0), (5, 1)]


def test_a_missing_score_or_an_unreadable_id_is_an_error(tmp_path) -> None:
    with pytest.raises(DataError, match=r"1 rows have no prediction \(ids \[4\]"):
        write_submission(
            tmp_path / "s.txt", task=QI, rows=_rows((1, 1), (4, 2)),
            p_yes=pd.Series({1: 0.5}), threshold=0.5,
        )  # fmt: skip
    with pytest.raises(DataError, match=r"dev.txt:3: malformed_json\); fix those lines"):
        write_submission(
            tmp_path / "s.txt", task=QI, rows=_rows((1, 1)), p_yes=pd.Series({1: 0.5}),
            threshold=0.5, quarantined=_quarantined((None, 3, "malformed_json")),
        )  # fmt: skip


def _predict_like(ingested: Path, out: Path, p_yes: float = 0.7) -> None:
    """What predict@qi and baseline@qi write, with a constant score (no models here)."""
    out.mkdir(parents=True)
    (out.parent / "baseline").mkdir()
    for split in ("dev", "test"):
        rows = pd.read_parquet(ingested / f"{split}.parquet")
        rows[["id"]].assign(p_yes=0.5).to_parquet(out.parent / "baseline" / f"{split}.parquet")
        pd.DataFrame(
            {"id": rows["id"], "language": rows["language"], "lang": rows["lang"],
             "p_yes": p_yes, "label": rows["label"]}
        ).to_parquet(out / f"{split}.parquet")  # fmt: skip


def test_evaluate_stage_on_the_competition_layout_without_dev_labels(tmp_path) -> None:
    """train labelled; dev and test unlabelled, no dev labels file; empty and missing
    titles, another task's record and a duplicate id among them."""
    from stages.evaluate import main

    data = tmp_path / "cikm"
    write_jsonl(data / "train_QI.txt", [qi_row(i, label=i % 2) for i in range(1, 41)])
    dev = [qi_row(i, "DE", label=None) for i in range(100, 120)]
    dev[3]["item_title"] = ""
    del dev[5]["item_title"]
    dev[7]["task"] = "QC"
    dev.append(qi_row(101, label=None))  # a duplicate id
    write_jsonl(data / "dev_QI.txt", dev)
    write_jsonl(data / "test_QI.txt", [qi_row(i, "it", label=None) for i in range(200, 230)])
    ingested = tmp_path / "ingested"
    metrics = ingest_task(
        data_dir=data, task=QI, data=DataParams(dir=str(data)), max_bad_fraction=0.1,
        out_dir=ingested,
    )  # fmt: skip
    assert metrics["dev"]["kept_with_defect"] == {"empty_field": 1, "missing_field": 1}
    assert metrics["dev"]["quarantined_by_reason"] == {"duplicate_id": 1, "wrong_task": 1}
    _predict_like(ingested, tmp_path / "pred")
    cv_oof = tmp_path / "oof.parquet"
    pd.DataFrame(columns=["model", "language", "label", "p_yes"]).to_parquet(cv_oof)
    params = tmp_path / "params.yaml"
    params.write_text("threshold:\n  qi: 0.8\npredict:\n  fallback_label: 1\n")
    result = CliRunner().invoke(
        main,
        ["--task", "qi", "--predictions", str(tmp_path / "pred"), "--ingested", str(ingested),
         "--baseline", str(tmp_path / "baseline"),
         "--metrics", str(tmp_path / "m.json"), "--scores", str(tmp_path / "s.json"),
         "--curve", str(tmp_path / "c.csv"), "--curve-png", str(tmp_path / "c.png"),
         "--threshold-point", str(tmp_path / "point.csv"),
         "--cv-oof", str(cv_oof), "--submissions", str(tmp_path / "sub"),
         "--params", str(params)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "dev has no labels, so no F1; submissions: dev 20 lines, test 30 lines" in result.output
    dev_lines = _lines(tmp_path / "sub/dev/submit_QI.txt")
    assert [r["id"] for r in dev_lines] == list(range(100, 120))  # every id once, in order
    by_id = {r["id"]: r for r in dev_lines}
    assert by_id[107]["prediction"] == 1  # the QC record: the fallback label
    assert by_id[103]["item_title"] == "" and by_id[103]["prediction"] == 0  # scored: 0.7 < 0.8
    assert by_id[105]["item_title"] is None
    assert {r["language"] for r in dev_lines} == {"DE"}  # as given
    assert len(_lines(tmp_path / "sub/test/submit_QI.txt")) == 30
    written = json.loads((tmp_path / "m.json").read_text())
    assert written["dev"]["labelled"] == 0 and "f1" not in written["dev"]
    assert written["dev"]["note"].startswith("no labels")
    assert written["dev"]["submission"]["fallback_by_reason"] == {"wrong_task": 1}
    assert pd.read_csv(tmp_path / "c.csv").empty
    assert pd.read_csv(tmp_path / "point.csv").empty  # no F1 to mark without labels


@pytest.mark.parametrize("value", [2, -1, True, "1", 0.5])
def test_fallback_label_must_be_0_or_1(value) -> None:
    from relevance.errors import ConfigError
    from relevance.params import check_fallback_label

    with pytest.raises(ConfigError, match=r"p.yaml:predict.fallback_label: expected 0 or 1"):
        check_fallback_label(value, "p.yaml")
