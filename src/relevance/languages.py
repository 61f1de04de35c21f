"""Every language fact the pipeline uses, in one place.

Codes as the competition writes them (``vn``) normalise to ISO 639-1 (``vi``) with
:func:`iso_language`; every other table here is keyed by the ISO code. Which languages
are missing from training (and so get translated rows and hard negatives) comes from
the stats stage's ``languages.json``, read by :func:`target_languages`.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from relevance.errors import ConfigError, DataError

# Codes used by the competition that are not ISO 639-1. Everything else is already ISO
# (en fr es ko pt ja th de it pl ar id) and is kept, lower-cased.
_ISO_OVERRIDES = {
    "vn": "vi",
    "jp": "ja",
    "kr": "ko",
    "cn": "zh",
    "br": "pt",
    "gr": "el",
    "cz": "cs",
}


def iso_language(code: str) -> str:
    """Normalised ISO 639-1 code for a language code as given (``vn`` -> ``vi``)."""
    code = code.strip().lower().replace("_", "-")
    base = code.split("-", 1)[0]
    return _ISO_OVERRIDES.get(base, base)


# Readable names: a small LLM knows "Vietnamese" better than the code "vi". Codes not
# listed here are shown as given.
LANGUAGE_NAMES = {
    "ar": "Arabic",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "th": "Thai",
    "tr": "Turkish",
    "vi": "Vietnamese",
    "zh": "Chinese",
}


def language_name(code: str) -> str:
    """English name of a language code (``"vn"`` -> ``"Vietnamese"``), else the code."""
    return LANGUAGE_NAMES.get(iso_language(code), code)


# NLLB-200 codes (FLORES-200 language_Script) for every language of LANGUAGE_NAMES.
NLLB_CODES: dict[str, str] = {
    "ar": "arb_Arab",
    "de": "deu_Latn",
    "en": "eng_Latn",
    "es": "spa_Latn",
    "fr": "fra_Latn",
    "id": "ind_Latn",
    "it": "ita_Latn",
    "ja": "jpn_Jpan",
    "ko": "kor_Hang",
    "nl": "nld_Latn",
    "pl": "pol_Latn",
    "pt": "por_Latn",
    "ru": "rus_Cyrl",
    "th": "tha_Thai",
    "tr": "tur_Latn",
    "vi": "vie_Latn",
    "zh": "zho_Hans",
}


def nllb_code(code: str) -> str:
    """The NLLB-200 code of a language (``"vn"`` -> ``"vie_Latn"``)."""
    iso = iso_language(code)
    if iso not in NLLB_CODES:
        raise ConfigError(
            f"no NLLB code for language {code!r}: expected one of {', '.join(sorted(NLLB_CODES))}"
        )
    return NLLB_CODES[iso]


# The script a language is written in, as the prefix of Unicode character names
# (unicodedata.name(ch) = "ARABIC LETTER ALEF", "HIRAGANA LETTER A", ...). Languages not
# listed have an unknown script: the script checks of the translation gate skip them.
_LATIN = ("LATIN",)
_HAN = ("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH")
SCRIPTS: dict[str, tuple[str, ...]] = {
    "Latin": _LATIN,
    "Arabic": ("ARABIC",),
    "Cyrillic": ("CYRILLIC",),
    "Greek": ("GREEK",),
    "Hebrew": ("HEBREW",),
    "Devanagari": ("DEVANAGARI",),
    "Thai": ("THAI",),
    "Hangul": ("HANGUL",),
    "Han": _HAN,
    # Japanese mixes kana and kanji: any of them counts.
    "Japanese": ("HIRAGANA", "KATAKANA", "HALFWIDTH KATAKANA", *_HAN),
}
_SCRIPT_LANGUAGES: dict[str, tuple[str, ...]] = {
    "Latin": (
        "en", "fr", "es", "de", "it", "pl", "pt", "id", "vi", "nl", "tr", "cs", "sk", "ro",
        "sv", "da", "no", "nb", "fi", "hu", "ms", "tl", "hr", "sl", "et", "lv", "lt",
    ),
    "Arabic": ("ar", "fa", "ur"),
    "Cyrillic": ("ru", "uk", "bg", "be", "kk", "mk"),
    "Greek": ("el",),
    "Hebrew": ("he",),
    "Devanagari": ("hi", "mr", "ne"),
    "Thai": ("th",),
    "Hangul": ("ko",),
    "Han": ("zh",),
    "Japanese": ("ja",),
}  # fmt: skip
LANGUAGE_SCRIPTS: dict[str, str] = {
    lang: script for script, langs in _SCRIPT_LANGUAGES.items() for lang in langs
}


def language_script(code: str) -> str | None:
    """The script a language code is written in (``"vn"`` -> ``"Latin"``), or None."""
    return LANGUAGE_SCRIPTS.get(iso_language(code))


def has_script_letters(text: str, script: str) -> bool:
    """Whether ``text`` has at least one letter of ``script`` (a key of :data:`SCRIPTS`)."""
    prefixes = SCRIPTS[script]
    return any(ch.isalpha() and unicodedata.name(ch, "").startswith(prefixes) for ch in text)


def has_letters_outside(text: str, script: str) -> bool:
    """Whether ``text`` has a letter that is not of ``script``."""
    prefixes = SCRIPTS[script]
    return any(ch.isalpha() and not unicodedata.name(ch, "").startswith(prefixes) for ch in text)


# ------------------------------------------------------- languages missing from train


def read_languages_json(path: Path) -> dict[str, Any]:
    """The stats stage's ``languages.json`` (``by_split``, ``missing_from_train``)."""
    if not Path(path).is_file():
        raise DataError(f"{path} not found: run the stats stage first (it writes languages.json)")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(data, Mapping):
        raise DataError(f"{path}: expected a mapping, got {type(data).__name__}")
    return dict(data)


