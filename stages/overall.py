"""DVC stage overall: mean F1 over the tasks that ran (the competition's score)."""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

import json
from pathlib import Path

import click

from relevance.errors import DataError
from relevance.params import load_tasks
from relevance.stage import HELP_OPTIONS, setup_logging, user_errors, write_metrics


@click.command(context_settings=HELP_OPTIONS)
@click.option(
    "--scores",
    type=click.Path(path_type=Path),
    required=True,
    help="Dir with <task>/scores.json from evaluate@<task>.",
)
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON.")
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(scores: Path, metrics: Path, params_path: str) -> None:
    """Mean dev F1 over the tasks in params `tasks` (others left on disk are ignored)."""
    setup_logging()
    per_task = {}
    for task in load_tasks(params_path):
        path = scores / task / "scores.json"
        if not path.is_file():
            raise DataError(f"{path} not found: run evaluate@{task} first")
        dev = json.loads(path.read_text(encoding="utf-8"))["dev"]
        if dev.get("labelled"):
            per_task[task] = {"f1": dev["f1"], "auc": dev["auc"], "threshold": dev["threshold"]}
    result = {"tasks": per_task}
    if per_task:
        result["mean_f1"] = round(sum(t["f1"] for t in per_task.values()) / len(per_task), 6)
    else:
        result["note"] = "no task has labelled dev rows: no F1 (submissions only)"
    write_metrics(metrics, result)
    click.echo(
        f"overall: mean dev F1 {result.get('mean_f1', 'n/a (no labelled dev)')} over "
        f"{', '.join(per_task) or 'no task'}"
    )


if __name__ == "__main__":
    main()
