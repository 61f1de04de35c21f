"""DVC stage tapt@<task>: task-adaptive pre-training on the other task's rows.

With ``train.<task>.init_from: other_task`` it trains a LoRA adapter (this task's recipe)
on the other task's training file, read and validated by ingest's own code, and
train@<task> continues from it (the winning team's TAPT). With ``init_from: none`` (the
default) it writes only a marker and trains nothing, so the stage costs nothing.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

import shutil
from pathlib import Path

import click
import pandas as pd

from relevance.data.ingest import (
    DataParams,
    IngestParams,
    check_bad_fraction,
    read_split,
    resolve_file,
)
from relevance.errors import DataError
from relevance.model.train import TrainParams, publish_model, train_lora
from relevance.params import load_key, load_section, load_task_value, parse_section
from relevance.schema import TASKS, get_task
from relevance.stage import (
    HELP_OPTIONS,
    force_offline_unless_allowed,
    setup_logging,
    user_errors,
    write_metrics,
)

MARKER = "NO_TAPT"


@click.command(context_settings=HELP_OPTIONS)
@click.option("--task", "task_name", required=True, help="Task: qc or qi.")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), required=True,
    help="Folder of the competition files (data.dir); the other task's train file is read.",
)  # fmt: skip
@click.option(
    "--base-model", type=click.Path(path_type=Path), required=True, help="Base LLM folder."
)
@click.option(
    "--checkpoints", type=click.Path(path_type=Path), required=True,
    help="Resumable checkpoints (kept between runs).",
)  # fmt: skip
@click.option(
    "--out-dir", type=click.Path(path_type=Path), required=True,
    help="Where adapter/ is published (or the marker when TAPT is off).",
)  # fmt: skip
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON.")
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(
    task_name: str,
    data_dir: Path,
    base_model: Path,
    checkpoints: Path,
    out_dir: Path,
    metrics: Path,
    params_path: str,
) -> None:
    """Pre-train one task's adapter on the other task's training rows."""
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
    data = load_section(DataParams, "data", params_path)
    ingest = load_section(IngestParams, "ingest", params_path)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    checkpoints.mkdir(parents=True, exist_ok=True)  # a DVC output even when TAPT is off
    if config.init_from == "none":
        (out_dir / MARKER).write_text(f"train.{task.name}.init_from is none: no TAPT adapter\n")
        write_metrics(metrics, {"init_from": "none"})
        click.echo(f"tapt@{task.name}: off (train.{task.name}.init_from is none)")
        return
    (other,) = [t for t in TASKS.values() if t.name != task.name]
    path = data_dir / resolve_file(data.train, other)
    if not path.is_file():
        raise DataError(
            f"{path} not found: train.{task.name}.init_from: other_task needs the "
            f"{other.code} training file in data.dir"
        )
    split = read_split(path, task=other, split="train", max_record_bytes=ingest.max_record_bytes)
    check_bad_fraction(split, ingest.max_bad_fraction)
    rows = pd.DataFrame(split.rows)
    result = train_lora(
        model_dir=base_model,
        task=other,  # the other task's prompt: its rows, its question
        rows=rows,
        config=config,
        out_dir=checkpoints,
        restart_on_mismatch=True,
    )
    summary = publish_model(result, out_dir)
    write_metrics(
        metrics,
        {
            "init_from": config.init_from,
            "trained_on": other.name,
            "rows": len(rows),
            "quarantined": len(split.quarantine),
            "steps": summary["steps"],
            "final_loss": summary["final_loss"],
            "seconds": summary["seconds"],
        },
    )
    click.echo(f"tapt@{task.name}: adapter trained on {len(rows)} {other.code} rows -> {out_dir}")


if __name__ == "__main__":
    main()
