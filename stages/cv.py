"""DVC stage cv@<task>: one model per fold group, out-of-fold p(yes), kept for ensembles.

With ``cv.folds: 0`` (default) it writes an empty score table and a marker, trains
nothing. With K >= 2 it trains K models on the training rows (fold f held out by model
f % K), scores each model's held-out rows and publishes the models to
``<models-dir>/fold-<k>/``; evaluate@<task> turns the scores into CV F1 (mean +- std)
and predict@<task> averages the models' p(yes) when ``cv.ensemble`` is on.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.folds.cv import CVParams, cv_task
from relevance.folds.training import ModelFoldTrainer, fold_processes
from relevance.launch import run_launched
from relevance.model.inputs import InputParams
from relevance.model.predict import PredictParams
from relevance.model.train import load_train_params
from relevance.params import load_section
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.path_option("--train", "Training rows with folds (filter@<task>).")
@stage.path_option("--pivot", "pivot@<task> output.")
@stage.path_option("--base-model", "Base model folder (causal LM or encoder).")
@stage.path_option("--work-dir", "Checkpoints of the fold models (kept between runs).")
@stage.path_option("--models-dir", "Where fold-<k>/ models are published.")
@stage.path_option("--oof", "Parquet out: out-of-fold p(yes) of every training row.")
@stage.metrics_option
def main(
    task: Task, base_model: Path, work_dir: Path, params_path: str, **paths: Path
) -> dict[str, Any]:
    """Train the fold models of one task and score their held-out rows."""
    stage.hub_access(params_path)
    params = load_section(CVParams, "cv", params_path)
    train_params = load_train_params(task.name, params_path)
    predict_params = load_section(
        PredictParams, "predict", params_path, skip=("fallback_label", "num_processes")
    )
    # train.<task>.num_processes above 1: the fold models train (DDP) and score in that
    # many processes, as train@<task> does; predict.num_processes is predict@<task>'s.
    if params.folds > 0 and fold_processes(task, base_model, train_params, predict_params) > 1:
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
    inputs = load_section(InputParams, "input", params_path)
    counts = cv_task(task, params=params, inputs=inputs, trainer=trainer, **paths)
    click.echo(f"cv@{task.name}: {params.folds} fold models -> {paths['models_dir']}")
    return counts


if __name__ == "__main__":
    main()
