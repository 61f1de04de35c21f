"""Self-validation: flag training rows whose label a filter model contradicts.

The paper (Yin et al., CIKM AnalytiCup 2025) trains a filter model on the training
rows, scores the same rows, and removes those whose label the model confidently
disagrees with. Which rows count as "confidently" wrong follows confident learning
(Northcutt et al., 2021; cleanlab's ``filter.find_label_issues``) for two classes:

1. Per-class thresholds: ``t_1`` = mean p(yes) over rows labelled 1, ``t_0`` = mean
   p(no) over rows labelled 0: how confident the model typically is about each class
   (cleanlab's confident-joint thresholds). A model that is shy of saying "no" gets a
   low ``t_0``, so its rarer "no"s still count.
2. A row labelled 1 is a candidate when p(no) >= t_0 and p(no) > p(yes); a row labelled
   0 when p(yes) >= t_1 and p(yes) > p(no). On top of that the other class must reach
   ``min_confidence``.
3. Candidates are ranked by self-confidence (the probability of the given label,
   lowest first; cleanlab's ``rank_by="self_confidence"``) and at most
   ``floor(max_flag_fraction * n)`` are flagged.

Where the scores come from (``SelfValParams.mode``):

- ``in-sample`` (the paper): one filter model trained on all rows scores all rows. It
  has seen every label it judges, and a big enough model memorises its noisy labels,
  so it mostly flags rows it could not fit.
- ``oof`` (out-of-fold, the default): the rows are split by the grouped folds of the
  ``split`` stage; each filter model trains on some folds and scores the others, so no
  row is scored by a model that saw it. cleanlab's documentation asks for out-of-sample
  predicted probabilities for this reason: in-sample probabilities are overconfident in
  the given labels, and label errors hide behind them.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from relevance.errors import ConfigError, DataError

log = logging.getLogger(__name__)

MODES = ("oof", "in-sample")
ACTIONS = ("remove", "relabel")
REASON_LABEL_1 = "label_1_model_says_no"
REASON_LABEL_0 = "label_0_model_says_yes"
REASONS = (REASON_LABEL_1, REASON_LABEL_0)
LANGUAGE_COLUMN = "lang"


@dataclasses.dataclass(frozen=True)
class SelfValParams:
    """params.yaml section ``selfval``: how the filter models score the training rows.

    ``enabled``: false skips self-validation (no row is flagged).
    ``mode``: ``oof`` (every row scored by a model that did not train on it) or
    ``in-sample`` (the paper: train on all rows, score all rows); see the module
    docstring for why ``oof`` finds more label errors.
    ``folds``: number of filter models in ``oof`` mode. Split fold ``f`` (from the
    ``split`` stage) goes to filter fold ``f % folds``; filter model ``g`` trains on the
    rows outside filter fold ``g`` and scores the rows in it. 2 (the default) halves the
    training rows of each filter model and costs two trainings; 5 (= split.folds)
    trains each on 80% of the rows at five times the cost of one. Must be >= 2 and at
    most split.folds; ignored in ``in-sample`` mode.
    ``max_flag_fraction``: at most ``floor(max_flag_fraction * rows)`` rows are flagged,
    the least self-confident first. A guard, not a value from the paper: a weak filter
    model (gemma-3-270m on CPU reached AUC 0.58 on real QC, DESIGN.md) finds candidates
    in a large share of the rows, and removing a third of the data costs more than the
    noise it takes out. In [0, 1]; 0 flags nothing, 1 flags every candidate.
    ``min_confidence``: a candidate is flagged only if the model gives the *other* class
    at least this probability. With two classes the candidate rule already implies
    p(other) > 0.5, so the default 0.5 adds nothing and values like 0.8 or 0.9 keep only
    the model's strongest objections. In [0, 1].
    """

    enabled: bool = True
    mode: str = "oof"
    folds: int = 2
    max_flag_fraction: float = 0.1
    min_confidence: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(
                f"params.yaml:selfval.mode: expected one of {', '.join(MODES)}, got {self.mode!r}"
            )
        if self.mode == "oof" and self.folds < 2:
            raise ConfigError(
                f"params.yaml:selfval.folds must be >= 2 in oof mode (each row is scored by a "
                f"model trained on the other folds), got {self.folds}"
            )
        if not 0.0 <= self.max_flag_fraction <= 1.0:
            raise ConfigError(
                f"params.yaml:selfval.max_flag_fraction must be in [0, 1], got "
                f"{self.max_flag_fraction}"
            )
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(
                f"params.yaml:selfval.min_confidence must be in [0, 1], got {self.min_confidence}"
            )


@dataclasses.dataclass(frozen=True)
class FilterParams:
    """params.yaml section ``filter``: what happens to flagged rows.

    ``action``: ``remove`` (the paper: drop them) or ``relabel`` (flip their label and
    mark them ``relabelled``; keeps the data size, trusts the filter model more).
    """

    action: str = "remove"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ConfigError(
                f"params.yaml:filter.action: expected one of {', '.join(ACTIONS)}, "
                f"got {self.action!r}"
            )


def oof_plan(
    split_folds: np.ndarray, *, mode: str, folds: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train row indices, score row indices) for each filter model.

    ``split_folds``: shape (n,), the fold id of every row from the ``split`` stage,
    values ``0..K-1`` with every fold present.

    - ``in-sample``: one model, trained on all rows and scoring all rows (``folds`` is
      ignored).
    - ``oof``: ``folds`` models; split fold ``f`` belongs to filter fold ``f % folds``;
      model ``g`` trains on the rows outside filter fold ``g`` and scores the rows in it,
      so every row is scored exactly once, by a model that never saw it.

    Raises :class:`ConfigError` for a bad mode or ``folds`` (< 2, or more than the K
    split folds: a filter model would score nothing) and :class:`DataError` when a split
    fold is empty.
    """
    if mode not in MODES:
        raise ConfigError(
            f"params.yaml:selfval.mode: expected one of {', '.join(MODES)}, got {mode!r}"
        )
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
        raise ConfigError(f"params.yaml:selfval.folds must be >= 2 in oof mode, got {folds}")
    if folds > n_split:
        raise ConfigError(
            f"params.yaml:selfval.folds={folds} exceeds the {n_split} split folds: filter "
            f"model(s) {list(range(n_split, folds))} would have no rows to score"
        )
    filter_folds = split_folds % folds
    plan = []
    for g in range(folds):
        held_out = filter_folds == g
        # Non-empty: every split fold holds rows, and folds >= 2 filter folds each get one.
        plan.append((all_rows[~held_out], all_rows[held_out]))
    return plan


