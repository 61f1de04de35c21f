"""Category path parsing, language codes, text cleaning (in-memory)."""

from __future__ import annotations

import pytest

from relevance.clean import clean_text
from relevance.errors import ConfigError
from relevance.languages import iso_language
from relevance.schema import category_levels, category_prefix, get_task


@pytest.mark.parametrize(
    ("path", "levels"),
    [
        (
            "home & garden,kitchen,dining & bar,coffee cups",
            ["home & garden", "kitchen", "dining & bar", "coffee cups"],
        ),
        # A level name may itself contain ", ": only a comma without a space separates.
        (
            "automobiles, parts & accessories,interior accessories,seat covers",
            ["automobiles, parts & accessories", "interior accessories", "seat covers"],
        ),
        (
            "novelty & special use,costumes & accessories,cosplay costumes（deactivate）",  # noqa: RUF001
            ["novelty & special use", "costumes & accessories", "cosplay costumes（deactivate）"],  # noqa: RUF001
        ),
        ("a, b, c,d", ["a, b, c", "d"]),
        (
            "sports shoes,clothing&accessories,running shoes,men's shoes",
            ["sports shoes,clothing&accessories", "running shoes", "men's shoes"],
        ),
        ("single", ["single"]),
        ("x,,y", ["x", "y"]),
    ],
)
def test_category_levels(path: str, levels: list[str]) -> None:
    assert category_levels(path) == levels


def test_category_prefix_keeps_comma_space_names() -> None:
    path = "automobiles, parts & accessories,interior accessories,seat covers"
    assert category_prefix(path, 2) == "automobiles, parts & accessories,interior accessories"
    assert category_prefix(path, 1) == "automobiles, parts & accessories"


@pytest.mark.parametrize(
    ("given", "iso"), [("vn", "vi"), ("en", "en"), ("PT", "pt"), ("pt_BR", "pt")]
)
def test_iso_language(given: str, iso: str) -> None:
    assert iso_language(given) == iso


def test_clean_text_nfc_and_whitespace() -> None:
    decomposed = "cafe\u0301  \t noir\n"
    assert clean_text(decomposed) == "café noir"
    assert clean_text(" Café ", lowercase=True) == "café"


def test_unknown_task_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown task 'qx'"):
        get_task("qx")
