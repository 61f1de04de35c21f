"""What the model reads: options that rewrite a row's text before the prompt is built.

The winning team's (DcuRAGONs) input options, applied identically at training and at
prediction time (``train@<task>`` and ``predict@<task>`` both call :func:`prepare_rows`):

- ``pivot_en``: the query becomes ``"{origin query} - {English translation}"``
  (``pivot_mode: append``, the winning team's), or the English translation alone
  (``pivot_mode: replace``: the model reads English text only, as the competition's
  top-10 encoder did). English queries keep their own text, and so does a query whose
  translation failed the quality gate. The translation comes from ``pivot@<task>``
  (every query of every split through the translation cache). A row made from another
  row (translated or hard-negative rows carry ``source_id``) takes its source row's
  English: its query is a translation of that query, so the English is the same.
- ``lowercase``: lower-case query and candidate with ingest's own cleaning
  (:func:`relevance.clean.clean_text`; NFC and redundant spaces are already handled at
  ingest, and ingest quarantines empty queries).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import pandas as pd

from relevance.clean import clean_text
from relevance.errors import DataError

PIVOT_SEPARATOR = " - "


@dataclasses.dataclass(frozen=True)
class InputParams:
    """params.yaml ``input``: see the module docstring."""

    pivot_en: bool = False
    pivot_mode: Literal["append", "replace"] = "append"
    lowercase: bool = False


def prepare_rows(
    rows: pd.DataFrame, *, params: InputParams, pivot: pd.DataFrame | None, split: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    """A copy of ``rows`` with the input options applied, and counts of what changed.

    Args:
        rows: data rows (``id``, ``lang``, ``query``, ``candidate``; ``source_id`` for
            assembled training rows).
        pivot: ``pivot@<task>`` output (``split``, ``id``, ``query_en``); needed when
            ``params.pivot_en``.
        split: which split ``rows`` are (``train``, ``dev``, ``test``).

    Raises:
        DataError: pivot_en is on and the pivot table is empty or misses rows.
    """
    rows = rows.copy()
    counts = {"rows": len(rows), "pivoted": 0, "no_pivot": 0}
    if params.pivot_en:
        if pivot is None or pivot.empty:
            raise DataError(
                "input.pivot_en is true but the pivot table is empty: run pivot@<task> "
                "with the same params (dvc repro does)"
            )
        key = "source_id" if "source_id" in rows.columns else "id"
        english = pivot.loc[pivot["split"] == split].set_index("id")["query_en"]
        if english.index.has_duplicates:
            raise DataError(f"pivot table: duplicate ids in split {split}")
        unknown = ~rows[key].isin(english.index)
        if unknown.any():
            raise DataError(
                f"pivot table has no {split} row for {int(unknown.sum())} rows (first "
                f"{key} {rows.loc[unknown, key].iloc[0]}): rerun pivot@<task>"
            )
        query_en = rows[key].map(english)
        usable = query_en.notna() & (rows["lang"] != "en") & (query_en != rows["query"])
        if params.pivot_mode == "replace":
            rows.loc[usable, "query"] = query_en[usable]
        else:
            rows.loc[usable, "query"] = (
                rows.loc[usable, "query"] + PIVOT_SEPARATOR + query_en[usable]
            )
        counts["pivoted"] = int(usable.sum())
        # Rows whose English failed the translation quality gate keep their own text.
        counts["no_pivot"] = int((query_en.isna() & (rows["lang"] != "en")).sum())
    if params.lowercase:
        for column in ("query", "candidate"):
            rows[column] = [clean_text(text, lowercase=True) for text in rows[column]]
    return rows, counts
