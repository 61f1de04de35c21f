"""The translation quality gate: which machine translations are kept.

A 270M base model translates poorly, so every translation (of a training query, of a
hard negative's query, of a query pivoted into English) passes this gate before it
becomes a row: :func:`gate_translations` names the first reason to drop it, in the order
of :data:`GATE_REASONS`, and :func:`score_and_gate` adds the cross-lingual similarity
the last check needs.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from relevance.augment.embedding import Embedder, pair_similarity
from relevance.augment.translators import TranslatorParams
from relevance.clean import clean_text
from relevance.languages import (
    has_letters_outside,
    has_script_letters,
    iso_language,
    language_script,
)

# The gate's reasons, in the order they are checked; a translation gets the first that
# applies.
GATE_REASONS = ("empty", "runaway", "copied", "wrong_script", "low_similarity")

# Below this many characters a source counts as this long for the length ratio: short
# queries legitimately grow ("tv" -> "fernseher").
MIN_RATIO_LENGTH = 8

# A unit of 2-30 characters repeated at least three times in a row ("schuhe schuhe
# schuhe", "ababab"): the loop a small LM falls into.
_LOOP = re.compile(r"(\S.{1,29}?)(?:\s*\1){2,}")


def _loop_in(translation: str, source: str) -> bool:
    """A repetition loop in ``translation`` that the source does not have itself."""
    for match in _LOOP.finditer(translation):
        if any(ch.isalpha() for ch in match.group(1)) and match.group(0) not in source:
            return True
    return False


def unchanged(translation: str, source: str) -> bool:
    """Whether a translation is its source again, up to case and whitespace."""
    return _fold(translation) == _fold(source)


def _fold(text: str) -> str:
    return clean_text(text, lowercase=True).casefold()


def _broadcast(value: str | Sequence[str], n: int, name: str) -> list[str]:
    if isinstance(value, str):
        return [value] * n
    if len(value) != n:
        raise ValueError(f"{name}: expected {n} codes, got {len(value)}")
    return [str(v) for v in value]


def gate_translations(
    sources: Sequence[str],
    translations: Sequence[str],
    *,
    source: str | Sequence[str],
    target: str | Sequence[str],
    similarity: Sequence[float] | np.ndarray | None,
    config: TranslatorParams,
) -> list[str | None]:
    """Check each translation; None keeps it, else the reason to drop it.

    Checks, in this order (the first that applies is the reason):

    1. ``empty``: nothing left after whitespace normalisation.
    2. ``runaway``: longer than ``config.max_length_ratio`` times the source (counted as
       at least :data:`MIN_RATIO_LENGTH` characters), or a unit repeated three or more
       times in a row that the source does not repeat (a generation loop).
    3. ``copied``: equal to the source (case-folded) although the source text has
       letters outside the target language's script (``en -> ar`` unchanged, or a
       Japanese query "pivoted" to English unchanged). Copies already written in the
       target's script are kept: brand or model names (``birkenstock arizona`` into
       German, a Latin-letter ``switch pro controller`` in the Korean data into English),
       and so is every row whose source and target language are the same.
    4. ``wrong_script``: no letter of the target language's script (Arabic, Hangul,
       Thai, Cyrillic, kana/kanji, ... and Latin for Latin-script targets). Skipped for
       languages whose script is unknown.
    5. ``low_similarity``: the cross-lingual cosine similarity of source and translation
       is below ``config.min_similarity``. Skipped where ``similarity`` is None or NaN.

    Args:
        sources, translations: aligned texts.
        source, target: one language code each, or one per row.
        similarity: one cosine per row (e.g. :func:`relevance.augment.embedding.pair_similarity`).
    """
    n = len(sources)
    if len(translations) != n:
        raise ValueError(f"{n} sources but {len(translations)} translations")
    if similarity is not None and len(similarity) != n:
        raise ValueError(f"{n} sources but {len(similarity)} similarities")
    source_langs = _broadcast(source, n, "source")
    target_langs = _broadcast(target, n, "target")
    reasons: list[str | None] = []
    for i in range(n):
        src_text, text = clean_text(str(sources[i])), clean_text(str(translations[i]))
        tgt_script = language_script(target_langs[i])
        sim = None if similarity is None else float(similarity[i])
        too_long = len(text) > config.max_length_ratio * max(len(src_text), MIN_RATIO_LENGTH)
        if not text:
            reason = "empty"
        elif too_long or _loop_in(text, src_text):
            reason = "runaway"
        elif (
            tgt_script is not None
            and iso_language(source_langs[i]) != iso_language(target_langs[i])
            and unchanged(text, src_text)
            and has_letters_outside(src_text, tgt_script)
        ):
            reason = "copied"
        elif tgt_script is not None and not has_script_letters(text, tgt_script):
            reason = "wrong_script"
        elif sim is not None and not np.isnan(sim) and sim < config.min_similarity:
            reason = "low_similarity"
        else:
            reason = None
        reasons.append(reason)
    return reasons


def similarities(
    embedder: Embedder | None, sources: Sequence[str], translations: Sequence[str]
) -> np.ndarray:
    """Cosine per pair (NaN where the translation is empty or there is no embedder),
    rounded to 4 decimals so batch-order float noise never changes the output bytes."""
    sims = np.full(len(sources), np.nan)
    if embedder is None:
        return sims
    rows = [i for i, t in enumerate(translations) if t]
    if rows:
        values = pair_similarity(
            embedder, [sources[i] for i in rows], [translations[i] for i in rows]
        )
        sims[rows] = np.round(values.astype(np.float64), 4)
    return sims


def score_and_gate(
    sources: Sequence[str],
    translations: Sequence[str],
    *,
    source: str | Sequence[str],
    target: str | Sequence[str],
    embedder: Embedder | None,
    config: TranslatorParams,
) -> tuple[np.ndarray, list[str | None]]:
    """:func:`similarities` and then :func:`gate_translations` on them: the similarity
    of each pair (NaN where unscored) and its reason to be dropped (None keeps it).
    Without an embedder the similarity check is skipped."""
    sims = similarities(embedder, sources, translations)
    reasons = gate_translations(
        sources,
        translations,
        source=source,
        target=target,
        similarity=None if embedder is None else sims,
        config=config,
    )
    return sims, reasons


def reason_counts(reasons: Sequence[str | None]) -> dict[str, int]:
    """How many rows each reason dropped, every reason of :data:`GATE_REASONS` listed
    (zeros included, so a metrics diff shows a count change rather than a key appear)."""
    counts = Counter(r for r in reasons if r is not None)
    return {reason: int(counts.get(reason, 0)) for reason in GATE_REASONS}
