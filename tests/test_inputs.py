"""Input options: the English pivot and lower-casing, the same for train and predict."""

from __future__ import annotations

import pandas as pd
import pytest

from relevance.errors import DataError
from relevance.model.inputs import InputParams, prepare_rows

PIVOT = pd.DataFrame(
    {
        "split": ["train", "train", "train", "dev"],
        "id": [1, 2, 3, 1],
        "query_en": ["red shoes", "lamp", None, "desk lamp"],
    }
)


# A French row, an English one, a German row translated from the French one (its
# source_id) and a Korean row whose English failed the gate.
TRAIN_ROWS = pd.DataFrame(
    {
        "id": ["1", "2", "tr:de:1", "3"],
        "source_id": [1, 2, 1, 3],
        "lang": ["fr", "en", "de", "ko"],
        "query": ["chaussures rouges", "lamp", "rote Schuhe", "램프"],
        "candidate": ["x", "y", "x", "z"],
    }
)


def test_pivot_appends_the_english_of_the_source_row() -> None:
    rows = TRAIN_ROWS.copy()
    out, counts = prepare_rows(rows, params=InputParams(pivot_en=True), pivot=PIVOT, split="train")
    assert list(out["query"]) == [
        "chaussures rouges - red shoes",
        "lamp",  # English keeps its own text
        "rote Schuhe - red shoes",  # a translated row takes its source row's English
        "램프",  # the English failed the gate: the query stays as it is
    ]
    assert counts == {"rows": 4, "pivoted": 2, "no_pivot": 1}
    assert rows["query"].iloc[0] == "chaussures rouges"  # input untouched


def test_pivot_replace_reads_the_english_alone_where_the_gate_passed() -> None:
    rows = TRAIN_ROWS.copy()
    params = InputParams(pivot_en=True, pivot_mode="replace")
    out, counts = prepare_rows(rows, params=params, pivot=PIVOT, split="train")
    assert list(out["query"]) == ["red shoes", "lamp", "red shoes", "램프"]
    assert counts == {"rows": 4, "pivoted": 2, "no_pivot": 1}
    # pivot_mode alone changes nothing: the pivot is off.
    off, _ = prepare_rows(rows, params=InputParams(pivot_mode="replace"), pivot=None, split="dev")
    pd.testing.assert_frame_equal(off, rows)


def test_pivot_mode_is_checked_where_params_are_read(tmp_path) -> None:
    from relevance.errors import ConfigError
    from relevance.params import load_section

    path = tmp_path / "params.yaml"
    path.write_text("input:\n  pivot_en: true\n  pivot_mode: prepend\n  lowercase: false\n")
    with pytest.raises(ConfigError, match="pivot_mode"):
        load_section(InputParams, "input", path)


def test_pivot_uses_the_split_of_the_rows() -> None:
    rows = pd.DataFrame({"id": [1], "lang": ["it"], "query": ["lampada"], "candidate": ["c"]})
    out, _ = prepare_rows(rows, params=InputParams(pivot_en=True), pivot=PIVOT, split="dev")
    assert out["query"].iloc[0] == "lampada - desk lamp"


def test_pivot_on_without_a_pivot_table_is_an_error() -> None:
    rows = pd.DataFrame({"id": [1], "lang": ["it"], "query": ["q"], "candidate": ["c"]})
    with pytest.raises(DataError, match="pivot table is empty"):
        prepare_rows(rows, params=InputParams(pivot_en=True), pivot=PIVOT.iloc[:0], split="dev")
    with pytest.raises(DataError, match="no test row for 1 rows"):
        prepare_rows(rows, params=InputParams(pivot_en=True), pivot=PIVOT, split="test")


def test_off_changes_nothing_and_lowercase_reuses_ingest_cleaning() -> None:
    rows = pd.DataFrame(
        {"id": [1], "lang": ["en"], "query": ["Red  SHOES"], "candidate": ["Shoes"]}
    )
    same, _ = prepare_rows(rows, params=InputParams(), pivot=None, split="dev")
    pd.testing.assert_frame_equal(same, rows)
    lower, _ = prepare_rows(rows, params=InputParams(lowercase=True), pivot=None, split="dev")
    assert (lower["query"].iloc[0], lower["candidate"].iloc[0]) == ("red shoes", "shoes")
