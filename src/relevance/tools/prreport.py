"""PR reports: what a branch changes in metrics, params and threshold curves against a base.

The report is Markdown, the result first:

1. a headline, never folded: one sentence on F1 per task and the mean, then a table of
   mean F1 and, per task, F1, AUC, precision, recall and all-positive F1 (base,
   workspace, change, changed/unchanged), read from ``metrics/overall.json`` and
   ``metrics/<task>.json`` of both revisions (the base with ``git show``); "—" where a
   revision lacks the file or key, "no labels" where its dev set has none;
2. F1 per language and task, folded only when long;
3. ``dvc metrics diff <base> --md`` folded: every changed model metric (confusion counts
   included), then the run statistics (metrics are ``cache: false`` and committed, so no
   ``dvc pull`` is needed to read the base's values);
4. ``dvc params diff <base> --md``;
5. for each threshold curve (``reports/threshold_<task>.csv``: threshold, f1, precision,
   recall), one PNG with the base curve (read with ``git show <base>:<path>``) and the
   workspace curve overlaid.

Usable from a notebook::

    from relevance.tools.prreport import build_report
    report = build_report("main", repo=Path("."), out=Path("reports/pr.md"),
                          png_dir=Path("reports/pr"))
    print(report.markdown)

DVC exits 0 when it cannot load some metrics (cached and not pulled) and prints a table
with blanks; :func:`dvc_diff` treats its "failed to load" message as an error.
"""

from __future__ import annotations

import fnmatch
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml

from relevance.errors import RelevanceError
from relevance.schema import TASKS

logger = logging.getLogger(__name__)

CURVE_PATTERN = "reports/threshold_*.csv"
PARAMS_FILE = "params.yaml"
THRESHOLD_KEY = "threshold.{task}"  # the param each curve's vertical line marks
FOLD_ROWS = 30  # longer diff tables are folded (per-language metrics make many rows)
# Metrics files that measure the model (F1, AUC, thresholds); every other metrics file
# holds run statistics (seconds, throughput, rows per stage, cache hits), which change
# on every run and would bury the F1 change a reviewer looks for.
QUALITY_METRICS = {"metrics/overall.json", *(f"metrics/{task}.json" for task in TASKS)}
# Columns drawn from each curve file, when present; `threshold` and `f1` are required.
CURVE_COLUMNS = ("f1", "precision", "recall")
CURVE_COLORS = {"f1": "tab:blue", "precision": "tab:orange", "recall": "tab:green"}


class PRReportError(RelevanceError):
    """The PR report cannot be built (see the subclasses)."""


class BaseRevisionError(PRReportError):
    """The base revision is not in the local git repository (not fetched, shallow clone)."""


class MetricsLoadError(PRReportError):
    """DVC could not load some metrics or params (it still exits 0: we do not)."""


class ToolError(PRReportError):
    """git or dvc is missing or failed."""


@dataclass(frozen=True)
class CurvePlot:
    """One threshold curve PNG: which task, where it is, and which revisions it shows."""

    task: str
    path: str  # the curve file, relative to the repository root
    png: Path
    in_base: bool
    in_workspace: bool


@dataclass(frozen=True)
class PRReport:
    base: str
    base_commit: str
    metrics_md: str
    params_md: str
    curves: list[CurvePlot] = field(default_factory=list)
    # Model-quality metrics files (path -> parsed JSON) of each revision, for the headline;
    # a file the revision lacks is left out.
    base_metrics: dict[str, dict] = field(default_factory=dict)
    workspace_metrics: dict[str, dict] = field(default_factory=dict)
    markdown: str = ""


# --- tools -----------------------------------------------------------------------------


