"""Fold models: train on some folds, score the rest (self-validation and CV training).

Self-validation (the paper's third strategy, with cleanlab's out-of-fold refinement):

1. Plan the filter models (:func:`relevance.folds.noise.oof_plan`): ``in-sample`` trains one
   model on every row and scores every row (the paper); ``oof`` trains one model per
   group of cross-validation folds and scores only the held-out rows, so no row is
   scored by a model that trained on it.
2. Train each filter model with the task's own LoRA recipe (``train.<task>``), so the
   filter sees the data the way the final model will.
3. Score the held-out rows with the same scorer as ``predict@<task>``.
4. :func:`relevance.folds.noise.find_label_issues` flags the rows whose label the scores
   contradict with high confidence.

CV training (the winning team's fold ensembles, ``cv@<task>``) is the same loop with the
fold models kept: their held-out scores give the CV F1, and ``predict@<task>`` averages
their p(yes).

Checkpoints live in ``work_dir`` (one folder per model, resumable like ``train@<task>``).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relevance.folds.noise import SelfValParams, oof_plan
from relevance.model.predict import PredictParams, scorer_for
from relevance.model.train import TrainParams, publish_model, train_lora
from relevance.schema import Task

logger = logging.getLogger(__name__)


def train_fold_models(
    rows: pd.DataFrame,
    plan: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    task: Task,
    base_model: Path,
    train_config: TrainParams,
    predict_params: PredictParams,
    work_dir: Path,
    publish_dir: Path | None = None,
    init_adapter: Path | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Train one model per ``(train indices, score indices)`` of ``plan`` and score.

    Args:
        rows: training rows (``id``, ``fold``, ``label`` and the prompt columns).
        work_dir: checkpoints, one ``model-<k>/`` per model.
        publish_dir: when given, model k is moved to ``<publish_dir>/fold-<k>/``
            (``adapter/``, ``merged/``), as ``train@<task>`` publishes its model.
        init_adapter: start every model from this LoRA adapter (TAPT).

    Returns:
        ``(scores, models)``: scores has ``id``, ``fold``, ``model`` and ``p_yes`` in the
        order of ``rows`` (rows no model scores keep NaN); models has rows and seconds.
    """
    p_yes = np.full(len(rows), np.nan)
    model_of = np.full(len(rows), -1, dtype=np.int16)
    models: list[dict[str, Any]] = []
    for k, (train_idx, score_idx) in enumerate(plan):
        start = time.perf_counter()
        logger.info(
            "fold model %d/%d: training on %d rows, scoring %d",
            k + 1, len(plan), len(train_idx), len(score_idx),
        )  # fmt: skip
        result = train_lora(
            model_dir=base_model,
            task=task,
            rows=rows.iloc[train_idx].reset_index(drop=True),
            config=train_config,
            out_dir=work_dir / f"model-{k}",
            restart_on_mismatch=True,
            init_adapter=init_adapter,
        )
        trained = time.perf_counter()
        model_dir = result.out_dir
        if publish_dir is not None:
            model_dir = publish_dir / f"fold-{k}"
            publish_model(result, model_dir)
        scorer = scorer_for(model_dir, base_model=base_model, params=predict_params)
        p_yes[score_idx] = scorer.score(
            task, rows.iloc[score_idx].reset_index(drop=True), label=f"by fold model {k}"
        )
        model_of[score_idx] = k
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


def self_validate(
    rows: pd.DataFrame,
    *,
    task: Task,
    base_model: Path,
    train_config: TrainParams,
    predict_params: PredictParams,
    config: SelfValParams,
    work_dir: Path,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """p(yes) for every training row from a filter model, and what it cost.

    Returns:
        ``(scores, summary)``: scores as :func:`train_fold_models` (every row scored
        exactly once); summary has the mode and rows and seconds per filter model.
    """
    plan = oof_plan(rows["fold"].to_numpy(), mode=config.mode, folds=config.folds)
    scores, models = train_fold_models(
        rows,
        plan,
        task=task,
        base_model=base_model,
        train_config=train_config,
        predict_params=predict_params,
        work_dir=work_dir,
    )
    if scores["p_yes"].isna().any():  # a plan bug, not a user error
        raise RuntimeError(f"{int(scores['p_yes'].isna().sum())} rows were not scored")
    return scores, {"mode": config.mode, "filter_models": models}
