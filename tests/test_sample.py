"""The synthetic sample generator (relevance.tools.synthetic, scripts/make_sample.py).

Fast, in tmp_path, no network. Expected language sets and file layout are written out
here from the issue, not read from the module, so the tests check the module.
"""

from __future__ import annotations

import importlib.util
import json
import unicodedata
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from relevance.errors import ConfigError
from relevance.schema import category_levels
from relevance.tools.synthetic.catalogue import CATALOGUE, LANGS
from relevance.tools.synthetic.config import SampleConfig
from relevance.tools.synthetic.sample import iter_rows, write_sample

ROOT = Path(__file__).resolve().parent.parent
FILES = [
    "train_QC.txt",
    "dev_QC.txt",
    "test_QC.txt",
    "train_QI.txt",
    "dev_QI.txt",
    "test_QI.txt",
    "dev_labels_QC.txt",
    "dev_labels_QI.txt",
]
QC_TRAIN = {"en", "fr", "es", "ko", "pt", "ja"}
QI_TRAIN = QC_TRAIN | {"th"}
LANGUAGES = {
    ("QC", "train"): QC_TRAIN,
    ("QC", "dev"): QC_TRAIN | {"de", "it", "pl", "ar"},
    ("QC", "test"): QC_TRAIN | {"de", "it", "pl", "ar"},
    ("QI", "train"): QI_TRAIN,
    ("QI", "dev"): QI_TRAIN | {"de", "it", "pl", "ar", "id", "vn"},
    ("QI", "test"): QI_TRAIN | {"de", "it", "pl", "ar", "id", "vn"},
}
FIELD = {"QC": "category_path", "QI": "item_title"}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default sample (seed 13, default sizes), written once for this module."""
    out = tmp_path_factory.mktemp("sample")
    write_sample(out)
    return out


@pytest.fixture(scope="module")
def large_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A larger train split (150 rows per language), where rare noise kinds (1-3% of
    rows) occur often enough to count."""
    out = tmp_path_factory.mktemp("large-sample")
    write_sample(out, SampleConfig(qc_train=900, qi_train=1050))
    return out


def test_same_seed_gives_byte_identical_files(sample: Path, tmp_path: Path) -> None:
    counts = write_sample(tmp_path, SampleConfig(), workers=2)
    assert list(counts) == FILES
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (sample / name).read_bytes(), name
    write_sample(tmp_path / "other", SampleConfig(seed=14))
    assert (tmp_path / "other/train_QC.txt").read_bytes() != (sample / "train_QC.txt").read_bytes()


def test_a_file_size_leaves_the_other_files_unchanged(sample: Path, tmp_path: Path) -> None:
    write_sample(tmp_path, SampleConfig(qc_train=300))
    assert len(read_jsonl(tmp_path / "train_QC.txt")) == 300
    for name in FILES:
        if name != "train_QC.txt":
            assert (tmp_path / name).read_bytes() == (sample / name).read_bytes(), name


@pytest.mark.parametrize(("task", "split"), sorted(LANGUAGES))
def test_languages_per_task_and_split(sample: Path, task: str, split: str) -> None:
    rows = read_jsonl(sample / f"{split}_{task}.txt")
    assert {row["language"] for row in rows} == LANGUAGES[task, split]


def test_default_sizes(sample: Path) -> None:
    sizes = {name: len(read_jsonl(sample / name)) for name in FILES}
    assert sizes == {
        "train_QC.txt": 600,
        "dev_QC.txt": 400,
        "test_QC.txt": 200,
        "train_QI.txt": 420,
        "dev_QI.txt": 520,
        "test_QI.txt": 260,
        "dev_labels_QC.txt": 400,
        "dev_labels_QI.txt": 520,
    }
    assert sum((sample / name).stat().st_size for name in FILES) < 1_000_000


