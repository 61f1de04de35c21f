"""DVC stage tapt@<task>: task-adaptive pre-training on the other task's rows.

With ``train.<task>.init_from: other_task`` it trains a LoRA adapter (this task's recipe)
on the other task's ingested training rows (``--ingested``/<other task>/train.parquet),
and train@<task> continues from it (the winning team's TAPT). With ``init_from: none``
(the default) it writes only a marker and trains nothing, so the stage costs nothing.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.model.tapt import tapt_task
from relevance.model.train import load_train_params
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.path_option("--ingested", "ingest stages' outputs (<task>/train.parquet per task).")
@stage.path_option("--base-model", "Base LLM folder (models stage).")
@stage.path_option("--checkpoints", "Resumable checkpoints (kept between runs).")
@stage.path_option("--out-dir", "Where adapter/ is published (or the marker when TAPT is off).")
@stage.metrics_option
def main(task: Task, params_path: str, **paths: Path) -> dict[str, Any]:
    """Pre-train one task's adapter on the other task's training rows."""
    stage.hub_access(params_path)
    result = tapt_task(task, params=load_train_params(task.name, params_path), **paths)
    if result["init_from"] == "none":
        click.echo(f"tapt@{task.name}: off (train.{task.name}.init_from is none)")
    else:
        trained = f"{result['rows']} {result['trained_on']} rows"
        click.echo(f"tapt@{task.name}: adapter trained on {trained} -> {paths['out_dir']}")
    return result


if __name__ == "__main__":
    main()
