"""Score every dev/test row of a task with a trained model: p(yes) per row."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from relevance.errors import DataError
from relevance.params import PredictParams
from relevance.schema import Task
from relevance.scoring import make_scorer

log = logging.getLogger(__name__)

PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("lang", pa.string(), nullable=False),
        pa.field("p_yes", pa.float64(), nullable=False),
        pa.field("label", pa.int8(), nullable=True),
    ]
)


def scorer_for(model_dir: Path, *, base_model: Path, params: PredictParams) -> Any:
    """The scorer for a trained model folder (``merged/`` if present, else base + adapter).

    A merged model loads straight into bf16, the fastest CPU path (DESIGN.md).
    """
    merged, adapter = model_dir / "merged", model_dir / "adapter"
    if merged.is_dir():
        target, extra = merged, {}
    elif adapter.is_dir():
        target, extra = base_model, {"adapter_dir": adapter}
    else:
        raise DataError(f"{model_dir}: no merged/ or adapter/ folder: run train first")
    if params.backend == "hf":
        extra.update(batch_size=params.batch_size, device=params.device, dtype=params.dtype)
    else:
        extra.update(
            tensor_parallel_size=params.tensor_parallel_size,
            gpu_memory_utilization=params.gpu_memory_utilization,
            dtype=params.dtype,
        )
    return make_scorer(params.backend, target, max_length=params.max_length, **extra)


def predict_splits(
    *, task: Task, scorer: Any, split_files: dict[str, Path], out_dir: Path
) -> dict[str, Any]:
    """Write ``<split>.parquet`` (id, language, lang, p_yes, label) for each split."""
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, Any] = {}
    for split, path in split_files.items():
        rows = pd.read_parquet(path)
        if rows.empty:
            raise DataError(f"{path}: no rows to score")
        start = time.perf_counter()
        p_yes = scorer.score(task, rows)
        seconds = time.perf_counter() - start
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
        pq.write_table(table, out_dir / f"{split}.parquet", compression="zstd")
        metrics[split] = {
            "rows": len(rows),
            "mean_p_yes": round(float(p_yes.mean()), 6),
            "pairs_per_second": round(len(rows) / seconds, 2),
        }
        log.info("%s %s: scored %d rows in %.1f s", task.code, split, len(rows), seconds)
    return metrics
