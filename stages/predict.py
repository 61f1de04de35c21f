"""DVC stage predict@<task>: p(yes) for every dev/test row.

The model is train@<task>'s, or with ``cv.ensemble`` the mean p(yes) of cv@<task>'s fold
models (soft voting, ``cv.weights``). Rows get the same input options as in training
(``input.*``: English pivot, lower-casing).
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.folds.cv import CVParams
from relevance.launch import run_launched
from relevance.model.inputs import InputParams
from relevance.model.predict import PredictParams, predict_task, summary_line
from relevance.params import load_section
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.path_option(
    "--model", "train@<task> output (adapter/ and, with merge, merged/).", dest="model_dir"
)
@stage.path_option(
    "--base-model", "Base LLM folder (used with an adapter when there is no merged/)."
)
@stage.path_option("--ingested", "ingest@<task> output dir; dev and test are scored.")
@stage.path_option("--pivot", "pivot@<task> output (English of every query; empty when off).")
@stage.path_option("--cv-models", "cv@<task> fold models (fold-<k>/), averaged with cv.ensemble.")
@stage.path_option("--out-dir", "Where <split>.parquet predictions are written.")
@stage.metrics_option
def main(task: Task, params_path: str, **paths: Path) -> dict[str, Any]:
    """Score dev and test rows with the task's trained model."""
    allow_download = stage.hub_access(params_path)
    params = load_section(PredictParams, "predict", params_path, skip=("fallback_label",))
    if run_launched(params.num_processes, device=params.device):
        return stage.LAUNCHED  # the launched processes scored and wrote the outputs
    cv = load_section(CVParams, "cv", params_path)
    result = predict_task(
        task,
        params=params,
        inputs=load_section(InputParams, "input", params_path),
        ensemble_size=cv.folds if cv.ensemble else 0,
        weights=cv.weights,
        allow_download=allow_download,
        **paths,
    )
    click.echo(summary_line(task, result))
    return result


if __name__ == "__main__":
    main()
