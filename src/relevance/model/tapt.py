"""Task-adaptive pre-training (the winning team's TAPT): the ``tapt@<task>`` stage.

With ``train.<task>.init_from: other_task`` it trains a LoRA adapter with this task's
recipe on the *other* task's training rows, as ingest@<other task> wrote them, and
``train@<task>`` continues from it. With ``init_from: none`` (the default) it writes
only a marker and reads nothing, so the stage costs nothing.

The rows come from ``data/ingested/<other task>/train.parquet``: the stage depends on
the whole ``data/ingested`` folder in dvc.yaml, because a ``foreach`` stage cannot name
"the other task", and DVC connects a folder dependency to the ingest stages whose
outputs lie inside it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from relevance.errors import DataError
from relevance.model.backbone import train_model
from relevance.model.checkpoints import publish_model
from relevance.model.train import TrainParams
from relevance.schema import TASKS, Task

logger = logging.getLogger(__name__)

# The only file of a tapt@<task> output when TAPT is off.
MARKER = "NO_TAPT"


def other_task(task: Task) -> Task:
    """The task whose rows pre-train ``task``'s adapter."""
    (other,) = [t for t in TASKS.values() if t.name != task.name]
    return other


def tapt_task(
    task: Task,
    *,
    ingested: Path,
    base_model: Path,
    checkpoints: Path,
    out_dir: Path,
    params: TrainParams,
) -> dict[str, Any]:
    """The tapt@<task> stage: train ``out_dir/adapter`` on the other task's ingested
    training rows (``ingested/<other>/train.parquet``) when ``params.init_from`` is
    ``other_task``, else write the :data:`MARKER`; return the stage's metrics.

    Raises:
        DataError: the other task's rows are missing (it is not among ``tasks``).
    """
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    checkpoints.mkdir(parents=True, exist_ok=True)  # the same folders whether TAPT is on or off
    if params.init_from == "none":
        (out_dir / MARKER).write_text(f"train.{task.name}.init_from is none: no TAPT adapter\n")
        return {"init_from": "none"}
    other = other_task(task)
    path = ingested / other.name / "train.parquet"
    if not path.is_file():
        raise DataError(
            f"{path} not found: train.{task.name}.init_from: other_task needs the {other.code} "
            f"rows (ingest@{other.name}): add {other.name} to tasks"
        )
    rows = pd.read_parquet(path)
    if params.num_processes > 1:
        logger.warning(
            "train.%s.num_processes is %d: tapt@%s trains in one process", task.name,
            params.num_processes, task.name,
        )  # fmt: skip
    result = train_model(
        model_dir=base_model,
        task=other,  # the other task's prompt: its rows, its question
        rows=rows,
        config=params,
        out_dir=checkpoints,
        restart_on_mismatch=True,
    )
    summary = publish_model(result, out_dir)
    logger.info("tapt@%s: adapter trained on %d %s rows", task.name, len(rows), other.code)
    return {
        "init_from": params.init_from,
        "trained_on": other.name,
        "rows": len(rows),
        "steps": summary["steps"],
        "final_loss": summary["final_loss"],
        "seconds": summary["seconds"],
    }
