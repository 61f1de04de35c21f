"""DVC stage ingest@<task>: validate and clean the competition files into Parquet."""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click

from relevance.data.ingest import DataParams, IngestParams, ingest_task
from relevance.params import load_section
from relevance.schema import get_task
from relevance.stage import HELP_OPTIONS, setup_logging, user_errors, write_metrics


@click.command(context_settings=HELP_OPTIONS)
@click.option("--task", "task_name", required=True, help="Task to ingest: qc or qi.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Directory holding the competition files (params data.dir).",
)
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Where <split>.parquet and quarantine.parquet are written.",
)
@click.option(
    "--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON to write."
)
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(task_name: str, data_dir: Path, out_dir: Path, metrics: Path, params_path: str) -> None:
    """Validate, clean and convert one task's train/dev/test files (and dev labels)."""
    setup_logging()
    task = get_task(task_name)
    data = load_section(DataParams, "data", params_path)
    ingest = load_section(IngestParams, "ingest", params_path)
    result = ingest_task(
        data_dir=data_dir,
        task=task,
        data=data,
        max_bad_fraction=ingest.max_bad_fraction,
        max_record_bytes=ingest.max_record_bytes,
        out_dir=out_dir,
    )
    write_metrics(metrics, result)
    click.echo(
        f"ingest@{task.name}: {result['total']['rows_in']} records in, "
        f"{result['total']['rows_out']} out, {result['total']['quarantined']} quarantined"
    )


if __name__ == "__main__":
    main()
