"""The baseline@<task> stage: a char n-gram TF-IDF + logistic regression trained on the
same rows as the model, scoring the same dev/test rows.

At ~69% positives F1 flatters (predicting "relevant" everywhere already scores ~0.8), so
every report puts the model's AUC beside this lexical baseline's: a model that does not
clear it by a margin has learned the surface of the words, not the task.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relevance.schema import Task
from relevance.tables import BASELINE_SCHEMA, read_table, require_columns, write_table

logger = logging.getLogger(__name__)

SEPARATOR = " || "


def pair_text(rows: pd.DataFrame) -> pd.Series:
    """The text the baseline reads: query and candidate in one string."""
    require_columns(rows, ("query", "candidate"), what="baseline rows")
    return rows["query"].astype(str) + SEPARATOR + rows["candidate"].astype(str)


def tfidf_baseline(train: pd.DataFrame, score: list[pd.DataFrame]) -> list[np.ndarray]:
    """Fit char n-gram (2-4, within words) TF-IDF + logistic regression on ``train``
    (``query``, ``candidate``, ``label`` 0/1) and return p(yes) of each frame in
    ``score`` (float64, row order). The design notes' baseline on the real data."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    require_columns(train, ("label",), what="baseline training rows")
    vectorizer = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True
    )
    model = LogisticRegression(max_iter=2000, C=1.0)
    model.fit(vectorizer.fit_transform(pair_text(train)), train["label"].to_numpy(int))
    return [model.predict_proba(vectorizer.transform(pair_text(f)))[:, 1] for f in score]


def baseline_task(task: Task, *, train: Path, ingested: Path, out_dir: Path) -> dict[str, Any]:
    """Fit on the model's training rows (filter@<task>), score every dev/test split of
    ingest@<task>, write ``<split>.parquet`` (id, p_yes) to ``out_dir``."""
    rows = read_table(train, made_by=f"filter@{task.name}")
    splits = {
        split: read_table(ingested / f"{split}.parquet", made_by=f"ingest@{task.name}")
        for split in ("dev", "test")
        if split == "dev" or (ingested / f"{split}.parquet").is_file()  # test is optional
    }
    scores = tfidf_baseline(rows, list(splits.values()))
    for stale in out_dir.glob("*.parquet") if out_dir.is_dir() else []:
        stale.unlink()
    for (split, frame), p_yes in zip(splits.items(), scores, strict=True):
        write_table(pd.DataFrame({"id": frame["id"], "p_yes": p_yes}), out_dir / f"{split}.parquet",
                    BASELINE_SCHEMA)  # fmt: skip
    logger.info("tfidf baseline: trained on %d rows, scored %s", len(rows), list(splits))
    return {"train_rows": len(rows), **{split: len(frame) for split, frame in splits.items()}}
