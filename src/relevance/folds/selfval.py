"""Self-validation (``selfval@<task>``): flag training rows whose label a filter model
contradicts.

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

Where the scores come from (``SelfValParams.mode``, planned by
:func:`relevance.folds.plan.oof_plan`; the stage trains each filter model with the
task's own LoRA recipe, ``train.<task>``, so it sees the data the way the final model
will):

- ``in-sample`` (the paper): one filter model trained on all rows scores all rows. It
  has seen every label it judges, and a big enough model memorises its noisy labels,
  so it mostly flags rows it could not fit.
- ``oof`` (out-of-fold, the default): the rows are split by the grouped folds of the
  ``split`` stage; each filter model trains on some folds and scores the others, so no
  row is scored by a model that saw it. cleanlab's documentation asks for out-of-sample
  predicted probabilities for this reason: in-sample probabilities are overconfident in
  the given labels, and label errors hide behind them.

:func:`selfval_task` is the whole stage: every row's score and the flagged rows, with
their score and reason, for ``filter@<task>`` (:mod:`relevance.folds.filter`) to act on.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relevance.errors import ConfigError
from relevance.folds.plan import FoldTrainer, Mode, oof_plan
from relevance.launch import is_main_process
from relevance.schema import Task
from relevance.tables import (
    FLAGGED_SCHEMA,
    SELFVAL_SCORES_SCHEMA,
    empty_frame,
    read_table,
    write_table,
)

log = logging.getLogger(__name__)

# The ``reason`` of a flagged row (FLAGGED_SCHEMA), which filter@<task> counts by.
REASON_LABEL_1 = "label_1_model_says_no"
REASON_LABEL_0 = "label_0_model_says_yes"
REASONS = (REASON_LABEL_1, REASON_LABEL_0)


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
    p(other) > 0.5, so 0.5 adds nothing and values like 0.8 (the default) or 0.9 keep
    only the model's strongest objections: with a weak filter model the per-class
    thresholds alone flag many true negatives. In [0, 1].
    """

    enabled: bool = True
    mode: Mode = "oof"
    folds: int = 2
    max_flag_fraction: float = 0.1
    min_confidence: float = 0.8

    def __post_init__(self) -> None:
        # parse_section puts "<params file>:selfval: " in front of these messages.
        if self.mode == "oof" and self.folds < 2:
            raise ConfigError(
                f"folds must be >= 2 in oof mode (each row is scored by a model trained on "
                f"the other folds), got {self.folds}"
            )
        if not 0.0 <= self.max_flag_fraction <= 1.0:
            raise ConfigError(f"max_flag_fraction must be in [0, 1], got {self.max_flag_fraction}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"min_confidence must be in [0, 1], got {self.min_confidence}")


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


def self_validate(
    rows: pd.DataFrame, *, params: SelfValParams, trainer: FoldTrainer
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """p(yes) for every training row from a filter model, and what it cost.

    Args:
        rows: the assembled training rows (``id``, ``fold``, ``label``, prompt columns).
        params: ``mode`` and ``folds`` plan the filter models.
        trainer: trains and scores them (the stage's
            :class:`relevance.folds.training.ModelFoldTrainer`).

    Returns:
        ``(scores, summary)``: scores as the trainer returns them (every row scored
        exactly once); summary has the mode and, per filter model, the rows and seconds.

    Raises:
        ConfigError: ``selfval.folds`` exceeds the split folds.
    """
    plan = oof_plan(
        rows["fold"].to_numpy(), mode=params.mode, folds=params.folds, key="selfval.folds"
    )
    scores, models = trainer(rows, plan)
    if scores["p_yes"].isna().any():  # a plan bug, not a user error
        raise RuntimeError(f"{int(scores['p_yes'].isna().sum())} rows were not scored")
    return scores, {"mode": params.mode, "filter_models": models}


def flagged_rows(rows: pd.DataFrame, p_yes: np.ndarray, issues: pd.DataFrame) -> pd.DataFrame:
    """The rows :func:`find_label_issues` flagged, with the evidence: ``p_yes``,
    ``self_confidence``, ``threshold`` and ``reason`` added to the row's own columns
    (:data:`relevance.tables.FLAGGED_SCHEMA` keeps those a reviewer reads).

    ``p_yes`` (shape (n,)) and ``issues`` (n rows) are row for row with ``rows``.
    """
    return rows.assign(
        p_yes=np.asarray(p_yes),
        self_confidence=issues["self_confidence"].to_numpy(),
        threshold=issues["threshold"].to_numpy(),
        reason=issues["reason"].to_numpy(),
    )[issues["flagged"].to_numpy(dtype=bool)]


def selfval_task(
    task: Task,
    *,
    train: Path,
    scores: Path,
    flagged: Path,
    params: SelfValParams,
    trainer: FoldTrainer,
) -> dict[str, Any]:
    """The selfval@<task> stage: score the assembled training rows ``train`` with the
    filter models of ``trainer``, write every row's p(yes) to ``scores``
    (:data:`relevance.tables.SELFVAL_SCORES_SCHEMA`) and the flagged rows to ``flagged``
    (:data:`relevance.tables.FLAGGED_SCHEMA`); return the stage's metrics.

    With ``params.enabled`` false both tables are empty and no model is trained, so
    ``filter@<task>`` passes every row through.
    """
    rows = read_table(train, made_by=f"assemble@{task.name}")
    trainer.work_dir.mkdir(parents=True, exist_ok=True)  # a DVC output even when disabled
    # In a launched group every process computes the scores; rank 0 writes them.
    write = is_main_process()
    if not params.enabled:
        if write:
            write_table(empty_frame(SELFVAL_SCORES_SCHEMA), scores, SELFVAL_SCORES_SCHEMA)
            write_table(empty_frame(FLAGGED_SCHEMA), flagged, FLAGGED_SCHEMA)
        return {"enabled": False, "rows_in": len(rows), "flagged": 0}
    row_scores, summary = self_validate(rows, params=params, trainer=trainer)
    issues = find_label_issues(
        labels=rows["label"].to_numpy(),
        p_yes=row_scores["p_yes"].to_numpy(),
        max_flag_fraction=params.max_flag_fraction,
        min_confidence=params.min_confidence,
    )
    hits = flagged_rows(rows, row_scores["p_yes"].to_numpy(), issues)
    if write:
        write_table(row_scores, scores, SELFVAL_SCORES_SCHEMA)
        write_table(hits, flagged, FLAGGED_SCHEMA)
    by_language = pd.DataFrame(
        {"language": rows["language"].to_numpy(), "flagged": issues["flagged"].to_numpy()}
    ).groupby("language")
    return {
        "enabled": True,
        **summary,
        "rows_in": len(rows),
        "flagged": len(hits),
        "flagged_by_reason": {str(k): int(v) for k, v in hits.groupby("reason").size().items()},
        "flagged_by_source": {str(k): int(v) for k, v in hits.groupby("source").size().items()},
        "per_language": {
            str(language): {"rows": len(group), "flagged": int(group["flagged"].sum())}
            for language, group in by_language
        },
    }
