"""DVC stage cv@<task>: one model per fold group, out-of-fold p(yes), kept for ensembles.

With ``cv.folds: 0`` (default) it writes an empty score table and a marker, trains
nothing. With K >= 2 it trains K models on the training rows (fold f held out by model
f % K), scores each model's held-out rows and publishes the models to
``<models-dir>/fold-<k>/``; evaluate@<task> turns the scores into CV F1 (mean +- std)
and predict@<task> averages the models' p(yes) when ``cv.ensemble`` is on.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

import shutil
from pathlib import Path

import click
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from relevance.errors import DataError
from relevance.folds.cv import CVParams
from relevance.folds.noise import oof_plan
from relevance.folds.selfval import train_fold_models
from relevance.model.inputs import InputParams, prepare_rows
from relevance.model.predict import PredictParams
from relevance.model.train import TrainParams
from relevance.params import load_key, load_section, load_task_value, parse_section
from relevance.schema import get_task
from relevance.stage import (
    HELP_OPTIONS,
    force_offline_unless_allowed,
    setup_logging,
    user_errors,
    write_metrics,
)

OOF_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("fold", pa.int8()),
        pa.field("model", pa.int16()),
        pa.field("language", pa.string()),
        pa.field("label", pa.int8()),
        pa.field("p_yes", pa.float64()),
    ]
)


@click.command(context_settings=HELP_OPTIONS)
@click.option("--task", "task_name", required=True, help="Task: qc or qi.")
@click.option(
    "--train", "train_path", type=click.Path(path_type=Path), required=True,
    help="Training rows with folds (filter@<task>).",
)  # fmt: skip
@click.option(
    "--pivot", type=click.Path(path_type=Path), required=True, help="pivot@<task> output."
)
@click.option(
    "--base-model", type=click.Path(path_type=Path), required=True, help="Base LLM folder."
)
@click.option(
    "--work-dir", type=click.Path(path_type=Path), required=True,
    help="Checkpoints of the fold models (kept between runs).",
)  # fmt: skip
@click.option(
    "--models-dir", type=click.Path(path_type=Path), required=True,
    help="Where fold-<k>/ models are published.",
)  # fmt: skip
@click.option("--oof", type=click.Path(path_type=Path), required=True, help="Parquet out.")
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON.")
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(
    task_name: str,
    train_path: Path,
    pivot: Path,
    base_model: Path,
    work_dir: Path,
    models_dir: Path,
    oof: Path,
    metrics: Path,
    params_path: str,
) -> None:
    """Train the fold models of one task and score their held-out rows."""
    setup_logging()
    force_offline_unless_allowed(
        load_key("models", "allow_download", params_path), source=params_path
    )
    task = get_task(task_name)
    params = load_section(CVParams, "cv", params_path)
    inputs = load_section(InputParams, "input", params_path)
    predict_params = load_section(PredictParams, "predict", params_path, skip=("fallback_label",))
    train_config = parse_section(
        TrainParams,
        load_task_value("train", task.name, params_path),
        name=f"train.{task.name}",
        source=params_path,
    )
    for path in (train_path, pivot):
        if not path.is_file():
            raise DataError(f"{path} not found: run the stage that writes it first")
    if models_dir.exists():
        shutil.rmtree(models_dir)
    models_dir.mkdir(parents=True)
    oof.parent.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)  # a DVC output even when CV is off
    if params.folds == 0:
        (models_dir / "NO_CV_MODELS").write_text("cv.folds is 0: no fold models were trained\n")
        pq.write_table(OOF_SCHEMA.empty_table(), oof)
        write_metrics(metrics, {"folds": 0})
        click.echo(f"cv@{task.name}: cv.folds is 0, nothing trained")
        return
    rows, _ = prepare_rows(
        pd.read_parquet(train_path), params=inputs, pivot=pd.read_parquet(pivot), split="train"
    )
    plan = oof_plan(rows["fold"].to_numpy(), mode="oof", folds=params.folds)
    scores, models = train_fold_models(
        rows,
        plan,
        task=task,
        base_model=base_model,
        train_config=train_config,
        predict_params=predict_params,
        work_dir=work_dir,
        publish_dir=models_dir,
    )
    table = pa.table(
        {
            "id": scores["id"].astype(str).to_numpy(),
            "fold": scores["fold"].to_numpy(),
            "model": scores["model"].to_numpy(),
            "language": rows["language"].astype(str).to_numpy(),
            "label": rows["label"].astype("int8").to_numpy(),
            "p_yes": scores["p_yes"].to_numpy(),
        },
        schema=OOF_SCHEMA,
    )
    pq.write_table(table, oof, compression="zstd")
    write_metrics(metrics, {"folds": params.folds, "models": models})
    click.echo(f"cv@{task.name}: {params.folds} fold models -> {models_dir}")


if __name__ == "__main__":
    main()
