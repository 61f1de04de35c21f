"""DVC stage ingest@<task>: validate and clean the competition files into Parquet."""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.data.ingest import DataParams, IngestParams, ingest_task
from relevance.params import load_section
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.path_option("--data-dir", "Folder holding the competition files (params data.dir).")
@stage.path_option("--out-dir", "Where <split>.parquet and quarantine.parquet are written.")
@stage.metrics_option
def main(task: Task, params_path: str, **paths: Path) -> dict[str, Any]:
    """Validate, clean and convert one task's train/dev/test files (and dev labels)."""
    ingest = load_section(IngestParams, "ingest", params_path)
    result = ingest_task(
        task=task,
        data=load_section(DataParams, "data", params_path),
        max_bad_fraction=ingest.max_bad_fraction,
        max_record_bytes=ingest.max_record_bytes,
        **paths,
    )
    total = result["total"]
    click.echo(
        f"ingest@{task.name}: {total['rows_in']} records in, {total['rows_out']} out, "
        f"{total['quarantined']} quarantined"
    )
    return result


if __name__ == "__main__":
    main()
