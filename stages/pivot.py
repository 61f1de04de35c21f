"""DVC stage pivot@<task>: English pivots of every query (``input.pivot_en``).

When ``input.pivot_en`` is true, every non-English query of train/dev/test is
translated into English through the shared translation cache and gated; English rows
keep their query. When false, the stage writes an empty table with the same columns and
loads no model, so the graph stays the same either way.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

import time
from pathlib import Path

import click
import pandas as pd

from relevance.augment.embedding import Embedder
from relevance.augment.translation import (
    TranslationCache,
    TranslatorParams,
    make_translator,
    pivot_rows,
)
from relevance.errors import ConfigError, DataError
from relevance.kvstore import KeyValueStore, default_cache_dir
from relevance.params import load_key, load_section
from relevance.schema import SPLITS, get_task
from relevance.stage import (
    HELP_OPTIONS,
    force_offline_unless_allowed,
    setup_logging,
    user_errors,
    write_metrics,
)
from relevance.tables import PIVOT_SCHEMA, empty_frame, write_table


@click.command(context_settings=HELP_OPTIONS)
@click.option("--task", "task_name", required=True, help="Task: qc or qi.")
@click.option(
    "--ingested", type=click.Path(path_type=Path), required=True, help="ingest@<task> output dir."
)
@click.option(
    "--llm", type=click.Path(path_type=Path), required=True, help="Base LLM folder (models stage)."
)
@click.option(
    "--embedder",
    type=click.Path(path_type=Path),
    required=True,
    help="Sentence-transformers folder for the similarity gate (models stage).",
)
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Pivot table (Parquet)."
)
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON.")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Translation/embedding caches [default: $RELEVANCE_CACHE_DIR or ~/.cache/relevance].",
)
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(
    task_name: str,
    ingested: Path,
    llm: Path,
    embedder: Path,
    out: Path,
    metrics: Path,
    cache_dir: Path | None,
    params_path: str,
) -> None:
    """Translate every non-English query into English (or write an empty table)."""
    setup_logging()
    allow_download = force_offline_unless_allowed(
        load_key("models", "allow_download", params_path), source=params_path
    )
    began = time.perf_counter()
    task = get_task(task_name)
    enabled = load_key("input", "pivot_en", params_path)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{params_path}:input.pivot_en: expected true or false, got {enabled!r}")
    config = load_section(TranslatorParams, "translator", params_path)
    if not enabled:
        write_table(empty_frame(PIVOT_SCHEMA), out, PIVOT_SCHEMA)
        write_metrics(metrics, {"enabled": False, "total": {"rows": 0}})
        click.echo(f"pivot@{task.name}: input.pivot_en is false, wrote an empty table -> {out}")
        return
    parts = []
    for split in SPLITS:
        path = ingested / f"{split}.parquet"
        if not path.is_file():
            if split == "test":  # optional, as in ingest
                continue
            raise DataError(f"{path} not found: run ingest@{task.name} first")
        parts.append(pd.read_parquet(path).assign(split=split))
    rows = pd.concat(parts, ignore_index=True)
    cache_dir = cache_dir or default_cache_dir()
    translator = make_translator(config, llm_dir=llm, allow_download=allow_download)
    device = None if config.device == "auto" else config.device
    with (
        TranslationCache(cache_dir) as cache,
        KeyValueStore(cache_dir / "embeddings.sqlite", table="embeddings") as vectors,
    ):
        result = pivot_rows(
            rows,
            translator=translator,
            cache=cache,
            embedder=Embedder(embedder, cache=vectors, device=device),
            config=config,
        )
    write_table(result.rows, out, PIVOT_SCHEMA)
    write_metrics(
        metrics,
        {"enabled": True, **result.report, "seconds": round(time.perf_counter() - began, 1)},
    )
    total = result.report["total"]
    click.echo(
        f"pivot@{task.name}: {total['translated']} queries pivoted to English, "
        f"{total['failed']} failed the gate, {total['english']} already English -> {out}"
    )


if __name__ == "__main__":
    main()
