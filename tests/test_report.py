"""The run report from hand-written metrics files (no pipeline run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relevance.errors import DataError
from relevance.evaluate.report import build_report

METRICS = {
    "overall": {"mean_f1": 0.8},
    "stats_qc": {
        "rows": {"train": {"en": {"rows": 30}}, "dev": {"de": {"rows": 40}, "en": {"rows": 40}}},
        "totals": {"train": 30, "dev": 80},
    },
    "assemble_qc": {
        "per_language": {"de": {"translated": 9, "negative": 5}, "en": {"original": 30}}
    },
    "filter_qc": {"by_language": {"de": {"removed": 1, "relabelled": 0, "rows_out": 13},
                                  "en": {"removed": 2, "relabelled": 0, "rows_out": 28}}},
    "qc": {"dev": {"f1": 0.81, "threshold": 0.4, "auc": 0.6, "all_positive_f1": 0.79,
                   "best": {"f1": 0.82, "threshold": 0.3},
                   "per_language": {"de": {"rows": 40, "f1": 0.7, "auc": 0.55,
                                           "all_positive_f1": 0.78}}},
           "cv": {"folds": 2, "f1_mean": 0.75, "f1_std": 0.02, "auc_mean": 0.6}},
}  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "metrics").mkdir()
    for name, data in METRICS.items():
        (tmp_path / "metrics" / f"{name}.json").write_text(json.dumps(data))
    (tmp_path / "reports").mkdir()
    return tmp_path


def test_report_sections_numbers_and_figures(project: Path) -> None:
    text = build_report(
        metrics_dir=project / "metrics", reports_dir=project / "reports",
        figures_dir=project / "reports" / "figures", tasks=("qc",),
    )  # fmt: skip
    assert "**0.8000**" in text
    assert "| train | - | 30 | 30 |" in text  # Table 1: de has no train rows
    assert "| de | 0 | 9 | 5 | -1 | 0 | 13 |" in text  # what each enhancement did
    assert "| de | 40 | 0.7000 | 0.5500 | 0.7800 |" in text
    assert "F1 0.7500 +- 0.0200" in text
    assert "](figures/f1_by_language_qc.png)" in text and "](threshold_qc.png)" in text
    assert (project / "reports/figures/training_rows_qc.png").stat().st_size > 1000
    assert "No ablation yet" in text


def test_links_work_from_wherever_the_report_is_written(project: Path) -> None:
    # A report written elsewhere (a figures folder outside reports/ too) links each
    # figure by its path from the report's own folder.
    out_dir, figures = project / "elsewhere" / "run1", project / "figs"
    text = build_report(
        metrics_dir=project / "metrics", reports_dir=project / "reports", figures_dir=figures,
        tasks=("qc",), report_dir=out_dir,
    )  # fmt: skip
    links = [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    assert links == [
        "../../figs/training_rows_qc.png",
        "../../figs/f1_by_language_qc.png",
        "../../reports/threshold_qc.png",
    ]
    for link in links[:2]:
        assert (out_dir / link).resolve().is_file()


def test_distillation_is_reported_only_when_it_ran(project: Path) -> None:
    def report() -> str:
        return build_report(
            metrics_dir=project / "metrics", reports_dir=project / "reports",
            figures_dir=project / "reports" / "figures", tasks=("qc",),
        )  # fmt: skip

    (project / "metrics" / "distill_qc.json").write_text(json.dumps({"enabled": False}))
    assert "## Distillation" not in report()
    distill = {
        "enabled": True, "train_rows": 606, "unlabelled_rows": 0,
        "dev": {"labelled": 400, "all_positive_f1": 0.79, "tfidf_auc": 0.5,
                "teacher": {"auc": 0.86, "f1_best": 0.858, "best_threshold": 0.1},
                "student": {"auc": 0.655, "f1_best": 0.788, "best_threshold": 0.05}},
    }  # fmt: skip
    (project / "metrics" / "distill_qc.json").write_text(json.dumps(distill))
    text = report()
    assert "## Distillation" in text and "teacher and distilled student on 400 dev rows" in text
    assert "| student | 0.6550 | 0.7880 | 0.0500 |" in text


def test_ablation_table_is_included_when_present(project: Path) -> None:
    (project / "reports" / "ablation.md").write_text("# Ablation (dev F1)\n\n| a | b |\n")
    text = build_report(
        metrics_dir=project / "metrics", reports_dir=project / "reports",
        figures_dir=project / "reports" / "figures", tasks=("qc",),
    )  # fmt: skip
    assert "### Ablation (dev F1)" in text and "| a | b |" in text


def test_missing_metrics_say_to_run_the_pipeline(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    with pytest.raises(DataError, match=r"overall.json not found: run the pipeline"):
        build_report(
            metrics_dir=tmp_path / "metrics", reports_dir=tmp_path, figures_dir=tmp_path / "f",
            tasks=("qc",),
        )  # fmt: skip


def test_bar_chart_draws_missing_and_empty_values_as_zero(tmp_path: Path) -> None:
    """A series absent from a category, or None there, is a zero bar, not an error; no
    categories at all still gives a figure (saying so)."""
    from matplotlib.image import imread

    from relevance.evaluate.plots import bar_chart_png

    values = {"fr": {"original": 30, "translated": None}, "de": {"translated": 9}}
    for stacked in (False, True):
        png = tmp_path / f"bars-{stacked}.png"
        bar_chart_png(png, values, title="rows", stacked=stacked)
        assert imread(png).shape[:2] == (352, 770)
    bar_chart_png(tmp_path / "empty.png", {}, title="rows")
    assert (tmp_path / "empty.png").stat().st_size > 0
