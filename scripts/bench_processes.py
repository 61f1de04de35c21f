"""Benchmark: train@qc and predict@qc of the real model in one process against two (the
data-parallel paths), on the pipeline's own inputs, through the stage scripts as
`dvc repro` runs them.

    python scripts/bench_processes.py [--steps 12] [--out processes.json]

Training: params.yaml's train.qc for --steps optimizer steps on data/filtered/qc.parquet,
once in one process (per-device batch 16, torch's threads over both cores) and once in
two (train.qc.num_processes: 2, per-device batch 8: the same global batch; the stage
starts torchrun, one thread per process). Reports wall seconds of each stage run
(process start and model load included) and the max |delta| of the adapter weights.

Scoring: predict@qc with the one-process adapter on the sample's dev and test rows,
predict.num_processes 1 and 2: wall seconds and max |delta p(yes)|.

Needs `dvc repro` first (models, filtered rows, pivot).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd
import yaml
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent


def _params(folder: Path, *, steps: int, processes: int, batch: int) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["qc"].update(
        max_steps=steps, num_processes=processes, per_device_batch_size=batch, save_steps=10_000
    )
    params["predict"]["num_processes"] = processes
    path = folder / f"params{processes}.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _run(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise click.ClickException(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


@click.command()
@click.option("--steps", default=12, show_default=True, help="Optimizer steps per run.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def main(steps: int, out: Path | None) -> None:
    report: dict = {"steps": steps, "global_batch": 16}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        adapters = {}
        for processes in (1, 2):
            params = _params(work, steps=steps, processes=processes, batch=16 // processes)
            model = work / f"model{processes}"
            seconds = _run([
                "stages/train.py", "--task", "qc", "--base-model", "models/base/llm",
                "--train", "data/filtered/qc.parquet", "--pivot", "data/pivot/qc.parquet",
                "--tapt", "models/tapt/qc", "--checkpoints", str(work / f"ckpt{processes}"),
                "--out-dir", str(model), "--metrics", str(work / f"train{processes}.json"),
                "--params", str(params),
            ])  # fmt: skip
            adapters[processes] = load_file(model / "adapter" / "adapter_model.safetensors")
            report[f"train_{processes}_process_seconds"] = round(seconds, 1)
        a, b = adapters[1], adapters[2]
        report["adapter_max_abs_delta"] = float(max((a[k] - b[k]).abs().max() for k in a))
        report["adapter_max_abs_weight"] = float(max(t.abs().max() for t in a.values()))

        scores = {}
        for processes in (1, 2):
            params = work / f"params{processes}.yaml"
            predictions = work / f"predictions{processes}"
            seconds = _run([
                "stages/predict.py", "--task", "qc", "--model", str(work / "model1"),
                "--base-model", "models/base/llm", "--ingested", "data/ingested/qc",
                "--pivot", "data/pivot/qc.parquet", "--cv-models", "models/cv/qc",
                "--out-dir", str(predictions), "--metrics", str(work / f"predict{processes}.json"),
                "--params", str(params),
            ])  # fmt: skip
            scores[processes] = pd.concat(
                [pd.read_parquet(predictions / f"{split}.parquet") for split in ("dev", "test")]
            )
            report[f"predict_{processes}_process_seconds"] = round(seconds, 1)
        one, two = scores[1], scores[2]
        report["scored_rows"] = len(one)
        report["same_row_order"] = one["id"].tolist() == two["id"].tolist()
        report["p_yes_max_abs_delta"] = float(np.abs(one["p_yes"] - two["p_yes"]).max())
    text = json.dumps(report, indent=2)
    click.echo(text)
    if out is not None:
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
