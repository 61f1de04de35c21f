"""Benchmark: p(yes) from vLLM against the hf scorer, on the same rows and model.

Scores the first ``--rows`` dev rows of a task with the trained ``models/<task>`` twice:
the hf backend (transformers, what predict runs by default; base + adapter merged in
memory) and the vllm backend. vLLM gets the adapter through its LoRA support with
``--lora``; by default it gets the adapter merged into the base and saved in bf16 to a
scratch folder (``predict.vllm_adapter: merge``, what ``train.<task>.merge: true``
writes), because vLLM's CPU LoRA kernels took ~24 s per prompt here where the merged
model serves several prompts/s.
Reports max and mean |delta p(yes)|, how many predictions flip at the task threshold,
ROC AUC of each where the rows have labels, and pairs/s (engine start excluded,
reported apart).

    .venv-vllm/bin/python scripts/bench_vllm_parity.py [--task qc] [--rows 200] --out r.json

(vLLM logs to stdout, hence --out for the report.)

Needs `make vllm` (the second venv with vLLM) and `make repro` (models and predictions).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


@click.command()
@click.option("--task", "task_name", default="qc", show_default=True)
@click.option("--rows", "count", default=200, show_default=True)
@click.option("--dtype", default="bfloat16", show_default=True, help="Both backends.")
@click.option(
    "--lora/--merged", default=False, show_default=True, help="How vLLM gets the adapter."
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def main(task_name: str, count: int, dtype: str, lora: bool, out: Path) -> None:
    from sklearn.metrics import roc_auc_score

    from relevance.model.predict import PredictParams, scorer_for
    from relevance.params import load_threshold
    from relevance.schema import TASKS

    task = TASKS[task_name]
    rows = pd.read_parquet(ROOT / "data" / "ingested" / task_name / "dev.parquet").head(count)
    labels = pd.read_parquet(ROOT / "data" / "predictions" / task_name / "dev.parquet")
    rows = rows.merge(labels[["id", "label"]], on="id", how="left", suffixes=("_raw", ""))
    threshold = load_threshold(task_name, ROOT / "params.yaml")
    report: dict = {"task": task_name, "rows": len(rows), "dtype": dtype}
    scores = {}
    model_dir, base = ROOT / "models" / task_name, ROOT / "models" / "base" / "llm"
    report["vllm_model"] = "base + LoRA (vLLM LoRA)" if lora else "merged (bf16)"
    for backend in ("hf", "vllm"):
        start = time.perf_counter()
        params = PredictParams(
            backend=backend, dtype=dtype, vllm_adapter="lora" if lora else "merge"
        )
        scorer = scorer_for(model_dir, base_model=base, params=params)
        loaded = time.perf_counter()
        scores[backend] = np.asarray(scorer.score(task, rows, label=backend))
        done = time.perf_counter()
        report[backend] = {
            "load_seconds": round(loaded - start, 1),
            "pairs_per_second": round(len(rows) / (done - loaded), 2),
        }
        known = rows["label"].notna().to_numpy()
        if known.any() and len(set(rows.loc[known, "label"])) == 2:
            auc = roc_auc_score(rows.loc[known, "label"], scores[backend][known])
            report[backend]["auc"] = round(float(auc), 4)
        del scorer
    delta = np.abs(scores["hf"] - scores["vllm"])
    report["max_abs_delta_p_yes"] = round(float(delta.max()), 5)
    report["mean_abs_delta_p_yes"] = round(float(delta.mean()), 5)
    flips = (scores["hf"] >= threshold) != (scores["vllm"] >= threshold)
    report["predictions_flipped_at_threshold"] = int(flips.sum())
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":  # vLLM's engine starts worker processes
    main()
