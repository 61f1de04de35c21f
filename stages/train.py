"""DVC stage train@<task>: LoRA fine-tuning of the base LLM to answer yes/no.

Checkpoints go to --checkpoints (a persistent, uncached DVC output), so an interrupted
`dvc repro` resumes from the last one; the finished adapter (and merged model) go to
--out-dir, the DVC-hashed model. Runs unchanged under `accelerate launch` on GPUs.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click
import pandas as pd

from relevance.errors import DataError
from relevance.model.inputs import InputParams, prepare_rows
from relevance.model.train import TrainParams, publish_model, train_lora
from relevance.params import load_key, load_section, load_task_value, parse_section
from relevance.schema import get_task
from relevance.stage import (
    HELP_OPTIONS,
    force_offline_unless_allowed,
    setup_logging,
    user_errors,
    write_metrics,
)


@click.command(context_settings=HELP_OPTIONS)
@click.option("--task", "task_name", required=True, help="Task: qc or qi.")
@click.option(
    "--base-model",
    type=click.Path(path_type=Path),
    required=True,
    help="Base causal LM folder (models stage).",
)
@click.option(
    "--train",
    "train_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Training rows (Parquet with query, candidate, language, label).",
)
@click.option(
    "--pivot",
    type=click.Path(path_type=Path),
    required=True,
    help="English pivot of every query (pivot@<task>; empty when input.pivot_en is off).",
)
@click.option(
    "--tapt",
    type=click.Path(path_type=Path),
    required=True,
    help="tapt@<task> output: adapter/ to start from when init_from is other_task.",
)
@click.option(
    "--checkpoints",
    type=click.Path(path_type=Path),
    required=True,
    help="Resumable checkpoints of this run (kept between runs).",
)
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Where adapter/ (and merged/) are written.",
)
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON.")
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(
    task_name: str,
    base_model: Path,
    train_path: Path,
    pivot: Path,
    tapt: Path,
    checkpoints: Path,
    out_dir: Path,
    metrics: Path,
    params_path: str,
) -> None:
    """Fine-tune a LoRA adapter on one task's training rows."""
    setup_logging()
    force_offline_unless_allowed(
        load_key("models", "allow_download", params_path), source=params_path
    )
    task = get_task(task_name)
    config = parse_section(
        TrainParams,
        load_task_value("train", task.name, params_path),
        name=f"train.{task.name}",
        source=params_path,
    )
    inputs = load_section(InputParams, "input", params_path)
    for path in (train_path, pivot):
        if not path.is_file():
            raise DataError(f"{path} not found: run the stage that writes it first")
    rows, input_counts = prepare_rows(
        pd.read_parquet(train_path), params=inputs, pivot=pd.read_parquet(pivot), split="train"
    )
    init_adapter = None
    if config.init_from == "other_task":
        init_adapter = tapt / "adapter"
        if not init_adapter.is_dir():
            raise DataError(f"{init_adapter} not found: run tapt@{task.name} first")
    result = train_lora(
        model_dir=base_model,
        task=task,
        rows=rows,
        config=config,
        out_dir=checkpoints,
        restart_on_mismatch=True,
        init_adapter=init_adapter,
    )
    summary = publish_model(result, out_dir)
    # The full summary (loss history, config) stays in <out-dir>/train_summary.json.
    keys = (
        "steps",
        "rows",
        "positive_rate",
        "samples_seen",
        "tokens_per_row_mean",
        "train_loss",
        "final_loss",
        "seconds",
        "trainable_params",
        "resumed_from_step",
    )
    view = {key: summary[key] for key in keys if summary.get(key) is not None}
    view["input"] = input_counts
    # Steps of this run only: a resumed run trained fewer, a finished one none.
    trained_steps = summary["steps"] - summary.get("resumed_from_step", 0)
    view["seconds_per_step"] = (
        round(summary["seconds"] / trained_steps, 3) if trained_steps else None
    )
    write_metrics(metrics, view)
    click.echo(
        f"train@{task.name}: {summary['steps']} steps on {summary['rows']} rows, "
        f"final loss {summary['final_loss']:.4f}, {summary['seconds']:.0f} s -> {out_dir}"
    )


if __name__ == "__main__":
    main()
