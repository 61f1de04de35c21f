"""DVC stage predict@<task>: p(yes) for every dev/test row.

The model is train@<task>'s, or with ``cv.ensemble`` the mean p(yes) of cv@<task>'s fold
models (soft voting, ``cv.weights``). Rows get the same input options as in training
(``input.*``: English pivot, lower-casing).
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click
import pandas as pd

from relevance.errors import DataError
from relevance.folds.cv import CVParams
from relevance.model.inputs import InputParams, prepare_rows
from relevance.model.predict import PredictParams, predict_ensemble, predict_splits, scorer_for
from relevance.params import load_key, load_section
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
    "--model",
    "model_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="train@<task> output folder (models/<task>, holding adapter/ and, with merge, merged/).",
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
    "--pivot",
    type=click.Path(path_type=Path),
    required=True,
    help="pivot@<task> output (English of every query; empty when input.pivot_en is off).",
)
@click.option(
    "--cv-models",
    type=click.Path(path_type=Path),
    required=True,
    help="cv@<task> fold models (fold-<k>/), averaged when cv.ensemble is on.",
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
    pivot: Path,
    cv_models: Path,
    out_dir: Path,
    metrics: Path,
    params_path: str,
) -> None:
    """Score dev and test rows with the task's trained model."""
    setup_logging()
    allow_download = force_offline_unless_allowed(
        load_key("models", "allow_download", params_path), source=params_path
    )
    task = get_task(task_name)
    params = load_section(PredictParams, "predict", params_path, skip=("fallback_label",))
    inputs = load_section(InputParams, "input", params_path)
    cv = load_section(CVParams, "cv", params_path)
    if not (ingested / "dev.parquet").is_file():
        raise DataError(f"{ingested}/dev.parquet not found: run ingest@{task.name} first")
    if not pivot.is_file():
        raise DataError(f"{pivot} not found: run pivot@{task.name} first")
    english = pd.read_parquet(pivot)
    splits, input_counts = {}, {}
    for split in ("dev", "test"):
        if (ingested / f"{split}.parquet").is_file():
            rows = pd.read_parquet(ingested / f"{split}.parquet")
            splits[split], input_counts[split] = prepare_rows(
                rows, params=inputs, pivot=english, split=split
            )
    if cv.ensemble:
        members = sorted(cv_models.glob("fold-*"))
        if len(members) != cv.folds:
            raise DataError(
                f"{cv_models}: cv.ensemble needs {cv.folds} fold models, found {len(members)}: "
                f"run cv@{task.name}"
            )
        result = predict_ensemble(
            task=task, model_dirs=members, base_model=base_model, params=params,
            split_files=splits, out_dir=out_dir, weights=cv.weights or None,
            allow_download=allow_download,
        )  # fmt: skip
    else:
        scorer = scorer_for(
            model_dir, base_model=base_model, params=params, allow_download=allow_download
        )
        result = predict_splits(task=task, scorer=scorer, split_files=splits, out_dir=out_dir)
    for split, counts in input_counts.items():
        result[split]["input"] = counts
    write_metrics(metrics, result)
    click.echo(
        f"predict@{task.name}: "
        + ", ".join(
            f"{s} {m['rows']} rows at {m['pairs_per_second']:.1f} pairs/s"
            for s, m in result.items()
        )
    )


if __name__ == "__main__":
    main()
