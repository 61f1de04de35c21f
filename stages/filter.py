"""DVC stage filter@<task>: drop (or relabel) the rows selfval@<task> flagged.

``filter.action`` remove (the paper) or relabel (flip the label to the filter model's
answer). Flags match rows by id. An empty flag list (self-validation off) passes the
rows through unchanged.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.folds.filter import FilterParams, filter_task
from relevance.params import load_section
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.path_option("--train", "Assembled training rows (assemble@<task>).")
@stage.path_option("--flagged", "selfval@<task> flags.")
@stage.path_option("--out", "Parquet out: the training rows that stay.")
@stage.metrics_option
def main(task: Task, params_path: str, **paths: Path) -> dict[str, Any]:
    """Apply the self-validation flags to one task's training rows."""
    params = load_section(FilterParams, "filter", params_path)
    counts = filter_task(task, params=params, **paths)
    click.echo(
        f"filter@{task.name}: {counts['rows_in']} rows in, {counts['rows_out']} out"
        f" -> {paths['out']}"
    )
    return counts


if __name__ == "__main__":
    main()
