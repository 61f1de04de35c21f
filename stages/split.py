"""DVC stage split@<task>: a cross-validation fold for every training row.

scikit-learn's StratifiedGroupKFold, grouped so that related rows never straddle two
folds (QI: the same query; QC: the same first category levels) and stratified by
language x label. Out-of-fold self-validation, CV training and fold ensembling read it.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.data.split import SplitParams, split_task
from relevance.params import load_section
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.path_option("--train", "Ingested training rows (Parquet).")
@stage.path_option("--out", "Parquet: id, fold per row.")
@stage.metrics_option
def main(task: Task, params_path: str, **paths: Path) -> dict[str, Any]:
    """Assign every training row of one task to a fold."""
    params = load_section(SplitParams, "split", params_path)
    counts = split_task(task, params=params, **paths)
    click.echo(
        f"split@{task.name}: {counts['rows']} rows in {params.folds} folds -> {paths['out']}"
    )
    return counts


if __name__ == "__main__":
    main()
