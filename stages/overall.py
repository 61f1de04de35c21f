"""DVC stage overall: mean F1 over the tasks that ran (the competition's score)."""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.evaluate.overall import overall_scores
from relevance.params import load_tasks


@stage.command
@stage.path_option("--scores", "Dir with <task>/scores.json from evaluate@<task>.")
@stage.metrics_option
def main(scores: Path, params_path: str) -> dict[str, Any]:
    """Mean dev F1 over the tasks in params `tasks` (others left on disk are ignored)."""
    result = overall_scores(scores, load_tasks(params_path))
    click.echo(
        f"overall: mean dev F1 {result.get('mean_f1', 'n/a (no labelled dev)')} over "
        f"{', '.join(result['tasks']) or 'no task'}"
    )
    return result


if __name__ == "__main__":
    main()