def language_codes(values: Any, where: str) -> tuple[str, ...]:
    """A list of language codes as a tuple of non-empty stripped strings."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ConfigError(f"{where}: expected a list of language codes, got {values!r}")
    codes = []
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}[{i}]: expected a language code such as de, got {value!r}")
        codes.append(value.strip())
    return tuple(dict.fromkeys(codes))


def target_languages(
    config_languages: str | Sequence[str],
    languages_json: Mapping[str, Any],
    *,
    where: str = "languages",
) -> list[tuple[str, str]]:
    """The languages to add rows for, as ``(code as the data spells it, ISO code)``.

    Args:
        config_languages: ``"auto"`` or a list of codes (``translate.languages``,
            ``negatives.languages``; ``where`` names the key in errors).
        languages_json: the stats stage's ``languages.json`` (:func:`read_languages_json`).

    ``auto`` returns ``missing_from_train`` in its order (possibly empty: nothing to
    add). An explicit code is normalised with :func:`iso_language` and spelled as the
    data spells that language (``vi`` becomes ``("vn", "vi")`` when dev/test say
    ``vn``); a language the data never mentions keeps the code as written.
    """
    if isinstance(config_languages, str):
        if config_languages != "auto":
            raise ConfigError(
                f"{where}: expected auto or a list of codes, got {config_languages!r}"
            )
        missing = languages_json.get("missing_from_train")
        if not isinstance(missing, list):
            raise DataError(
                "languages.json: expected a list under missing_from_train (the stats "
                f"stage's output), got {missing!r}"
            )
        targets = []
        for i, entry in enumerate(missing):
            if not isinstance(entry, Mapping) or not {"language", "lang"} <= set(entry):
                raise DataError(
                    f"languages.json:missing_from_train[{i}]: expected {{language, lang}}, "
                    f"got {entry!r}"
                )
            targets.append((str(entry["language"]), str(entry["lang"])))
        return list(dict.fromkeys(targets))
    codes = language_codes(config_languages, where)
    spelled: dict[str, str] = {}  # ISO -> the first spelling found in the data
    by_split = languages_json.get("by_split") or {}
    for split in sorted(by_split):
        for given in by_split[split] or []:
            spelled.setdefault(iso_language(str(given)), str(given))
    targets = [(spelled.get(iso_language(c), c), iso_language(c)) for c in codes]
    return list(dict.fromkeys(targets))