def _check_inputs(labels: Any, p_yes: Any) -> tuple[np.ndarray, np.ndarray]:
    """The one input check of :func:`find_label_issues`: says what was expected and what came."""
    labels_arr = np.asarray(labels)
    p_arr = np.asarray(p_yes)
    if labels_arr.ndim != 1:
        raise ValueError(f"labels: expected shape (n,), got shape {labels_arr.shape}")
    if p_arr.ndim != 1:
        raise ValueError(
            f"p_yes: expected shape (n,) (one p(yes) per row), got shape {p_arr.shape}"
        )
    if labels_arr.shape != p_arr.shape:
        raise ValueError(
            f"labels and p_yes: expected the same length, got {labels_arr.shape[0]} labels "
            f"and {p_arr.shape[0]} probabilities"
        )
    if labels_arr.size == 0:
        raise ValueError("labels and p_yes: expected at least one row, got 0")

    if labels_arr.dtype.kind == "f":
        nan = np.isnan(labels_arr)
        if nan.any():
            raise ValueError(
                f"labels: expected 0 or 1 on every row, got NaN in {int(nan.sum())} row(s) "
                f"(first positions {np.flatnonzero(nan)[:5].tolist()})"
            )
    elif labels_arr.dtype.kind not in "iub":
        raise ValueError(f"labels: expected integer 0/1, got dtype {labels_arr.dtype}")
    bad = ~np.isin(labels_arr, (0, 1))
    if bad.any():
        raise ValueError(
            f"labels: expected values in {{0, 1}}, got {sorted(set(labels_arr[bad].tolist()))[:5]} "
            f"in {int(bad.sum())} row(s) (first positions {np.flatnonzero(bad)[:5].tolist()})"
        )

    if p_arr.dtype.kind not in "fiu":
        raise ValueError(f"p_yes: expected floats in [0, 1], got dtype {p_arr.dtype}")
    p_arr = p_arr.astype(np.float64)
    nan = np.isnan(p_arr)
    if nan.any():
        raise ValueError(
            f"p_yes: expected floats in [0, 1], got NaN in {int(nan.sum())} row(s) "
            f"(first positions {np.flatnonzero(nan)[:5].tolist()})"
        )
    out = (p_arr < 0.0) | (p_arr > 1.0)
    if out.any():
        raise ValueError(
            f"p_yes: expected floats in [0, 1], got {int(out.sum())} value(s) outside, "
            f"e.g. {p_arr[out][:5].tolist()} (first positions {np.flatnonzero(out)[:5].tolist()})"
        )
    return labels_arr.astype(np.int8), p_arr


