"""The overall stage's mean F1 over tasks (hand-written scores files)."""

from __future__ import annotations

import json

import pytest

from relevance.errors import DataError
from relevance.evaluate.overall import overall_scores


def _scores(root, task: str, dev: dict) -> None:
    path = root / task / "scores.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"dev": dev}))


def test_mean_f1_over_the_labelled_tasks(tmp_path) -> None:
    _scores(tmp_path, "qc", {"labelled": 10, "f1": 0.8, "auc": 0.7, "threshold": 0.4})
    _scores(tmp_path, "qi", {"labelled": 8, "f1": 0.6, "auc": 0.9, "threshold": 0.2})
    _scores(tmp_path, "xx", {"labelled": 5, "f1": 0.0, "auc": 0.5, "threshold": 0.5})
    result = overall_scores(tmp_path, ["qc", "qi"])  # xx is on disk but not in tasks
    assert result["mean_f1"] == pytest.approx(0.7)
    assert set(result["tasks"]) == {"qc", "qi"}


def test_unlabelled_dev_gives_a_note_not_an_f1(tmp_path) -> None:
    _scores(tmp_path, "qc", {"labelled": 0, "rows": 7, "note": "no labels"})
    result = overall_scores(tmp_path, ["qc"])
    assert "mean_f1" not in result and result["tasks"] == {}
    assert result["note"].startswith("no task has labelled dev rows")
    with pytest.raises(DataError, match=r"qi/scores.json not found: run evaluate@qi first"):
        overall_scores(tmp_path, ["qc", "qi"])
