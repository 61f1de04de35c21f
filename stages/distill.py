"""DVC stage distill@<task>: the trained model of train@<task> (the teacher) teaches an
encoder student through its p(yes); off unless distill.enabled (then only a marker).

Writes the student (model/) and its p(yes) of every dev/test row (<split>.parquet), and
reports teacher and student side by side: AUC, best-threshold F1, pairs/s.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.model.distill import DistillParams, distill_task
from relevance.model.inputs import InputParams
from relevance.model.predict import PredictParams
from relevance.params import load_section
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.path_option("--train", "The teacher's training rows (filter@<task>).")
@stage.path_option("--pivot", "pivot@<task> output (English of every query; empty when off).")
@stage.path_option("--ingested", "ingest@<task> output dir; the student scores dev and test.")
@stage.path_option("--teacher", "train@<task> output: the teacher model.")
@stage.path_option("--teacher-base", "The teacher's base model folder (for an adapter).")
@stage.path_option("--teacher-predictions", "predict@<task> output: the teacher's dev/test p(yes).")
@stage.path_option("--student-base", "The student's base encoder (models stage: the embedder).")
@stage.path_option("--baseline", "baseline@<task> output (TF-IDF p(yes), reported beside).")
@stage.path_option("--out-dir", "Student model/ and its <split>.parquet (or a marker when off).")
@stage.metrics_option
def main(task: Task, params_path: str, **paths: Path) -> dict[str, Any]:
    """Distil the task's trained model into an encoder student."""
    stage.hub_access(params_path)
    params = load_section(DistillParams, "distill", params_path)
    result = distill_task(
        task,
        params=params,
        predict_params=load_section(
            PredictParams, "predict", params_path, skip=("fallback_label", "num_processes")
        ),
        inputs=load_section(InputParams, "input", params_path),
        **paths,
    )
    if not result["enabled"]:
        click.echo(f"distill@{task.name}: off (distill.enabled is false)")
    else:
        dev = result["dev"]
        click.echo(
            f"distill@{task.name}: teacher AUC {dev['teacher']['auc']}, student AUC "
            f"{dev['student']['auc']} ({result['student_pairs_per_second']:.0f} pairs/s)"
        )
    return result


if __name__ == "__main__":
    main()
