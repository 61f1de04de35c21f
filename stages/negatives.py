"""DVC stage negatives@<task>: semantic hard negatives for the languages train lacks.

Per target language, sampled positives get a candidate ranked [rank_min, rank_max) by
embedding similarity to their own candidate (guarded against false negatives), label 0,
and their query translated into the target language through the translation cache.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.augment.negatives import NegativesParams, negatives_task
from relevance.augment.translators import TranslationSetup, translation_setup
from relevance.params import load_section
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.translation_inputs(translation_setup)
@stage.path_option("--languages", "stats@<task> languages.json (missing_from_train).")
@stage.path_option("--out", "Translated hard negatives (Parquet).")
@stage.metrics_option
def main(task: Task, setup: TranslationSetup, params_path: str, **paths: Path) -> dict[str, Any]:
    """Mine one hard negative per sampled positive for each missing language."""
    params = load_section(NegativesParams, "negatives", params_path)
    report = negatives_task(task, params=params, setup=setup, **paths)
    mined, kept = report["mining"]["total"]["mined"], report["rows_out"]
    click.echo(
        f"negatives@{task.name}: {mined} mined, {kept} kept after translation -> {paths['out']}"
    )
    return report


if __name__ == "__main__":
    main()
