"""Score a file of (query, candidate) rows with a trained model: ``relevance score``.

Outside the DVC graph, for a user with a trained ``models/<task>`` folder and new data:

1. the rows are validated as ingest validates dev/test records: the competition's JSON
   lines, or CSV / TSV / Parquet with the same fields (``id``, ``language``,
   ``origin_query``, ``category_path`` or ``item_title``); the ``task`` field may be
   left out. Bad records are quarantined with their reason and file:line, counted, and
   the run fails past ``ingest.max_bad_fraction``, as ingest does;
2. they get the input options of training (``input.*`` of the params file). With
   ``input.pivot_en`` every non-English query is translated into English first, by the
   pivot stage's own code (translator, quality gate, the shared translation cache):
   the caller passes the translation set-up, as the CLI builds it from the models
   stage's folders;
3. the model folder (``merged/`` if present, else the base model + ``adapter/``) scores
   them with the task, prompt version and head it records
   (:func:`relevance.model.heads.read_prompt_meta`): a folder of another task or of a
   prompt version this code does not build is an error before anything is scored;
4. p(yes) and the prediction at ``threshold.<task>`` (or ``--threshold``) are written
   beside each row's id, language, query and candidate, in input order.

Scores equal predict@<task>'s on the same rows: both build the same scorer
(:func:`relevance.model.predict.scorer_for`) from the same ``predict`` params.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from relevance.data.ingest import IngestParams, check_bad_fraction, read_split
from relevance.errors import ConfigError, DataError
from relevance.model.heads import read_prompt_meta
from relevance.model.inputs import InputParams, prepare_rows
from relevance.model.predict import PredictParams, scorer_for
from relevance.params import load_key, load_section, load_threshold
from relevance.schema import Task, get_task

if TYPE_CHECKING:
    from relevance.augment.translators import TranslationSetup

# What a scored file holds, in this order; ``label`` too when the input has labels.
ROW_COLUMNS = ("id", "language", "lang", "query", "candidate")
SCORED_COLUMNS = (*ROW_COLUMNS, "p_yes", "prediction")
OUTPUT_SUFFIXES = (".parquet", ".csv", ".jsonl")


def model_task(model_dir: Path) -> Task:
    """The task a trained model folder was trained on (its prompt meta)."""
    for folder in (model_dir / "merged", model_dir / "adapter"):
        meta = read_prompt_meta(folder)  # also refuses a prompt version not built here
        if meta is not None:
            return get_task(str(meta.get("task")))
    raise DataError(
        f"{model_dir}: expected a trained model folder (train@<task>'s models/<task>, "
        "with adapter/ or merged/ and their prompt meta), found none"
    )


def write_scored(rows: pd.DataFrame, path: Path) -> None:
    """``rows`` to ``path`` as Parquet, CSV or JSON lines, chosen by the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        rows.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        rows.to_csv(path, index=False)
    else:
        with path.open("w", encoding="utf-8") as handle:
            for record in rows.to_dict(orient="records"):
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")


@dataclasses.dataclass(frozen=True)
class ScoreReport:
    """What one ``relevance score`` run did; the counts reconcile:
    ``records == scored + len(quarantined)``."""

    task: Task
    records: int
    scored: int
    quarantined: list[dict[str, Any]]
    threshold: float
    predicted_positive: int
    pairs_per_second: float
    # With input.pivot_en: prepare_rows' counts (rows, pivoted, no_pivot); else None.
    pivot: dict[str, int] | None = None


def score_file(
    input_path: Path,
    *,
    model_dir: Path,
    base_model: Path,
    out: Path,
    params_path: str | Path = "params.yaml",
    threshold: float | None = None,
    quarantine_out: Path | None = None,
    translation: TranslationSetup | None = None,
) -> ScoreReport:
    """Score every valid record of ``input_path`` with ``model_dir``; write ``out``
    (and the quarantined records to ``quarantine_out``, when there are any).
    ``translation``: where the English pivots come from, needed when the params file
    has ``input.pivot_en`` (:func:`relevance.augment.translators.translation_setup`)."""
    if out.suffix not in OUTPUT_SUFFIXES:
        raise ConfigError(f"{out}: expected an output file ending in {', '.join(OUTPUT_SUFFIXES)}")
    task = model_task(model_dir)
    inputs = load_section(InputParams, "input", params_path)
    if inputs.pivot_en and translation is None:
        raise ConfigError(
            f"{params_path}:input.pivot_en is true: the model reads English pivots of the "
            "queries, so scoring needs a translation set-up (the CLI builds one from "
            "--translator and --embedder)"
        )
    ingest = load_section(IngestParams, "ingest", params_path)
    result = read_split(
        Path(input_path), task=task, split="score", max_record_bytes=ingest.max_record_bytes,
        defaults={"task": task.code},
    )  # fmt: skip
    check_bad_fraction(result, ingest.max_bad_fraction)
    threshold = load_threshold(task.name, params_path) if threshold is None else threshold
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"threshold: expected a value in (0, 1), got {threshold}")
    # A bad threshold stops before the translator loads and runs.
    rows = result.table().to_pandas()
    pivot = english_pivots(rows, translation) if inputs.pivot_en else None
    rows, counts = prepare_rows(rows, params=inputs, pivot=pivot, split="score")

    scorer = scorer_for(
        model_dir, base_model=base_model,
        params=load_section(PredictParams, "predict", params_path, skip=("fallback_label",)),
        allow_download=load_key("models", "allow_download", params_path),
    )  # fmt: skip
    start = time.perf_counter()
    p_yes = np.asarray(scorer.score(task, rows, label=str(input_path)), dtype=np.float64)
    seconds = time.perf_counter() - start

    scored = rows.loc[:, list(ROW_COLUMNS)].copy()
    scored["p_yes"] = p_yes
    scored["prediction"] = (p_yes >= threshold).astype(np.int8)
    if rows["label"].notna().any():
        scored["label"] = rows["label"].astype("Int8")
    write_scored(scored, out)
    if result.quarantine and quarantine_out is not None:
        write_scored(pd.DataFrame(result.quarantine), quarantine_out)
    return ScoreReport(
        task=task,
        records=result.rows_in,
        scored=len(scored),
        quarantined=result.quarantine,
        threshold=threshold,
        predicted_positive=int(scored["prediction"].sum()),
        pairs_per_second=len(scored) / seconds if seconds > 0 else float("inf"),
        pivot=counts if inputs.pivot_en else None,
    )


def english_pivots(rows: pd.DataFrame, translation: TranslationSetup) -> pd.DataFrame:
    """The pivot table of ``rows`` (split ``score``), as pivot@<task> makes it for
    dev/test: :func:`relevance.augment.pivot.pivot_rows` through ``translation``."""
    from relevance.augment.pivot import pivot_rows
    from relevance.augment.translators import open_translation

    columns = ["id", "split", "language", "lang", "query"]
    with open_translation(translation) as tools:
        result = pivot_rows(
            rows.assign(split="score")[columns], **tools.parts(), config=translation.params
        )
    return result.rows
