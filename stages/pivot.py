"""DVC stage pivot@<task>: English pivots of every query (``input.pivot_en``).

When ``input.pivot_en`` is true, every non-English query of train/dev/test is
translated into English through the shared translation cache and gated; English rows
keep their query. When false, the stage writes an empty table with the same columns and
loads no model, so the graph stays the same either way.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click

from relevance.augment.pivot import pivot_task
from relevance.augment.translators import TranslatorParams
from relevance.params import load_key, load_section
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
@path_option("--llm", "Base LLM folder (models stage).")
@path_option("--embedder", "Sentence-transformers folder for the similarity gate (models stage).")
@path_option("--out", "Pivot table (Parquet).")
@metrics_option
@cache_dir_option
def main(
    task: Task,
    ingested: Path,
    llm: Path,
    embedder: Path,
    out: Path,
    metrics: Path,
    cache_dir: Path | None,
    params_path: str,
) -> None:
    """Translate every non-English query into English (or write an empty table)."""
    allow_download = hub_access(params_path)
    report = pivot_task(
        task,
        pivot_en=load_key("input", "pivot_en", params_path),
        ingested=ingested,
        llm_dir=llm,
        embedder_dir=embedder,
        out=out,
        cache_dir=cache_dir,
        translator_params=load_section(TranslatorParams, "translator", params_path),
        allow_download=allow_download,
        source=params_path,
    )
    write_metrics(metrics, report)
    total = report["total"]
    click.echo(
        f"pivot@{task.name} (input.pivot_en={report['enabled']}): {total['rows']} rows, "
        f"{total.get('translated', 0)} pivoted to English, {total.get('failed', 0)} failed -> {out}"
    )


if __name__ == "__main__":
    main()
