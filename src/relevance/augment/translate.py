"""Translation augmentation: synthetic training rows for languages missing from train.

The paper's first data-centric step (Yin et al., CIKM AnalytiCup 2025): languages that
appear in dev/test but not in train get rows whose query is translated from a
high-resource language, with the candidate and the label kept.

The translate@<task> stage (:func:`translate_task`), in order:

1. the target languages: the stats stage's ``missing_from_train`` unless
   ``translate.languages`` names them (:func:`relevance.languages.target_languages`);
2. :func:`sample_sources`: per target, a seeded sample of source-language train rows;
3. :func:`build_translated_rows`: each sampled query translated into its target through
   the translation cache (:mod:`relevance.augment.translation_cache`), gated
   (:mod:`relevance.augment.gate`), and the kept rows with their counts.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relevance.augment.embedding import Embedder
from relevance.augment.gate import reason_counts, score_and_gate, unchanged
from relevance.augment.translation_cache import TranslationCache, Translator, translate_grouped
from relevance.augment.translators import TranslationSetup, TranslatorParams, open_translation
from relevance.errors import ConfigError, DataError
from relevance.kvstore import content_key
from relevance.languages import iso_language, language_codes, read_languages_json, target_languages
from relevance.schema import Task
from relevance.tables import (
    TRANSLATED_SCHEMA,
    empty_frame,
    read_table,
    require_columns,
    write_table,
)

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TranslateParams:
    """Which rows are translated into which languages (params.yaml section ``translate``).

    ``languages``: ``auto`` = the stats stage's ``missing_from_train`` list (languages in
    dev/test but not in train); else explicit codes (``vi`` and ``vn`` both mean
    Vietnamese; a target is spelled as the data spells it).
    ``source_languages``: train rows in these languages are the sources (the paper
    translates from English).
    ``rows_per_language``: rows sampled per target language (without replacement).
    ``seed``: the sample's seed; each target has its own stream derived from it, so adding
    a target language does not change the rows of the others.
    """

    languages: str | tuple[str, ...] = "auto"
    source_languages: tuple[str, ...] = ("en",)
    rows_per_language: int = 12
    seed: int = 13

    def __post_init__(self) -> None:
        if isinstance(self.languages, str):
            if self.languages != "auto":
                raise ConfigError(
                    "languages must be auto or a list of codes such as [de, it], "
                    f"got {self.languages!r}"
                )
        else:
            codes = language_codes(self.languages, "languages")
            if not codes:
                raise ConfigError("languages must be auto or a non-empty list of codes, got []")
            object.__setattr__(self, "languages", codes)
        sources = language_codes(self.source_languages, "source_languages")
        if not sources:
            raise ConfigError("source_languages must be a non-empty list of codes, got []")
        object.__setattr__(self, "source_languages", sources)
        if self.rows_per_language < 1:
            raise ConfigError(f"rows_per_language must be >= 1, got {self.rows_per_language}")


def sample_sources(
    train_rows: pd.DataFrame,
    *,
    targets: Sequence[str],
    source_languages: Sequence[str],
    rows_per_language: int,
    seed: int,
) -> pd.DataFrame:
    """Source rows to translate: per target, ``rows_per_language`` labelled train rows
    in a source language, drawn without replacement.

    Each target has its own random stream, seeded from ``(seed, target)``, over the
    candidate rows sorted by id: the sample does not depend on the file's row order or
    on the other targets. Rows already in the target language are never sources.

    Returns:
        The sampled rows (all input columns) plus ``target`` (the code as given), ordered
        by target (as given) and then by id.

    Raises:
        DataError: fewer candidate rows than ``rows_per_language`` for a target.
    """
    require_columns(train_rows, ("id", "lang", "query", "candidate", "label"), what="train rows")
    source_isos = {iso_language(c) for c in source_languages}
    pool = train_rows[
        train_rows["lang"].astype(str).isin(source_isos) & train_rows["label"].notna()
    ]
    parts = []
    for target in targets:
        target_iso = iso_language(target)
        candidates = pool[pool["lang"].astype(str) != target_iso].sort_values("id", kind="stable")
        if len(candidates) < rows_per_language:
            raise DataError(
                f"translate: rows_per_language={rows_per_language} for target {target!r}, but "
                f"train has only {len(candidates)} labelled rows in the source languages "
                f"{sorted(source_isos)}: lower translate.rows_per_language or add "
                "source_languages"
            )
        # This stream (content_key of seed and ISO target) is the one the committed
        # outputs were made with; negatives seed theirs differently (crc32 of the code).
        stream = int(content_key(str(seed), target_iso)[:16], 16)
        rng = np.random.default_rng([seed, stream])
        picked = np.sort(rng.choice(len(candidates), size=rows_per_language, replace=False))
        part = candidates.iloc[picked].copy()
        part["target"] = str(target)
        parts.append(part)
    if not parts:
        return train_rows.iloc[:0].assign(target=pd.Series(dtype=str))
    return pd.concat(parts, ignore_index=True)


def _levels(value: Any) -> list[str] | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return [str(v) for v in value]


@dataclasses.dataclass(frozen=True)
class TranslatedRows:
    """The kept rows (:data:`TRANSLATED_SCHEMA` columns) and the counts behind them."""

    rows: pd.DataFrame
    report: dict[str, Any]


def build_translated_rows(
    samples: pd.DataFrame,
    *,
    translator: Translator,
    cache: TranslationCache,
    embedder: Embedder | None,
    config: TranslatorParams,
    progress: bool = True,
) -> TranslatedRows:
    """Translate each sampled row's query into its ``target``, gate it, build the rows.

    Args:
        samples: :func:`sample_sources` output (``lang`` of the source, ``target`` per row).
        embedder: scores source/translation similarity for the gate; None skips that
            check (the ``similarity`` column is then null).

    Returns:
        Rows that passed the gate in sample order, and a report: per target language
        (as the data spells it) ``sampled``, ``kept`` (of which ``kept_unchanged`` equal the
        source query), ``dropped`` and ``dropped_by_reason``
        (every reason listed, zeros included), the same totals, and the cache counts.
    """
    require_columns(
        samples, ("id", "lang", "query", "candidate", "label", "target"), what="sampled rows"
    )
    sources = [str(q) for q in samples["query"]]
    source_langs = [str(lang) for lang in samples["lang"]]
    targets = [str(t) for t in samples["target"]]
    result = translate_grouped(
        sources,
        sources=source_langs,
        targets=targets,
        translator=translator,
        cache=cache,
        batch_size=config.batch_size,
        progress=progress,
    )
    sims, reasons = score_and_gate(
        sources,
        result.translations,
        source=source_langs,
        target=targets,
        embedder=embedder,
        config=config,
    )
    keep = [r is None for r in reasons]
    levels = samples["category_levels"] if "category_levels" in samples.columns else None
    out = pd.DataFrame(
        {
            "id": [f"tr:{t}:{int(i)}" for t, i in zip(targets, samples["id"], strict=True)],
            "language": targets,
            "lang": [iso_language(t) for t in targets],
            "query": result.translations,
            "candidate": [str(c) for c in samples["candidate"]],
            "label": np.asarray(samples["label"], dtype=np.int8),
            "category_levels": [None] * len(samples)
            if levels is None
            else [_levels(v) for v in levels],
            "source_id": np.asarray(samples["id"], dtype=np.int64),
            "source_language": source_langs,
            "target_language": [iso_language(t) for t in targets],
            "source_query": sources,
            "translator": translator.id,
            "prompt_version": translator.prompt_version,
            "similarity": sims,
        },
        columns=TRANSLATED_SCHEMA.names,
    )
    out = out[keep].reset_index(drop=True)

    languages: dict[str, Any] = {}
    for target in dict.fromkeys(targets):
        mine = [r for r, t in zip(reasons, targets, strict=True) if t == target]
        sim = [s for s, t in zip(sims, targets, strict=True) if t == target and not np.isnan(s)]
        kept = sum(r is None for r in mine)
        # Same-script copies pass the gate (brand names stay as written); this shows how
        # many kept rows are the source query unchanged.
        kept_unchanged = sum(
            r is None and unchanged(tr, src)
            for r, t, tr, src in zip(reasons, targets, result.translations, sources, strict=True)
            if t == target
        )
        languages[target] = {
            "sampled": len(mine),
            "kept": kept,
            "kept_unchanged": kept_unchanged,
            "dropped": len(mine) - kept,
            "dropped_by_reason": reason_counts(mine),
            "similarity_mean": round(float(np.mean(sim)), 4) if sim else None,
        }
    kept_total = int(sum(keep))
    report = {
        "languages": languages,
        "total": {
            "sampled": len(samples),
            "kept": kept_total,
            "dropped": len(samples) - kept_total,
            "dropped_by_reason": reason_counts(reasons),
        },
        "cache": result.cache_report(),
        "translator": translator.id,
        "prompt_version": translator.prompt_version,
    }
    logger.info(
        "translated rows: %d sampled, %d kept, dropped %s",
        len(samples),
        kept_total,
        report["total"]["dropped_by_reason"],
    )
    return TranslatedRows(out, report)


def translate_task(
    task: Task,
    *,
    ingested: Path,
    languages: Path,
    out: Path,
    params: TranslateParams,
    setup: TranslationSetup,
) -> dict[str, Any]:
    """The translate@<task> stage: sample train rows per target language, translate and
    gate their queries, write the kept rows (:data:`TRANSLATED_SCHEMA`) to ``out``.

    Args:
        ingested: ingest@<task>'s folder (``train.parquet``).
        languages: stats@<task>'s ``languages.json`` (``missing_from_train``, and the
            spelling of each language in the data).
        setup: where to translate (:class:`relevance.augment.translators.TranslationSetup`).

    Returns:
        The metrics: :func:`build_translated_rows`'s report plus ``targets`` (as the data
        spells them), ``source_languages`` and ``seconds``. With no target language no
        model is loaded and an empty table is written.
    """
    began = time.perf_counter()
    train = read_table(ingested / "train.parquet", made_by=f"ingest@{task.name}")
    resolved = target_languages(
        params.languages, read_languages_json(languages), where="translate.languages"
    )
    targets = [language for language, _ in resolved]
    samples = sample_sources(
        train,
        targets=targets,
        source_languages=params.source_languages,
        rows_per_language=params.rows_per_language,
        seed=params.seed,
    )
    if samples.empty:  # nothing to translate: no model is loaded, no cache opened
        write_table(empty_frame(TRANSLATED_SCHEMA), out, TRANSLATED_SCHEMA)
        return {"targets": [], "languages": {}, "total": {"sampled": 0, "kept": 0}}
    with open_translation(setup) as tools:
        result = build_translated_rows(samples, **tools.parts(), config=setup.params)
    write_table(result.rows, out, TRANSLATED_SCHEMA)
    return {
        **result.report,
        "targets": targets,
        "source_languages": list(params.source_languages),
        "seconds": round(time.perf_counter() - began, 1),
    }
