"""Score every dev/test row of a task with a trained model, or an ensemble of them:
p(yes) per row (the ``predict@<task>`` stage, :func:`predict_task`).

An ensemble (the winning team's fold models) is weighted soft voting: the weighted mean
of the members' p(yes) (:func:`average_p_yes`), members scored one after another so only
one model is in memory at a time (:func:`predict_ensemble`). Rows get the same input
options as in training (:func:`relevance.model.inputs.prepare_rows`).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from relevance.errors import ConfigError, DataError
from relevance.launch import is_main_process, launched, process_state
from relevance.model.encoder import ENCODER_META_FILE, EncoderScorer
from relevance.model.inputs import InputParams, prepare_rows
from relevance.model.scoring import ADAPTER_MODES, check_yes_no_for_vllm, make_scorer
from relevance.schema import Task
from relevance.tables import PREDICTION_SCHEMA, read_table, write_arrow

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PredictParams:
    """Scoring p(yes) for dev/test rows.

    ``backend``: ``hf`` (transformers; bf16 on capable CPUs and GPUs) or ``vllm``
    (CUDA GPUs, ``pip install .[gpu]``). ``batch_size`` rows per forward pass (hf);
    rows are sorted by length first, so padding stays small. ``num_processes`` (hf):
    above 1, predict@<task> runs itself in that many processes (:mod:`relevance.launch`;
    one GPU each), each scores a contiguous share of the rows and rank 0 writes them
    all in input order (:func:`score_rows`). vLLM spreads a model over GPUs with
    ``tensor_parallel_size`` instead.
    """

    backend: str = "hf"
    batch_size: int = 32
    max_length: int = 256
    device: str = "auto"
    dtype: str = "auto"
    num_processes: int = 1  # hf only
    tensor_parallel_size: int = 1  # vllm only
    gpu_memory_utilization: float = 0.9  # vllm only
    # vllm only: how vLLM gets a LoRA adapter (no merged/ folder): "lora" (its LoRA
    # support), "merge" (merged into the base for serving), "auto" (lora on GPUs, merge
    # on CPUs, where vLLM's LoRA kernels are far too slow).
    vllm_adapter: str = "auto"
    # The answer for a dev/test record that cannot be scored (quarantined at ingest but
    # its id readable): every id must be in the submission. Read by evaluate, not by
    # predict. 1: the majority class (~69% QC / ~62% QI positive).
    fallback_label: int = 1

    def __post_init__(self) -> None:
        if self.fallback_label not in (0, 1):
            raise ConfigError(f"fallback_label: expected 0 or 1, got {self.fallback_label!r}")
        if self.backend not in ("hf", "vllm"):
            raise ConfigError(f"backend: expected hf or vllm, got {self.backend!r}")
        if self.vllm_adapter not in ADAPTER_MODES:
            raise ConfigError(
                f"vllm_adapter: expected one of {list(ADAPTER_MODES)}, got {self.vllm_adapter!r}"
            )
        if self.num_processes < 1 or (self.backend == "vllm" and self.num_processes > 1):
            raise ConfigError(
                f"num_processes: expected 1 or more (1 with the vllm backend, which uses "
                f"tensor_parallel_size), got {self.num_processes}"
            )
        if self.batch_size < 1 or self.max_length < 16:
            raise ConfigError(
                "batch_size must be >= 1 and max_length >= 16, got "
                f"{self.batch_size} and {self.max_length}"
            )


def scorer_for(
    model_dir: Path, *, base_model: Path, params: PredictParams, allow_download: bool = False
) -> Any:
    """The scorer for a trained model folder (``merged/`` if present, else base + adapter).

    An encoder (its folder holds :data:`relevance.model.encoder.ENCODER_META_FILE`)
    scores with :class:`relevance.model.encoder.EncoderScorer` whatever the backend.

    A merged model loads straight into bf16, the fastest CPU path (DESIGN.md). The head
    (yes/no or seq_cls) comes from the folder's prompt meta; a seq_cls model with the
    vllm backend is a ConfigError (hf only). ``allow_download`` (``models.allow_download``)
    lets ``base_model`` be a hub id; otherwise one is a ConfigError before anything loads.
    """
    merged, adapter = model_dir / "merged", model_dir / "adapter"
    if merged.is_dir():
        target, extra = merged, {}
    elif adapter.is_dir():
        target, extra = base_model, {"adapter_dir": adapter}
    else:
        raise DataError(f"{model_dir}: no merged/ or adapter/ folder: run train first")
    trained = merged if merged.is_dir() else adapter
    if (trained / ENCODER_META_FILE).is_file():
        if params.backend != "hf":
            log.warning(
                "%s is an encoder: it scores with the encoder scorer (predict.backend %s "
                "serves causal LMs)", trained, params.backend,
            )  # fmt: skip
        return EncoderScorer(
            trained, batch_size=params.batch_size, device=params.device, dtype=params.dtype,
            base_model=base_model,
        )  # fmt: skip
    if params.backend == "vllm":
        check_yes_no_for_vllm(merged if merged.is_dir() else adapter)
    if params.backend == "hf":
        extra.update(batch_size=params.batch_size, device=params.device, dtype=params.dtype)
    else:
        extra.update(
            tensor_parallel_size=params.tensor_parallel_size,
            gpu_memory_utilization=params.gpu_memory_utilization,
            dtype=params.dtype,
        )
        if "adapter_dir" in extra:
            extra["adapter_mode"] = params.vllm_adapter
    return make_scorer(
        params.backend,
        target,
        max_length=params.max_length,
        allow_download=allow_download,
        **extra,
    )


def _read_split(source: Path | pd.DataFrame) -> pd.DataFrame:
    """Rows of a split: a Parquet path, or rows already read (and prepared, e.g. with
    :func:`relevance.model.inputs.prepare_rows`)."""
    rows = source if isinstance(source, pd.DataFrame) else pd.read_parquet(source)
    if rows.empty:
        where = "rows" if isinstance(source, pd.DataFrame) else str(source)
        raise DataError(f"{where}: no rows to score")
    return rows


def _write_split(rows: pd.DataFrame, p_yes: np.ndarray, path: Path) -> None:
    table = pa.table(
        {
            "id": rows["id"].to_numpy(),
            "language": rows["language"].to_numpy(),
            "lang": rows["lang"].to_numpy(),
            "p_yes": p_yes,
            "label": pa.array(rows["label"].astype("Int8"), type=pa.int8(), from_pandas=True),
        },
        schema=PREDICTION_SCHEMA,
    )
    write_arrow(table, path)


def score_rows(scorer: Any, task: Task, rows: pd.DataFrame, *, label: str) -> np.ndarray:
    """p(yes) of ``rows`` in row order.

    In a launched group (``predict.num_processes`` > 1) each process scores a contiguous
    share of the rows and every process gets all the scores back, in row order.
    """
    if not launched():
        return scorer.score(task, rows, label=label)
    from accelerate.utils import gather_object

    state = process_state(str(getattr(scorer, "device", "auto")))
    with state.split_between_processes(list(range(len(rows)))) as mine:
        part = (
            scorer.score(task, rows.iloc[mine], label=f"{label}, process {state.process_index}")
            if mine
            else np.zeros(0)
        )
        share = [(mine[0] if mine else len(rows), [float(p) for p in part])]
    pieces = sorted(gather_object(share))
    return np.asarray([p for _, part in pieces for p in part], dtype=np.float64)


def predict_splits(
    *, task: Task, scorer: Any, split_files: dict[str, Path | pd.DataFrame], out_dir: Path
) -> dict[str, Any]:
    """Write ``<split>.parquet`` (id, language, lang, p_yes, label) for each split."""
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, Any] = {}
    for split, path in split_files.items():
        rows = _read_split(path)
        start = time.perf_counter()
        p_yes = score_rows(scorer, task, rows, label=split)
        seconds = time.perf_counter() - start
        if is_main_process():
            _write_split(rows, p_yes, out_dir / f"{split}.parquet")
        metrics[split] = {
            "rows": len(rows),
            "mean_p_yes": round(float(p_yes.mean()), 6),
            "pairs_per_second": round(len(rows) / seconds, 2),
        }
        log.info("%s %s: scored %d rows in %.1f s", task.code, split, len(rows), seconds)
    return metrics


# ------------------------------------------------------------------- ensembles


def ensemble_weights(count: int, weights: Sequence[float] | None = None) -> np.ndarray:
    """Normalised member weights: float64 [count], non-negative, summing to 1.

    Args:
        count: number of members (>= 1).
        weights: one finite, non-negative weight per member, not all zero; None gives
            every member the same weight.

    Raises:
        ConfigError: no members, a count mismatch, or a negative, non-finite or all-zero
            weight (the message lists what came).
    """
    if count < 1:
        raise ConfigError("an ensemble needs at least one model: got none")
    if weights is None:
        return np.full(count, 1.0 / count)
    values = list(weights)
    if len(values) != count:
        raise ConfigError(
            f"ensemble weights: expected one per model ({count}), got {len(values)}: {values}"
        )
    try:
        w = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"ensemble weights must be numbers, got {values}") from err
    bad = [v for v in values if not math.isfinite(float(v)) or float(v) < 0]
    if bad:
        raise ConfigError(f"ensemble weights must be finite and >= 0, got {values}")
    if w.sum() <= 0:
        raise ConfigError(f"ensemble weights must not all be 0, got {values}")
    return w / w.sum()


def average_p_yes(
    p_yes: Sequence[np.ndarray], weights: Sequence[float] | None = None
) -> np.ndarray:
    """Weighted soft voting: the weighted mean of several models' p(yes) for the same rows.

    Args:
        p_yes: one array per model, each [N] with values in [0, 1], rows in the same order.
        weights: one weight per model (normalised here: only their ratios matter), >= 0
            and not all 0; None: equal weights (the plain mean).

    Returns:
        float64 [N]: ``sum_k w_k * p_yes[k] / sum_k w_k``.

    Raises:
        ConfigError: no arrays, bad weights (:func:`ensemble_weights`).
        DataError: arrays of different shapes, not 1-D, or values outside [0, 1] / NaN.
    """
    w = ensemble_weights(len(p_yes), weights)
    arrays = [np.asarray(a, dtype=np.float64) for a in p_yes]
    shapes = [a.shape for a in arrays]
    if any(len(s) != 1 for s in shapes) or len(set(shapes)) != 1:
        raise DataError(f"p(yes) arrays must be 1-D and the same length, got shapes {shapes}")
    stacked = np.stack(arrays)  # [K, N]
    outside = ~((stacked >= 0) & (stacked <= 1))  # NaN counts as outside
    if outside.any():
        members = sorted(set(np.nonzero(outside)[0].tolist()))
        raise DataError(
            f"p(yes) must lie in [0, 1]: arrays {members} have {int(outside.sum())} values "
            "outside (or NaN)"
        )
    return w @ stacked


def predict_ensemble(
    *,
    task: Task,
    model_dirs: Sequence[Path],
    base_model: Path,
    params: PredictParams,
    split_files: dict[str, Path | pd.DataFrame],
    out_dir: Path,
    weights: Sequence[float] | None = None,
    allow_download: bool = False,
) -> dict[str, Any]:
    """Score every split with each model in ``model_dirs`` and write the weighted mean.

    Each model folder is what :func:`scorer_for` takes (a train output with ``merged/``
    or ``adapter/``; heads may differ). Models are scored one after another and each is
    freed before the next loads, so memory holds one model (plus the [models, rows]
    p(yes) floats). Writes ``<split>.parquet`` with the :data:`PREDICTION_SCHEMA` of
    :func:`predict_splits`, ``p_yes`` being the ensemble's. ``allow_download`` as in
    :func:`scorer_for`.

    Returns:
        per split: ``rows``, ``mean_p_yes`` (ensemble), ``pairs_per_second`` (rows over
        the scoring time of all members), and ``members``: per model its folder,
        normalised weight, ``mean_p_yes`` and ``pairs_per_second``.

    Raises:
        ConfigError: bad weights (checked before any model loads).
    """
    model_dirs = [Path(m) for m in model_dirs]
    w = ensemble_weights(len(model_dirs), weights)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows_of = {split: _read_split(path) for split, path in split_files.items()}
    scores: dict[str, list[np.ndarray]] = {split: [] for split in rows_of}
    members: dict[str, list[dict[str, Any]]] = {split: [] for split in rows_of}
    seconds = dict.fromkeys(rows_of, 0.0)
    for k, model_dir in enumerate(model_dirs):
        log.info("ensemble member %d/%d: %s (weight %.4f)", k + 1, len(model_dirs), model_dir, w[k])
        scorer = scorer_for(
            model_dir, base_model=base_model, params=params, allow_download=allow_download
        )
        for split, rows in rows_of.items():
            start = time.perf_counter()
            member = f"{split} (member {k + 1}/{len(model_dirs)})"
            p_yes = score_rows(scorer, task, rows, label=member)
            took = time.perf_counter() - start
            seconds[split] += took
            scores[split].append(p_yes)
            members[split].append(
                {
                    "model": str(model_dir),
                    "weight": round(float(w[k]), 6),
                    "mean_p_yes": round(float(p_yes.mean()), 6),
                    "pairs_per_second": round(len(rows) / took, 2),
                }
            )
        # Free this model before the next one loads.
        del scorer
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    metrics: dict[str, Any] = {}
    for split, rows in rows_of.items():
        p_yes = average_p_yes(scores[split], w)
        if is_main_process():
            _write_split(rows, p_yes, out_dir / f"{split}.parquet")
        metrics[split] = {
            "rows": len(rows),
            "mean_p_yes": round(float(p_yes.mean()), 6),
            "pairs_per_second": round(len(rows) / seconds[split], 2),
            "members": members[split],
        }
        log.info(
            "%s %s: %d models, %d rows in %.1f s",
            task.code, split, len(model_dirs), len(rows), seconds[split],
        )  # fmt: skip
    return metrics


# ------------------------------------------------------------------ the stage


def prepared_splits(
    task: Task, *, ingested: Path, pivot: Path, inputs: InputParams
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, int]]]:
    """The dev (and, when ingested, test) rows of ``task`` with the input options of
    training applied (English pivot from ``pivot``), and per split what they did."""
    if not (ingested / "dev.parquet").is_file():
        raise DataError(f"{ingested}/dev.parquet not found: run ingest@{task.name} first")
    english = read_table(pivot, made_by=f"pivot@{task.name}")
    splits, input_counts = {}, {}
    for split in ("dev", "test"):
        if (ingested / f"{split}.parquet").is_file():
            rows = pd.read_parquet(ingested / f"{split}.parquet")
            splits[split], input_counts[split] = prepare_rows(
                rows, params=inputs, pivot=english, split=split
            )
    return splits, input_counts


def predict_task(
    task: Task,
    *,
    model_dir: Path,
    base_model: Path,
    ingested: Path,
    pivot: Path,
    out_dir: Path,
    params: PredictParams,
    inputs: InputParams,
    cv_models: Path,
    ensemble_size: int = 0,
    weights: Sequence[float] = (),
    allow_download: bool = False,
) -> dict[str, Any]:
    """The predict@<task> stage: write p(yes) for the dev (and, when ingested, test) rows
    to ``out_dir/<split>.parquet`` and return the stage's metrics.

    Rows get the input options of training (``inputs``, English pivot from ``pivot``).
    ``ensemble_size`` 0 scores ``model_dir`` (train@<task>); K >= 2 averages the K fold
    models ``cv_models/fold-*`` (``cv.ensemble``) with ``weights`` (empty: equal).
    """
    if launched():
        process_state(params.device)  # joins the group; on GPUs, this rank's device is current
    splits, input_counts = prepared_splits(task, ingested=ingested, pivot=pivot, inputs=inputs)
    if ensemble_size:
        members = sorted(cv_models.glob("fold-*"))
        if len(members) != ensemble_size:
            raise DataError(
                f"{cv_models}: cv.ensemble needs {ensemble_size} fold models, found "
                f"{len(members)}: run cv@{task.name}"
            )
        result = predict_ensemble(
            task=task, model_dirs=members, base_model=base_model, params=params,
            split_files=splits, out_dir=out_dir, weights=list(weights) or None,
            allow_download=allow_download,
        )  # fmt: skip
    else:
        scorer = scorer_for(
            model_dir, base_model=base_model, params=params, allow_download=allow_download
        )
        result = predict_splits(task=task, scorer=scorer, split_files=splits, out_dir=out_dir)
    for split, counts in input_counts.items():
        result[split]["input"] = counts
    return result


def summary_line(task: Task, metrics: dict[str, Any]) -> str:
    """The stage's one line: rows and throughput per split."""
    return f"predict@{task.name}: " + ", ".join(
        f"{split} {m['rows']} rows at {m['pairs_per_second']:.1f} pairs/s"
        for split, m in metrics.items()
    )
