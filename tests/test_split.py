"""Grouped, stratified K-fold split (in-memory, no network, generated rows)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from relevance.data.split import SplitParams, assign_folds, fold_balance, split_groups
from relevance.errors import ConfigError, DataError
from relevance.params import load_section, parse_section

LANGS = ("en", "fr", "es", "ko", "pt", "ja")


def _rows(query: list[str], candidate: list[str], lang: list[str], label: list[int | None]):
    return pd.DataFrame(
        {
            "lang": lang,
            "query": query,
            "candidate": candidate,
            "label": pd.array(label, dtype="Int8"),
        }
    )


def generated(task: str, n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """``n`` rows: QI ~400 queries with 1-15 rows each; QC ~25 top x ~4 second levels,
    each with its own (lumpy) language mix and positive rate, as in the real data."""
    rng = np.random.default_rng(seed)
    if task == "qi":
        sizes = rng.integers(1, 16, size=n)
        keys = np.repeat(np.arange(len(sizes)), sizes)[:n]
        query = [f"query {k}" for k in keys]
        candidate = [f"item {i}" for i in range(n)]
    else:
        top = rng.integers(0, 25, size=n)
        second = rng.integers(0, 4, size=n)
        query = [f"q{i % 700}" for i in range(n)]
        candidate = [
            f"top {t},sub {t}-{s},leaf {rng.integers(0, 9)}"
            for t, s in zip(top, second, strict=True)
        ]
        keys = top * 4 + second
    # Each group leans to one language and its own positive rate.
    group_lang = rng.integers(0, len(LANGS), size=int(keys.max()) + 1)
    group_rate = rng.uniform(0.4, 0.9, size=int(keys.max()) + 1)
    lang = [
        LANGS[group_lang[k]] if rng.random() < 0.5 else LANGS[rng.integers(0, len(LANGS))]
        for k in keys
    ]
    label = (rng.random(n) < group_rate[keys]).astype(int).tolist()
    return _rows(query, candidate, lang, label)


def test_config_defaults_and_validation() -> None:
    assert SplitParams() == SplitParams(folds=5, qc_prefix_levels=2, seed=13)
    assert parse_section(SplitParams, {"folds": 3}, name="split").folds == 3
    with pytest.raises(ConfigError, match=r"params.yaml:split: folds must be >= 2, got 1"):
        parse_section(SplitParams, {"folds": 1}, name="split")
    with pytest.raises(ConfigError, match=r"^qc_prefix_levels must be >= 1"):
        SplitParams(qc_prefix_levels=0)
    with pytest.raises(ConfigError, match=r"^other.yaml:split: qc_prefix_levels must be >= 1"):
        parse_section(SplitParams, {"qc_prefix_levels": 0}, name="split", source="other.yaml")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) fold"):
        parse_section(SplitParams, {"fold": 3}, name="split")


def test_load_from_params_file(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("split:\n  folds: 4\n  qc_prefix_levels: 1\n  seed: 7\n")
    assert load_section(SplitParams, "split", path) == SplitParams(4, 1, 7)


def test_groups_per_task() -> None:
    rows = _rows(
        ["usb c cable", "usb c cable", "USB C cable"],
        [
            "automobiles, parts & accessories,interior accessories,mats",
            "automobiles, parts & accessories,interior accessories,seat covers",
            "home & garden,kitchen,cups",
        ],
        ["en", "en", "fr"],
        [1, 0, 1],
    )
    # QI: the exact (already cleaned) query; case differs -> another group.
    assert split_groups(rows, task="qi", config=SplitParams()).tolist() == [
        "usb c cable",
        "usb c cable",
        "USB C cable",
    ]
    # QC: the first N levels, and a level name with ", " inside stays whole.
    assert split_groups(rows, task="qc", config=SplitParams()).tolist() == [
        "automobiles, parts & accessories,interior accessories",
        "automobiles, parts & accessories,interior accessories",
        "home & garden,kitchen",
    ]
    one = split_groups(rows, task="QC", config=SplitParams(qc_prefix_levels=1))
    assert one.nunique() == 2
    # The category_levels list column, when present, gives the same keys.
    with_levels = rows.assign(
        category_levels=[["a, b", "c", "d"], ["a, b", "c", "e"], None]  # None: use candidate
    )
    assert split_groups(with_levels, task="qc", config=SplitParams()).tolist() == [
        "a, b,c",
        "a, b,c",
        "home & garden,kitchen",
    ]


def test_hand_written_ten_rows() -> None:
    # 5 queries x 2 rows; QI groups by query, so each fold holds exactly one query.
    queries = ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e"]
    rows = _rows(
        queries,
        [f"item {i}" for i in range(10)],
        ["en", "fr"] * 5,
        [1, 0] * 5,
    )
    folds = assign_folds(rows, task="qi", config=SplitParams(folds=5))
    assert folds.dtype == np.int8
    assert sorted(folds.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert all(folds[i] == folds[i + 1] for i in range(0, 10, 2))
    balance = fold_balance(rows, folds)
    assert balance["per_fold"]["0"] == {
        "rows": 2,
        "row_share": 0.2,
        "positive_rate": 0.5,
        "language_share": {"en": 0.5, "fr": 0.5},
    }
    assert balance["max_abs_deviation"] == {
        "row_share": pytest.approx(0.0),
        "positive_rate": 0.0,
        "language_share": 0.0,
    }


@pytest.mark.parametrize("task", ["qi", "qc"])
def test_no_group_in_two_folds_and_balanced(task: str) -> None:
    rows = generated(task)
    config = SplitParams()
    folds = assign_folds(rows, task=task, config=config)
    groups = split_groups(rows, task=task, config=config)
    assert set(folds.tolist()) == set(range(5))
    folds_per_group = pd.Series(folds).groupby(groups.to_numpy()).nunique()
    assert (folds_per_group == 1).all()

    balance = fold_balance(rows, folds)
    json.dumps(balance)  # JSON-ready: plain ints and floats
    dev = balance["max_abs_deviation"]
    # QC has only ~100 lumpy groups for 5 folds: looser bounds than QI's ~400.
    bound = 0.03 if task == "qi" else 0.05
    assert dev["positive_rate"] < bound, dev
    assert dev["language_share"] < bound, dev
    assert dev["row_share"] < 0.05, dev


def test_stratification_beats_plain_group_kfold() -> None:
    """The point of stratifying: label/language shares closer to the whole than
    grouping alone gives (GroupKFold ignores labels)."""
    from sklearn.model_selection import GroupKFold

    rows = generated("qc", n=4000, seed=3)
    config = SplitParams()
    groups = split_groups(rows, task="qc", config=config)
    plain = np.zeros(len(rows), dtype=np.int8)
    for f, (_, held) in enumerate(GroupKFold(n_splits=5).split(rows, groups=groups)):
        plain[held] = f
    ours = assign_folds(rows, task="qc", config=config)
    dev_plain = fold_balance(rows, plain)["max_abs_deviation"]
    dev_ours = fold_balance(rows, ours)["max_abs_deviation"]
    assert dev_ours["positive_rate"] < dev_plain["positive_rate"]


def test_seeded_determinism() -> None:
    rows = generated("qi", n=2000)
    a = assign_folds(rows, task="qi", config=SplitParams(seed=13))
    b = assign_folds(rows, task="qi", config=SplitParams(seed=13))
    c = assign_folds(rows, task="qi", config=SplitParams(seed=14))
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    # The folds follow the rows, not the DataFrame index.
    shifted = rows.set_axis(rows.index + 1000)
    np.testing.assert_array_equal(assign_folds(shifted, task="qi", config=SplitParams()), a)


def test_too_few_groups() -> None:
    rows = _rows(
        ["a", "a", "b", "b", "c", "c"],
        ["x,y,z", "x,y,w", "x,v", "x,v,u", "p,q", "p,q,r"],
        ["en"] * 6,
        [1, 0, 1, 0, 1, 0],
    )
    with pytest.raises(DataError) as err:
        assign_folds(rows, task="qi", config=SplitParams(folds=5))
    assert "split.folds=5 needs at least 5 groups" in str(err.value)
    assert "only 3 group(s) by query text" in str(err.value)
    with pytest.raises(DataError, match=r"only 3 group\(s\) by category prefix \(2 levels\)"):
        assign_folds(rows, task="qc", config=SplitParams(folds=4))
    with pytest.raises(DataError, match=r"only 2 group\(s\) by category prefix \(1 levels\)"):
        assign_folds(rows, task="qc", config=SplitParams(folds=3, qc_prefix_levels=1))


def test_missing_or_bad_labels() -> None:
    rows = _rows(list("abcdef"), ["x"] * 6, ["en"] * 6, [1, 0, None, 1, 0, 1])
    with pytest.raises(
        DataError, match=r"1 of 6 row\(s\) are unlabelled \(first row positions \[2\]"
    ):
        assign_folds(rows, task="qi", config=SplitParams(folds=2))
    with pytest.raises(DataError, match=r"needs column\(s\) label"):
        assign_folds(rows.drop(columns="label"), task="qi", config=SplitParams(folds=2))
    bad = rows.assign(label=[1, 0, 2, 1, 0, 1])
    with pytest.raises(DataError, match=r"labels must be 0 or 1; got \[2\]"):
        assign_folds(bad, task="qi", config=SplitParams(folds=2))


def test_real_ingested_shape() -> None:
    """Rows as ingestion writes them (int8 labels, list column, extra columns)."""
    rows = generated("qc", n=500).assign(
        label=lambda d: d["label"].astype("int8"),
        category_levels=lambda d: [c.split(",") for c in d["candidate"]],
        id=lambda d: range(len(d)),
    )
    folds = assign_folds(rows, task="qc", config=SplitParams(folds=3))
    assert set(folds.tolist()) == {0, 1, 2}
