"""DVC stage assemble@<task>: original + translated + negative rows -> the training table.

Which augmentations enter is params (``augment.translate``, ``augment.negatives``), so
the paper's Table 2 rows differ only in params and never rerun translation or mining.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click
import pandas as pd

from relevance.augment.assemble import AugmentParams, assemble
from relevance.errors import DataError
from relevance.params import load_section
from relevance.schema import get_task
from relevance.stage import HELP_OPTIONS, setup_logging, user_errors, write_metrics
from relevance.tables import AUGMENTED_SCHEMA, write_table


def _read(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path} not found: run the {what} stage first")
    return pd.read_parquet(path)


@click.command(context_settings=HELP_OPTIONS)
@click.option("--task", "task_name", required=True, help="Task: qc or qi.")
@click.option(
    "--train", "train_path", type=click.Path(path_type=Path), required=True,
    help="Ingested training rows (Parquet).",
)  # fmt: skip
@click.option(
    "--folds", type=click.Path(path_type=Path), required=True, help="split@<task> output."
)
@click.option(
    "--translated", type=click.Path(path_type=Path), required=True,
    help="translate@<task> output.",
)  # fmt: skip
@click.option(
    "--negatives", type=click.Path(path_type=Path), required=True,
    help="negatives@<task> output.",
)  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Parquet out.")
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON.")
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(
    task_name: str,
    train_path: Path,
    folds: Path,
    translated: Path,
    negatives: Path,
    out: Path,
    metrics: Path,
    params_path: str,
) -> None:
    """Build one task's training table from the original rows and the augmentations."""
    setup_logging()
    task = get_task(task_name)
    params = load_section(AugmentParams, "augment", params_path)
    table, counts = assemble(
        original=_read(train_path, f"ingest@{task.name}"),
        folds=_read(folds, f"split@{task.name}"),
        translated=_read(translated, f"translate@{task.name}"),
        negatives=_read(negatives, f"negatives@{task.name}"),
        params=params,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_table(table, out, AUGMENTED_SCHEMA)
    write_metrics(metrics, counts)
    by = counts["rows_by_source"]
    click.echo(
        f"assemble@{task.name}: {counts['rows_out']} rows ({by['original']} original, "
        f"{by['translated']} translated, {by['negative']} negatives) -> {out}"
    )


if __name__ == "__main__":
    main()
