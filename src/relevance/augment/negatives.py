"""Semantic hard negatives for the languages missing from training.

The paper's recipe (Yin et al., CIKM AnalytiCup 2025): for each target language, sample
positive training rows from other languages, embed every distinct candidate of the
training set (category paths for QC, item titles for QI), rank the candidates by cosine
similarity to the positive's candidate, take the ones ranked 20..50, pick one at random
and label the (query, picked candidate) pair 0. Close enough to be hard, far enough
(not in the top 20) to be unlikely to be relevant after all. :func:`mine_hard_negatives`
keeps the source query; :func:`translate_negatives` then translates it into the target
language through the translation cache and gate, and :func:`negatives_task` (the
negatives@<task> stage) does both.

Rank is defined over the *other* candidates: the positive's own candidate is left out,
and rank 0 is the most similar other candidate. Ties in similarity are broken by the
candidate text, so ranks (and therefore the whole output) do not depend on the order
of the input rows.

Guards: a candidate in the window is dropped (not replaced: the window never shifts to
rank ``rank_max`` and beyond) when it is labelled positive for the same query anywhere
in training (query compared after :func:`relevance.clean.clean_text` with lower-casing),
or, for QC, when its path is an ancestor or a descendant of the positive's path or of
another path labelled positive for the query. The positive's own candidate never
enters the ranking. A row whose window is guarded entirely is skipped and counted.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relevance.augment.embedding import Embedder
from relevance.augment.translate import build_translated_rows
from relevance.augment.translation_cache import TranslationCache, Translator
from relevance.augment.translators import TranslationSetup, TranslatorParams, open_translation
from relevance.clean import clean_text
from relevance.errors import ConfigError, DataError
from relevance.languages import iso_language, language_codes, read_languages_json, target_languages
from relevance.schema import Task, category_levels, get_task
from relevance.tables import (
    NEGATIVES_SCHEMA,
    TRANSLATED_NEGATIVES_SCHEMA,
    empty_frame,
    read_table,
    write_table,
)

logger = logging.getLogger(__name__)

# The params section: errors name its keys (negatives.rank_max), not the file, which
# only the stage knows (--params).
SECTION = "negatives"

# Why a sampled positive produced no negative. Every reason appears in the counts (0 when
# it never happened), so ``dvc metrics diff`` shows a reason appear rather than a key.
# No "empty window" reason exists: mining refuses to start with fewer than rank_max + 1
# distinct candidates, so every window holds rank_max - rank_min candidates before guards.
SKIP_REASONS = ("all_guarded",)

# Why a candidate inside a window was dropped (counted per window candidate).
GUARDS = ("query_positive", "category_lineage")


@dataclasses.dataclass(frozen=True)
class NegativesParams:
    """params.yaml section ``negatives``.

    ``languages``: the target languages, ``auto`` (the default) for the stats stage's
    ``missing_from_train`` (languages of dev/test absent from train, as the paper does),
    or a list of codes (``[de, vn]``; ``vn`` and ``vi`` both mean Vietnamese).
    ``source_languages``: training languages the positives are sampled from (English, like
    ``translate.source_languages``); empty means every training language. A target is
    never its own source.
    ``rows_per_language``: positives sampled per target language, each giving at most
    one negative (fewer when guards empty a window; the counts say how many). The
    default 8 suits the bundled sample and the CPU translation budget; raise it for the
    competition data.
    ``rank_min``, ``rank_max``: the window of ranks ``[rank_min, rank_max)`` a negative is
    drawn from, rank 0 being the candidate most similar to the positive's own. The
    defaults 20 and 50 are the paper's "ranked 20..50": the top 20 are skipped because
    near-duplicates there are often relevant too (unlabelled positives), and beyond 50
    a negative gets too easy to teach anything. sentence-transformers'
    ``mine_hard_negatives`` exposes the same idea as ``range_min`` / ``range_max``.
    ``seed``: seeds the sampling of positives and the pick inside each window. Each
    target language draws from its own stream (seed, language), so adding a target
    leaves the other targets' rows unchanged. 13 is the project's global seed.
    ``batch_size``: texts per forward pass of the embedder (64, the
    ``relevance.augment.embedding.Embedder`` default, keeps multilingual-e5-small at a few
    hundred MB on CPU). It changes speed and memory, never the rows.
    """

    languages: str | tuple[str, ...] = "auto"
    source_languages: tuple[str, ...] = ("en",)
    rows_per_language: int = 8
    rank_min: int = 20
    rank_max: int = 50
    seed: int = 13
    batch_size: int = 64

    def __post_init__(self) -> None:
        languages = self.languages
        if isinstance(languages, str):
            if languages != "auto":
                raise ConfigError(
                    "languages must be auto or a list of language codes such as [de, vn], "
                    f"got {languages!r}"
                )
        else:
            languages = language_codes(languages, "languages")
            if not languages:
                raise ConfigError("languages must be auto or a non-empty list of codes, got []")
            object.__setattr__(self, "languages", languages)
        object.__setattr__(
            self, "source_languages", language_codes(self.source_languages, "source_languages")
        )
        for key in ("rows_per_language", "batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        for key in ("rank_min", "seed"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")
        if self.rank_max <= self.rank_min:
            raise ConfigError(
                "rank_max must be greater than rank_min (the window is [rank_min, rank_max)), "
                f"got rank_min={self.rank_min}, rank_max={self.rank_max}"
            )


@dataclasses.dataclass(frozen=True)
class MiningResult:
    """What :func:`mine_hard_negatives` made.

    ``rows``: one row per mined negative, the columns of :data:`NEGATIVES_SCHEMA`, in
    target order then source-row id order.
    ``counts``: per target language (as spelled in the data): ``sampled`` positives,
    ``mined`` negatives, ``skipped_<reason>`` for each of :data:`SKIP_REASONS`
    (``sampled == mined + sum of skipped_*``), and ``guarded_<guard>``: window
    candidates each guard removed, summed over the sampled rows.
    """

    rows: pd.DataFrame
    counts: dict[str, dict[str, int]]

    def totals(self) -> dict[str, int]:
        """The counts summed over target languages."""
        keys = _count_keys()
        return {k: sum(c[k] for c in self.counts.values()) for k in keys}


def _count_keys() -> list[str]:
    return [
        "sampled",
        "mined",
        *(f"skipped_{r}" for r in SKIP_REASONS),
        *(f"guarded_{g}" for g in GUARDS),
    ]


_REQUIRED_COLUMNS = ("id", "language", "lang", "query", "candidate", "label")


def _check_rows(rows: pd.DataFrame, task_code: str) -> None:
    missing = [c for c in _REQUIRED_COLUMNS if c not in rows.columns]
    if missing:
        raise DataError(
            f"train rows: missing column(s) {', '.join(missing)}; has {list(rows.columns)}"
        )
    if rows["label"].isna().any():
        raise DataError(f"train rows: {int(rows['label'].isna().sum())} rows have no label")
    if "task" in rows.columns:
        other = sorted(set(rows["task"].astype(str)) - {task_code})
        if other:
            raise DataError(f"train rows: expected task {task_code}, found {', '.join(other)}")
    if rows["candidate"].isna().any() or rows["query"].isna().any():
        raise DataError("train rows: a query or candidate is missing (run ingest first)")


def _levels_of(rows: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """Category levels per distinct candidate: the ``category_levels`` column where set
    (ingestion builds it from the cleaned candidate), else split from the text."""
    column = rows["category_levels"] if "category_levels" in rows.columns else None
    levels: dict[str, tuple[str, ...]] = {}
    for i, candidate in enumerate(rows["candidate"].tolist()):
        if candidate in levels:
            continue
        given = None if column is None else column.iat[i]
        if given is not None and given is not pd.NA and not isinstance(given, float):
            levels[candidate] = tuple(str(level) for level in given)
        else:
            levels[candidate] = tuple(category_levels(candidate))
    return levels


def _in_lineage(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether one path is a prefix of the other (ancestor, descendant or the same)."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _embed_candidates(embed: Callable[[list[str]], np.ndarray], texts: list[str]) -> np.ndarray:
    vectors = np.asarray(embed(texts), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise ValueError(
            f"embed returned shape {vectors.shape} for {len(texts)} texts; expected "
            f"({len(texts)}, dim)"
        )
    if not np.isfinite(vectors).all():
        raise ValueError("embed returned non-finite values")
    return vectors


def _ranked_neighbours(
    vectors: np.ndarray, anchors: list[int], *, keep: int
) -> dict[int, list[tuple[int, float]]]:
    """For each anchor index, the ``keep`` most similar *other* candidates as
    ``(index, similarity)``, by decreasing similarity, ties by index (= candidate text,
    since candidates are sorted by text).

    ``sentence_transformers.util.semantic_search`` does the search. Its top-k cuts
    through ties arbitrarily, so when the last retrieved score still equals the score at
    the boundary a few more are retrieved, up to the whole corpus.
    """
    import torch
    from sentence_transformers import util

    n = len(vectors)
    corpus = torch.from_numpy(vectors)
    result: dict[int, list[tuple[int, float]]] = {}
    pending = list(dict.fromkeys(anchors))
    top_k = min(n, keep + 1 + 8)  # + the anchor itself + a margin for ties at the boundary
    while pending:
        hits = util.semantic_search(corpus[pending], corpus, top_k=top_k)
        retry = []
        for anchor, found in zip(pending, hits, strict=True):
            ordered = sorted(
                ((int(h["corpus_id"]), float(h["score"])) for h in found),
                key=lambda hit: (-hit[1], hit[0]),
            )
            others = [hit for hit in ordered if hit[0] != anchor]
            cut = others[keep - 1][1]
            if top_k < n and ordered[-1][1] >= cut:
                retry.append(anchor)  # ties may continue past what was retrieved
            else:
                result[anchor] = others[:keep]
        pending = retry
        top_k = min(n, top_k * 4)
    return result


def mine_hard_negatives(
    train_rows: pd.DataFrame,
    *,
    task: str,
    targets: Sequence[tuple[str, str]],
    config: NegativesParams,
    embed: Callable[[list[str]], np.ndarray],
) -> MiningResult:
    """Mine one hard negative per sampled positive, for each target language.

    Args:
        train_rows: the ingested training rows (``schema.INGESTED_SCHEMA``: ``id``,
            ``language``, ``lang``, ``query``, ``candidate``, ``label`` 0/1, and for QC
            ``category_levels``), all languages.
        task: ``"qc"`` or ``"qi"``; QC adds the category-lineage guard and the
            negatives' ``category_levels``.
        targets: ``(language as spelled in the data, ISO code)`` pairs, e.g.
            ``[("vn", "vi")]`` (see :func:`relevance.languages.target_languages`).
        config: the ``negatives`` params (window, rows per language, seed, sources).
        embed: ``list[str] -> (n, dim)`` float array, rows L2-normalised (production:
            ``relevance.augment.embedding.Embedder.encode``, cached by content hash). Called
            once, on the distinct candidates of ``train_rows`` sorted by text.

    Steps, per target: (1) sample ``rows_per_language`` positive rows (label 1) of the
    source languages without replacement; (2) rank every other distinct candidate of
    training by cosine similarity to the positive's candidate (rank 0 = most similar
    other candidate, ties by text); (3) keep ranks in ``[rank_min, rank_max)`` and drop
    the guarded ones (module docstring); (4) pick one of the rest uniformly at random,
    or skip the row (``skipped_all_guarded``) when none is left.

    Raises:
        ConfigError: fewer than ``rank_max + 1`` distinct candidates, a source language
            absent from training, or fewer positives in the source languages than
            ``rows_per_language``.
        DataError: missing columns or labels in ``train_rows``.
    """
    spec = get_task(task)
    _check_rows(train_rows, spec.code)
    counts: dict[str, dict[str, int]] = {}
    targets = list(dict.fromkeys((str(language), str(lang)) for language, lang in targets))
    if not targets:
        logger.info("negatives: no target language, nothing to mine")
        return MiningResult(rows=_frame([]), counts=counts)

    # 1. Distinct candidates, sorted by text: index order is the tie-break order.
    candidates = sorted(set(train_rows["candidate"].astype(str)))
    if len(candidates) < config.rank_max + 1:
        raise ConfigError(
            f"{SECTION}.rank_max={config.rank_max} needs at least {config.rank_max + 1} "
            f"distinct candidates in train, found {len(candidates)} (lower rank_max, or "
            "mine on more training rows)"
        )
    index_of = {text: i for i, text in enumerate(candidates)}
    rows = train_rows.reset_index(drop=True)
    candidate_idx = rows["candidate"].astype(str).map(index_of).to_numpy()
    labels = rows["label"].astype(int).to_numpy()
    query_key = [clean_text(str(q), lowercase=True) for q in rows["query"]]

    # Every candidate labelled positive for a (normalised) query, anywhere in train.
    positives_of: dict[str, set[int]] = {}
    for key, idx, label in zip(query_key, candidate_idx, labels, strict=True):
        if label == 1:
            positives_of.setdefault(key, set()).add(int(idx))
    levels: list[tuple[str, ...]] | None = None
    if spec.name == "qc":
        by_text = _levels_of(rows)
        levels = [by_text[c] for c in candidates]

    # Source languages: every training language unless the config names some.
    train_langs = sorted(set(rows["lang"].astype(str)))
    if config.source_languages:
        sources = [iso_language(c) for c in config.source_languages]
        unknown = [c for c, iso in zip(config.source_languages, sources, strict=True)
                   if iso not in train_langs]  # fmt: skip
        if unknown:
            raise ConfigError(
                f"{SECTION}.source_languages: {', '.join(unknown)} not in train; training "
                f"languages are {', '.join(train_langs)}"
            )
    else:
        sources = train_langs

    # 2. The positives to mine from, per target (seeded, one stream per target).
    positive = labels == 1
    row_lang = rows["lang"].astype(str).to_numpy()
    ids = rows["id"].astype("int64").to_numpy()
    sampled: dict[str, np.ndarray] = {}
    generators: dict[str, np.random.Generator] = {}
    for language, lang in targets:
        source_langs = [s for s in sources if s != lang]
        pool = np.flatnonzero(positive & np.isin(row_lang, source_langs))
        if len(pool) < config.rows_per_language:
            found = pd.Series(row_lang[pool]).value_counts().sort_index()
            detail = ", ".join(f"{k} {v}" for k, v in found.items()) or "none"
            raise ConfigError(
                f"{SECTION}.rows_per_language={config.rows_per_language} needs that many "
                f"positive rows in the source languages ({', '.join(source_langs) or 'none'}) "
                f"for target {language}, found {len(pool)} ({detail})"
            )
        pool = pool[np.argsort(ids[pool], kind="stable")]  # input order must not matter
        # Seeded from the code as the data spells it (translate seeds from the ISO code
        # another way); the committed rows depend on this stream, so it stays as it is.
        rng = np.random.default_rng([config.seed, zlib.crc32(language.encode("utf-8"))])
        chosen = rng.choice(pool, size=config.rows_per_language, replace=False)
        sampled[language] = chosen[np.argsort(ids[chosen], kind="stable")]
        generators[language] = rng

    # 3. Embed every candidate once; rank the neighbours of the sampled positives'.
    vectors = _embed_candidates(embed, candidates)
    anchors = sorted({int(candidate_idx[i]) for chosen in sampled.values() for i in chosen})
    neighbours = _ranked_neighbours(vectors, anchors, keep=config.rank_max)

    # 4. Per sampled row: window, guards, one uniform pick.
    out: list[dict[str, Any]] = []
    for language, lang in targets:
        rng = generators[language]
        count = dict.fromkeys(_count_keys(), 0)
        for i in sampled[language]:
            count["sampled"] += 1
            anchor = int(candidate_idx[i])
            query_positives = positives_of.get(query_key[i], set()) | {anchor}
            lineage = [levels[p] for p in query_positives] if levels is not None else []
            window = neighbours[anchor][config.rank_min : config.rank_max]
            eligible = []
            for rank, (idx, score) in enumerate(window, start=config.rank_min):
                if idx in query_positives:
                    count["guarded_query_positive"] += 1
                elif levels is not None and any(_in_lineage(levels[idx], p) for p in lineage):
                    count["guarded_category_lineage"] += 1
                else:
                    eligible.append((rank, idx, score))
            if not eligible:
                count["skipped_all_guarded"] += 1
                continue
            rank, idx, score = eligible[int(rng.integers(len(eligible)))]
            count["mined"] += 1
            out.append(
                {
                    "id": f"neg:{language}:{ids[i]}",
                    "language": language,
                    "lang": lang,
                    "query": str(rows.at[i, "query"]),
                    "candidate": candidates[idx],
                    "label": 0,
                    "category_levels": list(levels[idx]) if levels is not None else None,
                    "source_id": int(ids[i]),
                    "source_language": str(rows.at[i, "language"]),
                    "positive_candidate": candidates[anchor],
                    "rank": rank,
                    "similarity": score,
                }
            )
        counts[language] = count
        logger.info(
            "negatives %s: %d sampled, %d mined, %d skipped (all guarded)",
            language,
            count["sampled"],
            count["mined"],
            count["skipped_all_guarded"],
        )
    return MiningResult(rows=_frame(out), counts=counts)


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Records as a DataFrame with the dtypes of :data:`NEGATIVES_SCHEMA`."""
    names = [f.name for f in NEGATIVES_SCHEMA]
    frame = pd.DataFrame(records, columns=names)
    return frame.astype(
        {
            "label": "int8",
            "source_id": "int64",
            "rank": "int64",
            "similarity": "float32",
        }
    )


