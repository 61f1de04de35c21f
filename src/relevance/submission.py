"""Competition submission files: the input fields plus ``prediction`` (0/1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from relevance.errors import DataError
from relevance.schema import Task


def write_submission(
    path: Path, *, task: Task, rows: pd.DataFrame, p_yes: pd.Series, threshold: float
) -> int:
    """Write ``submit_<TASK>.txt`` for ``rows`` (ingested rows of one split).

    ``p_yes`` is indexed by id. Every row must have a score: a submission with holes
    would be scored as wrong answers, so a missing score is an error, not a skip.
    Fields are the original (uncleaned) text, as the competition gave them.
    """
    missing = ~rows["id"].isin(p_yes.index)
    if missing.any():
        ids = rows.loc[missing, "id"].head(5).tolist()
        raise DataError(f"{path}: {int(missing.sum())} rows have no prediction (ids {ids} ...)")
    prediction = (p_yes.loc[rows["id"]].to_numpy() >= threshold).astype(np.int8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record, pred in zip(
            rows[["id", "language", "query_raw", "candidate_raw"]].itertuples(index=False),
            prediction,
            strict=True,
        ):
            line = {
                "id": int(record.id),
                "task": task.code,
                "language": record.language,
                "origin_query": record.query_raw,
                task.candidate_field: record.candidate_raw,
                "prediction": int(pred),
            }
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    return len(rows)
