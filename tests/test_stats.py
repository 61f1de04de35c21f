"""DuckDB statistics against numbers computed by hand on a 7-row fixture."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from competition_files import qc_row, write_jsonl

from relevance.data.ingest import DataParams, ingest_task
from relevance.data.stats import compute_stats, markdown_report, metrics_view
from relevance.schema import TASKS


@pytest.fixture
def ingested(tmp_path):
    raw = tmp_path / "raw"
    write_jsonl(
        raw / "train_QC.txt",
        [
            qc_row(1, "en", "mug", "a,b", 1),
            qc_row(2, "en", "mug", "a,b", 0),  # same pair, other label: a conflict
            qc_row(3, "fr", "tasse bleue", "a,b,c", 1),
            qc_row(4, "fr", "stylo", "d,e", "0"),
        ],
    )
    write_jsonl(
        raw / "dev_QC.txt",
        [
            qc_row(1, "en", "cup", "a,b", None),
            qc_row(2, "de", "tasse", "d, x,y", None),  # levels: "d, x" and "y"
            qc_row(3, "de", "bleu rot grün", "a,b,c,d", None),
        ],
    )
    write_jsonl(raw / "dev_labels_QC.txt", [{"id": 1, "label": 1}, {"id": 2, "label": 0}])
    out = tmp_path / "ingested"
    ingest_task(
        data_dir=raw, task=TASKS["qc"], data=DataParams(), max_bad_fraction=0.0, out_dir=out
    )
    return out


def test_stats_match_hand_computed_values(ingested) -> None:
    stats = compute_stats(
        {s: ingested / f"{s}.parquet" for s in ("train", "dev")}, is_qc=True, top_categories=5
    )
    assert stats["rows"]["train"] == {
        "en": {"rows": 2, "positive": 1, "negative": 1, "unlabelled": 0, "positive_rate": 0.5},
        "fr": {"rows": 2, "positive": 1, "negative": 1, "unlabelled": 0, "positive_rate": 0.5},
    }
    assert stats["rows"]["dev"] == {
        "de": {"rows": 2, "positive": 0, "negative": 1, "unlabelled": 1, "positive_rate": 0.0},
        "en": {"rows": 1, "positive": 1, "negative": 0, "unlabelled": 0, "positive_rate": 1.0},
    }
    assert stats["languages"]["missing_from_train"] == [{"language": "de", "lang": "de"}]
    assert stats["pairs"]["train"] == {
        "duplicate_pairs": 1,
        "rows_in_duplicate_pairs": 2,
        "conflicting_pairs": 1,
        "rows_in_conflicting_pairs": 2,
    }
    assert stats["pairs"]["dev"]["duplicate_pairs"] == 0
    # Train query lengths 3, 3, 11, 5 characters; 1, 1, 2, 1 words (linear quantiles).
    assert stats["query_chars"]["train"] == {
        "min": 3,
        "p25": 3,
        "p50": 4,
        "p75": 6.5,
        "p95": 10.1,
        "max": 11,
        "mean": 5.5,
    }
    assert stats["query_words"]["train"]["mean"] == 1.25
    assert stats["query_words"]["dev"]["max"] == 3
    assert stats["category_depth"] == {"train": {"2": 3, "3": 1}, "dev": {"2": 2, "4": 1}}
    assert stats["category_paths"]["train"] == {"distinct_paths": 3, "distinct_top_levels": 2}
    assert stats["top_level_categories"]["train"] == {"a": 3, "d": 1}
    assert stats["top_level_categories"]["dev"] == {"a": 2, "d, x": 1}

    view = metrics_view(stats)
    assert view["totals"] == {"dev": 3, "train": 4}
    assert view["languages"] == {"per_split": {"dev": 2, "train": 2}, "missing_from_train": 1}

    report = markdown_report(stats, task_code="QC")
    assert "| split | de | en | fr | total |" in report
    assert "| train | 0 | 2 | 2 | 4 |" in report
    assert "| dev | 2 | 1 | 0 | 3 |" in report
    assert "`de` (de)" in report


def test_stats_stage_cli(ingested, tmp_path) -> None:
    from stages.stats import main

    params = tmp_path / "params.yaml"
    params.write_text("stats:\n  top_categories: 1\n")
    out = tmp_path / "o"
    result = CliRunner().invoke(
        main,
        [
            "--task",
            "qc",
            "--ingested",
            str(ingested),
            "--languages-out",
            str(out / "lang.json"),
            "--metrics",
            str(out / "m.json"),
            "--report",
            str(out / "r.md"),
            "--params",
            str(params),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "languages missing from train: de" in result.output
    assert json.loads((out / "lang.json").read_text())["missing_from_train"][0]["lang"] == "de"
    assert json.loads((out / "m.json").read_text())["top_level_categories"]["train"] == {"a": 3}

    result = CliRunner().invoke(
        main,
        [
            "--task",
            "qc",
            "--ingested",
            str(tmp_path / "nowhere"),
            "--languages-out",
            str(out / "l.json"),
            "--metrics",
            str(out / "m.json"),
            "--report",
            str(out / "r.md"),
            "--params",
            str(params),
        ],
    )
    assert result.exit_code == 1
    assert "train.parquet not found: run ingest@qc first" in result.output
