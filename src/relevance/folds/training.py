"""Training and scoring the fold models of a plan with the task's recipe (either backbone
family, :mod:`relevance.model.backbone`).

The one module of the wing that imports the training code: only the ``selfval`` and
``cv`` stage scripts import it, and hand a :class:`ModelFoldTrainer` to
:func:`relevance.folds.selfval.selfval_task` or :func:`relevance.folds.cv.cv_task`.
Each model is trained with ``train.<task>`` (so a filter model sees the data the way
the final model will) and scores its rows with the scorer of ``predict@<task>``. In a
launched group (``train.<task>.num_processes`` above 1) every process takes part in
each model: DDP training, then a share of the scoring; rank 0 writes.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relevance.folds.plan import Plan
from relevance.launch import barrier
from relevance.model.backbone import train_model, training_processes
from relevance.model.checkpoints import publish_model
from relevance.model.predict import PredictParams, score_rows, scorer_for
from relevance.model.train import TrainParams
from relevance.schema import Task

log = logging.getLogger(__name__)


def fold_processes(
    task: Task, base_model: Path, train_params: TrainParams, predict_params: PredictParams
) -> int:
    """How many processes the fold models of ``task`` train and score in:
    ``train.<task>.num_processes``, but one for an encoder backbone
    (:func:`relevance.model.backbone.training_processes`) and one with the vLLM backend,
    whose engine can not start inside a launched group (torch.distributed's world would
    not be vLLM's)."""
    processes = training_processes(base_model, train_params, stage=f"fold models of {task.name}")
    if processes > 1 and predict_params.backend == "vllm":
        log.warning(
            "train.%s.num_processes is %d but predict.backend is vllm: the fold models "
            "train and score in one process (vLLM does not start inside a launched group)",
            task.name, processes,
        )  # fmt: skip
        return 1
    return processes


def train_fold_models(
    rows: pd.DataFrame,
    plan: Plan,
    *,
    task: Task,
    base_model: Path,
    train_params: TrainParams,
    predict_params: PredictParams,
    work_dir: Path,
    publish_dir: Path | None = None,
    init_adapter: Path | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Train one model per ``(train indices, score indices)`` of ``plan`` and score.

    Args:
        rows: training rows (``id``, ``fold``, ``label`` and the prompt columns).
        plan: from :func:`relevance.folds.plan.oof_plan`; indices are positions in ``rows``.
        work_dir: checkpoints, one ``model-<k>/`` per model (resumable like
            ``train@<task>``).
        publish_dir: when given, model k is moved to ``<publish_dir>/fold-<k>/``
            (``adapter/``, ``merged/``), as ``train@<task>`` publishes its model.
        init_adapter: start every model from this trained model folder (TAPT).

    Returns:
        ``(scores, models)``: scores has ``id``, ``fold``, ``model`` and ``p_yes`` in the
        order of ``rows`` (rows no model scores keep NaN and model -1; the columns of
        :data:`relevance.tables.SELFVAL_SCORES_SCHEMA`); models has, per model, the rows
        it trained on and scored and the seconds each took.
    """
    p_yes = np.full(len(rows), np.nan)
    model_of = np.full(len(rows), -1, dtype=np.int16)
    models: list[dict[str, Any]] = []
    for k, (train_idx, score_idx) in enumerate(plan):
        start = time.perf_counter()
        log.info(
            "fold model %d/%d: training on %d rows, scoring %d",
            k + 1, len(plan), len(train_idx), len(score_idx),
        )  # fmt: skip
        result = train_model(
            model_dir=base_model,
            task=task,
            rows=rows.iloc[train_idx].reset_index(drop=True),
            config=train_params,
            out_dir=work_dir / f"model-{k}",
            restart_on_mismatch=True,
            init_adapter=init_adapter,
        )
        trained = time.perf_counter()
        model_dir = result.out_dir
        if publish_dir is not None:
            model_dir = publish_dir / f"fold-{k}"
            publish_model(result, model_dir)
        barrier()  # rank 0 alone wrote the model folder the ranks now load
        scorer = scorer_for(model_dir, base_model=base_model, params=predict_params)
        p_yes[score_idx] = score_rows(
            scorer, task, rows.iloc[score_idx].reset_index(drop=True), label=f"by fold model {k}"
        )
        model_of[score_idx] = k
        # One model in memory at a time: the next fold model is about to load.
        del scorer
        gc.collect()
        models.append(
            {
                "train_rows": len(train_idx),
                "scored_rows": len(score_idx),
                "train_seconds": round(trained - start, 1),
                "score_seconds": round(time.perf_counter() - trained, 1),
            }
        )
    scores = pd.DataFrame(
        {
            "id": rows["id"].to_numpy(),
            "fold": rows["fold"].to_numpy(),
            "model": model_of,
            "p_yes": p_yes,
        }
    )
    return scores, models


@dataclasses.dataclass(frozen=True)
class ModelFoldTrainer:
    """:func:`train_fold_models` with its settings bound: the
    :class:`relevance.folds.plan.FoldTrainer` the selfval and cv stages pass on."""

    task: Task
    base_model: Path
    train_params: TrainParams
    predict_params: PredictParams
    work_dir: Path
    init_adapter: Path | None = None

    def __call__(
        self, rows: pd.DataFrame, plan: Plan, *, publish_dir: Path | None = None
    ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
        return train_fold_models(
            rows,
            plan,
            task=self.task,
            base_model=self.base_model,
            train_params=self.train_params,
            predict_params=self.predict_params,
            work_dir=self.work_dir,
            publish_dir=publish_dir,
            init_adapter=self.init_adapter,
        )
