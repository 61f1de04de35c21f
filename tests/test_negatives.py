"""Semantic hard-negative mining: in-memory, no network.

Candidates sit on a quarter circle (hand-made 2-d vectors), so the similarity order is
exact: seen from the candidate at position 0, the one at position k has similarity
cos(k * step) and rank k - 1 (rank 0 = the most similar *other* candidate).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from relevance.augment import translators
from relevance.augment.negatives import NegativesParams, mine_hard_negatives, negatives_task
from relevance.augment.translators import TranslationSetup, TranslatorParams
from relevance.errors import ConfigError, DataError
from relevance.languages import iso_language, target_languages
from relevance.params import load_section
from relevance.schema import TASKS, category_levels
from relevance.tables import NEGATIVES_SCHEMA, TRANSLATED_NEGATIVES_SCHEMA

N = 70  # candidates on the arc
STEP = (math.pi / 2) / N
TARGETS = [("de", "de"), ("vn", "vi")]


def item(k: int) -> str:
    return f"item {k:02d}"


def arc_embed(positions: dict[str, float]):
    """``embed`` for texts placed at ``positions`` (in steps along the arc)."""

    def embed(texts: list[str]) -> np.ndarray:
        angles = np.array([positions[t] * STEP for t in texts])
        return np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)

    return embed


def make_rows(records: list[tuple[str, str, str, int]], *, task: str = "qi") -> pd.DataFrame:
    """Ingested-like training rows from (language, query, candidate, label)."""
    return pd.DataFrame(
        {
            "id": range(1, len(records) + 1),
            "task": task.upper(),
            "language": [r[0] for r in records],
            "lang": [iso_language(r[0]) for r in records],
            "query": [r[1] for r in records],
            "candidate": [r[2] for r in records],
            "label": pd.array([r[3] for r in records], dtype="int8"),
            "category_levels": [category_levels(r[2]) if task == "qc" else None for r in records],
        }
    )


def arc_rows(extra: list[tuple[str, str, str, int]] = ()) -> pd.DataFrame:
    """40 en positives (queries q00..q39), all on item 00; fr fillers for items 1..69."""
    records = [("en", f"q{i:02d}", item(0), 1) for i in range(40)]
    records += [("fr", "filler", item(k), 0) for k in range(1, N)]
    return make_rows(records + list(extra))


ARC = arc_embed({item(k): k for k in range(N)})


def mine(rows: pd.DataFrame, embed=ARC, *, task: str = "qi", targets=TARGETS, **config):
    config = {"rows_per_language": 40, "source_languages": ("en",), **config}
    return mine_hard_negatives(
        rows, task=task, targets=targets, config=NegativesParams(**config), embed=embed
    )


def test_every_negative_comes_from_the_rank_window():
    result = mine(arc_rows())
    rows = result.rows
    assert len(rows) == 80  # 40 per target, nothing guarded
    assert rows["rank"].between(20, 49).all()
    # rank r is the candidate at arc position r + 1: the positive itself is not ranked
    assert (rows["candidate"] == rows["rank"].map(lambda r: item(r + 1))).all()
    expected = np.cos((rows["rank"].to_numpy() + 1) * STEP)
    np.testing.assert_allclose(rows["similarity"], expected, atol=1e-6)
    assert rows["rank"].nunique() > 10  # a uniform pick, not always the same rank
    assert not (rows["candidate"] == item(0)).any()
    assert (rows["label"] == 0).all() and rows["label"].dtype == np.int8
    assert (rows["positive_candidate"] == item(0)).all()
    assert rows["category_levels"].isna().all()  # QI
    first = rows.iloc[0]
    assert first["id"] == f"neg:de:{first['source_id']}"
    assert (first["language"], first["lang"], first["source_language"]) == ("de", "de", "en")
    assert set(rows.loc[rows["language"] == "vn", "lang"]) == {"vi"}
    # the query stays the source query (translation comes later)
    source_query = arc_rows().set_index("id")["query"]
    assert (rows["query"] == rows["source_id"].map(source_query)).all()


def test_rank_zero_is_the_most_similar_other_candidate():
    rows = mine(arc_rows(), rank_min=0, rank_max=1).rows
    assert set(rows["candidate"]) == {item(1)}
    assert set(rows["rank"]) == {0}


def test_ties_in_similarity_are_broken_by_candidate_text():
    positions = {item(k): k for k in range(N)} | {"tie b": 5, "tie a": 5}
    rows = arc_rows([("fr", "filler", "tie b", 0), ("fr", "filler", "tie a", 0)])
    # item 05 (rank 4), tie a (rank 5), tie b (rank 6): same vector, ordered by text
    for rank, expected in ((4, item(5)), (5, "tie a"), (6, "tie b")):
        picked = mine(rows, arc_embed(positions), rank_min=rank, rank_max=rank + 1).rows
        assert set(picked["candidate"]) == {expected}


def test_ties_across_the_search_cut_off_keep_the_text_order():
    # 60 candidates share one vector at position 11: ranks 10..69 are one tie, cut
    # through by the nearest-neighbour search's top-k; ranks must still follow the text.
    tied = [f"tie {k:02d}" for k in range(60)]
    positions = {item(k): k for k in range(11)} | dict.fromkeys(tied, 11)
    records = [("en", f"q{i:02d}", item(0), 1) for i in range(40)]
    records += [("fr", "filler", t, 0) for t in [*tied, *map(item, range(1, 11))]]
    picked = mine(make_rows(records), arc_embed(positions), rank_min=45, rank_max=50).rows
    assert (picked["candidate"] == picked["rank"].map(lambda r: f"tie {r - 10:02d}")).all()


def test_other_positives_of_the_query_are_dropped_without_shifting_the_window():
    # Window [20, 23) = items 21, 22, 23. q00 is positive for items 21 and 22 (in fr, not
    # a source language, and spelled differently); q01 for all three.
    extra = [
        ("fr", "Q00", item(21), 1),
        ("fr", "q00", item(22), 1),
        *[("fr", "q01", item(k), 1) for k in (21, 22, 23)],
    ]
    rows = arc_rows(extra)
    result = mine(rows, rank_min=20, rank_max=23)
    query_of = rows.set_index("id")["query"]
    mined = result.rows.assign(source_query=result.rows["source_id"].map(query_of))
    assert set(mined.loc[mined["source_query"] == "q00", "candidate"]) == {item(23)}
    # q01's window is all guarded: skipped, not replaced by item 20 or item 24
    assert "q01" not in set(mined["source_query"])
    assert set(mined["candidate"]) <= {item(21), item(22), item(23)}
    for language, _ in TARGETS:
        count = result.counts[language]
        assert count["skipped_all_guarded"] == 1
        assert count["guarded_query_positive"] == 2 + 3
        assert count["mined"] == 39


def qc_case():
    """QC arc: the positive path at 0; window [20, 24) holds an ancestor, a descendant, a
    path that only shares a string prefix, and a sibling; a second positive path of q00
    has a descendant at 25."""
    anchor = "home,kitchen,cups"
    placed = {
        anchor: 0,
        "home": 21,  # ancestor
        "home,kitchen,cups,espresso": 22,  # descendant
        "home,kitchen,cupsets": 23,  # string prefix only: not related
        "home,kitchen,plates": 24,  # sibling
        "garden,tools,rakes": 25,  # descendant of another positive path of q00
        "home,kitchen": 26,  # ancestor, outside the window [20, 25)
        "garden,tools": 60,
    }
    free = (k for k in range(1, N) if k not in placed.values())
    positions = dict(placed)
    positions.update({f"cat{k:02d},leaf": k for k in free})
    records = [("en", f"q{i:02d}", anchor, 1) for i in range(40)]
    records += [("fr", "filler", path, 0) for path in positions if path != anchor]
    records.append(("fr", "q00", "garden,tools", 1))
    return make_rows(records, task="qc"), arc_embed(positions)


def test_qc_ancestors_and_descendants_are_never_negatives():
    rows, embed = qc_case()
    result = mine(rows, embed, task="qc", rank_min=20, rank_max=25)
    mined = result.rows
    allowed = {"home,kitchen,cupsets", "home,kitchen,plates", "garden,tools,rakes"}
    assert set(mined["candidate"]) == allowed
    query_of = rows.set_index("id")["query"]
    q00 = mined[mined["source_id"].map(query_of) == "q00"]
    assert len(q00) == 2 and "garden,tools,rakes" not in set(q00["candidate"])
    for candidate, levels in zip(mined["candidate"], mined["category_levels"], strict=True):
        assert list(levels) == category_levels(candidate)
    # ancestor + descendant per row, plus rakes for q00 (a positive of q00 is its parent)
    assert result.counts["de"]["guarded_category_lineage"] == 40 * 2 + 1
    # a fully guarded window is skipped: home,kitchen (rank 25) does not step in
    skipped = mine(rows, embed, task="qc", rank_min=20, rank_max=22)
    assert skipped.rows.empty
    assert skipped.counts["de"]["skipped_all_guarded"] == 40


def test_counts_reconcile():
    extra = [("fr", "q01", item(k), 1) for k in range(21, 51)]  # q01: window all guarded
    result = mine(arc_rows(extra), targets=[*TARGETS, ("ar", "ar")])
    assert set(result.counts) == {"de", "vn", "ar"}
    for language, count in result.counts.items():
        assert count["sampled"] == 40
        assert count["sampled"] == count["mined"] + count["skipped_all_guarded"]
        assert count["skipped_all_guarded"] == 1
        assert (result.rows["language"] == language).sum() == count["mined"]
    totals = result.totals()
    assert totals["sampled"] == 120 and totals["mined"] == len(result.rows) == 117


def test_same_seed_same_rows_other_seed_other_picks():
    rows = arc_rows()
    first = mine(rows, rows_per_language=20)
    again = mine(rows.sample(frac=1.0, random_state=1), rows_per_language=20)  # input order
    pd.testing.assert_frame_equal(first.rows, again.rows)
    assert first.counts == again.counts
    other = mine(rows, rows_per_language=20, seed=14)
    assert list(other.rows["candidate"]) != list(first.rows["candidate"])
    assert list(other.rows["source_id"]) != list(first.rows["source_id"])
    # each target draws from its own stream: other rows per target, and adding a target
    # changes no other target
    by_target = first.rows.groupby("language")["source_id"].apply(list)
    assert by_target["de"] != by_target["vn"]
    alone = mine(rows, rows_per_language=20, targets=[("vn", "vi")]).rows
    both = first.rows[first.rows["language"] == "vn"].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, both)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rank_min": 50, "rank_max": 50}, "^rank_max must be greater than rank_min"),
        ({"rank_min": -1}, "^rank_min must be >= 0, got -1"),
        ({"rows_per_language": 0}, "^rows_per_language must be >= 1, got 0"),
        ({"batch_size": 0}, "^batch_size must be >= 1"),
        ({"seed": -3}, "^seed must be >= 0"),
        ({"languages": "de"}, "^languages must be auto or a list"),
        ({"languages": ()}, "^languages must be auto or a non-empty list"),
        ({"source_languages": ("en", "")}, r"^source_languages\[1\]"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        NegativesParams(**kwargs)


def test_config_loads_from_params_yaml(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("negatives:\n  languages: [de, vn]\n  rank_min: 5\n  rank_max: 10\n")
    config = load_section(NegativesParams, "negatives", params)
    assert config.languages == ("de", "vn") and (config.rank_min, config.rank_max) == (5, 10)
    assert NegativesParams().languages == "auto"
    params.write_text("negatives:\n  rank_mx: 10\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_section(NegativesParams, "negatives", params)
    # The class names the key; the loader puts the params file actually used in front.
    params.write_text("negatives:\n  rank_min: 5\n  rank_max: 5\n")
    with pytest.raises(ConfigError, match=rf"^{params}:negatives: rank_max must be greater"):
        load_section(NegativesParams, "negatives", params)


def test_too_few_candidates_is_a_config_error():
    records = [("en", f"q{i}", item(i), 1) for i in range(37)]
    with pytest.raises(ConfigError) as error:
        mine(make_rows(records), rows_per_language=1)
    assert "negatives.rank_max=50 needs at least 51 distinct candidates in train, found 37" in (
        str(error.value)
    )


def test_too_few_positives_and_unknown_sources_are_config_errors():
    with pytest.raises(ConfigError, match=r"rows_per_language=41 .* found 40 \(en 40\)"):
        mine(arc_rows(), rows_per_language=41)
    with pytest.raises(ConfigError, match="source_languages: xx not in train"):
        mine(arc_rows(), source_languages=("xx",))
    with pytest.raises(DataError, match="missing column"):
        mine(arc_rows().drop(columns=["label"]))


def test_no_target_mines_nothing():
    result = mine(arc_rows(), targets=[])
    assert result.rows.empty and result.counts == {}
    assert pa.Table.from_pandas(result.rows, schema=NEGATIVES_SCHEMA).num_rows == 0


def test_target_languages():
    stats = {
        "by_split": {"train": ["en", "fr"], "dev": ["de", "en", "vn"]},
        "missing_from_train": [
            {"language": "de", "lang": "de"},
            {"language": "vn", "lang": "vi"},
        ],
    }
    assert target_languages("auto", stats) == [("de", "de"), ("vn", "vi")]
    # explicit codes: ISO-normalised, spelled as the data spells them
    assert target_languages(["vi", "de"], stats) == [("vn", "vi"), ("de", "de")]
    assert target_languages(("vn", "pl"), stats) == [("vn", "vi"), ("pl", "pl")]
    assert target_languages("auto", {**stats, "missing_from_train": []}) == []
    with pytest.raises(DataError, match="missing_from_train"):
        target_languages("auto", {"by_split": {}})


@pytest.fixture(scope="module")
def tiny_embedder(tmp_path_factory):
    from tiny_lm import build_tiny_embedder

    return build_tiny_embedder(tmp_path_factory.mktemp("tiny_embedder") / "embedder")


def catalogue_rows() -> pd.DataFrame:
    """16 distinct candidates, each the one positive of its own English query."""
    texts = ["shoes", "phone", "coffee", "garden", "guitar", "laptop", "socks", "lamp"]
    candidates = [f"{a} {b}" for a in texts for b in texts[:2]]
    return make_rows([("en", f"q{i}", c, 1) for i, c in enumerate(candidates)])


def test_real_embedder_second_encode_is_all_cache_hits(tmp_path, tiny_embedder, one_torch_thread):
    from relevance.augment.embedding import Embedder
    from relevance.kvstore import KeyValueStore

    folder = tiny_embedder
    rows = catalogue_rows()
    candidates = sorted(set(rows["candidate"]))
    config = {"rows_per_language": 4, "rank_min": 2, "rank_max": 6, "source_languages": ()}

    runs = []
    for _ in range(2):  # a fresh Embedder each time: only the SQLite file is shared
        with KeyValueStore(tmp_path / "cache" / "embeddings.sqlite", table="embeddings") as store:
            embedder = Embedder(folder, cache=store, batch_size=8, device="cpu")
            result = mine(rows, embedder.encode, targets=[("vn", "vi")], **config)
            runs.append((result, embedder.hits, embedder.misses))
    (first, hits1, misses1), (second, hits2, misses2) = runs
    assert (hits1, misses1) == (0, len(candidates))
    assert (hits2, misses2) == (len(candidates), 0)
    pd.testing.assert_frame_equal(first.rows, second.rows)
    assert len(first.rows) == 4 and first.rows["rank"].between(2, 5).all()


class FakeTranslator:
    """Instant and deterministic: ``<ISO target> text``."""

    id, prompt_version = "fake:model@rev1", "fake-v1"

    def translate(self, texts, *, source, target):
        return [f"{target} {t}" for t in texts]


def test_negatives_task_mines_translates_and_writes(
    tmp_path, tiny_embedder, monkeypatch, one_torch_thread
):
    ingested = tmp_path / "ingested"
    ingested.mkdir()
    catalogue_rows().to_parquet(ingested / "train.parquet")
    languages = tmp_path / "languages.json"
    missing = [{"language": "vn", "lang": "vi"}]
    languages.write_text(json.dumps({"by_split": {}, "missing_from_train": missing}))
    built = []
    monkeypatch.setattr(
        translators, "make_translator", lambda *a, **k: built.append(1) or FakeTranslator()
    )
    setup = TranslationSetup(
        TranslatorParams(min_similarity=-1.0), llm_dir=tmp_path / "unused",
        embedder_dir=tiny_embedder, cache_dir=tmp_path / "cache",
    )  # fmt: skip
    kwargs = {
        "ingested": ingested, "languages": languages, "out": tmp_path / "negatives.parquet",
        "params": NegativesParams(rows_per_language=4, rank_min=2, rank_max=6), "setup": setup,
    }  # fmt: skip
    report = negatives_task(TASKS["qi"], **kwargs)
    table = pq.read_table(kwargs["out"])
    assert table.schema.names == TRANSLATED_NEGATIVES_SCHEMA.names
    rows = table.to_pandas()
    assert report["targets"] == ["vn"] and built == [1]
    assert report["mining"]["total"]["mined"] == report["rows_out"] == len(rows) == 4
    assert rows["id"].str.startswith("neg:vn:").all() and (rows["label"] == 0).all()
    assert (rows["query"] == "vi " + rows["source_query"]).all()  # translated into vi
    # One embedder for both jobs: the 16 candidates, then 4 queries + 4 translations (gate).
    assert report["embedding_cache"]["misses"] == 16 + 4 + 4

    # Nothing missing from train: an empty table with the same columns, no translator.
    languages.write_text(json.dumps({"by_split": {}, "missing_from_train": []}))
    report = negatives_task(TASKS["qi"], **kwargs)
    table = pq.read_table(kwargs["out"])
    assert table.num_rows == 0 and table.schema.names == TRANSLATED_NEGATIVES_SCHEMA.names
    assert built == [1] and report["translation"] == {} and report["targets"] == []
