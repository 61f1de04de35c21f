"""DVC stage baseline@<task>: the char TF-IDF + logistic regression baseline, trained on
the model's own training rows and scoring its dev/test rows (reported beside the model
by evaluate@<task>)."""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.evaluate.baseline import baseline_task
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.path_option("--train", "The model's training rows (filter@<task>).")
@stage.path_option("--ingested", "ingest@<task> output dir; dev and test are scored.")
@stage.path_option("--out-dir", "Where <split>.parquet (id, p_yes) is written.")
@stage.metrics_option
def main(task: Task, params_path: str, **paths: Path) -> dict[str, Any]:
    """Fit the TF-IDF baseline on the training rows and score dev and test."""
    counts = baseline_task(task, **paths)
    click.echo(f"baseline@{task.name}: TF-IDF + logistic regression on {counts['train_rows']} rows")
    return counts


if __name__ == "__main__":
    main()
