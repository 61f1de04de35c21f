"""Benchmark: does the default recipe learn from a synthetic sample of a given size?

Generates the sample in memory (the bundled generator, ``SampleConfig`` overrides), trains
the pipeline's own train.<task> recipe (gemma-3-270m yes/no LoRA, params.yaml) on the
train split, scores dev, and reports dev ROC AUC and F1 at the task threshold beside the
all-positive F1 and a char TF-IDF + logistic regression trained on the same rows; per
language group too (languages in train, and the zero-shot ones). No augmentation and no
self-validation: the plain recipe, to size the sample. How the bundled sample's size was
chosen (BENCHMARKS.md).

    python scripts/bench_sample_learning.py --task qi --train-per-language 100 [--seed 13]
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def frame(task: str, split: str, config) -> pd.DataFrame:
    from relevance.data.ingest import validate_record
    from relevance.schema import get_task
    from relevance.tools.synthetic.sample import iter_rows

    spec = get_task(task)
    rows = []
    for record, label in iter_rows(spec.code, split, config=config):
        row = validate_record(
            {**record, "label": None}, task=spec, label_required=False, answerable=True
        )
        row["label"] = label
        rows.append(row)
    return pd.DataFrame(rows)


@click.command()
@click.option("--task", type=click.Choice(["qc", "qi"]), default="qi", show_default=True)
@click.option("--train-per-language", default=100, show_default=True)
@click.option("--dev-per-language", default=40, show_default=True)
@click.option("--seed", default=13, show_default=True, help="Sample and training seed.")
@click.option("--set", "overrides", multiple=True, help="train.<task> field=value.")
def main(
    task: str, train_per_language: int, dev_per_language: int, seed: int, overrides: tuple[str, ...]
) -> None:
    import yaml

    from relevance.evaluate.baseline import tfidf_baseline
    from relevance.evaluate.metrics import score_rows
    from relevance.model.checkpoints import publish_model
    from relevance.model.scoring import HFScorer
    from relevance.model.train import load_train_params, train_lora
    from relevance.params import load_threshold
    from relevance.schema import get_task
    from relevance.tools.synthetic.catalogue import SPLIT_LANGUAGES
    from relevance.tools.synthetic.config import SampleConfig

    code = task.upper()
    langs = {s: SPLIT_LANGUAGES[code, s] for s in ("train", "dev")}
    config = SampleConfig(
        seed=seed,
        **{
            f"{task}_train": train_per_language * len(langs["train"]),
            f"{task}_dev": dev_per_language * len(langs["dev"]),
        },
    )
    train, dev = frame(task, "train", config), frame(task, "dev", config)
    params = load_train_params(task, ROOT / "params.yaml")
    changes = {k: yaml.safe_load(v) for k, _, v in (o.partition("=") for o in overrides)}
    params = dataclasses.replace(params, seed=seed, save_steps=10_000, **changes)
    threshold = load_threshold(task, ROOT / "params.yaml")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = train_lora(
            model_dir=ROOT / "models/base/llm", task=get_task(task), rows=train, config=params,
            out_dir=Path(tmp) / "ckpt", progress=False,
        )  # fmt: skip
        publish_model(result, Path(tmp) / "model")
        train_seconds = time.perf_counter() - started
        scorer = HFScorer(
            ROOT / "models/base/llm", adapter_dir=Path(tmp) / "model/adapter", progress=False
        )
        p_yes = scorer.score(get_task(task), dev)
    (tfidf,) = tfidf_baseline(train, [dev])
    labels = dev["label"].to_numpy(int)
    zero_shot = ~dev["language"].isin(langs["train"]).to_numpy()

    def report(mask: np.ndarray) -> dict:
        model = score_rows(labels[mask], p_yes[mask], threshold)
        base = score_rows(labels[mask], tfidf[mask], threshold)
        return {
            "rows": int(mask.sum()),
            "auc": model["auc"], "f1": model["f1"], "all_positive_f1": model["all_positive_f1"],
            "tfidf_auc": base["auc"], "tfidf_f1": base["f1"],
        }  # fmt: skip

    click.echo(
        json.dumps(
            {
                "task": task,
                "seed": seed,
                "train_rows": len(train),
                "dev_rows": len(dev),
                "steps": result.summary["steps"],
                "train_seconds": round(train_seconds),
                "settings": changes,
                "threshold": threshold,
                "dev": report(np.ones(len(dev), bool)),
                "dev_train_languages": report(~zero_shot),
                "dev_zero_shot_languages": report(zero_shot),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
