"""DVC stage predict@<task>: p(yes) for every dev/test row."""

from __future__ import annotations

import os
from pathlib import Path

import click

from relevance.errors import DataError
from relevance.params import PredictParams, load_section
from relevance.predict import predict_splits, scorer_for
from relevance.schema import get_task
from relevance.stage import setup_logging, user_errors, write_json


@click.command()
@click.option("--task", "task_name", required=True, help="Task: qc or qi.")
@click.option(
    "--model",
    "model_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="train@<task> output (merged/ or adapter/).",
)
@click.option(
    "--base-model",
    type=click.Path(path_type=Path),
    required=True,
    help="Base LLM folder (used with an adapter when there is no merged model).",
)
@click.option(
    "--ingested",
    type=click.Path(path_type=Path),
    required=True,
    help="ingest@<task> output dir; dev and test are scored.",
)
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Where <split>.parquet predictions are written.",
)
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON.")
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(
    task_name: str,
    model_dir: Path,
    base_model: Path,
    ingested: Path,
    out_dir: Path,
    metrics: Path,
    params_path: str,
) -> None:
    """Score dev and test rows with the task's trained model."""
    setup_logging()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    task = get_task(task_name)
    params = load_section(PredictParams, "predict", params_path)
    split_files = {
        s: ingested / f"{s}.parquet"
        for s in ("dev", "test")
        if (ingested / f"{s}.parquet").is_file()
    }
    if "dev" not in split_files:
        raise DataError(f"{ingested}/dev.parquet not found: run ingest@{task.name} first")
    scorer = scorer_for(model_dir, base_model=base_model, params=params)
    result = predict_splits(task=task, scorer=scorer, split_files=split_files, out_dir=out_dir)
    write_json(metrics, result)
    click.echo(
        f"predict@{task.name}: "
        + ", ".join(
            f"{s} {m['rows']} rows at {m['pairs_per_second']:.1f} pairs/s"
            for s, m in result.items()
        )
    )


if __name__ == "__main__":
    main()
