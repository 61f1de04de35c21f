"""Benchmark: the shipped LoRA training step against the CPU's bf16 matmul rate.

Trains gemma-3-270m (the models stage's folder) with the pipeline's own `train_lora` and
the train.qc params of params.yaml (batch 32, rank 16, the paper's Alpaca prompt) on the
bundled sample's QC rows, and reports per optimizer step: seconds (the median step of
each run, then the median over runs, the first steps of a run left out as warm-up),
non-padding tokens, the FLOPs they cost (4 x body parameters x tokens: forward, and the
backward through the frozen weights; LoRA's own gradients are small) and that rate as a
share of the bf16 matmul rate measured in the same process (2048^3 and the step's own
[tokens, 640] x [640, 2048] shape).

    python scripts/bench_train.py [--runs 3] [--steps 8] [--warmup 2] [--set key=value ...]

`--set` overrides one train.qc field for the run (e.g. `--set attn_implementation=sdpa`),
to compare settings with everything else equal.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "models" / "base" / "llm"


def matmul_gflops(m: int, k: int, n: int, repeats: int = 20) -> float:
    a = torch.randn(m, k, dtype=torch.bfloat16)
    b = torch.randn(k, n, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * m * k * n * repeats / (time.perf_counter() - start) / 1e9


def one_run(rows: pd.DataFrame, params, steps: int, warmup: int) -> dict:
    from transformers import TrainerCallback

    from relevance.model.train import train_lora
    from relevance.schema import TASKS

    times: list[float] = []

    class StepClock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.began = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter() - self.began)

    with tempfile.TemporaryDirectory() as tmp:
        result = train_lora(
            model_dir=BASE, task=TASKS["qc"], rows=rows, config=params, out_dir=Path(tmp),
            progress=False, callbacks=[StepClock()],
        )  # fmt: skip
    return {"step_seconds": times[warmup:], "summary": result.summary}


@click.command()
@click.option("--runs", default=3, show_default=True)
@click.option("--steps", default=8, show_default=True, help="Optimizer steps per run.")
@click.option("--warmup", default=2, show_default=True, help="First steps left out.")
@click.option("--set", "overrides", multiple=True, help="train.qc field=value for this run.")
def main(runs: int, steps: int, warmup: int, overrides: tuple[str, ...]) -> None:
    from relevance.model.train import load_train_params

    params = load_train_params("qc", ROOT / "params.yaml")
    changes = {}
    for item in overrides:
        key, _, value = item.partition("=")
        changes[key] = yaml.safe_load(value)
    params = dataclasses.replace(
        params, max_steps=steps, save_steps=10_000, logging_steps=1, **changes
    )
    train = pd.read_json(ROOT / "data/sample/train_QC.txt", lines=True)
    dev = pd.read_json(ROOT / "data/sample/dev_QC.txt", lines=True)
    frame = pd.concat([train, dev], ignore_index=True).rename(
        columns={"origin_query": "query", "category_path": "candidate"}
    )
    frame["lang"] = frame["language"]
    frame["label"] = (np.arange(len(frame)) % 3 != 0).astype(int)
    rows = frame.sample(n=steps * params.per_device_batch_size, random_state=0)
    per_run = [one_run(rows.reset_index(drop=True), params, steps, warmup) for _ in range(runs)]
    summary = per_run[-1]["summary"]
    tokens_per_row = summary["tokens_per_row_mean"]
    tokens = tokens_per_row * params.per_device_batch_size
    body = summary["total_params"] - summary["trainable_params"] - 262144 * 640  # no embed
    step_seconds = statistics.median(statistics.median(r["step_seconds"]) for r in per_run)
    flops = 4 * body * tokens
    square = matmul_gflops(2048, 2048, 2048)
    shaped = matmul_gflops(int(tokens), 640, 2048)
    rate = flops / step_seconds / 1e9
    click.echo(
        json.dumps(
            {
                "settings": {"batch": params.per_device_batch_size, **changes},
                "runs": runs,
                "steps_timed_per_run": steps - warmup,
                "step_seconds_median": round(step_seconds, 3),
                "step_seconds_per_run": [
                    round(statistics.median(r["step_seconds"]), 3) for r in per_run
                ],
                "tokens_per_step": round(tokens),
                "tokens_per_second": round(tokens / step_seconds),
                "body_params": body,
                "gflop_per_step": round(flops / 1e9),
                "achieved_gflops": round(rate),
                "matmul_bf16_gflops_2048": round(square),
                "matmul_bf16_gflops_step_shape": round(shaped),
                "share_of_2048_rate": round(rate / square, 3),
                "share_of_step_shape_rate": round(rate / shaped, 3),
                "matmul_dtype": summary.get("matmul_dtype"),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
