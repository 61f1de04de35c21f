"""DVC stage negatives@<task>: semantic hard negatives for the languages train lacks.

Per target language, sampled positives get a candidate ranked [rank_min, rank_max) by
embedding similarity to their own candidate (guarded against false negatives), label 0,
and their query translated into the target language through the translation cache.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click

from relevance.augment.negatives import NegativesParams, negatives_task
from relevance.augment.translators import TranslatorParams
from relevance.params import load_section
from relevance.schema import Task
from relevance.stage import (
    cache_dir_option,
    hub_access,
    metrics_option,
    path_option,
    stage,
    task_option,
    write_metrics,
)


@stage
@task_option
@path_option("--ingested", "ingest@<task> output folder.")
@path_option("--languages", "stats@<task> languages.json (missing_from_train).")
@path_option("--llm", "Base LLM folder (models stage).")
@path_option("--embedder", "Sentence-transformers folder (models stage).")
@path_option("--out", "Translated hard negatives (Parquet).")
@metrics_option
@cache_dir_option
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
    allow_download = hub_access(params_path)
    report = negatives_task(
        task,
        ingested=ingested,
        languages=languages,
        llm_dir=llm,
        embedder_dir=embedder,
        out=out,
        cache_dir=cache_dir,
        params=load_section(NegativesParams, "negatives", params_path),
        translator_params=load_section(TranslatorParams, "translator", params_path),
        allow_download=allow_download,
    )
    write_metrics(metrics, report)
    mined, kept = report["mining"]["total"]["mined"], report["rows_out"]
    click.echo(f"negatives@{task.name}: {mined} mined, {kept} kept after translation -> {out}")


if __name__ == "__main__":
    main()
