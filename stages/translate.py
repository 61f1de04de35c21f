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

import click

from relevance import stage
from relevance.augment.translate import TranslateParams, translate_task
from relevance.augment.translators import translation_setup
from relevance.params import load_section
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.translation_inputs
@stage.path_option("--languages", "stats@<task> languages.json (missing_from_train).")
@stage.path_option("--out", "Translated rows (Parquet).")
@stage.metrics_option
def main(
    task: Task,
    ingested: Path,
    languages: Path,
    llm: Path,
    embedder: Path,
    out: Path,
    metrics: Path,
    cache_dir: Path | None,
    params_path: str,
) -> None:
    """Translate sampled train queries into the languages train lacks."""
    setup = translation_setup(
        params_path, llm=llm, embedder=embedder, cache_dir=cache_dir,
        allow_download=stage.hub_access(params_path),
    )  # fmt: skip
    params = load_section(TranslateParams, "translate", params_path)
    report = translate_task(
        task, ingested=ingested, languages=languages, out=out, params=params, setup=setup
    )
    stage.write_metrics(metrics, report)
    total, targets = report["total"], ", ".join(report["targets"]) or "none missing from train"
    click.echo(
        f"translate@{task.name}: {total['kept']} of {total['sampled']} rows kept "
        f"(targets: {targets}) -> {out}"
    )


if __name__ == "__main__":
    main()
