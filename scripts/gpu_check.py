"""CUDA checks of the training, launching and scoring paths on one GPU, with nothing to
download: a machine with torch (CUDA), transformers, peft and accelerate is enough (DVC,
DuckDB and the weight packages are not needed).

    PYTHONPATH=src:stages:tests python scripts/gpu_check.py --gemma-shape DIR --out FILE

1. tiny: the tests' tiny Gemma-3 LM (tests/tiny_lm.py) trained by ``train_lora`` on the
   GPU with bf16 autocast (the loss must fall), then its adapter scored by ``HFScorer`` on
   the GPU in bf16 and on the CPU in fp32: max |delta p(yes)| and whether the ranking holds.
2. launch: stages/train.py on toy rows (fp32), plain and under each launcher on the one
   GPU (torchrun, which is NCCL there; accelerate launch with configs/accelerate/ddp.yaml
   and fsdp.yaml): exit status, world size, and max |delta| of each adapter against the
   plain run's.
3. gemma: gemma-3-270m's shape and tokenizer (config.json and tokenizer files from DIR;
   random weights, since the real ones ship in a package too large to carry) trained at
   params.yaml's train.qc settings: seconds per optimizer step (median over runs of the
   median step, warm-up steps left out), non-padding tokens/s and the body's FLOP rate
   against a bf16 matmul measured in the same process; then HFScorer pairs/s in bf16 on
   the bundled sample's QC rows at two batch sizes.

Each part records an error instead of stopping the others; the JSON goes to --out.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import click
import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _bf16_matmul_tflops(device: str, n: int = 8192, repeats: int = 10) -> float:
    n = n if device == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    _sync()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync()
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12


def _sample_rows(n: int | None = None) -> pd.DataFrame:
    """The bundled sample's QC rows (train and dev) as scoring/training rows."""
    train = pd.read_json(ROOT / "data/sample/train_QC.txt", lines=True)
    dev = pd.read_json(ROOT / "data/sample/dev_QC.txt", lines=True)
    frame = pd.concat([train, dev], ignore_index=True).rename(
        columns={"origin_query": "query", "category_path": "candidate"}
    )
    frame["lang"] = frame["language"]
    frame["label"] = (np.arange(len(frame)) % 3 != 0).astype(int)
    if n is not None:
        frame = frame.sample(n=min(n, len(frame)), random_state=0)
    return frame.reset_index(drop=True)