# ------------------------------------------------- translated into the target language


def translate_negatives(
    mined: pd.DataFrame,
    *,
    translator: Translator,
    cache: TranslationCache,
    embedder: Embedder | None,
    config: TranslatorParams,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Translate the mined rows' queries into their target language, through the cache
    and the quality gate of :func:`relevance.augment.translate.build_translated_rows`.

    Args:
        mined: :attr:`MiningResult.rows`.
        translator, cache, embedder, config: as for ``build_translated_rows``.

    Returns:
        The kept rows (:data:`TRANSLATED_NEGATIVES_SCHEMA` columns, in ``mined`` order)
        and the translation report (per target: sampled = kept + dropped by reason).
    """
    samples = pd.DataFrame(
        {
            "id": mined["source_id"].to_numpy(),
            "lang": mined["source_language"].astype(str).map(iso_language).to_numpy(),
            "query": mined["query"].to_numpy(),
            "candidate": mined["candidate"].to_numpy(),
            "label": mined["label"].to_numpy(),
            "category_levels": mined["category_levels"].to_numpy(),
            "target": mined["language"].to_numpy(),
        }
    )
    result = build_translated_rows(
        samples, translator=translator, cache=cache, embedder=embedder, config=config
    )
    kept = result.rows.rename(columns={"similarity": "translation_similarity"})
    kept["id"] = [f"neg:{t}:{s}" for t, s in zip(kept["language"], kept["source_id"], strict=True)]
    kept = kept.merge(
        mined[["id", "positive_candidate", "rank", "similarity"]], on="id", how="left",
        validate="one_to_one",
    )  # fmt: skip
    return kept[TRANSLATED_NEGATIVES_SCHEMA.names], result.report


def negatives_task(
    task: Task,
    *,
    ingested: Path,
    languages: Path,
    out: Path,
    params: NegativesParams,
    setup: TranslationSetup,
) -> dict[str, Any]:
    """The negatives@<task> stage: mine hard negatives for each target language, translate
    their queries, write the kept rows (:data:`TRANSLATED_NEGATIVES_SCHEMA`) to ``out``.

    Args:
        ingested: ingest@<task>'s folder (``train.parquet``).
        languages: stats@<task>'s ``languages.json`` (see
            :func:`relevance.languages.target_languages`).
        setup: where to translate (:class:`relevance.augment.translators.TranslationSetup`);
            its embedder both ranks the candidates and gates the translations.

    Returns:
        The metrics: ``targets``, the mining counts per language and in total, the
        translation report, ``rows_out``, the embedding cache counts and ``seconds``.
        When nothing is mined the translator is never built and the table is empty.
    """
    began = time.perf_counter()
    train = read_table(ingested / "train.parquet", made_by=f"ingest@{task.name}")
    targets = target_languages(
        params.languages, read_languages_json(languages), where=f"{SECTION}.languages"
    )
    with open_translation(setup, embed_batch_size=params.batch_size) as tools:
        mined = mine_hard_negatives(
            train, task=task.name, targets=targets, config=params, embed=tools.embedder.encode
        )
        if mined.rows.empty:
            rows, report = empty_frame(TRANSLATED_NEGATIVES_SCHEMA), {}
        else:
            rows, report = translate_negatives(mined.rows, **tools.parts(), config=setup.params)
    write_table(rows, out, TRANSLATED_NEGATIVES_SCHEMA)
    return {
        "targets": [language for language, _ in targets],
        "mining": {"languages": mined.counts, "total": mined.totals()},
        "translation": report,
        "rows_out": len(rows),
        "embedding_cache": {"hits": tools.embedder.hits, "misses": tools.embedder.misses},
        "seconds": round(time.perf_counter() - began, 1),
    }
