"""DVC stage translate@<task>: synthetic train rows for languages missing from train.

Per target language (the stats stage's ``missing_from_train`` unless params name them),
a seeded sample of source-language train rows gets its query translated; candidate and
label are kept; a quality gate drops bad translations. Translations go through a
content-keyed cache outside the repository, written after every batch: an interrupted
run resumes, and a rerun with the same model and prompt translates nothing.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.augment.translate import TranslateParams, translate_task
from relevance.augment.translators import TranslationSetup, translation_setup
from relevance.params import load_section
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.translation_inputs(translation_setup)
@stage.path_option("--languages", "stats@<task> languages.json (missing_from_train).")
@stage.path_option("--out", "Translated rows (Parquet).")
@stage.metrics_option
def main(task: Task, setup: TranslationSetup, params_path: str, **paths: Path) -> dict[str, Any]:
    """Translate sampled train queries into the languages train lacks."""
    params = load_section(TranslateParams, "translate", params_path)
    report = translate_task(task, params=params, setup=setup, **paths)
    total, targets = report["total"], ", ".join(report["targets"]) or "none missing from train"
    click.echo(
        f"translate@{task.name}: {total['kept']} of {total['sampled']} rows kept "
        f"(targets: {targets}) -> {paths['out']}"
    )
    return report


if __name__ == "__main__":
    main()
