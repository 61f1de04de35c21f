"""DVC stage pivot@<task>: English pivots of every query (``input.pivot_en``).

When ``input.pivot_en`` is true, every non-English query of train/dev/test is
translated into English through the shared translation cache and gated; English rows
keep their query. When false, the stage writes an empty table with the same columns and
loads no model, so the graph stays the same either way.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.augment.pivot import pivot_task
from relevance.augment.translators import TranslationSetup, translation_setup
from relevance.params import load_key
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.translation_inputs(translation_setup)
@stage.path_option("--out", "Pivot table (Parquet).")
@stage.metrics_option
def main(task: Task, setup: TranslationSetup, params_path: str, **paths: Path) -> dict[str, Any]:
    """Translate every non-English query into English (or write an empty table)."""
    pivot_en = load_key("input", "pivot_en", params_path)
    report = pivot_task(task, pivot_en=pivot_en, setup=setup, source=params_path, **paths)
    total = report["total"]
    click.echo(
        f"pivot@{task.name} (input.pivot_en={report['enabled']}): {total['rows']} rows, "
        f"{total.get('translated', 0)} pivoted to English, {total.get('failed', 0)} failed"
        f" -> {paths['out']}"
    )
    return report


if __name__ == "__main__":
    main()
