"""DVC stage translate@<task>: synthetic train rows for languages missing from train.

Per target language (the stats stage's ``missing_from_train`` unless params name them),
a seeded sample of source-language train rows gets its query translated; candidate and
label are kept; a quality gate drops bad translations. Translations go through a
content-keyed cache outside the repository, written after every batch: an interrupted
run resumes, and a rerun with the same model and prompt translates nothing.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

import json
import time
from pathlib import Path

import click
import pandas as pd

from relevance.augment.embedding import Embedder
from relevance.augment.translation import (
    TranslateParams,
    TranslationCache,
    TranslatorParams,
    build_translated_rows,
    make_translator,
    sample_sources,
)
from relevance.errors import DataError
from relevance.kvstore import KeyValueStore, default_cache_dir
from relevance.params import load_key, load_section
from relevance.schema import get_task
from relevance.stage import (
    HELP_OPTIONS,
    force_offline_unless_allowed,
    setup_logging,
    user_errors,
    write_metrics,
)
from relevance.tables import TRANSLATED_SCHEMA, empty_frame, write_table


def _missing_languages(path: Path) -> list[str]:
    """Codes (as the data spells them) of the stats stage's ``missing_from_train``."""
    if not path.is_file():
        raise DataError(f"{path} not found: run the stats stage first (it writes languages.json)")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["missing_from_train"]
        return [str(entry["language"]) for entry in entries]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(
            f"{path}: expected the stats stage's JSON with missing_from_train "
            f'[{{"language": ..., "lang": ...}}], could not read it: {err!r}'
        ) from None


@click.command(context_settings=HELP_OPTIONS)
@click.option("--task", "task_name", required=True, help="Task: qc or qi.")
@click.option(
    "--ingested", type=click.Path(path_type=Path), required=True, help="ingest@<task> output dir."
)
@click.option(
    "--languages",
    "languages_path",
    type=click.Path(path_type=Path),
    required=True,
    help="stats@<task> languages.json (missing_from_train).",
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
    "--out", type=click.Path(path_type=Path), required=True, help="Translated rows (Parquet)."
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
    languages_path: Path,
    llm: Path,
    embedder: Path,
    out: Path,
    metrics: Path,
    cache_dir: Path | None,
    params_path: str,
) -> None:
    """Translate sampled train queries into the languages train lacks."""
    setup_logging()
    allow_download = force_offline_unless_allowed(
        load_key("models", "allow_download", params_path), source=params_path
    )
    began = time.perf_counter()
    task = get_task(task_name)
    params = load_section(TranslateParams, "translate", params_path)
    config = load_section(TranslatorParams, "translator", params_path)
    cache_dir = cache_dir or default_cache_dir()
    train_path = ingested / "train.parquet"
    if not train_path.is_file():
        raise DataError(f"{train_path} not found: run ingest@{task.name} first")
    if params.languages == "auto":
        targets = _missing_languages(languages_path)
    else:
        targets = list(params.languages)
    samples = sample_sources(
        pd.read_parquet(train_path),
        targets=targets,
        source_languages=params.source_languages,
        rows_per_language=params.rows_per_language,
        seed=params.seed,
    )
    if samples.empty:  # nothing to translate: no model is loaded
        write_table(empty_frame(TRANSLATED_SCHEMA), out, TRANSLATED_SCHEMA)
        write_metrics(metrics, {"targets": [], "languages": {}, "total": {"sampled": 0, "kept": 0}})
        click.echo(f"translate@{task.name}: no language is missing from train -> {out}")
        return
    translator = make_translator(config, llm_dir=llm, allow_download=allow_download)
    device = None if config.device == "auto" else config.device
    with (
        TranslationCache(cache_dir) as cache,
        KeyValueStore(cache_dir / "embeddings.sqlite", table="embeddings") as vectors,
    ):
        result = build_translated_rows(
            samples,
            translator=translator,
            cache=cache,
            embedder=Embedder(embedder, cache=vectors, device=device),
            config=config,
        )
    write_table(result.rows, out, TRANSLATED_SCHEMA)
    report = {
        **result.report,
        "targets": list(dict.fromkeys(targets)),
        "source_languages": list(params.source_languages),
        "seconds": round(time.perf_counter() - began, 1),
    }
    write_metrics(metrics, report)
    total = report["total"]
    click.echo(
        f"translate@{task.name}: {total['kept']} of {total['sampled']} rows kept "
        f"({', '.join(report['targets'])}), cache hit rate {report['cache']['hit_rate']} -> {out}"
    )


if __name__ == "__main__":
    main()
