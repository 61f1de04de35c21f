"""Benchmark: does a text's translation depend on the texts batched with it?

The causal-LM translator (gemma-3-270m, the models stage's folder, bf16 on CPU) translates
the first ``--texts`` distinct English queries of the sample's ingested QC train rows
into ``--target`` three ways: one text per generate call (what the translator does),
in batches of texts with the same prompt length (no padding), and in left-padded
batches of ``--batch-size`` sorted by length (what it did before). Reports seconds per
text and how many translations differ from the one-text-per-call result.

    python scripts/bench_translation_batching.py [--texts 48] [--target de] [--runs 3]

Needs `dvc repro models ingest@qc` (or `make repro`) first.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

import click
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


@click.command()
@click.option("--texts", "count", default=48, show_default=True)
@click.option("--target", default="de", show_default=True)
@click.option("--batch-size", default=16, show_default=True)
@click.option("--runs", default=3, show_default=True, help="Timed runs per mode (median).")
def main(count: int, target: str, batch_size: int, runs: int) -> None:
    from relevance.augment.translators import CausalLMTranslator, fewshot_prompt

    translator = CausalLMTranslator(ROOT / "models" / "base" / "llm")
    rows = pd.read_parquet(ROOT / "data" / "ingested" / "qc" / "train.parquet")
    texts = list(dict.fromkeys(rows.loc[rows["lang"] == "en", "query"]))[:count]
    translator.translate(["warm up"], source="en", target=target)  # loads the model

    def batched(batches: list[list[str]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for batch in batches:
            out.update(zip(batch, translator._generate(batch, "en", target), strict=True))
        return out

    by_length: dict[int, list[str]] = defaultdict(list)
    for text in texts:
        prompt = fewshot_prompt(text, source="en", target=target)
        by_length[len(translator.tokenizer(prompt)["input_ids"])].append(text)
    same_length = [
        g[i : i + batch_size] for g in by_length.values() for i in range(0, len(g), batch_size)
    ]
    by_chars = sorted(texts, key=len)
    padded = [by_chars[i : i + batch_size] for i in range(0, len(by_chars), batch_size)]
    modes = {
        "one text per call": lambda: dict(
            zip(texts, translator.translate(texts, source="en", target=target), strict=True)
        ),
        "same-length batches": lambda: batched(same_length),
        f"padded batches of {batch_size}": lambda: batched(padded),
    }
    results, reference = {}, None
    for name, run in modes.items():
        seconds = []
        for _ in range(runs):
            start = time.perf_counter()
            out = run()
            seconds.append(time.perf_counter() - start)
        reference = reference or out
        results[name] = {
            "seconds_per_text": round(statistics.median(seconds) / len(texts), 3),
            "differ_from_one_per_call": sum(out[t] != reference[t] for t in texts),
        }
    click.echo(json.dumps({"texts": len(texts), "target": target, "modes": results}, indent=2))


if __name__ == "__main__":
    main()
