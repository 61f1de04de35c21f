"""The overall stage: the competition's score, the mean dev F1 over the tasks that ran."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relevance.errors import DataError


def overall_scores(scores_dir: Path, tasks: Sequence[str]) -> dict[str, Any]:
    """Mean dev F1 over ``tasks`` from each ``<scores_dir>/<task>/scores.json``
    (evaluate@<task>'s copy of its metrics); tasks whose dev has no labels are left out,
    and without any, a note says so instead of an F1."""
    per_task = {}
    for task in tasks:
        path = Path(scores_dir) / task / "scores.json"
        if not path.is_file():
            raise DataError(f"{path} not found: run evaluate@{task} first")
        dev = json.loads(path.read_text(encoding="utf-8"))["dev"]
        if dev.get("labelled"):
            per_task[task] = {"f1": dev["f1"], "auc": dev["auc"], "threshold": dev["threshold"]}
    result: dict[str, Any] = {"tasks": per_task}
    if per_task:
        result["mean_f1"] = round(sum(t["f1"] for t in per_task.values()) / len(per_task), 6)
    else:
        result["note"] = "no task has labelled dev rows: no F1 (submissions only)"
    return result
