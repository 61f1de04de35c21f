"""DVC stage stats@<task>: DuckDB statistics over the ingested Parquet files."""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click

from relevance.data.stats import StatsParams, compute_stats, markdown_report, metrics_view
from relevance.errors import DataError
from relevance.params import load_section
from relevance.schema import SPLITS, get_task
from relevance.stage import HELP_OPTIONS, setup_logging, user_errors, write_json, write_metrics


@click.command(context_settings=HELP_OPTIONS)
@click.option("--task", "task_name", required=True, help="Task: qc or qi.")
@click.option(
    "--ingested", type=click.Path(path_type=Path), required=True, help="ingest@<task> output dir."
)
@click.option(
    "--languages-out",
    type=click.Path(path_type=Path),
    required=True,
    help="JSON with languages per split and those missing from train (read by translate).",
)
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON.")
@click.option("--report", type=click.Path(path_type=Path), required=True, help="Markdown report.")
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(
    task_name: str,
    ingested: Path,
    languages_out: Path,
    metrics: Path,
    report: Path,
    params_path: str,
) -> None:
    """Rows per split x language x label, missing languages, pairs, lengths, categories."""
    setup_logging()
    task = get_task(task_name)
    params = load_section(StatsParams, "stats", params_path)
    split_files = {
        s: ingested / f"{s}.parquet" for s in SPLITS if (ingested / f"{s}.parquet").is_file()
    }
    if "train" not in split_files:
        raise DataError(f"{ingested}/train.parquet not found: run ingest@{task.name} first")
    stats = compute_stats(
        split_files, is_qc=task.name == "qc", top_categories=params.top_categories
    )
    write_json(languages_out, stats["languages"])
    write_metrics(metrics, metrics_view(stats))
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(markdown_report(stats, task_code=task.code), encoding="utf-8")
    missing = [m["language"] for m in stats["languages"]["missing_from_train"]]
    click.echo(f"stats@{task.name}: languages missing from train: {', '.join(missing) or 'none'}")


if __name__ == "__main__":
    main()
