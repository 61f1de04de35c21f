"""DVC stage train@<task>: LoRA fine-tuning of the base LLM to answer yes/no, or
training of an encoder cross-encoder when the base model is one (models.llm).

Checkpoints go to --checkpoints (a persistent, uncached folder), so an interrupted
`dvc repro` resumes from the last one; the finished adapter (and merged model) go to
--out-dir, the DVC-hashed model. Runs unchanged under `accelerate launch` on GPUs.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.launch import run_launched
from relevance.model.backbone import train_task, training_processes
from relevance.model.inputs import InputParams
from relevance.model.train import load_train_params
from relevance.params import load_section
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.path_option("--base-model", "Base model folder (models stage): causal LM or encoder.")
@stage.path_option("--train", "Training rows (filter@<task>: query, candidate, lang, label).")
@stage.path_option("--pivot", "English pivot of every query (pivot@<task>; empty when off).")
@stage.path_option(
    "--tapt", "tapt@<task> output: adapter/ to start from when init_from is other_task."
)
@stage.path_option("--checkpoints", "Resumable checkpoints of this run (kept between runs).")
@stage.path_option("--out-dir", "Where adapter/ (and merged/) are written.")
@stage.metrics_option
def main(task: Task, params_path: str, **paths: Path) -> dict[str, Any]:
    """Fine-tune the base model on one task's training rows."""
    stage.hub_access(params_path)
    params = load_train_params(task.name, params_path)
    processes = training_processes(paths["base_model"], params, stage=f"train@{task.name}")
    if run_launched(processes, launcher_config=params.launcher_config):
        return stage.LAUNCHED  # the launched processes trained and wrote the outputs
    result = train_task(
        task, params=params, inputs=load_section(InputParams, "input", params_path), **paths
    )
    click.echo(
        f"train@{task.name}: {result['steps']} steps on {result['rows']} rows, "
        f"final loss {result['final_loss']:.4f}, {result['seconds']:.0f} s -> {paths['out_dir']}"
    )
    return result


if __name__ == "__main__":
    main()