def dvc_executable() -> str:
    """The ``dvc`` next to the running Python (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).parent / ("dvc.exe" if os.name == "nt" else "dvc")
    if beside.is_file():
        return str(beside)
    found = shutil.which("dvc")
    if found is None:
        raise ToolError(
            f"dvc not found: expected {beside} (beside {sys.executable}) or dvc on PATH; "
            "install the project with `make install` (or `pip install -e .`)"
        )
    return found


def _run(args: list[str], *, repo: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, cwd=repo, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise ToolError(f"{args[0]} not found: install it or put it on PATH ({exc})") from exc


def _git(args: list[str], *, repo: Path) -> subprocess.CompletedProcess[str]:
    return _run(["git", *args], repo=repo)


# --- base revision ---------------------------------------------------------------------


def fetch_hint(base: str) -> str:
    """The command that brings ``base`` into a clone that lacks it."""
    if base.startswith("origin/"):
        branch = base.removeprefix("origin/")
        return f"git fetch origin {branch}"
    return f"git fetch origin {base}:{base}"


def resolve_base(base: str, *, repo: Path) -> str:
    """The commit hash of ``base``, or :class:`BaseRevisionError` saying how to fetch it."""
    top = _git(["rev-parse", "--show-toplevel"], repo=repo)
    if top.returncode != 0:
        raise ToolError(f"{repo.resolve()} is not inside a git repository: {top.stderr.strip()}")
    # DVC treats a git repository without .dvc as an empty DVC project (empty tables).
    if not any((d / ".dvc").is_dir() for d in (repo.resolve(), *repo.resolve().parents)):
        raise ToolError(
            f"{repo.resolve()} is not inside a DVC repository (no .dvc folder): "
            "run the report from the project's root (or pass --repo)"
        )
    found = _git(["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], repo=repo)
    if found.returncode == 0:
        return found.stdout.strip()
    shallow = _git(["rev-parse", "--is-shallow-repository"], repo=repo).stdout.strip() == "true"
    lines = [
        f"base revision {base!r} not found in the git repository at {top.stdout.strip()}.",
        f"Fetch the base branch: {fetch_hint(base)}",
        "A shallow clone (CI checkouts default to depth 1) lacks the base's history: "
        "run `git fetch --unshallow` first, or check out with `fetch-depth: 0` "
        "(actions/checkout).",
    ]
    if shallow:
        lines.insert(1, "This clone is shallow.")
    raise BaseRevisionError("\n".join(lines))


# --- dvc diffs -------------------------------------------------------------------------


def dvc_diff(kind: Literal["metrics", "params"], base: str, *, repo: Path) -> str:
    """``dvc <kind> diff <base> --md`` as Markdown ("" when nothing changed).

    Raises :class:`ToolError` when dvc fails and :class:`MetricsLoadError` when it prints
    that it failed to load something (DVC exits 0 then, with blanks in the table).
    """
    args = [dvc_executable(), kind, "diff", base, "--md"]
    shown = f"dvc {kind} diff {base} --md"
    result = _run(args, repo=repo)
    output = f"{result.stdout}\n{result.stderr}"
    if result.returncode != 0:
        raise ToolError(
            f"`{shown}` failed (exit {result.returncode}) in {repo.resolve()}:\n"
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
    if "failed to load" in output.lower():
        raise MetricsLoadError(_load_failure(kind, shown, output, repo=repo))
    return diff_table(result.stdout)


def diff_table(output: str) -> str:
    """DVC's Markdown diff table, or "" when nothing changed (DVC then prints the header
    and separator of an empty table)."""
    table = output.strip()
    return table if len(table.splitlines()) > 2 else ""


def _load_failure(kind: str, shown: str, output: str, *, repo: Path) -> str:
    """Why DVC failed to load, per revision, and how to fix it."""
    lines = [line.strip() for line in output.splitlines() if "failed to load" in line.lower()]
    # "DVC failed to load some metrics for following revisions: 'main', 'workspace'." and
    # "WARNING: failed to load metrics in revision 'workspace', unable to read: ..."
    revisions: set[str] = set()
    for line in lines:
        revisions.update(re.findall(r"'([^']*)'", line.partition("revisions:")[2]))
        revisions.update(re.findall(r"in revision '([^']*)'", line))
    parts = [
        f"`{shown}`: " + "\n".join(dict.fromkeys(lines)),
        "DVC exits 0 here but leaves those values blank: the report would be wrong.",
    ]
    if "workspace" in revisions:
        missing = _workspace_errors(kind, repo=repo)
        parts.append(
            "In the workspace: "
            + (", ".join(missing) if missing else f"see `dvc {kind} show -v`")
            + ". Run `dvc repro` (or `dvc pull`) so every file dvc.yaml declares exists."
        )
    if any(rev != "workspace" for rev in revisions) and kind == "metrics":
        parts.append(
            "In a commit: outputs cached by DVC (cache: true) are not in git. Declare them "
            "`cache: false` in dvc.yaml and commit them (this project's rule for metrics "
            "and plots), or fetch that commit's cache first: "
            "`dvc fetch --all-branches --type metrics` (needs a DVC remote)."
        )
    elif any(rev != "workspace" for rev in revisions):
        parts.append("In a commit: params files must be tracked by git (not by DVC).")
    return "\n".join(parts)


def _workspace_errors(kind: str, *, repo: Path, limit: int = 8) -> list[str]:
    """``path (reason)`` for the workspace files ``dvc <kind> show`` cannot load."""
    result = _run([dvc_executable(), kind, "show", "--json"], repo=repo)
    try:
        shown = json.loads(result.stdout)
    except json.JSONDecodeError:
        return []
    errors = [
        f"{path} ({entry['error'].get('type', 'error')})"
        for revision in shown.values()
        if isinstance(revision, dict)
        for path, entry in revision.get("data", {}).items()
        if isinstance(entry, dict) and isinstance(entry.get("error"), dict)
    ]
    more = f" and {len(errors) - limit} more" if len(errors) > limit else ""
    return [*errors[:limit], *([more.strip()] if more else [])]


# --- threshold curves ------------------------------------------------------------------


def task_of(path: str) -> str:
    """``reports/threshold_qc.csv`` -> ``qc``."""
    stem = Path(path).stem
    return stem.removeprefix("threshold_")


def curve_paths(base: str, *, repo: Path, pattern: str = CURVE_PATTERN) -> list[str]:
    """Curve files (repository-relative, posix) in the base commit, the workspace, or both."""
    listed = _git(["ls-tree", "-r", "--name-only", base], repo=repo)
    if listed.returncode != 0:
        raise ToolError(f"git ls-tree {base} failed: {listed.stderr.strip()}")
    in_base = {p for p in listed.stdout.splitlines() if fnmatch.fnmatch(p, pattern)}
    in_workspace = {p.relative_to(repo).as_posix() for p in repo.glob(pattern) if p.is_file()}
    return sorted(in_base | in_workspace)


def parse_curve(text: str, *, source: str) -> pd.DataFrame:
    """A curve CSV's text as a frame sorted by threshold; needs ``threshold`` and ``f1``."""
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise PRReportError(f"{source}: not a readable CSV ({exc})") from exc
    missing = [c for c in ("threshold", "f1") if c not in frame.columns]
    if missing:
        raise PRReportError(
            f"{source}: expected columns threshold,f1[,precision,recall], "
            f"got {','.join(map(str, frame.columns))} (missing {', '.join(missing)})"
        )
    return frame.sort_values("threshold", kind="stable").reset_index(drop=True)


