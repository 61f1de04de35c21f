"""DVC stage split@<task>: a cross-validation fold for every training row.

scikit-learn's StratifiedGroupKFold, grouped so that related rows never straddle two
folds (QI: the same query; QC: the same first category levels) and stratified by
language x label. Out-of-fold self-validation, CV training and fold ensembling read it.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from relevance.data.split import SplitConfig, assign_folds, fold_balance
from relevance.errors import DataError
from relevance.params import load_section
from relevance.schema import get_task
from relevance.stage import HELP_OPTIONS, setup_logging, user_errors, write_metrics


@click.command(context_settings=HELP_OPTIONS)
@click.option("--task", "task_name", required=True, help="Task: qc or qi.")
@click.option(
    "--train",
    "train_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Ingested training rows (Parquet).",
)
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Parquet: id, fold per row."
)
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON.")
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(task_name: str, train_path: Path, out: Path, metrics: Path, params_path: str) -> None:
    """Assign every training row of one task to a fold."""
    setup_logging()
    task = get_task(task_name)
    config = load_section(SplitConfig, "split", params_path)
    if not train_path.is_file():
        raise DataError(f"{train_path} not found: run ingest@{task.name} first")
    rows = pd.read_parquet(train_path)
    folds = assign_folds(rows, task=task.name, config=config)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"id": rows["id"].to_numpy(), "fold": pa.array(folds, type=pa.int8())})
    pq.write_table(table, out, compression="zstd")
    balance = fold_balance(rows, folds)
    write_metrics(metrics, {"rows": len(rows), "folds": config.folds, **balance})
    click.echo(f"split@{task.name}: {len(rows)} rows in {config.folds} folds -> {out}")


if __name__ == "__main__":
    main()
