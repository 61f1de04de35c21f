"""DVC stage stats@<task>: DuckDB statistics of the ingested splits.

Rows per split x language x label (the paper's Table 1), the languages dev/test have
and train lacks (what translation augmentation and hard negatives fill), duplicate and
conflicting pairs, query lengths and, for QC, category depths and top levels.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.data.stats import StatsParams, markdown_report, metrics_view, stats_task
from relevance.params import load_section
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.path_option("--ingested", "ingest@<task> output dir.")
@stage.path_option("--languages-out", "JSON: languages per split and those missing from train.")
@stage.metrics_option
@stage.path_option("--report", "Markdown report.")
def main(
    task: Task, ingested: Path, languages_out: Path, report: Path, params_path: str
) -> dict[str, Any]:
    """Rows per split x language x label, missing languages, pairs, lengths, categories."""
    stats = stats_task(
        task, ingested=ingested, params=load_section(StatsParams, "stats", params_path)
    )
    stage.write_json(languages_out, stats["languages"])
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(markdown_report(stats, task_code=task.code), encoding="utf-8")
    missing = [m["language"] for m in stats["languages"]["missing_from_train"]]
    click.echo(f"stats@{task.name}: languages missing from train: {', '.join(missing) or 'none'}")
    return metrics_view(stats)


if __name__ == "__main__":
    main()
