"""DVC stage negatives@<task>: semantic hard negatives for the languages train lacks.

Per target language, sampled positives get a candidate ranked [rank_min, rank_max) by
embedding similarity to their own candidate (guarded against false negatives), label 0,
and their query translated into the target language through the translation cache.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

import json
import time
from pathlib import Path

import click
import pandas as pd

from relevance.augment.embedding import Embedder
from relevance.augment.negatives import NegativesParams, mine_hard_negatives, translate_negatives
from relevance.augment.translation import TranslationCache, TranslatorParams, make_translator
from relevance.errors import DataError
from relevance.kvstore import KeyValueStore, default_cache_dir
from relevance.languages import target_languages
from relevance.params import load_key, load_section
from relevance.schema import get_task
from relevance.stage import (
    HELP_OPTIONS,
    force_offline_unless_allowed,
    setup_logging,
    user_errors,
    write_metrics,
)
from relevance.tables import TRANSLATED_NEGATIVES_SCHEMA, write_table


@click.command(context_settings=HELP_OPTIONS)
@click.option("--task", "task_name", required=True, help="Task: qc or qi.")
@click.option(
    "--ingested", type=click.Path(path_type=Path), required=True, help="ingest@<task> output dir."
)
@click.option(
    "--languages", "languages_path", type=click.Path(path_type=Path), required=True,
    help="The stats stage's languages.json (missing_from_train).",
)  # fmt: skip
@click.option("--llm", type=click.Path(path_type=Path), required=True, help="Base LLM folder.")
@click.option(
    "--embedder", type=click.Path(path_type=Path), required=True,
    help="sentence-transformers folder (models stage).",
)  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Parquet out.")
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON.")
@click.option(
    "--cache-dir", type=click.Path(path_type=Path), default=None,
    help="Translation and embedding caches [default: $RELEVANCE_CACHE_DIR or ~/.cache/relevance].",
)  # fmt: skip
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(
    task_name: str,
    ingested: Path,
    languages_path: Path,
    llm: Path,
    embedder: Path,
    out: Path,
    metrics: Path,
    cache_dir: Path | None,
    params_path: str,
) -> None:
    """Mine one hard negative per sampled positive for each missing language."""
    setup_logging()
    allow_download = force_offline_unless_allowed(
        load_key("models", "allow_download", params_path), source=params_path
    )
    began = time.perf_counter()
    task = get_task(task_name)
    config = load_section(NegativesParams, "negatives", params_path)
    translator_config = load_section(TranslatorParams, "translator", params_path)
    cache_dir = cache_dir or default_cache_dir()
    train_path = ingested / "train.parquet"
    for path in (train_path, languages_path):
        if not path.is_file():
            raise DataError(f"{path} not found: run ingest@{task.name} and stats@{task.name} first")
    try:
        languages = json.loads(languages_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{languages_path}: not valid JSON: {err}") from None
    targets = target_languages(
        config.languages, languages, where=f"{params_path}:negatives.languages"
    )
    device = None if translator_config.device == "auto" else translator_config.device
    with (
        TranslationCache(cache_dir) as cache,
        KeyValueStore(cache_dir / "embeddings.sqlite", table="embeddings") as vectors,
    ):
        encoder = Embedder(embedder, cache=vectors, batch_size=config.batch_size, device=device)
        mined = mine_hard_negatives(
            pd.read_parquet(train_path), task=task.name, targets=targets, config=config,
            embed=encoder.encode,
        )  # fmt: skip
        if mined.rows.empty:
            rows, report = mined.rows.iloc[:0], {}
        else:
            rows, report = translate_negatives(
                mined.rows,
                translator=make_translator(
                    translator_config, llm_dir=llm, allow_download=allow_download
                ),
                cache=cache,
                embedder=encoder,
                config=translator_config,
            )
    write_table(rows, out, TRANSLATED_NEGATIVES_SCHEMA)
    write_metrics(
        metrics,
        {
            "targets": [language for language, _ in targets],
            "mining": {"languages": mined.counts, "total": mined.totals()},
            "translation": report,
            "rows_out": len(rows),
            "embedding_cache": {"hits": encoder.hits, "misses": encoder.misses},
            "seconds": round(time.perf_counter() - began, 1),
        },
    )
    click.echo(
        f"negatives@{task.name}: {len(mined.rows)} mined, {len(rows)} kept after translation "
        f"-> {out}"
    )


if __name__ == "__main__":
    main()
