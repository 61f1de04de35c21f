"""DVC stage evaluate@<task>: F1 at the task threshold, per language, threshold sweep,
and the competition submission files (every dev/test id answered once, in input order)."""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.evaluate.evaluate import PlotFiles, evaluate_task, summary_line
from relevance.params import check_fallback_label, load_key, load_threshold
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.path_option("--predictions", "predict@<task> output dir (<split>.parquet).")
@stage.path_option("--ingested", "ingest@<task> output dir (the input fields for submissions).")
@stage.path_option("--baseline", "baseline@<task> output dir (the TF-IDF baseline's p(yes)).")
@stage.metrics_option
@stage.path_option("--scores", "Copy of the metrics for the overall stage (a DVC output).")
@stage.path_option("--curve", "Threshold sweep CSV (plot data).")
@stage.path_option("--curve-png", "Threshold sweep PNG.")
@stage.path_option(
    "--threshold-point", "CSV of the task threshold and its F1 (marks it on the curve)."
)
@stage.path_option("--cv-oof", "cv@<task> out-of-fold scores (empty when cv.folds is 0).")
@stage.path_option("--submissions", "Dir for <split>/submit_<TASK>.txt.")
def main(
    task: Task,
    scores: Path,
    curve: Path,
    curve_png: Path,
    threshold_point: Path,
    params_path: str,
    **paths: Path,
) -> dict[str, Any]:
    """Score dev predictions (where labels exist) and write submissions for dev and test."""
    result = evaluate_task(
        task,
        plots=PlotFiles(curve=curve, curve_png=curve_png, threshold_point=threshold_point),
        threshold=load_threshold(task.name, params_path),
        fallback_label=check_fallback_label(
            load_key("predict", "fallback_label", params_path), params_path
        ),
        **paths,
    )
    stage.write_json(scores, result)
    click.echo(summary_line(task, result))
    return result


if __name__ == "__main__":
    main()
