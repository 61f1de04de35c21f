"""Cross-validation training and fold ensembles (the winning team's recipe).

``cv@<task>`` trains one model per group of ``split@<task>`` folds (fold f goes to model
f % ``cv.folds``), scores each model's held-out rows (out-of-fold p(yes), from which
``evaluate@<task>`` reports CV F1 as mean and standard deviation over folds, per
language too) and keeps the models, so ``predict@<task>`` can average their p(yes) on
dev/test (soft voting, ``cv.ensemble``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from relevance.errors import ConfigError, DataError
from relevance.evaluate.metrics import binary_scores


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


def cv_report(oof: pd.DataFrame, *, threshold: float) -> dict[str, Any]:
    """CV scores from out-of-fold p(yes): F1 (at ``threshold``) and AUC per fold model,
    their mean and standard deviation, and the same per language.

    Args:
        oof: ``model``, ``language``, ``label`` (0/1), ``p_yes`` per training row.

    Raises:
        DataError: missing columns or labels.
    """
    missing = [c for c in ("model", "language", "label", "p_yes") if c not in oof.columns]
    if missing:
        raise DataError(f"out-of-fold scores: missing columns {missing}")
    if oof.empty:
        return {"folds": 0}

    def summarise(frame: pd.DataFrame) -> dict[str, Any]:
        per_fold = []
        for model, part in frame.groupby("model", sort=True):
            labels = part["label"].to_numpy().astype(int)
            scores = binary_scores(labels, part["p_yes"].to_numpy() >= threshold)
            auc = _auc(labels, part["p_yes"].to_numpy())
            per_fold.append(
                {"model": int(model), "rows": len(part), "f1": scores["f1"], "auc": auc}
            )
        f1 = np.array([f["f1"] for f in per_fold], dtype=float)
        aucs = np.array([f["auc"] for f in per_fold if f["auc"] is not None], dtype=float)
        return {
            "f1_mean": round(float(f1.mean()), 6),
            "f1_std": round(float(f1.std(ddof=1)), 6) if len(f1) > 1 else 0.0,
            "auc_mean": round(float(aucs.mean()), 6) if len(aucs) else None,
            "per_fold": per_fold,
        }

    report = {"folds": int(oof["model"].nunique()), "threshold": threshold, **summarise(oof)}
    report["per_language"] = {
        str(language): {k: v for k, v in summarise(part).items() if k != "per_fold"}
        for language, part in oof.groupby("language", sort=True)
    }
    return report


def _auc(labels: np.ndarray, p_yes: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(labels)) < 2:
        return None
    return round(float(roc_auc_score(labels, p_yes)), 6)