def check_tiny(work: Path, device: str) -> dict:
    from tiny_lm import build_tiny_lm, toy_rows

    from relevance.model.scoring import HFScorer
    from relevance.model.train import TrainParams, train_lora
    from relevance.schema import TASKS

    model_dir = build_tiny_lm(work / "tiny_lm")
    config = TrainParams(
        seed=42, lora_rank=8, lora_alpha=32, lora_dropout=0.0, learning_rate=1e-2,
        per_device_batch_size=8, max_steps=40, warmup_ratio=0.0, logging_steps=5,
        save_steps=1000, bf16="auto",
    )  # fmt: skip
    start = time.perf_counter()
    result = train_lora(
        model_dir=model_dir, task=TASKS["qc"], rows=toy_rows(64), config=config,
        out_dir=work / "tiny_run", progress=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    history = [e["loss"] for e in result.summary["loss_history"]]
    rows = toy_rows(200, seed=7)
    scores = {}
    for where, dtype in ((device, "bfloat16"), ("cpu", "float32")):
        scorer = HFScorer(
            model_dir, adapter_dir=result.adapter_dir, device=where, dtype=dtype,
            batch_size=32, progress=False,
        )  # fmt: skip
        scores[f"{where}_{dtype}"] = scorer.score(TASKS["qc"], rows)
    gpu, cpu = scores[f"{device}_bfloat16"], scores["cpu_float32"]
    delta = np.abs(gpu - cpu)
    from sklearn.metrics import roc_auc_score

    return {
        "device": result.summary["device"],
        "bf16_autocast": result.summary["bf16_autocast"],
        "matmul_dtype": result.summary["matmul_dtype"],
        "train_seconds_40_steps": round(seconds, 2),
        "loss_first_last": [round(history[0], 4), round(history[-1], 4)],
        "loss_fell": history[-1] < history[0],
        f"max_abs_dp_{device}_bf16_vs_cpu_fp32": round(float(delta.max()), 5),
        "mean_abs_dp": round(float(delta.mean()), 5),
        f"auc_{device}_bf16": round(float(roc_auc_score(rows["label"], gpu)), 4),
        "auc_cpu_fp32": round(float(roc_auc_score(rows["label"], cpu)), 4),
    }


def _stage_command(root: Path, model_dir: Path) -> list[str]:
    return [
        str(ROOT / "stages" / "train.py"), "--task", "qc",
        "--base-model", str(model_dir), "--train", str(root / "filtered.parquet"),
        "--pivot", str(root / "pivot.parquet"), "--tapt", str(root / "tapt"),
        "--checkpoints", str(root / "ckpt"), "--out-dir", str(root / "model"),
        "--metrics", str(root / "train.json"), "--params", str(root / "params.yaml"),
    ]  # fmt: skip


def check_launch(work: Path) -> dict:
    import yaml
    from safetensors.torch import load_file
    from tiny_lm import toy_rows

    from relevance.tables import PIVOT_SCHEMA, empty_frame

    model_dir = work / "tiny_lm"  # built by check_tiny
    launchers = {
        "plain": [sys.executable],
        "torchrun": [sys.executable, "-m", "torch.distributed.run", "--standalone",
                     "--nproc_per_node", "1"],
        "accelerate_ddp": [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                           str(ROOT / "configs/accelerate/ddp.yaml"), "--num_processes", "1"],
        "accelerate_fsdp": [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                            str(ROOT / "configs/accelerate/fsdp.yaml"), "--num_processes", "1"],
    }  # fmt: skip
    out: dict = {}
    adapters = {}
    for name, launcher in launchers.items():
        root = work / f"launch_{name}"
        root.mkdir()
        toy_rows(64).to_parquet(root / "filtered.parquet")
        empty_frame(PIVOT_SCHEMA).to_parquet(root / "pivot.parquet")
        (root / "params.yaml").write_text(yaml.safe_dump({
            "models": {"allow_download": False},
            "input": {"pivot_en": False, "lowercase": False},
            "train": {"qc": {"seed": 42, "lora_rank": 8, "lora_alpha": 32, "lora_dropout": 0.0,
                             "learning_rate": 1e-2, "per_device_batch_size": 8, "max_steps": 6,
                             "warmup_ratio": 0.0, "logging_steps": 1, "save_steps": 1000,
                             "bf16": False}},
        }))  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(
            [*launcher, *_stage_command(root, model_dir)], capture_output=True, text=True,
            timeout=300, check=False, env={**os.environ, "RELEVANCE_LOG_LEVEL": "WARNING"},
        )  # fmt: skip
        entry: dict = {"rc": done.returncode, "seconds": round(time.perf_counter() - start, 1)}
        if done.returncode != 0:
            entry["stderr_tail"] = done.stderr[-2500:]
        else:
            summary = json.loads((root / "model" / "train_summary.json").read_text())
            entry.update(device=summary["device"], world_size=summary["world_size"])
            adapters[name] = load_file(root / "model" / "adapter" / "adapter_model.safetensors")
            if name != "plain" and "plain" in adapters:
                a, b = adapters["plain"], adapters[name]
                entry["same_keys"] = a.keys() == b.keys()
                entry["max_abs_weight_delta_vs_plain"] = float(
                    max((a[k] - b[k]).abs().max() for k in a if k in b)
                )
        out[name] = entry
    return out


def check_gemma(
    work: Path, shape_dir: Path, device: str, runs: int, steps: int, warmup: int
) -> dict:
    import shutil

    from transformers import AutoConfig, AutoModelForCausalLM, TrainerCallback

    from relevance.model.scoring import HFScorer
    from relevance.model.train import load_train_params, train_lora
    from relevance.schema import TASKS

    folder = work / "gemma_shape"
    folder.mkdir()
    for name in ("config.json", "generation_config.json", "tokenizer.json",
                 "tokenizer_config.json"):  # fmt: skip
        if (shape_dir / name).is_file():
            shutil.copy(shape_dir / name, folder / name)
    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(folder)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(folder)
    del model

    params = load_train_params("qc", ROOT / "params.yaml")
    params = dataclasses.replace(params, max_steps=steps, save_steps=10_000, logging_steps=1)
    rows = _sample_rows(steps * params.per_device_batch_size)

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            _sync()
            self.began = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            _sync()
            self.times.append(time.perf_counter() - self.began)

    per_run: list[list[float]] = []
    summary: dict = {}
    for run in range(runs):
        clock = StepClock()
        result = train_lora(
            model_dir=folder, task=TASKS["qc"], rows=rows, config=params,
            out_dir=work / f"gemma_run{run}", progress=False, callbacks=[clock],
        )  # fmt: skip
        per_run.append(clock.times[warmup:])
        summary = result.summary
    step = statistics.median(statistics.median(t) for t in per_run)
    tokens = summary["tokens_per_row_mean"] * params.per_device_batch_size
    embed = config.vocab_size * config.hidden_size
    body = summary["total_params"] - summary["trainable_params"] - embed
    flops = 4 * body * tokens
    matmul = _bf16_matmul_tflops(device)
    training = {
        "batch": params.per_device_batch_size,
        "attn_implementation": params.attn_implementation,
        "device": summary["device"],
        "weights_dtype": summary["weights_dtype"],
        "matmul_dtype": summary["matmul_dtype"],
        "runs": runs,
        "steps_timed_per_run": steps - warmup,
        "step_seconds_median": round(step, 4),
        "step_seconds_per_run": [round(statistics.median(t), 4) for t in per_run],
        "tokens_per_step": round(tokens),
        "tokens_per_second": round(tokens / step),
        "body_tflop_per_s": round(flops / step / 1e12, 2),
        "bf16_matmul_tflop_per_s": round(matmul, 1),
        "share_of_matmul_rate": round(flops / step / 1e12 / matmul, 4),
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if device == "cuda"
        else None,
    }
    scoring = {}
    frame = _sample_rows()
    for batch in (64, 256):
        scorer = HFScorer(folder, batch_size=batch, progress=False)
        scorer.score(TASKS["qc"], frame.head(batch))  # warm-up
        rates = []
        for _ in range(3):
            _sync()
            start = time.perf_counter()
            scorer.score(TASKS["qc"], frame)
            _sync()
            rates.append(len(frame) / (time.perf_counter() - start))
        scoring[f"batch_{batch}"] = {
            "rows": len(frame), "dtype": str(scorer.dtype).removeprefix("torch."),
            "pairs_per_s_median_of_3": round(statistics.median(rates), 1),
        }  # fmt: skip
        del scorer
    return {"training": training, "scoring": scoring}


@click.command()
@click.option("--gemma-shape", type=click.Path(path_type=Path), required=True,
              help="Folder with gemma-3-270m's config.json and tokenizer files.")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--runs", default=3, show_default=True)
@click.option("--steps", default=8, show_default=True)
@click.option("--warmup", default=2, show_default=True)
@click.option("--parts", default="tiny,launch,gemma", show_default=True)
@click.option("--device", default="cuda", show_default=True,
              help="cpu: a dry run of the script itself on a machine without a GPU.")  # fmt: skip
def main(
    gemma_shape: Path, out: Path, runs: int, steps: int, warmup: int, parts: str, device: str
) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        raise click.ClickException("no CUDA device: this script checks the GPU paths")
    import accelerate
    import peft
    import transformers

    report: dict = {
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
        "versions": {
            module.__name__: module.__version__
            for module in (torch, transformers, peft, accelerate)
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        checks = {
            "tiny": lambda: check_tiny(work, device),
            "launch": lambda: check_launch(work),
            "gemma": lambda: check_gemma(work, gemma_shape, device, runs, steps, warmup),
        }
        for name in parts.split(","):
            part = checks[name]
            start = time.perf_counter()
            try:
                report[name] = part()
            except Exception:  # a report of every part, whatever fails
                report[name] = {"error": traceback.format_exc()[-3000:]}
            report[name]["part_seconds"] = round(time.perf_counter() - start, 1)
            out.write_text(json.dumps(report, indent=2))
            click.echo(f"{name}: {json.dumps(report[name])[:1500]}", err=True)


if __name__ == "__main__":
    main()
