"""The TF-IDF baseline (baseline@<task>) and how evaluate reports it beside the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relevance.evaluate.baseline import baseline_task, tfidf_baseline
from relevance.evaluate.evaluate import baseline_scores
from relevance.evaluate.metrics import auc
from relevance.schema import TASKS


def _rows(n: int, seed: int) -> pd.DataFrame:
    """A lexical task: relevant when the query's word is in the candidate."""
    rng = np.random.default_rng(seed)
    words = ["mug", "lamp", "sock", "phone", "chair", "guitar", "laptop", "shoe"]
    rows = []
    for i in range(n):
        query, other = rng.choice(words, size=2, replace=False)
        label = int(rng.random() < 0.6)
        candidate = f"home {query if label else other} deluxe"
        rows.append({"id": i, "query": query, "candidate": candidate, "label": label})
    return pd.DataFrame(rows)


def test_tfidf_learns_a_lexical_task_and_scores_in_row_order() -> None:
    train, dev = _rows(400, seed=0), _rows(100, seed=1)
    (p_yes,) = tfidf_baseline(train, [dev])
    assert p_yes.shape == (100,) and ((p_yes > 0) & (p_yes < 1)).all()
    assert auc(dev["label"].to_numpy(), p_yes) > 0.9
    (reversed_order,) = tfidf_baseline(train, [dev.iloc[::-1]])
    np.testing.assert_allclose(reversed_order[::-1], p_yes)


def test_baseline_task_writes_dev_and_test_and_reports_counts(tmp_path) -> None:
    train = tmp_path / "filtered.parquet"
    _rows(200, seed=0).to_parquet(train)
    ingested = tmp_path / "ingested"
    ingested.mkdir()
    _rows(30, seed=1).drop(columns="label").to_parquet(ingested / "dev.parquet")
    counts = baseline_task(TASKS["qc"], train=train, ingested=ingested, out_dir=tmp_path / "out")
    assert counts == {"train_rows": 200, "dev": 30}  # no test file: no test split
    dev = pd.read_parquet(tmp_path / "out" / "dev.parquet")
    assert list(dev.columns) == ["id", "p_yes"] and len(dev) == 30
    _rows(20, seed=2).to_parquet(ingested / "test.parquet")
    counts = baseline_task(TASKS["qc"], train=train, ingested=ingested, out_dir=tmp_path / "out")
    assert counts["test"] == 20 and (tmp_path / "out" / "test.parquet").is_file()


def test_baseline_scores_use_the_models_labelled_rows() -> None:
    predictions = pd.DataFrame({"id": [1, 2, 3, 4, 5], "label": [1, 0, 1, None, 0]})
    baseline = pd.DataFrame({"id": [5, 4, 3, 2, 1], "p_yes": [0.1, 0.9, 0.8, 0.3, 0.7]})
    scores = baseline_scores(predictions, baseline, threshold=0.5)
    assert scores["auc"] == 1.0 and scores["f1"] == 1.0
    with pytest.raises(Exception, match="no score for ids"):
        baseline_scores(predictions, baseline.iloc[1:], threshold=0.5)
