"""Competition submission files: the input fields plus ``prediction`` (0/1).

The competition scores every id of a dev/test file, so a submission answers every
record whose id could be read, once, in input order: scored rows get ``p(yes) >=
threshold``; records quarantined at ingest (their id readable, their fields not
scorable) get the fallback label. A record that would be missing is an error.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relevance.errors import DataError
from relevance.schema import Task

log = logging.getLogger(__name__)

# Ingested columns a submission reads (the input fields as given, and where they were).
ROW_COLUMNS = ["id", "language_raw", "query_raw", "candidate_raw", "source_line"]


def read_quarantine(ingested: Path) -> pd.DataFrame:
    """``quarantine.parquet`` of an ingest@<task> output folder."""
    path = Path(ingested) / "quarantine.parquet"
    if not path.is_file():
        raise DataError(f"{path} not found: run ingest first")
    return pd.read_parquet(path)


def _given(value: Any) -> str | None:
    """A field as given; None (JSON null) where the record had no text there."""
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _fallback_rows(quarantined: pd.DataFrame, scored_ids: set[int], path: Path) -> pd.DataFrame:
    """Quarantined records a submission answers with the fallback label: those with a
    readable id that no scored row answers already (a duplicate id is answered once)."""
    unreadable = quarantined[quarantined["id"].isna()]
    if not unreadable.empty:
        first = unreadable.iloc[0]
        raise DataError(
            f"{path}: {len(unreadable)} quarantined record(s) have no readable id, so the "
            f"submission cannot answer them (first: {first['source_file']}:"
            f"{first['source_line']}: {first['reason']}); fix those lines and rerun ingest"
        )
    answer = quarantined[~quarantined["id"].isin(scored_ids)]
    return answer.sort_values("source_line", kind="stable").drop_duplicates("id")


def write_submission(
    path: Path,
    *,
    task: Task,
    rows: pd.DataFrame,
    p_yes: pd.Series,
    threshold: float,
    quarantined: pd.DataFrame | None = None,
    fallback_label: int = 1,
) -> dict[str, Any]:
    """Write ``submit_<TASK>.txt`` for one split.

    Args:
        rows: the split's ingested rows (:data:`ROW_COLUMNS`).
        p_yes: p(yes) indexed by id; every row must have one (a submission with holes
            would be scored as wrong answers, so a missing score is an error).
        quarantined: the split's quarantine entries (``id``, ``reason``,
            ``source_line``, the raw fields), answered with ``fallback_label``.

    Returns:
        counts: ``lines``, ``scored``, ``fallback``, ``fallback_by_reason``.
    """
    missing = ~rows["id"].isin(p_yes.index)
    if missing.any():
        ids = rows.loc[missing, "id"].head(5).tolist()
        raise DataError(f"{path}: {int(missing.sum())} rows have no prediction (ids {ids} ...)")
    scored = rows[ROW_COLUMNS].copy()
    scored["prediction"] = (p_yes.loc[rows["id"]].to_numpy() >= threshold).astype(np.int8)
    fallback = pd.DataFrame(columns=[*ROW_COLUMNS, "reason"])
    if quarantined is not None and not quarantined.empty:
        fallback = _fallback_rows(quarantined, set(rows["id"]), path)
    answers = pd.concat(
        [scored, fallback[ROW_COLUMNS].assign(prediction=fallback_label)], ignore_index=True
    ).sort_values("source_line", kind="stable")
    if answers["id"].duplicated().any():
        dup = answers.loc[answers["id"].duplicated(), "id"].iloc[0]
        raise DataError(f"{path}: id {dup} would be answered twice")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside, then renamed: a killed run never leaves a short submission file.
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        for record in answers.itertuples(index=False):
            line = {
                "id": int(record.id),
                "task": task.code,
                "language": _given(record.language_raw),
                "origin_query": _given(record.query_raw),
                task.candidate_field: _given(record.candidate_raw),
                "prediction": int(record.prediction),
            }
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    partial.replace(path)
    by_reason = fallback["reason"].value_counts().sort_index()
    if len(fallback):
        log.warning(
            "%s: %d record(s) quarantined at ingest answered with the fallback label %d %s",
            path,
            len(fallback),
            fallback_label,
            dict(by_reason),
        )
    return {
        "lines": len(answers),
        "scored": len(scored),
        "fallback": len(fallback),
        "fallback_by_reason": {str(k): int(v) for k, v in by_reason.items()},
    }