def read_base_curve(base: str, path: str, *, repo: Path) -> pd.DataFrame | None:
    """The curve as committed in ``base`` (``git show``), or None when git has no such file
    there (absent, or tracked by DVC rather than git)."""
    shown = _git(["show", f"{base}:./{path}"], repo=repo)  # ./: relative to repo
    if shown.returncode != 0:
        logger.info("%s is not in git at %s: %s", path, base, shown.stderr.strip())
        return None
    return parse_curve(shown.stdout, source=f"{base}:{path}")


def read_workspace_curve(path: str, *, repo: Path) -> pd.DataFrame | None:
    file = repo / path
    if not file.is_file():
        return None
    return parse_curve(file.read_text(encoding="utf-8"), source=str(file))


def param_value(text: str | None, key: str) -> float | None:
    """A numeric param (dotted ``key``) from params.yaml text, or None when absent."""
    if text is None:
        return None
    node: object = yaml.safe_load(text)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def thresholds(
    base: str, task: str, *, repo: Path, params_file: str = PARAMS_FILE
) -> tuple[float | None, float | None]:
    """``threshold.<task>`` in ``base`` and in the workspace (None where it is not set)."""
    key = THRESHOLD_KEY.format(task=task)
    shown = _git(["show", f"{base}:./{params_file}"], repo=repo)
    base_text = shown.stdout if shown.returncode == 0 else None
    file = repo / params_file
    workspace_text = file.read_text(encoding="utf-8") if file.is_file() else None
    return param_value(base_text, key), param_value(workspace_text, key)


