"""The English pivot of every query (``input.pivot_en``).

Every non-English query of train, dev and test is translated into English through the
shared translation cache and gated (:mod:`relevance.augment.gate`); English rows keep
their query. The model reads ``"{query} - {English}"`` when the pivot is on
(:mod:`relevance.model.inputs`). When ``input.pivot_en`` is false the pivot@<task>
stage writes an empty table with the same columns and loads no model, so the DVC graph
is the same either way.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relevance.augment.embedding import Embedder
from relevance.augment.gate import reason_counts, score_and_gate
from relevance.augment.translation_cache import TranslationCache, Translator, translate_grouped
from relevance.augment.translators import TranslationSetup, TranslatorParams, open_translation
from relevance.clean import clean_text
from relevance.errors import ConfigError, DataError
from relevance.schema import SPLITS, Task
from relevance.tables import PIVOT_SCHEMA, empty_frame, require_columns, write_table

logger = logging.getLogger(__name__)

# Splits a task may lack: ingest skips a task's test file when there is none (the
# competition released test later), so the pivot does too.
OPTIONAL_SPLITS = ("test",)


@dataclasses.dataclass(frozen=True)
class PivotRows:
    """The pivot table (:data:`PIVOT_SCHEMA` columns) and the counts behind it."""

    rows: pd.DataFrame
    report: dict[str, Any]


def pivot_rows(
    rows: pd.DataFrame,
    *,
    translator: Translator,
    cache: TranslationCache,
    embedder: Embedder | None,
    config: TranslatorParams,
    progress: bool = True,
) -> PivotRows:
    """English pivots of every query: ``query_en``.

    English rows keep their query; every other query is translated into English through
    the same cache and gated (target ``en``). A query that fails gets ``query_en = None``
    and the ``reason``: a consumer falls back to the original query.

    Args:
        rows: ``id``, ``split``, ``language``, ``lang`` (ISO), ``query``.

    Returns:
        :data:`PIVOT_SCHEMA` rows in input order, and a report per split: rows,
        ``english`` (kept as they are), ``translated`` (gate passed), ``failed`` and
        ``failed_by_reason``, plus the cache counts.
    """
    require_columns(rows, ("id", "split", "language", "lang", "query"), what="pivot rows")
    langs = [str(lang) for lang in rows["lang"]]
    queries = [clean_text(str(q)) for q in rows["query"]]
    foreign = [i for i, lang in enumerate(langs) if lang != "en"]
    sources = [queries[i] for i in foreign]
    result = translate_grouped(
        sources,
        sources=[langs[i] for i in foreign],
        targets="en",
        translator=translator,
        cache=cache,
        batch_size=config.batch_size,
        progress=progress,
    )
    _, gate = score_and_gate(
        sources,
        result.translations,
        source=[langs[i] for i in foreign],
        target="en",
        embedder=embedder,
        config=config,
    )
    query_en: list[str | None] = list(queries)
    reasons: list[str | None] = [None] * len(rows)
    for i, translation, reason in zip(foreign, result.translations, gate, strict=True):
        query_en[i] = translation if reason is None else None
        reasons[i] = reason
    out = pd.DataFrame(
        {
            "id": np.asarray(rows["id"], dtype=np.int64),
            "split": [str(s) for s in rows["split"]],
            "language": [str(lang) for lang in rows["language"]],
            "query": queries,
            # object dtype: None stays None (a str column would turn it into NaN)
            "query_en": pd.Series(query_en, dtype=object),
            "reason": pd.Series(reasons, dtype=object),
        },
        columns=PIVOT_SCHEMA.names,
    )
    splits: dict[str, Any] = {}
    for split in dict.fromkeys(out["split"]):
        part = out[out["split"] == split]
        is_en = [lang == "en" for lang, s in zip(langs, out["split"], strict=True) if s == split]
        failed = list(part["reason"].dropna())
        splits[split] = {
            "rows": len(part),
            "english": int(sum(is_en)),
            "translated": len(part) - int(sum(is_en)) - len(failed),
            "failed": len(failed),
            "failed_by_reason": reason_counts(failed),
        }
    report = {
        "enabled": True,
        "splits": splits,
        "total": {
            "rows": len(out),
            "english": len(out) - len(foreign),
            "translated": len(foreign) - sum(r is not None for r in gate),
            "failed": sum(r is not None for r in gate),
            "failed_by_reason": reason_counts(gate),
        },
        "cache": result.cache_report(),
        "translator": translator.id,
        "prompt_version": translator.prompt_version,
    }
    return PivotRows(out, report)


def read_splits(ingested: Path, task: Task) -> pd.DataFrame:
    """Every ingested row of ``task`` (train, dev and test when present) with its
    ``split``: the rows the pivot covers."""
    parts = []
    for split in SPLITS:
        path = Path(ingested) / f"{split}.parquet"
        if not path.is_file():
            if split in OPTIONAL_SPLITS:
                logger.info("%s: no %s split (%s); pivoting the others", task.name, split, path)
                continue
            raise DataError(f"{path} not found: run ingest@{task.name} first")
        parts.append(pd.read_parquet(path).assign(split=split))
    return pd.concat(parts, ignore_index=True)


def pivot_task(
    task: Task,
    *,
    pivot_en: object,
    ingested: Path,
    out: Path,
    setup: TranslationSetup,
    source: str = "params.yaml",
) -> dict[str, Any]:
    """The pivot@<task> stage: write the English pivot of every query of ``task``
    (:data:`PIVOT_SCHEMA`) to ``out``, or an empty table when ``pivot_en`` is false.

    Args:
        pivot_en: ``input.pivot_en`` as read from the params file ``source`` (read alone
            so that the stage reruns on that key only; checked here to be a boolean).
        ingested: ingest@<task>'s folder (``train``/``dev`` Parquet, ``test`` optional).
        setup: where to translate (:class:`relevance.augment.translators.TranslationSetup`).

    Returns:
        The metrics: ``enabled`` and :func:`pivot_rows`'s report plus ``seconds``.
    """
    if not isinstance(pivot_en, bool):
        raise ConfigError(f"{source}:input.pivot_en: expected true or false, got {pivot_en!r}")
    if not pivot_en:  # the same graph either way: an empty table, no model loaded
        write_table(empty_frame(PIVOT_SCHEMA), out, PIVOT_SCHEMA)
        return {"enabled": False, "total": {"rows": 0}}
    began = time.perf_counter()
    rows = read_splits(ingested, task)
    with open_translation(setup) as tools:
        result = pivot_rows(rows, **tools.parts(), config=setup.params)
    write_table(result.rows, out, PIVOT_SCHEMA)
    return {**result.report, "seconds": round(time.perf_counter() - began, 1)}
