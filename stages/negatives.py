"""DVC stage negatives@<task>: semantic hard negatives for the languages train lacks.

Per target language, sampled positives get a candidate ranked [rank_min, rank_max) by
embedding similarity to their own candidate (guarded against false negatives), label 0,
and their query translated into the target language through the translation cache.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click

from relevance import stage
from relevance.augment.negatives import NegativesParams, negatives_task
from relevance.augment.translators import translation_setup
from relevance.params import load_section
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.translation_inputs
@stage.path_option("--languages", "stats@<task> languages.json (missing_from_train).")
@stage.path_option("--out", "Translated hard negatives (Parquet).")
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
    """Mine one hard negative per sampled positive for each missing language."""
    setup = translation_setup(
        params_path, llm=llm, embedder=embedder, cache_dir=cache_dir,
        allow_download=stage.hub_access(params_path),
    )  # fmt: skip
    params = load_section(NegativesParams, "negatives", params_path)
    report = negatives_task(
        task, ingested=ingested, languages=languages, out=out, params=params, setup=setup
    )
    stage.write_metrics(metrics, report)
    mined, kept = report["mining"]["total"]["mined"], report["rows_out"]
    click.echo(f"negatives@{task.name}: {mined} mined, {kept} kept after translation -> {out}")


if __name__ == "__main__":
    main()
