"""Cross-validation training and fold ensembles (the winning team's recipe).

``cv@<task>`` trains one model per group of ``split@<task>`` folds (fold f goes to model
f % ``cv.folds``), scores each model's held-out rows (out-of-fold p(yes), from which
``evaluate@<task>`` reports CV F1 as mean and standard deviation over folds, per
language too: :func:`relevance.evaluate.metrics.cv_report`) and keeps the models, so
``predict@<task>`` can average their p(yes) on dev/test (soft voting, ``cv.ensemble``).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from relevance.errors import ConfigError
from relevance.folds.plan import FoldTrainer, oof_plan, oof_table
from relevance.launch import is_main_process
from relevance.model.inputs import InputParams, prepare_rows
from relevance.schema import Task
from relevance.tables import OOF_SCHEMA, empty_frame, read_table, write_table


@dataclasses.dataclass(frozen=True)
class CVParams:
    """params.yaml ``cv``.

    ``folds``: 0 turns CV training off; K >= 2 trains K models (needs ``split.folds``
    >= K). ``ensemble``: predict with the mean p(yes) of the K fold models instead of
    the single model of ``train@<task>``. ``weights``: one weight per fold model for a
    weighted mean (normalised; empty = equal weights).
    """

    folds: int = 0
    ensemble: bool = False
    weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        # parse_section puts "<params file>:cv: " in front of these messages.
        if self.folds == 1 or self.folds < 0:
            raise ConfigError(f"folds: expected 0 (off) or >= 2, got {self.folds}")
        if self.ensemble and self.folds == 0:
            raise ConfigError("ensemble: true needs cv.folds >= 2 (fold models)")
        if self.weights and len(self.weights) != self.folds:
            raise ConfigError(
                f"weights: expected {self.folds} weights (one per fold model) "
                f"or none, got {len(self.weights)}"
            )
        if any(w < 0 for w in self.weights) or (self.weights and sum(self.weights) <= 0):
            raise ConfigError(f"weights: expected non-negative weights, got {self.weights}")


def cv_task(
    task: Task,
    *,
    train: Path,
    pivot: Path,
    models_dir: Path,
    oof: Path,
    params: CVParams,
    inputs: InputParams,
    trainer: FoldTrainer,
) -> dict[str, Any]:
    """The cv@<task> stage: train ``params.folds`` models with ``trainer`` on the filtered
    training rows (``train``, with the input options of ``inputs`` and the English of
    ``pivot``), publish them to ``<models_dir>/fold-<k>/``, write their out-of-fold
    p(yes) to ``oof`` (:data:`relevance.tables.OOF_SCHEMA`); return the stage's metrics.

    With ``params.folds`` 0 nothing is trained: ``oof`` is empty and ``models_dir``
    holds only a ``NO_CV_MODELS`` marker (DVC needs the folder).

    Raises:
        ConfigError: ``cv.folds`` exceeds the split folds of the rows.
    """
    rows = read_table(train, made_by=f"filter@{task.name}")
    english = read_table(pivot, made_by=f"pivot@{task.name}")
    # In a launched group every process trains and scores; rank 0 writes.
    write = is_main_process()
    if write:
        # Fold models of an earlier run with more folds must not linger for predict.
        if models_dir.exists():
            shutil.rmtree(models_dir)
        models_dir.mkdir(parents=True)
    trainer.work_dir.mkdir(parents=True, exist_ok=True)  # a DVC output even when CV is off
    if params.folds == 0:
        if write:
            (models_dir / "NO_CV_MODELS").write_text("cv.folds is 0: no fold models were trained\n")
            write_table(empty_frame(OOF_SCHEMA), oof, OOF_SCHEMA)
        return {"folds": 0}
    rows, _ = prepare_rows(rows, params=inputs, pivot=english, split="train")
    plan = oof_plan(rows["fold"].to_numpy(), mode="oof", folds=params.folds, key="cv.folds")
    scores, models = trainer(rows, plan, publish_dir=models_dir)
    if write:
        write_table(oof_table(rows, scores), oof, OOF_SCHEMA)
    return {"folds": params.folds, "models": models}