def find_label_issues(
    *,
    labels: np.ndarray,
    p_yes: np.ndarray,
    max_flag_fraction: float,
    min_confidence: float,
) -> pd.DataFrame:
    """Flag rows whose label the filter model confidently contradicts.

    ``labels``: shape (n,), 0/1 (ints, bools, or floats equal to 0/1; no NaN).
    ``p_yes``: shape (n,), the filter model's p(yes) for each row, in [0, 1]; p(no) is
    ``1 - p_yes``. Use out-of-sample scores when you can (see the module docstring).
    ``max_flag_fraction``: in [0, 1]; at most ``floor(max_flag_fraction * n)`` flags.
    ``min_confidence``: in [0, 1]; p(other class) must be at least this.

    Thresholds: ``t_1`` = mean p(yes) over rows labelled 1, ``t_0`` = mean p(no) over
    rows labelled 0. A row labelled 1 is a candidate when p(no) >= t_0, p(no) > p(yes)
    and p(no) >= min_confidence (reason ``label_1_model_says_no``); a row labelled 0 when
    p(yes) >= t_1, p(yes) > p(no) and p(yes) >= min_confidence
    (``label_0_model_says_yes``). Candidates are flagged lowest self-confidence first
    (ties: earlier row first) until the cap.

    A class absent from ``labels`` has no threshold: when no row is labelled 1, ``t_1``
    is undefined and no row labelled 0 can be flagged (and vice versa), so with a
    single class nothing is flagged; a warning is logged.

    Returns a DataFrame with one row per input row (RangeIndex, input order):

    - ``flagged`` (bool);
    - ``reason``: ``label_1_model_says_no`` / ``label_0_model_says_yes`` for flagged rows,
      None elsewhere;
    - ``candidate`` (bool): passed the threshold and ``min_confidence`` tests, flagged or
      cut by the cap;
    - ``self_confidence``: probability of the given label;
    - ``threshold``: the threshold the other class's probability was compared with
      (``t_0`` for rows labelled 1, ``t_1`` for rows labelled 0; NaN when undefined).
    """
    if not 0.0 <= max_flag_fraction <= 1.0:
        raise ValueError(f"max_flag_fraction: expected a value in [0, 1], got {max_flag_fraction}")
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence: expected a value in [0, 1], got {min_confidence}")
    y, p1 = _check_inputs(labels, p_yes)
    p0 = 1.0 - p1
    n = y.size
    is1 = y == 1
    is0 = ~is1

    # 1. Per-class thresholds (NaN for an absent class).
    t_1 = float(p1[is1].mean()) if is1.any() else math.nan
    t_0 = float(p0[is0].mean()) if is0.any() else math.nan
    for name, present in (("1", is1.any()), ("0", is0.any())):
        if not present:
            other = "0" if name == "1" else "1"
            log.warning(
                "no row is labelled %s: no threshold t_%s, so no row labelled %s can be flagged",
                name,
                name,
                other,
            )

    # 2. Candidates. NaN thresholds compare False, so an absent class flags nothing.
    with np.errstate(invalid="ignore"):
        cand1 = is1 & (p0 >= t_0) & (p0 > p1) & (p0 >= min_confidence)
        cand0 = is0 & (p1 >= t_1) & (p1 > p0) & (p1 >= min_confidence)
    candidate = cand1 | cand0
    self_confidence = np.where(is1, p1, p0)

    # 3. Rank by self-confidence (lowest first, stable) and cap.
    cap = math.floor(max_flag_fraction * n)
    order = np.flatnonzero(candidate)
    order = order[np.argsort(self_confidence[order], kind="stable")]
    flagged = np.zeros(n, dtype=bool)
    flagged[order[:cap]] = True

    reason = np.full(n, None, dtype=object)
    reason[flagged & is1] = REASON_LABEL_1
    reason[flagged & is0] = REASON_LABEL_0
    log.info(
        "thresholds t_1=%.4f t_0=%.4f; %d candidate(s) of %d rows, %d flagged (cap %d = "
        "floor(%g * %d)), %d cut by the cap",
        t_1,
        t_0,
        int(candidate.sum()),
        n,
        int(flagged.sum()),
        cap,
        max_flag_fraction,
        n,
        int(candidate.sum() - flagged.sum()),
    )
    return pd.DataFrame(
        {
            "flagged": flagged,
            "reason": pd.Series(reason, dtype=object),
            "candidate": candidate,
            "self_confidence": self_confidence,
            "threshold": np.where(is1, t_0, t_1),
        }
    )


