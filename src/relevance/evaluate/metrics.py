"""Evaluation: positive-class F1 at a threshold, per language, and a threshold sweep.

F1 alone flatters weak models (a threshold near 0 predicts "relevant" everywhere, which
already scores F1 ~0.8 when ~69% of rows are positive), so every report carries ROC AUC
and the all-positive baseline's F1 on the same rows.

F1 comes from the confusion counts and AUC from the rank-sum (Mann-Whitney) formula,
in numpy: both are a few lines, and importing scikit-learn (via scipy.stats) costs
0.8 s, most of an evaluate@<task> run, which every threshold experiment reruns. The
tests check both against scikit-learn's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from relevance.tables import require_columns

# The paper's Figure 2 sweeps thresholds from 0.05 to 0.95.
SWEEP = tuple(round(t, 2) for t in np.arange(0.05, 0.951, 0.05))


def _binary(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values, dtype=int)
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"{what} must be 0 or 1, got {sorted(set(values.tolist()) - {0, 1})}")
    return values


def binary_scores(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Positive-class precision, recall and F1 (0 where undefined), and the counts."""
    labels = _binary(labels, "labels")
    predictions = _binary(predictions, "predictions")
    tp = int(((predictions == 1) & (labels == 1)).sum())
    fp = int(((predictions == 1) & (labels == 0)).sum())
    fn = int(((predictions == 0) & (labels == 1)).sum())
    tn = int(((predictions == 0) & (labels == 0)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {
        "f1": round(f1, 6),
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``, tied values sharing the mean of their ranks."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts_group = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(starts_group)
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = ((starts + 1 + ends) / 2)[np.cumsum(starts_group) - 1]
    return ranks


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC, or None when only one class is present (undefined).

    The probability that a positive row scores above a negative one, ties counting
    half: the rank sum of the positives, less its minimum, over the number of pairs.
    """
    labels = _binary(labels, "labels")
    scores = np.asarray(scores, dtype=float)
    if not np.isfinite(scores).all():
        raise ValueError(
            f"scores must be finite, got {int((~np.isfinite(scores)).sum())} that are not"
        )
    if labels.min(initial=1) == labels.max(initial=0):
        return None
    positive = labels == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    rank_sum = average_ranks(scores)[positive].sum()
    return round(float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)), 6)


def score_rows(labels: np.ndarray, p_yes: np.ndarray, threshold: float) -> dict[str, Any]:
    """F1/precision/recall at ``threshold``, AUC, and the all-positive baseline's F1."""
    labels = np.asarray(labels, dtype=int)
    p_yes = np.asarray(p_yes, dtype=float)
    result = binary_scores(labels, p_yes >= threshold)
    result["auc"] = auc(labels, p_yes)
    result["labelled"] = int(labels.size)
    result["positive_rate"] = round(float(labels.mean()), 6) if labels.size else None
    result["all_positive_f1"] = binary_scores(labels, np.ones_like(labels))["f1"]
    return result


def threshold_sweep(
    labels: np.ndarray, p_yes: np.ndarray, thresholds: tuple[float, ...] = SWEEP
) -> pd.DataFrame:
    """One row per threshold: threshold, f1, precision, recall."""
    rows = []
    for t in thresholds:
        s = binary_scores(labels, np.asarray(p_yes) >= t)
        rows.append(
            {"threshold": t, "f1": s["f1"], "precision": s["precision"], "recall": s["recall"]}
        )
    return pd.DataFrame(rows)


def best_threshold(sweep: pd.DataFrame, *, prefer: float | None = None) -> dict[str, Any]:
    """The swept threshold with the highest F1, and how many thresholds tie with it.

    On a tie (a plateau: a weak model's curve is often flat over most of the sweep) the
    one closest to ``prefer`` (the task's threshold), so that "best" moves away from the
    current threshold only when another one really scores higher; without ``prefer``,
    the lowest.
    """
    top = sweep["f1"].max()
    tied = sweep.loc[sweep["f1"] == top, "threshold"].to_numpy(dtype=float)
    pick = tied[0] if prefer is None else tied[np.argmin(np.abs(tied - prefer))]
    return {"threshold": float(pick), "f1": float(top), "tied": len(tied)}


def evaluate_predictions(predictions: pd.DataFrame, *, threshold: float) -> dict[str, Any]:
    """Overall and per-language metrics for the labelled rows of ``predictions``.

    ``predictions`` has columns language, p_yes and label (null where unknown).
    """
    labelled = predictions[predictions["label"].notna()]
    result: dict[str, Any] = {
        "threshold": threshold,
        "rows": len(predictions),
        "labelled": len(labelled),
    }
    if labelled.empty:
        result["note"] = "no labels: F1, AUC and the threshold sweep need labelled rows"
        return result
    labels = labelled["label"].to_numpy(dtype=int)
    scores = labelled["p_yes"].to_numpy(dtype=float)
    result.update(score_rows(labels, scores, threshold))
    sweep = threshold_sweep(labels, scores)
    result["best"] = best_threshold(sweep, prefer=threshold)
    result["per_language"] = {
        language: score_rows(
            group["label"].to_numpy(dtype=int), group["p_yes"].to_numpy(dtype=float), threshold
        )
        for language, group in sorted(labelled.groupby("language"), key=lambda kv: kv[0])
    }
    return result


def cv_report(oof: pd.DataFrame, *, threshold: float) -> dict[str, Any]:
    """CV scores from out-of-fold p(yes): F1 (at ``threshold``) and AUC per fold model,
    their mean and standard deviation, and the same per language.

    Args:
        oof: the table of ``cv@<task>`` (:data:`relevance.tables.OOF_SCHEMA`): ``model``,
            ``language``, ``label`` (0/1) and ``p_yes`` per training row.
        threshold: the decision threshold on p(yes) for F1.

    Returns:
        ``{"folds": 0}`` for an empty table, else ``{"folds", "threshold", "f1_mean",
        "f1_std" (sample std over fold models; 0.0 with one), "auc_mean" (over the fold
        models whose rows hold both labels; None if none do), "per_fold": [{"model",
        "rows", "f1", "auc"}], "per_language": {language: the same without per_fold}}``.

    Raises:
        DataError: missing columns.
    """
    require_columns(oof, ("model", "language", "label", "p_yes"), what="out-of-fold scores")
    if oof.empty:
        return {"folds": 0}

    def summarise(frame: pd.DataFrame) -> dict[str, Any]:
        per_fold = []
        for model, part in frame.groupby("model", sort=True):
            labels = part["label"].to_numpy().astype(int)
            p_yes = part["p_yes"].to_numpy()
            per_fold.append(
                {
                    "model": int(model),
                    "rows": len(part),
                    "f1": binary_scores(labels, p_yes >= threshold)["f1"],
                    "auc": auc(labels, p_yes),
                }
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
