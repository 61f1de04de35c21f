"""Filtering (``filter@<task>``): drop or relabel the training rows self-validation flagged.

``selfval@<task>`` (:mod:`relevance.folds.selfval`) writes the flagged rows, each with
its ``id`` and ``reason``; here they are matched to the training rows by id, so the
flag list needs no particular order and a flag for a row that is not there is an error
rather than a silent shift onto its neighbour. An empty flag list (self-validation off)
passes the rows through unchanged.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from relevance.errors import DataError
from relevance.folds.selfval import REASONS
from relevance.schema import Task
from relevance.tables import AUGMENTED_SCHEMA, read_table, require_columns, write_table

log = logging.getLogger(__name__)

Action = Literal["remove", "relabel"]
ACTIONS: tuple[str, ...] = get_args(Action)
# Counts per language are by ISO 639-1 code, the column code decides by (see relevance.tables).
LANGUAGE_COLUMN = "lang"


@dataclasses.dataclass(frozen=True)
class FilterParams:
    """params.yaml section ``filter``: what happens to flagged rows.

    ``action``: ``remove`` (the paper: drop them) or ``relabel`` (flip their label and
    mark them ``relabelled``; keeps the data size, trusts the filter model more).
    """

    action: Action = "remove"


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


def flag_reasons(rows: pd.DataFrame, flagged: pd.DataFrame, *, source: str) -> np.ndarray:
    """The flag reason of every row of ``rows`` (None where not flagged), matched by ``id``.

    Args:
        rows: the training rows (``id``).
        flagged: the flagged rows (``id``, ``reason`` in :data:`REASONS`), in any order.
        source: where ``flagged`` comes from, the start of every error message.

    Returns:
        An object array of shape ``(len(rows),)``.

    Raises:
        DataError: missing columns, an id flagged twice, a flagged id that is not among
            the rows, or an unknown reason.
    """
    require_columns(flagged, ("id", "reason"), what=source)
    ids = flagged["id"]
    twice = ids[ids.duplicated()]
    if len(twice):
        raise DataError(
            f"{source}: expected each id once, got {len(twice)} flagged again "
            f"(first {twice.tolist()[0]!r})"
        )
    unknown = ids[~ids.isin(rows["id"])]
    if len(unknown):
        raise DataError(
            f"{source}: {len(unknown)} flagged id(s) are not among the {len(rows)} training "
            f"rows (first {unknown.tolist()[0]!r}): the flags were made from other rows; rerun "
            "the self-validation that made them"
        )
    bad = flagged["reason"][~flagged["reason"].isin(REASONS)]
    if len(bad):
        raise DataError(
            f"{source}: expected reasons in {', '.join(REASONS)}, got "
            f"{sorted(map(str, set(bad)))[:5]} on {len(bad)} row(s)"
        )
    by_id = pd.Series(flagged["reason"].to_numpy(dtype=object), index=ids.to_numpy())
    return rows["id"].map(by_id).to_numpy(dtype=object)


def apply_filter(
    rows: pd.DataFrame, flagged: pd.DataFrame, *, action: str, source: str = "flagged rows"
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Apply the flags of self-validation to ``rows``, matched by ``id``.

    Args:
        rows: the training rows (``id``, ``label`` 0/1, ``lang``).
        flagged: one row per flagged training row, any order (``id``, ``reason``: the
            flagged table of :func:`relevance.folds.selfval.selfval_task`); may be empty.
        action: ``remove`` drops flagged rows; ``relabel`` flips their ``label``
            (0 <-> 1) and adds a bool column ``relabelled`` (True on those rows only).
        source: where ``flagged`` comes from, named in errors (a file, a stage).

    Returns:
        ``(out, counts)``: ``out`` keeps the order of ``rows`` with a fresh RangeIndex.
        ``counts`` are plain ints for the stage's metrics; ``removed`` and ``relabelled``
        are both always present, one of them 0, so experiments switching the action
        diff cleanly, and every reason is counted, 0 included::

            {"rows_in", "flagged", "removed", "relabelled", "rows_out",
             "positive_in", "positive_out",
             "by_reason": {reason: flagged rows},
             "by_language": {lang: {"rows_in", "flagged", "removed", "relabelled",
                                    "rows_out"}}}

        They reconcile: ``rows_out == rows_in - removed`` overall and per language, and
        the per-language and per-reason ``flagged`` sum to the total.

    Raises:
        DataError: a missing column, or flags that do not match the rows (see
            :func:`flag_reasons`).
        ValueError: an unknown ``action`` (``FilterParams`` restricts it).
    """
    if action not in ACTIONS:
        raise ValueError(f"action: expected one of {', '.join(ACTIONS)}, got {action!r}")
    require_columns(rows, ("id", "label", LANGUAGE_COLUMN), what="filter rows")
    rows = rows.reset_index(drop=True)
    reasons = flag_reasons(rows, flagged, source=source)
    is_flagged = pd.notna(reasons)
    langs = rows[LANGUAGE_COLUMN].astype(str).to_numpy()

    if action == "remove":
        out = rows.loc[~is_flagged].reset_index(drop=True)
    else:
        out = rows.copy()
        label = out["label"].to_numpy(dtype=np.int64)
        out["label"] = pd.Series(np.where(is_flagged, 1 - label, label)).astype(rows["label"].dtype)
        out["relabelled"] = is_flagged

    counts: dict[str, Any] = _count_block(len(rows), int(is_flagged.sum()), action)
    counts["positive_in"] = int((rows["label"] == 1).sum())
    counts["positive_out"] = int((out["label"] == 1).sum())
    counts["by_reason"] = {r: int((reasons == r).sum()) for r in REASONS}
    counts["by_language"] = {
        lang: _count_block(
            int((langs == lang).sum()), int((is_flagged & (langs == lang)).sum()), action
        )
        for lang in sorted(set(langs.tolist()))
    }
    log.info(
        "filter (%s): %d rows in, %d flagged, %d out",
        action,
        len(rows),
        counts["flagged"],
        len(out),
    )
    return out, counts


def filter_task(
    task: Task, *, train: Path, flagged: Path, out: Path, params: FilterParams
) -> dict[str, Any]:
    """The filter@<task> stage: apply the flags of ``selfval@<task>`` (``flagged``) to the
    assembled training rows (``train``), write the rows that stay to ``out``
    (:data:`relevance.tables.AUGMENTED_SCHEMA`, plus ``relabelled`` when relabelling);
    return the stage's metrics (the action and the counts of :func:`apply_filter`)."""
    rows = read_table(train, made_by=f"assemble@{task.name}")
    hits = read_table(flagged, made_by=f"selfval@{task.name}")
    kept, counts = apply_filter(
        rows, hits, action=params.action, source=f"{flagged} (selfval@{task.name})"
    )
    write_table(kept, out, AUGMENTED_SCHEMA, keep_extra=True)
    return {"action": params.action, **counts}
