"""git and dvc for the PR report: the tools it runs, and the errors it stops with."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from relevance.errors import RelevanceError


class PRReportError(RelevanceError):
    """The PR report cannot be built (see the subclasses)."""


class BaseRevisionError(PRReportError):
    """The base revision is not in the local git repository (not fetched, shallow clone)."""


class MetricsLoadError(PRReportError):
    """DVC could not load some metrics or params (it still exits 0: we do not)."""


class ToolError(PRReportError):
    """git or dvc is missing or failed."""


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


def run_tool(args: list[str], *, repo: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, cwd=repo, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise ToolError(f"{args[0]} not found: install it or put it on PATH ({exc})") from exc


def git(args: list[str], *, repo: Path) -> subprocess.CompletedProcess[str]:
    return run_tool(["git", *args], repo=repo)
