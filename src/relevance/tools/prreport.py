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

import json
import logging
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from relevance.schema import TASKS
from relevance.tools.pr_curves import (
    CURVE_PATTERN,
    CurvePlot,
    curve_paths,
    plot_curves,
    read_base_curve,
    read_workspace_curve,
    task_of,
    thresholds,
)
from relevance.tools.pr_git import (
    BaseRevisionError,
    MetricsLoadError,
    ToolError,
    dvc_executable,
    git,
    run_tool,
)
from relevance.tools.pr_headline import (
    NO_VALUE,
    compare_table,
    headline_notes,
    headline_rows,
    language_rows,
    quality_paths,
    read_quality_metrics,
    verdict,
)

logger = logging.getLogger(__name__)

FOLD_ROWS = 30  # longer diff tables are folded (per-language metrics make many rows)
# Metrics files that measure the model (F1, AUC, thresholds); every other metrics file
# holds run statistics (seconds, throughput, rows per stage, cache hits), which change
# on every run and would bury the F1 change a reviewer looks for.
QUALITY_METRICS = {"metrics/overall.json", *(f"metrics/{task}.json" for task in TASKS)}


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


# --- base revision ---------------------------------------------------------------------


def fetch_hint(base: str) -> str:
    """The command that brings ``base`` into a clone that lacks it."""
    if base.startswith("origin/"):
        branch = base.removeprefix("origin/")
        return f"git fetch origin {branch}"
    return f"git fetch origin {base}:{base}"


def resolve_base(base: str, *, repo: Path) -> str:
    """The commit hash of ``base``, or :class:`BaseRevisionError` saying how to fetch it."""
    top = git(["rev-parse", "--show-toplevel"], repo=repo)
    if top.returncode != 0:
        raise ToolError(f"{repo.resolve()} is not inside a git repository: {top.stderr.strip()}")
    # DVC treats a git repository without .dvc as an empty DVC project (empty tables).
    if not any((d / ".dvc").is_dir() for d in (repo.resolve(), *repo.resolve().parents)):
        raise ToolError(
            f"{repo.resolve()} is not inside a DVC repository (no .dvc folder): "
            "run the report from the project's root (or pass --repo)"
        )
    found = git(["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], repo=repo)
    if found.returncode == 0:
        return found.stdout.strip()
    shallow = git(["rev-parse", "--is-shallow-repository"], repo=repo).stdout.strip() == "true"
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
    result = run_tool(args, repo=repo)
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
    result = run_tool([dvc_executable(), kind, "show", "--json"], repo=repo)
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