def plot_curves(
    png: Path,
    *,
    title: str,
    base: pd.DataFrame | None,
    workspace: pd.DataFrame | None,
    base_label: str,
    workspace_label: str = "workspace",
    base_threshold: float | None = None,
    workspace_threshold: float | None = None,
) -> None:
    """F1, precision and recall against the threshold, base and workspace overlaid.

    The base is drawn wide and faint under the workspace's thin lines, so identical
    curves (a threshold change leaves the curve as it was) stay visible as one line with
    a halo. Vertical lines mark each revision's threshold, when given.

    Draws on a bare ``Figure`` with the Agg canvas, so it neither needs a display nor
    changes the backend of a notebook that calls it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.8), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for frame, label, width, alpha in (
        (base, base_label, 4.5, 0.3),
        (workspace, workspace_label, 1.5, 1.0),
    ):
        if frame is None:
            continue
        for column in CURVE_COLUMNS:
            if column in frame.columns:
                ax.plot(
                    frame["threshold"],
                    frame[column],
                    color=CURVE_COLORS[column],
                    linewidth=width,
                    alpha=alpha,
                    label=f"{column} ({label})",
                )
    for value, label, style in (
        (base_threshold, base_label, "--"),
        (workspace_threshold, workspace_label, "-"),
    ):
        if value is not None:
            ax.axvline(
                value,
                color="black",
                linestyle=style,
                linewidth=1,
                label=f"threshold ({label}): {value:g}",
            )
    ax.set(xlabel="threshold on p(yes)", ylabel="score", ylim=(0, 1.02), title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    # Fixed metadata: the same curves give the same bytes.
    fig.savefig(png, metadata={"Software": None})


# --- headline: model quality, read from the metrics files of both revisions -----------

# Why not `dvc metrics diff --json`: it lists changed values only (an unchanged F1 is
# absent, so the report could not say "unchanged"), and it drops non-numeric values such
# as the "no labels" note of an unlabelled dev set. The files are small and committed
# (`cache: false`), so both revisions are read directly: the base with `git show`.
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
)
MEAN_TASK = "all"  # the headline's task cell for the mean F1 over tasks
# Metric values are rounded to 6 places when written: a smaller difference is float noise.
CHANGE_TOLERANCE = 5e-7

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
    """``+0.0123`` / ``−0.1089`` (a true minus sign); six places where four would read 0."""
    if abs(delta) <= CHANGE_TOLERANCE:
        return "0"
    places = 4 if abs(delta) >= 0.00005 else 6
    return f"{'+' if delta > 0 else '−'}{abs(delta):.{places}f}"


def read_base_json(base: str, path: str, *, repo: Path) -> dict | None:
    """A JSON file as committed in ``base``, or None when git has none there (or it is not
    a JSON object: the headline then shows "—" instead of failing the report)."""
    shown = _git(["show", f"{base}:./{path}"], repo=repo)  # ./: relative to repo
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
    (−0.1089); QI F1 unchanged (0.7879); mean F1 0.7879 → 0.7335 (−0.0544).")."""
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


# --- the report ------------------------------------------------------------------------


def _link(target: Path, *, markdown_file: Path) -> str:
    return Path(os.path.relpath(target.resolve(), markdown_file.resolve().parent)).as_posix()


def split_metrics_table(table: str) -> tuple[str, str]:
    """DVC's metrics diff table split into (model quality rows, run statistics rows),
    each a table with DVC's header ("" when it has no rows); rows keep DVC's order."""
    lines = table.splitlines()
    if len(lines) <= 2:
        return "", ""
    quality, other = [], []
    for row in lines[2:]:
        path = row.strip("| ").split("|")[0].strip()
        (quality if path in QUALITY_METRICS else other).append(row)
    return tuple("\n".join(lines[:2] + part) if part else "" for part in (quality, other))


def _details(summary: str, body: str) -> str:
    """``body`` folded under ``summary`` (GitHub renders ``<details>`` collapsed)."""
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def _fold(table: str, what: str, *, max_rows: int = FOLD_ROWS) -> str:
    """A long table folded into ``<details>``, its row count in the summary."""
    rows = len(table.splitlines()) - 2
    if rows <= max_rows:
        return table
    return _details(f"{rows} {what} changed", table)


def _headline_section(report: PRReport) -> list[str]:
    """The verdict sentence, the headline table and what its blanks mean: never folded."""
    rows = headline_rows(report.base_metrics, report.workspace_metrics)
    if not rows:
        files = ", ".join(f"`{path}`" for path in quality_paths())
        return [f"No model quality metrics ({files}) in `{report.base}` or the workspace.", ""]
    lines = [f"**Result:** {verdict(rows)}", "", compare_table(rows, base=report.base), ""]
    notes = headline_notes(report.base_metrics, report.workspace_metrics, base=report.base)
    if any(NO_VALUE in (row.base, row.workspace) for row in rows):
        notes.append(f"{NO_VALUE}: that revision has no such metrics file, or no such key in it.")
    if notes:
        lines += [*(f"- {note}" for note in notes), ""]
    return lines


def _language_section(report: PRReport) -> list[str]:
    """F1 per language and task: visible up to FOLD_ROWS rows, folded beyond."""
    rows = language_rows(report.base_metrics, report.workspace_metrics)
    if not rows:
        return []
    table = compare_table(rows, base=report.base, what="Language")
    if len(rows) > FOLD_ROWS:
        changed = sum(row.changed for row in rows)
        table = _details(f"F1 per language and task: {len(rows)} rows, {changed} changed", table)
    return ["### F1 per language and task", "", table, ""]