@pytest.mark.parametrize("task", ["QC", "QI"])
def test_every_line_follows_the_competition_format(sample: Path, task: str) -> None:
    for split in ("train", "dev", "test"):
        raw = (sample / f"{split}_{task}.txt").read_bytes()
        assert b"\r" not in raw and raw.endswith(b"\n")
        assert b"\\u" not in raw  # ensure_ascii=False: non-ASCII text is written as is
        rows = read_jsonl(sample / f"{split}_{task}.txt")
        keys = ["id", "task", "language", "origin_query", FIELD[task]]
        for row in rows:
            assert list(row) == ([*keys, "label"] if split == "train" else keys)
            assert row["task"] == task
            assert isinstance(row["origin_query"], str) and row["origin_query"].strip()
        assert [row["id"] for row in rows] == list(range(1, len(rows) + 1))
    labels = [row["label"] for row in read_jsonl(sample / f"train_{task}.txt")]
    kinds = Counter(type(label).__name__ for label in labels)
    assert set(labels) <= {0, 1, "0", "1"}
    assert 0.02 < kinds["str"] / len(labels) < 0.09  # about 5% string labels
    for row in read_jsonl(sample / f"dev_labels_{task}.txt"):
        assert list(row) == ["id", "label"] and row["label"] in (0, 1)


@pytest.mark.parametrize("task", ["QC", "QI"])
def test_dev_labels_cover_exactly_the_dev_ids(sample: Path, task: str) -> None:
    dev_ids = [row["id"] for row in read_jsonl(sample / f"dev_{task}.txt")]
    label_ids = [row["id"] for row in read_jsonl(sample / f"dev_labels_{task}.txt")]
    assert label_ids == dev_ids


@pytest.mark.parametrize("task", ["QC", "QI"])
def test_positive_rate_overall_and_per_language(sample: Path, task: str) -> None:
    train = read_jsonl(sample / f"train_{task}.txt")
    dev = read_jsonl(sample / f"dev_labels_{task}.txt")
    for labels in ([int(r["label"]) for r in train], [r["label"] for r in dev]):
        assert 0.55 <= sum(labels) / len(labels) <= 0.75
    for language in LANGUAGES[task, "train"]:
        labels = [int(r["label"]) for r in train if r["language"] == language]
        assert 0.55 <= sum(labels) / len(labels) <= 0.75, language


def test_category_paths_have_the_real_quirks(sample: Path) -> None:
    paths = {row["category_path"] for row in read_jsonl(sample / "train_QC.txt")}
    with_comma = [p for p in paths if ", " in p]
    assert len(with_comma) >= 5
    # the ", " belongs to a level name: the schema's splitter keeps it inside the level
    assert any(", " in level for p in with_comma for level in category_levels(p))
    assert any("（deactivate）" in p for p in paths)  # noqa: RUF001
    for path in paths:
        assert path == path.lower() and ", " not in path.replace(", ", "")
        assert 2 <= len(category_levels(path)) <= 4


def test_queries_and_titles_carry_noise_for_ingest(large_sample: Path) -> None:
    sample = large_sample
    rows = read_jsonl(sample / "train_QC.txt") + read_jsonl(sample / "train_QI.txt")
    queries = [row["origin_query"] for row in rows]
    assert sum(q != q.strip() for q in queries) >= 5  # leading/trailing spaces
    assert sum("  " in q.strip() for q in queries) >= 5  # double spaces
    assert sum(unicodedata.normalize("NFC", q) != q for q in queries) >= 5  # NFD text
    titles = [row["item_title"] for row in read_jsonl(sample / "train_QI.txt")]
    assert 1 <= titles.count(None) <= 10  # a few missing titles, as in the real QI train
    assert all(
        row["item_title"] is not None
        for split in ("dev", "test")
        for row in read_jsonl(sample / f"{split}_QI.txt")
    )


