"""The PR report's headline: model quality in the base and the workspace, read from the
committed metrics files of both revisions, as rows of base, workspace, change.

Why not `dvc metrics diff --json`: it lists changed values only (an unchanged F1 is
absent, so the report could not say "unchanged"), and it drops non-numeric values such
as the "no labels" note of an unlabelled dev set. The files are small and committed
(`cache: false`), so both revisions are read directly: the base with `git show`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from relevance.schema import TASKS
from relevance.tools.pr_git import git

logger = logging.getLogger(__name__)

OVERALL_METRICS = "metrics/overall.json"
TASK_METRICS = "metrics/{task}.json"
NO_VALUE = "—"  # the revision has no such metrics file, or the file no such key
NO_LABELS = "no labels"  # the revision's dev set has no labels (the competition's files)
# (key under the task's `dev`, label) for each headline row of a task, in this order.
HEADLINE_METRICS = (
    ("f1", "F1"),
    ("auc", "AUC"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("all_positive_f1", "all-positive F1"),
    ("tfidf.auc", "TF-IDF baseline AUC"),
)
MEAN_TASK = "all"  # the headline's task cell for the mean F1 over tasks
# Metric values are rounded to 6 places when written: a smaller difference is float noise.
CHANGE_TOLERANCE = 5e-7
MINUS = "\u2212"  # a true minus sign: it lines up with "+" in the tables

Cell = float | str  # a number, or NO_VALUE / NO_LABELS


@dataclass(frozen=True)
class CompareRow:
    """One metric of one task in two revisions (base first), with its change."""

    task: str
    metric: str
    base: Cell
    workspace: Cell

    @property
    def changed(self) -> bool:
        if isinstance(self.base, float) and isinstance(self.workspace, float):
            return abs(self.workspace - self.base) > CHANGE_TOLERANCE
        return self.base != self.workspace

    @property
    def delta(self) -> str:
        if isinstance(self.base, float) and isinstance(self.workspace, float):
            return format_delta(self.workspace - self.base)
        return NO_VALUE

    @property
    def status(self) -> str:
        if self.base == self.workspace == NO_LABELS:
            return "no labels: no F1" if self.metric == "F1" else NO_LABELS
        return "changed" if self.changed else "unchanged"

    def cells(self) -> list[str]:
        return [
            self.task,
            self.metric,
            format_cell(self.base),
            format_cell(self.workspace),
            self.delta,
            self.status,
        ]


def format_cell(value: Cell) -> str:
    return f"{value:.4f}" if isinstance(value, float) else value


def format_delta(delta: float) -> str:
    """``+0.0123`` / ``\u22120.1089`` (a true minus sign, U+2212, as typeset tables use);
    six places where four would read 0."""
    if abs(delta) <= CHANGE_TOLERANCE:
        return "0"
    places = 4 if abs(delta) >= 0.00005 else 6
    return f"{'+' if delta > 0 else MINUS}{abs(delta):.{places}f}"


def read_base_json(base: str, path: str, *, repo: Path) -> dict | None:
    """A JSON file as committed in ``base``, or None when git has none there (or it is not
    a JSON object: the headline then shows "—" instead of failing the report)."""
    shown = git(["show", f"{base}:./{path}"], repo=repo)  # ./: relative to repo
    if shown.returncode != 0:
        logger.info("%s is not in git at %s: %s", path, base, shown.stderr.strip())
        return None
    return _json_object(shown.stdout, source=f"{base}:{path}")


def read_workspace_json(path: str, *, repo: Path) -> dict | None:
    file = repo / path
    if not file.is_file():
        return None
    return _json_object(file.read_text(encoding="utf-8"), source=str(file))


def _json_object(text: str, *, source: str) -> dict | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        logger.warning("%s is not valid JSON (%s): shown as %s", source, exc, NO_VALUE)
        return None
    return value if isinstance(value, dict) else None


def quality_paths(tasks: Iterable[str] = TASKS) -> list[str]:
    return [OVERALL_METRICS, *(TASK_METRICS.format(task=task) for task in tasks)]


def read_quality_metrics(base: str, *, repo: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """(base, workspace): each maps a model-quality metrics path to its parsed file; a path
    the revision lacks is left out."""
    paths = quality_paths()
    in_base = {path: read_base_json(base, path, repo=repo) for path in paths}
    in_workspace = {path: read_workspace_json(path, repo=repo) for path in paths}
    return (
        {path: doc for path, doc in in_base.items() if doc is not None},
        {path: doc for path, doc in in_workspace.items() if doc is not None},
    )


def metric_cell(doc: dict | None, key: str) -> Cell:
    """The number at dotted ``key`` in a metrics file; NO_LABELS when the file says it has
    no labelled rows there (``labelled: 0`` on the way, or a ``note`` where the key should
    be: what evaluate and overall write for an unlabelled dev set); else NO_VALUE."""
    node: object = doc
    for part in key.split("."):
        if not isinstance(node, dict):
            return NO_VALUE
        if node.get("labelled") == 0:
            return NO_LABELS
        if part not in node:
            return NO_LABELS if "note" in node else NO_VALUE
        node = node[part]
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return float(node)
    return NO_VALUE


def _compare(
    task: str, metric: str, path: str, key: str, base: dict[str, dict], workspace: dict[str, dict]
) -> CompareRow:
    return CompareRow(
        task, metric, metric_cell(base.get(path), key), metric_cell(workspace.get(path), key)
    )


def _present(rows: Iterable[CompareRow]) -> list[CompareRow]:
    """Rows where at least one revision has the metric (or says it has no labels)."""
    return [row for row in rows if not row.base == row.workspace == NO_VALUE]


def headline_rows(
    base: dict[str, dict], workspace: dict[str, dict], *, tasks: Iterable[str] = TASKS
) -> list[CompareRow]:
    """Mean F1, then per task F1, AUC, precision, recall and all-positive F1.

    ``base`` and ``workspace`` map metrics paths to parsed files (as
    :func:`read_quality_metrics` returns). A task neither revision has a file for is left
    out; a task without labels on both sides gets one row, "no labels: no F1".
    """
    rows = _present([_compare(MEAN_TASK, "mean F1", OVERALL_METRICS, "mean_f1", base, workspace)])
    for task in tasks:
        path = TASK_METRICS.format(task=task)
        if path not in base and path not in workspace:
            continue
        code = TASKS[task].code if task in TASKS else task.upper()
        task_rows = [
            _compare(code, label, path, f"dev.{key}", base, workspace)
            for key, label in HEADLINE_METRICS
        ]
        if all(row.base == row.workspace == NO_LABELS for row in task_rows):
            task_rows = task_rows[:1]  # nothing to compare: one row says so
        rows += _present(task_rows)
    return rows


def language_rows(
    base: dict[str, dict], workspace: dict[str, dict], *, tasks: Iterable[str] = TASKS
) -> list[CompareRow]:
    """F1 per language (``dev.per_language.<lang>.f1``) per task; languages of both sides."""
    rows = []
    for task in tasks:
        path = TASK_METRICS.format(task=task)
        languages = sorted(
            {
                language
                for doc in (base.get(path), workspace.get(path))
                if isinstance(doc, dict)
                for language in _per_language(doc)
            }
        )
        code = TASKS[task].code if task in TASKS else task.upper()
        key = "dev.per_language.{language}.f1"
        rows += [
            _compare(code, lang, path, key.format(language=lang), base, workspace)
            for lang in languages
        ]
    return rows


def _per_language(doc: dict) -> list[str]:
    dev = doc.get("dev")
    per_language = dev.get("per_language") if isinstance(dev, dict) else None
    return list(per_language) if isinstance(per_language, dict) else []


def verdict(rows: list[CompareRow]) -> str:
    """One sentence on F1: each task's, then the mean (e.g. "QC F1 0.7879 → 0.6790
    (-0.1089); QI F1 unchanged (0.7879); mean F1 0.7879 → 0.7335 (-0.0544).", with a true
    minus sign)."""
    f1_rows = [row for row in rows if row.metric == "F1"]
    f1_rows += [row for row in rows if row.task == MEAN_TASK]
    parts = [_f1_phrase(row) for row in f1_rows]
    return "; ".join(parts) + "." if parts else ""


def _f1_phrase(row: CompareRow) -> str:
    name = row.metric if row.task == MEAN_TASK else f"{row.task} {row.metric}"
    if row.base == row.workspace == NO_LABELS:
        return f"{name}: no labels" if row.task == MEAN_TASK else f"{row.task}: no labels: no F1"
    if not row.changed:
        return f"{name} unchanged ({format_cell(row.workspace)})"
    change = f" ({row.delta})" if row.delta != NO_VALUE else ""
    return f"{name} {format_cell(row.base)} → {format_cell(row.workspace)}{change}"


def compare_table(rows: list[CompareRow], *, base: str, what: str = "Metric") -> str:
    """Markdown table: task, ``what``, base, workspace, Δ, status."""
    lines = [
        f"| Task | {what} | `{base}` | workspace | Δ | Status |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def headline_notes(
    base_metrics: dict[str, dict], workspace_metrics: dict[str, dict], *, base: str
) -> list[str]:
    """What "—" and "no labels" stand for in the headline: which revision lacks which
    file, and what the unlabelled files say."""
    notes = []
    for label, have, other in (
        (f"`{base}`", base_metrics, workspace_metrics),
        ("The workspace", workspace_metrics, base_metrics),
    ):
        for path in quality_paths():
            if path in other and path not in have:
                notes.append(f"{label} has no `{path}`: its values show as {NO_VALUE}.")
    for label, have in ((f"`{base}`", base_metrics), ("the workspace", workspace_metrics)):
        for path, doc in have.items():
            note = _unlabelled_note(doc)
            if note:
                notes.append(f"`{path}` in {label} says: {note}")
    return notes


def _unlabelled_note(doc: dict) -> str:
    """The note a metrics file carries where it has no labels ("" when labelled)."""
    for node in (doc, doc.get("dev")):
        if isinstance(node, dict) and "note" in node:
            return str(node["note"])
    return ""
