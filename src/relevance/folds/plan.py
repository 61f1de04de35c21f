"""Fold models: which rows each trains on and scores, and the table of their scores.

Self-validation (``selfval@<task>``) and cross-validation (``cv@<task>``) run the same
loop over the grouped folds of ``split@<task>``:

1. :func:`oof_plan` decides, for each fold model, the rows it trains on and the rows it
   scores. In ``oof`` mode split fold ``f`` is held out by model ``f % folds``, so no
   row is scored by a model that trained on it; ``in-sample`` (self-validation only,
   the paper) trains one model on every row and scores every row.
2. A :class:`FoldTrainer` trains and scores the models of a plan. The stages pass
   :class:`relevance.folds.training.ModelFoldTrainer` (the task's LoRA recipe and the
   scorer of ``predict@<task>``); tests pass a few lines that return hand-written
   scores. So this module, ``selfval`` and ``cv`` never import the training code, and
   the stages that only read their outputs (``filter``, ``evaluate``, ``predict``) do
   not depend on it.
3. :func:`oof_table` joins the scores with each row's language and label: the table
   ``evaluate@<task>`` turns into CV F1.

Which params key chose the number of models differs by caller (``selfval.folds`` or
``cv.folds``), so :func:`oof_plan` takes the key's name and says it in its errors.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from relevance.errors import ConfigError, DataError
from relevance.tables import require_columns

Mode = Literal["oof", "in-sample"]
MODES: tuple[str, ...] = typing.get_args(Mode)
# (train row indices, score row indices) of each fold model.
Plan = Sequence[tuple[np.ndarray, np.ndarray]]


class FoldTrainer(Protocol):
    """Trains the models of a plan and scores their rows (see
    :func:`relevance.folds.training.train_fold_models` for the contract)."""

    @property
    def work_dir(self) -> Path:
        """The models' checkpoints: a DVC output, made even when nothing is trained."""
        ...

    def __call__(
        self, rows: pd.DataFrame, plan: Plan, *, publish_dir: Path | None = None
    ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
        """``(scores, models)``: ``id``, ``fold``, ``model``, ``p_yes`` in the order of
        ``rows``, and per model what it cost; models published to
        ``<publish_dir>/fold-<k>/`` when ``publish_dir`` is given."""
        ...


def oof_plan(
    split_folds: np.ndarray, *, mode: Mode, folds: int, key: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train row indices, score row indices) for each fold model.

    Args:
        split_folds: shape (n,), the fold id of every row from the ``split`` stage:
            integers ``0..K-1`` with every fold present.
        mode: ``in-sample``: one model, trained on all rows and scoring all rows
            (``folds`` is ignored). ``oof``: ``folds`` models; split fold ``f`` belongs
            to model ``f % folds``; model ``g`` trains on the rows outside its folds and
            scores the rows in them, so every row is scored exactly once, by a model
            that never saw it.
        folds: the number of models in ``oof`` mode, in ``2..K``.
        key: the params key ``folds`` comes from (``selfval.folds``, ``cv.folds``), named
            in the errors so the message points at what to change.

    Returns:
        One ``(train, score)`` pair of int64 index arrays per model, ``score`` never
        empty.

    Raises:
        ConfigError: ``folds`` < 2 or more than the K split folds (a model would score
            nothing).
        DataError: ``split_folds`` is empty, not integer, negative or misses a fold.
        ValueError: an unknown ``mode`` (a programming error: params classes restrict
            it with a ``Literal``).
    """
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    split_folds = np.asarray(split_folds)
    if split_folds.ndim != 1 or split_folds.size == 0:
        raise DataError(
            f"split folds: expected a non-empty 1-D array, got shape {split_folds.shape}"
        )
    if split_folds.dtype.kind not in "iu":
        raise DataError(f"split folds: expected integer fold ids, got dtype {split_folds.dtype}")
    if split_folds.min() < 0:
        raise DataError(
            f"split folds: expected fold ids >= 0, got {int(split_folds.min())} "
            f"({int((split_folds < 0).sum())} row(s) without a fold)"
        )
    n_split = int(split_folds.max()) + 1
    sizes = np.bincount(split_folds, minlength=n_split)
    empty = np.flatnonzero(sizes == 0).tolist()
    if empty:
        raise DataError(
            f"split folds: expected every fold 0..{n_split - 1} to hold rows; fold(s) "
            f"{empty} are empty"
        )
    all_rows = np.arange(split_folds.size)
    if mode == "in-sample":
        return [(all_rows, all_rows)]
    if folds < 2:
        raise ConfigError(f"{key} must be >= 2 in oof mode, got {folds}")
    if folds > n_split:
        raise ConfigError(
            f"{key}={folds} exceeds the {n_split} split folds (split.folds): fold "
            f"model(s) {list(range(n_split, folds))} would have no rows to score"
        )
    model_of = split_folds % folds
    plan = []
    for g in range(folds):
        held_out = model_of == g
        # Non-empty: every split fold holds rows, and each of the >= 2 models gets one.
        plan.append((all_rows[~held_out], all_rows[held_out]))
    return plan


def oof_table(rows: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """The out-of-fold table (:data:`relevance.tables.OOF_SCHEMA`): each row's id, fold,
    scoring model, language, label and p(yes), in the order of ``rows``.

    Args:
        rows: the rows :func:`train_fold_models` scored (``language``, ``label``).
        scores: its scores, row for row (``id``, ``fold``, ``model``, ``p_yes``).

    Raises:
        DataError: missing columns, or ``scores`` not row for row with ``rows``.
    """
    require_columns(rows, ("id", "language", "label"), what="rows of the out-of-fold table")
    require_columns(scores, ("id", "fold", "model", "p_yes"), what="out-of-fold scores")
    if len(rows) != len(scores) or not np.array_equal(
        rows["id"].astype(str).to_numpy(), scores["id"].astype(str).to_numpy()
    ):
        raise DataError(
            f"out-of-fold scores: expected one score per row in row order ({len(rows)} rows), "
            f"got {len(scores)} scores with other ids"
        )
    return pd.DataFrame(
        {
            "id": scores["id"].astype(str).to_numpy(),
            "fold": scores["fold"].to_numpy(),
            "model": scores["model"].to_numpy(),
            "language": rows["language"].astype(str).to_numpy(),
            "label": rows["label"].astype("int8").to_numpy(),
            "p_yes": scores["p_yes"].to_numpy(),
        }
    )
