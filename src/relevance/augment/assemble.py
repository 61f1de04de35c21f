"""Assemble the training set: original rows plus the enabled augmentations.

The ``assemble@<task>`` stage joins the ingested training rows with the translated rows
(``translate@<task>``) and the hard negatives (``negatives@<task>``) according to the
``augment`` switches, so every row of the paper's Table 2 is a params setting and the
expensive stages upstream never rerun when a switch flips.

Every row keeps where it came from (``source``: original / translated / negative, and
``source_id``, the id of the training row it was made from) and the cross-validation
fold of that training row (``split@<task>``): a translated or negative row stays in its
source row's fold, so out-of-fold self-validation never scores a row with a model that
trained on its source.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relevance.errors import DataError
from relevance.schema import Task
from relevance.tables import AUGMENTED_SCHEMA, read_table, require_columns, write_table

SOURCES = ("original", "translated", "negative")


@dataclasses.dataclass(frozen=True)
class AugmentParams:
    """Which augmentations enter training (params.yaml ``augment``).

    ``translate``: rows whose query was machine-translated into a language missing from
    training (the paper's translation augmentation). ``negatives``: semantic hard
    negatives (a candidate ranked 20..50 by embedding similarity, label 0).
    """

    translate: bool = True
    negatives: bool = True


def _frame(
    rows: pd.DataFrame, *, source: str, ids: pd.Series, source_ids: pd.Series
) -> pd.DataFrame:
    levels = rows["category_levels"] if "category_levels" in rows else pd.Series([None] * len(rows))
    return pd.DataFrame(
        {
            "id": ids.astype(str).to_numpy(),
            "source": source,
            "source_id": source_ids.astype("int64").to_numpy(),
            "language": rows["language"].astype(str).to_numpy(),
            "lang": rows["lang"].astype(str).to_numpy(),
            "query": rows["query"].astype(str).to_numpy(),
            "candidate": rows["candidate"].astype(str).to_numpy(),
            "label": rows["label"].astype("int8").to_numpy(),
            "category_levels": [
                None if v is None or (isinstance(v, float) and np.isnan(v)) else list(v)
                for v in levels
            ],
        }
    )


def assemble(
    *,
    original: pd.DataFrame,
    folds: pd.DataFrame,
    translated: pd.DataFrame | None,
    negatives: pd.DataFrame | None,
    params: AugmentParams,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The training table (``AUGMENTED_SCHEMA`` columns) and its counts.

    Args:
        original: ingested training rows (``id`` int, ``label`` 0/1).
        folds: ``id``, ``fold`` for every original row (``split@<task>``).
        translated, negatives: the augmentation outputs (``source_id`` names the training
            row each was made from); ignored when the matching switch is off.
        params: the ``augment`` switches.

    Raises:
        DataError: a missing column, an original row without a fold, an unlabelled
            original row, or an augmented row whose source row is unknown.
    """
    require_columns(
        original, ("id", "language", "lang", "query", "candidate", "label"), what="train"
    )
    require_columns(folds, ("id", "fold"), what="folds")
    if original["label"].isna().any():
        raise DataError(f"train: {int(original['label'].isna().sum())} rows have no label")
    fold_of = folds.set_index("id")["fold"]
    missing = original.loc[~original["id"].isin(fold_of.index), "id"]
    if len(missing):
        raise DataError(
            f"folds: {len(missing)} training rows have no fold (first id {missing.iloc[0]}); "
            "rerun split@<task> on the same ingested data"
        )
    parts = [_frame(original, source="original", ids=original["id"], source_ids=original["id"])]
    used = {"translated": params.translate, "negative": params.negatives}
    for source, rows in (("translated", translated), ("negative", negatives)):
        if not used[source] or rows is None or rows.empty:
            continue
        needed = ("id", "source_id", "language", "lang", "query", "candidate")
        require_columns(rows, needed, what=f"{source} rows")
        unknown = rows.loc[~rows["source_id"].isin(fold_of.index), "source_id"]
        if len(unknown):
            raise DataError(
                f"{source} rows: {len(unknown)} name a source_id that is not a training row "
                f"(first {unknown.iloc[0]}); they were made from other data: rerun them"
            )
        parts.append(_frame(rows, source=source, ids=rows["id"], source_ids=rows["source_id"]))
    table = pd.concat(parts, ignore_index=True)
    if table["id"].duplicated().any():
        dup = table.loc[table["id"].duplicated(), "id"].iloc[0]
        raise DataError(f"assembled rows: duplicate id {dup!r}")
    table["fold"] = fold_of.reindex(table["source_id"]).to_numpy().astype("int8")
    counts = assemble_counts(table, translated=translated, negatives=negatives, params=params)
    return table, counts


def assemble_counts(
    table: pd.DataFrame,
    *,
    translated: pd.DataFrame | None,
    negatives: pd.DataFrame | None,
    params: AugmentParams,
) -> dict[str, Any]:
    """Rows per source, per language (ISO code, as the filter stage counts them: ``vi``
    for the data's ``vn``) x source, and the label rate: JSON-ready."""
    by_source = table.groupby("source").size()
    per_language: dict[str, dict[str, int]] = {}
    for (language, source), n in table.groupby(["lang", "source"]).size().items():
        per_language.setdefault(str(language), {})[str(source)] = int(n)
    available = {
        "translated": 0 if translated is None else len(translated),
        "negative": 0 if negatives is None else len(negatives),
    }
    return {
        "rows_out": len(table),
        "rows_by_source": {s: int(by_source.get(s, 0)) for s in SOURCES},
        "available": available,
        "used": {"translated": params.translate, "negative": params.negatives},
        "positive_rate": round(float(table["label"].mean()), 6) if len(table) else 0.0,
        "per_language": per_language,
    }


def assemble_task(
    task: Task,
    *,
    train: Path,
    folds: Path,
    translated: Path,
    negatives: Path,
    out: Path,
    params: AugmentParams,
) -> dict[str, Any]:
    """The assemble@<task> stage: read the ingested training rows, their folds and both
    augmentations, write the training table (:data:`AUGMENTED_SCHEMA`) to ``out`` and
    return its counts (:func:`assemble_counts`).

    Both augmentation files are read even when a switch is off: the counts report what
    was available, so the metrics show what a switch left out.
    """
    table, counts = assemble(
        original=read_table(train, made_by=f"ingest@{task.name}"),
        folds=read_table(folds, made_by=f"split@{task.name}"),
        translated=read_table(translated, made_by=f"translate@{task.name}"),
        negatives=read_table(negatives, made_by=f"negatives@{task.name}"),
        params=params,
    )
    write_table(table, out, AUGMENTED_SCHEMA)
    return counts
