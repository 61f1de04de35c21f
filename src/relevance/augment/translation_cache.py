"""Translations through a content-keyed cache: what translate, negatives and pivot share.

:func:`translate_texts` normalises and deduplicates texts, looks each one up in the
:class:`TranslationCache` and translates only the misses, storing every finished batch
at once: a killed run keeps its work and the next run resumes, and a rerun with the
same model and prompt translates nothing. :func:`translate_grouped` does the same for
rows in mixed languages.

The :class:`Translator` protocol is defined here, by the code that consumes it (the
backends in :mod:`relevance.augment.translators` implement it), so this module needs no
model code and the backends can open the cache without an import cycle.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tqdm.auto import tqdm

from relevance.clean import clean_text
from relevance.errors import ConfigError
from relevance.kvstore import KeyValueStore, content_key
from relevance.languages import iso_language

logger = logging.getLogger(__name__)


@runtime_checkable
class Translator(Protocol):
    """Anything that translates a batch of texts from one language into another.

    ``id`` names the backend, the model and its content revision (and the decoding
    settings that change outputs); ``prompt_version`` the prompt. Both are part of every
    cache key, so another model or prompt never reuses a stale translation.
    Language codes are as in the data (``vn``) or ISO (``vi``).
    """

    id: str
    prompt_version: str

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]: ...


class TranslationCache:
    """Translations keyed by content: (normalised text, source, target, translator id,
    prompt version) -> UTF-8 text, in ``<cache_dir>/translations.sqlite``."""

    FILE = "translations.sqlite"

    def __init__(self, cache_dir: Path) -> None:
        self.store = KeyValueStore(Path(cache_dir) / self.FILE, table="translations")

    @staticmethod
    def key(text: str, *, source: str, target: str, translator: Translator) -> str:
        """The entry's key. Texts equal after :func:`relevance.clean.clean_text` and codes
        equal after :func:`relevance.languages.iso_language` (``vn``/``vi``) share it."""
        return content_key(
            clean_text(text),
            iso_language(source),
            iso_language(target),
            translator.id,
            translator.prompt_version,
        )

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """The cached translations among ``keys`` (missing keys are left out)."""
        return {k: v.decode("utf-8") for k, v in self.store.get_many(keys).items()}

    def put_many(self, items: dict[str, str]) -> None:
        """Store translations by key, committed at once (an interrupted run keeps them)."""
        self.store.put_many({k: v.encode("utf-8") for k, v in items.items()})

    def __len__(self) -> int:
        return len(self.store)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> TranslationCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclasses.dataclass(frozen=True)
class TranslationResult:
    """``translations[i]`` translates ``texts[i]``. ``hits``/``misses`` count distinct
    normalised texts found in / missing from the cache (so ``hits + misses`` is the number
    of distinct texts); ``seconds`` is the time spent in the translator."""

    translations: list[str]
    hits: int
    misses: int
    seconds: float

    def cache_report(self) -> dict[str, Any]:
        """The cache counts and translation speed, JSON-ready (a stage's ``cache`` metrics;
        the hit and speed figures are run statistics, see :mod:`relevance.stage`)."""
        total = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "distinct_texts": total,
            "hit_rate": round(self.hits / total, 4) if total else None,
            "translate_seconds": round(self.seconds, 2),
            "texts_per_second": round(self.misses / self.seconds, 3) if self.seconds else None,
        }


def translate_texts(
    texts: Sequence[str],
    *,
    source: str,
    target: str,
    translator: Translator,
    cache: TranslationCache,
    batch_size: int,
    progress: bool = True,
) -> TranslationResult:
    """Translate ``texts`` from ``source`` into ``target`` through ``cache``.

    1. Normalise (``clean_text``) and deduplicate.
    2. Look every distinct text up in the cache.
    3. Translate the misses in batches of ``batch_size``, shortest first (less padding),
       and store each batch as soon as it is done: a run killed mid-way keeps every
       finished batch, and the next run resumes with the rest.

    Empty texts translate to ``""`` and are not counted; a text whose source and target
    are the same language is returned as it is.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    normalised = [clean_text(str(t)) for t in texts]
    if iso_language(source) == iso_language(target):
        return TranslationResult(normalised, 0, 0, 0.0)
    unique = [t for t in dict.fromkeys(normalised) if t]
    keys = {t: cache.key(t, source=source, target=target, translator=translator) for t in unique}
    found = cache.get_many(list(keys.values()))
    misses = sorted((t for t in unique if keys[t] not in found), key=len)
    hits = len(unique) - len(misses)
    seconds = 0.0
    bar = tqdm(
        total=len(misses),
        desc=f"translate {source}->{target}",
        unit="text",
        disable=not progress or not misses,
    )
    with bar:
        for start in range(0, len(misses), batch_size):
            batch = misses[start : start + batch_size]
            began = time.perf_counter()
            out = translator.translate(batch, source=source, target=target)
            seconds += time.perf_counter() - began
            if len(out) != len(batch):
                raise RuntimeError(
                    f"translator {translator.id} returned {len(out)} texts for {len(batch)}"
                )
            new = {keys[t]: clean_text(o) for t, o in zip(batch, out, strict=True)}
            cache.put_many(new)  # after each batch: an interrupted run keeps this work
            found.update(new)
            bar.update(len(batch))
    logger.info(
        "translate %s->%s: %d distinct texts, %d cached, %d translated in %.1f s",
        source, target, len(unique), hits, len(misses), seconds,
    )  # fmt: skip
    translations = [found[keys[t]] if t else "" for t in normalised]
    return TranslationResult(translations, hits, len(misses), seconds)


def translate_grouped(
    texts: Sequence[str],
    *,
    sources: Sequence[str],
    targets: Sequence[str] | str,
    translator: Translator,
    cache: TranslationCache,
    batch_size: int,
    progress: bool = True,
) -> TranslationResult:
    """:func:`translate_texts` for rows in mixed languages: one call per (source, target)
    pair (ISO codes), in sorted order; translations come back in row order."""
    n = len(texts)
    targets = [targets] * n if isinstance(targets, str) else list(targets)
    if len(sources) != n or len(targets) != n:
        raise ValueError(f"{n} texts but {len(sources)} sources and {len(targets)} targets")
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (s, t) in enumerate(zip(sources, targets, strict=True)):
        groups.setdefault((iso_language(str(s)), iso_language(str(t))), []).append(i)
    translations = [""] * n
    hits = misses = 0
    seconds = 0.0
    for (source, target), rows in sorted(groups.items()):
        result = translate_texts(
            [texts[i] for i in rows],
            source=source,
            target=target,
            translator=translator,
            cache=cache,
            batch_size=batch_size,
            progress=progress,
        )
        for i, translation in zip(rows, result.translations, strict=True):
            translations[i] = translation
        hits, misses, seconds = hits + result.hits, misses + result.misses, seconds + result.seconds
    return TranslationResult(translations, hits, misses, seconds)
