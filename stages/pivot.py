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

from relevance import stage
from relevance.augment.pivot import pivot_task
from relevance.augment.translators import translation_setup
from relevance.params import load_key
from relevance.schema import Task


@stage.command
@stage.task_option
@stage.translation_inputs
@stage.path_option("--out", "Pivot table (Parquet).")
@stage.metrics_option
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
    setup = translation_setup(
        params_path, llm=llm, embedder=embedder, cache_dir=cache_dir,
        allow_download=stage.hub_access(params_path),
    )  # fmt: skip
    pivot_en = load_key("input", "pivot_en", params_path)
    report = pivot_task(
        task, pivot_en=pivot_en, ingested=ingested, out=out, setup=setup, source=params_path
    )
    stage.write_metrics(metrics, report)
    total = report["total"]
    click.echo(
        f"pivot@{task.name} (input.pivot_en={report['enabled']}): {total['rows']} rows, "
        f"{total.get('translated', 0)} pivoted to English, {total.get('failed', 0)} failed -> {out}"
    )


if __name__ == "__main__":
    main()