def _detail_section(report: PRReport) -> list[str]:
    """Every changed metric as DVC lists it, folded: the confusion counts and per-language
    rows of the model metrics, then the run statistics (which change on every run)."""
    quality, run_stats = split_metrics_table(report.metrics_md)
    what = "model metrics (confusion counts tp/fp/tn/fn, per-language AUC, precision, recall)"
    lines = [
        f"### All changed metrics (`dvc metrics diff {report.base}`)",
        "",
        _fold(quality, what, max_rows=0)
        or f"No model metric (F1, AUC, thresholds) changed against `{report.base}`.",
        "",
    ]
    if run_stats:
        what = "run statistics (seconds, throughput, rows per stage, cache hits)"
        lines += [_fold(run_stats, what, max_rows=0), ""]
    return lines


def render_markdown(
    report: PRReport, *, out: Path, artifacts_url: str | None = None, pattern: str = CURVE_PATTERN
) -> str:
    """The report's Markdown; PNGs are embedded by paths relative to ``out``, or, with
    ``artifacts_url`` (e.g. a CI run page), named and linked there instead.

    The result leads (F1 and friends per task, never folded), then F1 per language, then
    every changed metric and the run statistics folded, the params and the curves.
    """
    short = report.base_commit[:8]
    lines = [
        f"## Metrics and params: `{report.base}` ({short}) vs workspace",
        "",
        *_headline_section(report),
        *_language_section(report),
        *_detail_section(report),
    ]
    lines += [
        "### Params",
        "",
        _fold(report.params_md, "params") or f"No param changed against `{report.base}`.",
        "",
        "### Threshold curves",
        "",
    ]
    if not report.curves:
        lines.append(f"No threshold curves (`{pattern}`) in `{report.base}` or the workspace.")
    for curve in report.curves:
        note = ""
        if not curve.in_base:
            note = f" (not in `{report.base}`: workspace only)"
        elif not curve.in_workspace:
            note = f" (not in the workspace: `{report.base}` only)"
        caption = f"{curve.task.upper()} threshold curve: {report.base} (faint) vs workspace"
        if artifacts_url:
            lines.append(f"- `{curve.path}`{note}: [{curve.png.name}]({artifacts_url}) ({caption})")
        else:
            lines += [
                f"#### {curve.task.upper()}{note}",
                "",
                f"![{caption}]({_link(curve.png, markdown_file=out)})",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


def build_report(
    base: str,
    *,
    repo: Path,
    out: Path,
    png_dir: Path,
    artifacts_url: str | None = None,
    pattern: str = CURVE_PATTERN,
) -> PRReport:
    """Diff metrics, params and threshold curves of the workspace against ``base``; write
    the Markdown to ``out`` and one PNG per curve into ``png_dir``.

    Raises :class:`BaseRevisionError` when ``base`` is not in the repository,
    :class:`MetricsLoadError` when DVC cannot load metrics, :class:`ToolError` when git
    or dvc fails.
    """
    base_commit = resolve_base(base, repo=repo)
    metrics_md = dvc_diff("metrics", base, repo=repo)
    params_md = dvc_diff("params", base, repo=repo)
    base_metrics, workspace_metrics = read_quality_metrics(base, repo=repo)
    curves = []
    for path in curve_paths(base, repo=repo, pattern=pattern):
        base_curve = read_base_curve(base, path, repo=repo)
        workspace_curve = read_workspace_curve(path, repo=repo)
        task = task_of(path)
        png = png_dir / f"{Path(path).stem}.png"
        base_threshold, workspace_threshold = thresholds(base, task, repo=repo)
        plot_curves(
            png,
            title=f"{task.upper()} threshold curve: {base} vs workspace",
            base=base_curve,
            workspace=workspace_curve,
            base_label=base,
            base_threshold=base_threshold,
            workspace_threshold=workspace_threshold,
        )
        logger.info("wrote %s", png)
        curves.append(
            CurvePlot(
                task=task,
                path=path,
                png=png,
                in_base=base_curve is not None,
                in_workspace=workspace_curve is not None,
            )
        )
    report = PRReport(
        base=base,
        base_commit=base_commit,
        metrics_md=metrics_md,
        params_md=params_md,
        curves=curves,
        base_metrics=base_metrics,
        workspace_metrics=workspace_metrics,
    )
    markdown = render_markdown(report, out=out, artifacts_url=artifacts_url, pattern=pattern)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown, encoding="utf-8")
    logger.info("wrote %s", out)
    return replace(report, markdown=markdown)
