"""DVC stage assemble@<task>: original + translated + negative rows -> the training table.

Which augmentations enter is params (``augment.translate``, ``augment.negatives``), so
the paper's Table 2 rows differ only in params and never rerun translation or mining.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.augment.assemble import AugmentParams, assemble_task
from relevance.params import load_section
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.path_option("--train", "Ingested training rows (Parquet).")
@stage.path_option("--folds", "split@<task> output.")
@stage.path_option("--translated", "translate@<task> output.")
@stage.path_option("--negatives", "negatives@<task> output.")
@stage.path_option("--out", "The training table (Parquet).")
@stage.metrics_option
def main(task: Task, params_path: str, **paths: Path) -> dict[str, Any]:
    """Build one task's training table from the original rows and the augmentations."""
    params = load_section(AugmentParams, "augment", params_path)
    counts = assemble_task(task, params=params, **paths)
    by = counts["rows_by_source"]
    click.echo(
        f"assemble@{task.name}: {counts['rows_out']} rows ({by['original']} original, "
        f"{by['translated']} translated, {by['negative']} negatives) -> {paths['out']}"
    )
    return counts


if __name__ == "__main__":
    main()