def _count_block(rows_in: int, flagged: int, action: str) -> dict[str, int]:
    removed = flagged if action == "remove" else 0
    relabelled = flagged if action == "relabel" else 0
    return {
        "rows_in": rows_in,
        "flagged": flagged,
        "removed": removed,
        "relabelled": relabelled,
        "rows_out": rows_in - removed,
    }


def apply_filter(
    rows: pd.DataFrame, flags: pd.DataFrame, *, action: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Apply the flags of :func:`find_label_issues` to ``rows`` (matched by position).

    ``remove``: drop flagged rows. ``relabel``: flip their ``label`` (0 <-> 1) and add a
    bool column ``relabelled`` (True on those rows only). The output has a fresh
    RangeIndex.

    Counts (plain ints, for the stage's metrics; both ``removed`` and ``relabelled`` are
    always present, one of them 0, so experiments switching the action diff cleanly)::

        {"rows_in", "flagged", "removed", "relabelled", "rows_out",
         "positive_in", "positive_out",
         "by_reason": {reason: flagged rows},
         "by_language": {lang: {"rows_in", "flagged", "removed", "relabelled", "rows_out"}}}

    They reconcile: ``rows_out == rows_in - removed`` overall and per language, and the
    per-language and per-reason ``flagged`` sum to the total.
    """
    if action not in ACTIONS:
        raise ConfigError(
            f"params.yaml:filter.action: expected one of {', '.join(ACTIONS)}, got {action!r}"
        )
    missing = [c for c in ("flagged", "reason") if c not in flags.columns]
    if missing:
        raise ValueError(
            f"flags: expected the columns of find_label_issues (flagged, reason, ...), "
            f"missing {', '.join(missing)}"
        )
    if len(flags) != len(rows):
        raise ValueError(f"flags: expected one row per data row ({len(rows)}), got {len(flags)}")
    for column in ("label", LANGUAGE_COLUMN):
        if column not in rows.columns:
            raise DataError(f"filter needs column {column!r}; the rows have {list(rows.columns)}")

    flagged = flags["flagged"].to_numpy(dtype=bool)
    reasons = flags["reason"].to_numpy(dtype=object)
    rows = rows.reset_index(drop=True)
    langs = rows[LANGUAGE_COLUMN].astype(str).to_numpy()

    if action == "remove":
        out = rows.loc[~flagged].reset_index(drop=True)
    else:
        out = rows.copy()
        label = out["label"].to_numpy(dtype=np.int64)
        out["label"] = pd.Series(np.where(flagged, 1 - label, label)).astype(rows["label"].dtype)
        out["relabelled"] = flagged

    counts: dict[str, Any] = _count_block(len(rows), int(flagged.sum()), action)
    counts["positive_in"] = int((rows["label"] == 1).sum())
    counts["positive_out"] = int((out["label"] == 1).sum())
    counts["by_reason"] = {r: int((flagged & (reasons == r)).sum()) for r in REASONS}
    counts["by_language"] = {
        lang: _count_block(
            int((langs == lang).sum()), int((flagged & (langs == lang)).sum()), action
        )
        for lang in sorted(set(langs.tolist()))
    }
    if counts["rows_out"] != len(out) or sum(counts["by_reason"].values()) != counts["flagged"]:
        # Only a flag with an unknown reason gets here: find_label_issues never makes one.
        raise ValueError(
            f"filter counts do not reconcile: {counts['rows_in']} in, {counts['flagged']} flagged, "
            f"{len(out)} out, by reason {counts['by_reason']}"
        )
    log.info(
        "filter (%s): %d rows in, %d flagged, %d out",
        action,
        len(rows),
        counts["flagged"],
        len(out),
    )
    return out, counts
