"""Threshold curves for the PR report: each task's curve in the base and the workspace,
drawn in one PNG with a vertical line at each side's threshold."""

from __future__ import annotations

import fnmatch
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from relevance.tools.pr_git import PRReportError, ToolError, git

logger = logging.getLogger(__name__)

CURVE_PATTERN = "reports/threshold_*.csv"
PARAMS_FILE = "params.yaml"
THRESHOLD_KEY = "threshold.{task}"  # the param each curve's vertical line marks
# Columns drawn from each curve file, when present; `threshold` and `f1` are required.
CURVE_COLUMNS = ("f1", "precision", "recall")
CURVE_COLORS = {"f1": "tab:blue", "precision": "tab:orange", "recall": "tab:green"}


@dataclass(frozen=True)
class CurvePlot:
    """One threshold curve PNG: which task, where it is, and which revisions it shows."""

    task: str
    path: str  # the curve file, relative to the repository root
    png: Path
    in_base: bool
    in_workspace: bool


def task_of(path: str) -> str:
    """``reports/threshold_qc.csv`` -> ``qc``."""
    stem = Path(path).stem
    return stem.removeprefix("threshold_")


def curve_paths(base: str, *, repo: Path, pattern: str = CURVE_PATTERN) -> list[str]:
    """Curve files (repository-relative, posix) in the base commit, the workspace, or both."""
    listed = git(["ls-tree", "-r", "--name-only", base], repo=repo)
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
    shown = git(["show", f"{base}:./{path}"], repo=repo)  # ./: relative to repo
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
    shown = git(["show", f"{base}:./{params_file}"], repo=repo)
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