@pytest.mark.parametrize("task", ["QC", "QI"])
def test_train_repeats_some_pairs_some_with_conflicting_labels(
    large_sample: Path, task: str
) -> None:
    labels: dict[tuple, set[int]] = {}
    counts: Counter = Counter()
    for row in read_jsonl(large_sample / f"train_{task}.txt"):
        pair = (row["origin_query"], row[FIELD[task]])
        counts[pair] += 1
        labels.setdefault(pair, set()).add(int(row["label"]))
    repeats = sum(n - 1 for n in counts.values() if n > 1)
    assert 5 <= repeats <= 40
    assert any(len(seen) == 2 for seen in labels.values())


def test_knobs_do_what_they_say() -> None:
    small = SampleConfig(qc_train=600, qi_train=0, qc_dev=0, qc_test=0, qi_dev=0, qi_test=0)
    clean = replace(
        small, string_label_rate=0.0, duplicate_rate=0.0, label_noise=0.0, positive_rate=0.5
    )
    rows = [record for record, _ in iter_rows("QC", "train", config=clean)]
    assert all(isinstance(r["label"], int) for r in rows)
    assert sum(r["label"] for r in rows) == 300  # exact quota per language, no noise
    strings = replace(small, string_label_rate=1.0)
    assert all(isinstance(r["label"], str) for r, _ in iter_rows("QC", "train", config=strings))
    # Hard negatives are mostly sibling categories: same top level as the query's own
    # category (learnt from an all-positive run); easy negatives never are (a query
    # word shared by two leaves, like es "collar", could make an exception).
    bigger = replace(clean, qc_train=3000)
    top = {}
    for record, _ in iter_rows("QC", "train", config=replace(bigger, positive_rate=1.0)):
        top.setdefault(record["origin_query"], set()).add(record["category_path"].split(",")[0])
    share = {}
    for hard_share in (0.0, 1.0):
        same_top = [
            r["category_path"].split(",")[0] in top[r["origin_query"]]
            for r, label in iter_rows(
                "QC", "train", config=replace(bigger, hard_negative_share=hard_share)
            )
            if label == 0 and r["origin_query"] in top
        ]
        assert len(same_top) > 200
        share[hard_share] = sum(same_top) / len(same_top)
    assert share[0.0] < 0.05 and share[1.0] > 0.8


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="positive_rate"):
        SampleConfig(positive_rate=1.5)
    with pytest.raises(ConfigError, match="qc_train"):
        SampleConfig(qc_train=-1)
    with pytest.raises(ConfigError, match="unknown settings"):
        SampleConfig.scaled(1.0, qc_trian=10)
    assert SampleConfig.scaled(10.0).qi_dev == 5200
    assert SampleConfig.scaled(0.5, qc_train=7).qc_train == 7


def test_catalogue_breadth_and_translations() -> None:
    assert len({leaf.path.split(",")[0] for leaf in CATALOGUE}) >= 12
    assert 60 <= len(CATALOGUE) <= 100
    assert len(LANGS) == 13 and "vi" in LANGS
    for leaf in CATALOGUE:
        assert all(term.strip() for term in leaf.terms), leaf.key
        # translated, not copied across (loanwords like "mascara" may repeat a few times)
        assert len(set(leaf.terms)) >= 8, leaf.key
    assert sum(", " in leaf.path for leaf in CATALOGUE) >= 10


def _load_script():
    spec = importlib.util.spec_from_file_location("make_sample", ROOT / "scripts/make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_help_and_run(tmp_path: Path) -> None:
    main = _load_script().main
    runner = CliRunner()
    shown = runner.invoke(main, ["--help"])
    assert shown.exit_code == 0 and "--qc-train" in shown.output
    out = tmp_path / "sample"
    result = runner.invoke(main, ["--out", str(out), "--seed", "13", "--size-scale", "0.1"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert len(read_jsonl(out / "train_QI.txt")) == 42  # 0.1 x 420
    assert f"{out / 'dev_labels_QC.txt'}: 40 rows" in result.output


def test_script_rejects_bad_sizes(tmp_path: Path) -> None:
    result = CliRunner().invoke(_load_script().main, ["--out", str(tmp_path), "--qc-dev", "-5"])
    assert result.exit_code == 2 and "--qc-dev" in result.output
