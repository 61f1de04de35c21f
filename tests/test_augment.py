"""assemble(): original + translated + negatives, with folds inherited from source rows;
assemble_task(): the stage around it, from and to Parquet."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow.parquet as pq
import pytest

from relevance.augment.assemble import AugmentParams, assemble, assemble_task
from relevance.errors import DataError
from relevance.schema import TASKS
from relevance.tables import AUGMENTED_SCHEMA, to_arrow


def _original() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "language": ["en", "en", "fr", "fr"],
            "lang": ["en", "en", "fr", "fr"],
            "query": ["shoes", "lamp", "chaussures", "lampe"],
            "candidate": ["a,b", "c,d", "a,b", "c,e"],
            "label": pd.array([1, 0, 1, 1], dtype="Int8"),
            "category_levels": [["a", "b"], ["c", "d"], ["a", "b"], ["c", "e"]],
        }
    )


FOLDS = pd.DataFrame({"id": [1, 2, 3, 4], "fold": [0, 1, 2, 0]})
TRANSLATED = pd.DataFrame(
    {
        "id": ["tr:de:1", "tr:de:2"],
        "source_id": [1, 2],
        "language": ["de", "de"],
        "lang": ["de", "de"],
        "query": ["Schuhe", "Lampe"],
        "candidate": ["a,b", "c,d"],
        "label": [1, 0],
        "category_levels": [["a", "b"], ["c", "d"]],
    }
)
NEGATIVES = pd.DataFrame(
    {
        "id": ["neg:de:3"],
        "source_id": [3],
        "language": ["de"],
        "lang": ["de"],
        "query": ["Schuhe"],
        "candidate": ["c,e"],
        "label": [0],
        "category_levels": [["c", "e"]],
    }
)


def test_all_sources_with_folds_of_their_source_rows() -> None:
    table, counts = assemble(
        original=_original(), folds=FOLDS, translated=TRANSLATED, negatives=NEGATIVES,
        params=AugmentParams(),
    )  # fmt: skip
    assert list(table["source"]) == ["original"] * 4 + ["translated"] * 2 + ["negative"]
    assert dict(zip(table["id"], table["fold"], strict=True)) == {
        "1": 0, "2": 1, "3": 2, "4": 0, "tr:de:1": 0, "tr:de:2": 1, "neg:de:3": 2,
    }  # fmt: skip
    assert counts["rows_by_source"] == {"original": 4, "translated": 2, "negative": 1}
    assert counts["rows_out"] == sum(counts["rows_by_source"].values()) == len(table)
    assert counts["per_language"]["de"] == {"translated": 2, "negative": 1}


@pytest.mark.parametrize(
    ("params", "sources"),
    [
        (AugmentParams(translate=False, negatives=False), {"original": 4}),
        (AugmentParams(translate=True, negatives=False), {"original": 4, "translated": 2}),
        (AugmentParams(translate=False, negatives=True), {"original": 4, "negative": 1}),
    ],
)
def test_switches_choose_the_sources(params: AugmentParams, sources: dict[str, int]) -> None:
    table, counts = assemble(
        original=_original(), folds=FOLDS, translated=TRANSLATED, negatives=NEGATIVES,
        params=params,
    )  # fmt: skip
    assert table.groupby("source").size().to_dict() == sources
    # What was available is still reported, so the metrics show what a switch left out.
    assert counts["available"] == {"translated": 2, "negative": 1}


def test_augmented_row_from_unknown_source_is_an_error() -> None:
    stray = TRANSLATED.assign(source_id=[1, 99])
    with pytest.raises(DataError, match=r"source_id that is not a training row.*first 99"):
        assemble(
            original=_original(), folds=FOLDS, translated=stray, negatives=None,
            params=AugmentParams(),
        )  # fmt: skip


def test_row_without_fold_is_an_error() -> None:
    with pytest.raises(DataError, match=r"1 training rows have no fold.*first id 4"):
        assemble(
            original=_original(), folds=FOLDS.iloc[:3], translated=None, negatives=None,
            params=AugmentParams(),
        )  # fmt: skip


def test_parquet_bytes_are_reproducible() -> None:
    def write() -> bytes:
        table, _ = assemble(
            original=_original(), folds=FOLDS, translated=TRANSLATED, negatives=NEGATIVES,
            params=AugmentParams(),
        )  # fmt: skip
        buffer = io.BytesIO()
        pq.write_table(to_arrow(table, AUGMENTED_SCHEMA), buffer, compression="zstd")
        return buffer.getvalue()

    assert write() == write()


def test_assemble_task_reads_the_stage_outputs_and_writes_the_table(tmp_path) -> None:
    inputs = {
        "train": _original(), "folds": FOLDS, "translated": TRANSLATED, "negatives": NEGATIVES,
    }  # fmt: skip
    paths = {name: tmp_path / f"{name}.parquet" for name in inputs}
    for name, frame in inputs.items():
        frame.to_parquet(paths[name])
    out = tmp_path / "out" / "augmented.parquet"
    params = AugmentParams(negatives=False)
    counts = assemble_task(TASKS["qc"], **paths, out=out, params=params)
    expected, expected_counts = assemble(
        original=_original(), folds=FOLDS, translated=TRANSLATED, negatives=NEGATIVES,
        params=params,
    )  # fmt: skip
    assert counts == expected_counts and counts["available"]["negative"] == 1
    written = pq.read_table(out)
    assert written.schema.names == AUGMENTED_SCHEMA.names
    assert written.equals(to_arrow(expected, AUGMENTED_SCHEMA))

    paths["negatives"].unlink()  # read even when switched off: its rows are counted
    with pytest.raises(DataError, match=r"negatives.parquet not found: run negatives@qc first"):
        assemble_task(TASKS["qc"], **paths, out=out, params=params)
