"""DVC stage selfval@<task>: filter models score the training rows; confident
contradictions of the label are flagged.

``selfval.mode`` oof (default) trains one filter model per group of folds and scores the
rows it did not see; in-sample trains one on everything (the paper). Writes every
row's score and the flagged rows with score and reason; filter@<task> acts on them.
With ``selfval.enabled: false`` both outputs are empty and no model is trained.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.folds.selfval import SelfValParams, selfval_task
from relevance.folds.training import ModelFoldTrainer, fold_processes
from relevance.launch import run_launched
from relevance.model.predict import PredictParams
from relevance.model.train import load_train_params
from relevance.params import load_section
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.path_option("--train", "Assembled training rows (assemble@<task>).")
@stage.path_option("--base-model", "Base model folder (causal LM or encoder).")
@stage.path_option(
    "--work-dir", "Filter models' checkpoints (kept between runs, so a rerun resumes)."
)
@stage.path_option("--scores", "Parquet out: every row's p(yes).")
@stage.path_option("--flagged", "Parquet out: the flagged rows with score and reason.")
@stage.metrics_option
def main(
    task: Task, base_model: Path, work_dir: Path, params_path: str, **paths: Path
) -> dict[str, Any]:
    """Score one task's training rows with filter models and flag likely label errors."""
    stage.hub_access(params_path)
    params = load_section(SelfValParams, "selfval", params_path)
    train_params = load_train_params(task.name, params_path)
    predict_params = load_section(
        PredictParams, "predict", params_path, skip=("fallback_label", "num_processes")
    )
    # train.<task>.num_processes above 1: the fold models train (DDP) and score in that
    # many processes, as train@<task> does; predict.num_processes is predict@<task>'s.
    if params.enabled and fold_processes(task, base_model, train_params, predict_params) > 1:
        launcher = train_params.launcher_config
        if run_launched(train_params.num_processes, launcher_config=launcher):
            return stage.LAUNCHED  # the launched processes wrote the outputs and metrics
    trainer = ModelFoldTrainer(
        task,
        base_model=base_model,
        train_params=train_params,
        predict_params=predict_params,
        work_dir=work_dir,
    )
    counts = selfval_task(task, params=params, trainer=trainer, **paths)
    state = "" if counts["enabled"] else " (selfval.enabled is false)"
    click.echo(
        f"selfval@{task.name}: {counts['flagged']} of {counts['rows_in']} rows flagged{state}"
        f" -> {paths['flagged']}"
    )
    return counts


if __name__ == "__main__":
    main()
