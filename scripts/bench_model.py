"""Benchmarks of the relevance model on this machine (figures go to BENCHMARKS.md).

    python scripts/bench_model.py throughput [--rows 512] [--batch-size 32]
    python scripts/bench_model.py train-step [--steps 6]
    python scripts/bench_model.py real-data --data ../shared/data/cikm-qc-real [--train-rows 4000]
    python scripts/bench_model.py heads [--steps 6] [--rows 512]
    python scripts/bench_model.py cv-split --data ../shared/data/cikm-qc-real [--rows 1200]
    python scripts/bench_model.py scorer-load

throughput: p(yes) scoring with the shipped HFScorer path (bf16 weights, decoder body,
  two lm_head rows, length-sorted batches) against a naive baseline measured in the
  same run on the same rows (fp32, full-vocabulary logits at every position, batches in
  input order), plus the model's FLOPs per pair against this machine's measured bf16
  matmul rate.
train-step: LoRA training seconds per optimizer step and the process's peak RSS.
heads: the yes_no head against the seq_cls classification head: LoRA training seconds
  per step (batch 16, rows of data/ingested/qc/train.parquet), then pairs/s of each
  merged model loaded in bf16, with and without the prefix KV cache.
real-data: trains on the labelled real QC rows (train languages only) with a
  group-held-out split (no category prefix in both parts) and reports F1 / AUC on the
  held-out part against the all-positive baseline.
cv-split: K-fold CV F1 (mean +- std over folds) on the same real QC rows with the
  pipeline's grouped split (split@qc: StratifiedGroupKFold by category prefix) and with
  a plain random split (StratifiedKFold on the same language x label strata), each fold
  model trained and scored as cv@qc does; a char TF-IDF + logistic regression per fold
  as a cheap second learner.
scorer-load: seconds to load a bf16 scorer from a full model folder against the base
  plus a LoRA adapter merged in memory (the default since train.<task>.merge: false).

The base model is models/base/llm (run `dvc repro models` first).
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import click
import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "models" / "base" / "llm"


def sample_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """Realistic QC rows: the bundled sample's dev and train, repeated to ``n``."""
    frames = [
        pd.read_parquet(ROOT / "data" / "ingested" / "qc" / f"{s}.parquet")
        for s in ("dev", "train")
    ]
    rows = pd.concat(frames, ignore_index=True)
    return rows.sample(n=n, replace=n > len(rows), random_state=seed).reset_index(drop=True)


def matmul_gflops(dtype: torch.dtype, size: int = 2048, repeats: int = 20) -> float:
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def body_flops_per_token(model: torch.nn.Module) -> float:
    """2 x the parameters used in matmuls per token (embedding lookup excluded)."""
    embed = model.get_input_embeddings().weight.numel()
    body = sum(p.numel() for p in model.model.parameters()) - embed
    return 2.0 * body


@torch.inference_mode()
def naive_scores(model, tokenizer, encoded: list[list[int]], batch_size: int, yes: int, no: int):
    """fp32, full logits at every position, batches in input order (no length sort)."""
    from relevance.model.scoring import pad_right

    out = []
    pad = tokenizer.pad_token_id
    for start in range(0, len(encoded), batch_size):
        ids, mask = pad_right(encoded[start : start + batch_size], pad_id=pad)
        logits = model(input_ids=ids, attention_mask=mask).logits  # [B, T, V]
        last = logits[torch.arange(ids.shape[0]), mask.sum(1) - 1]
        out.append(torch.softmax(last[:, [yes, no]].float(), dim=-1)[:, 0].numpy())
    return np.concatenate(out)


# The real labelled QC data (competition format), for the commands that train on it.
real_data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, exists=True),
    required=True,
    help="Folder with train_QC.txt (e.g. ../shared/data/cikm-qc-real).",
)


# The result JSON alone goes to stdout, so `> out.json` parses; everything the libraries
# print (the Trainer's loss dicts, tqdm.write) goes to stderr with the logs.
RESULTS = sys.stdout


def emit(result: dict) -> None:
    """Write one benchmark's result to the real stdout."""
    RESULTS.write(json.dumps(result, indent=2) + "\n")
    RESULTS.flush()


@click.group()
def main() -> None:
    """Model benchmarks."""
    sys.stdout = sys.stderr


@main.command()
@click.option("--rows", default=512, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--naive-rows", default=128, show_default=True, help="Rows for the slow baseline.")
def throughput(rows: int, batch_size: int, naive_rows: int) -> None:
    """Shipped scoring path against the naive baseline, and FLOP efficiency."""
    from transformers import AutoModelForCausalLM

    from relevance.model.prompt import encode_rows
    from relevance.model.scoring import HFScorer
    from relevance.schema import TASKS

    task = TASKS["qc"]
    frame = sample_rows(rows)
    scorer = HFScorer(BASE, batch_size=batch_size, max_length=256, progress=False)
    encoded = encode_rows(scorer.tokenizer, task, frame, max_length=256)
    tokens = np.array([len(e) for e in encoded])
    scorer.score(task, frame.head(batch_size))  # warm-up
    start = time.perf_counter()
    fast = scorer.score(task, frame)
    fast_seconds = time.perf_counter() - start
    fast_rate = rows / fast_seconds

    # Model FLOPs of a pair: its whole prompt through the body. With the prefix cache
    # the body runs only the tokens after the shared prefix (plus the prefix once), so
    # the hardware executes fewer FLOPs than that: both are reported.
    per_token = body_flops_per_token(scorer.model)
    flops_pair = per_token * tokens.mean()
    prefix_len, _ = scorer._shared_prefix(encoded)
    executed_pair = per_token * ((tokens - prefix_len).mean() + prefix_len / rows)
    bf16_rate = matmul_gflops(torch.bfloat16)
    fp32_rate = matmul_gflops(torch.float32)
    achieved = flops_pair * fast_rate / 1e9
    executed = executed_pair * fast_rate / 1e9

    naive_model = AutoModelForCausalLM.from_pretrained(BASE, dtype=torch.float32).eval()
    subset = encoded[:naive_rows]
    start = time.perf_counter()
    naive = naive_scores(naive_model, scorer.tokenizer, subset, batch_size, *scorer.labels.ids)
    naive_rate = naive_rows / (time.perf_counter() - start)
    agreement = float(np.abs(naive - fast[:naive_rows]).max())
    result = {
        "rows": rows,
        "batch_size": batch_size,
        "mean_tokens": round(float(tokens.mean()), 1),
        "hf_pairs_per_s": round(fast_rate, 1),
        "naive_pairs_per_s": round(naive_rate, 2),
        "speedup": round(fast_rate / naive_rate, 1),
        "shared_prefix_tokens": prefix_len,
        "model_gflop_per_pair": round(flops_pair / 1e9, 3),
        "executed_gflop_per_pair": round(executed_pair / 1e9, 3),
        "model_gflop_s": round(achieved, 1),
        "executed_gflop_s": round(executed, 1),
        "bf16_matmul_gflop_s": round(bf16_rate, 1),
        "fp32_matmul_gflop_s": round(fp32_rate, 1),
        "model_flops_fraction_of_bf16_matmul": round(achieved / bf16_rate, 3),
        "executed_flops_fraction_of_bf16_matmul": round(executed / bf16_rate, 3),
        "max_abs_p_yes_diff_vs_fp32_naive": round(agreement, 4),
    }
    emit(result)


@main.command("train-step")
@click.option("--steps", default=6, show_default=True)
@click.option("--batch-size", default=16, show_default=True)
def train_step(steps: int, batch_size: int) -> None:
    """Seconds per LoRA optimizer step (rank 16, all-linear) and peak RSS."""
    from relevance.model.train import TrainParams, train_lora
    from relevance.schema import TASKS

    frame = sample_rows(steps * batch_size, seed=1)
    frame["label"] = frame["label"].fillna(1).astype(int)
    config = TrainParams(
        per_device_batch_size=batch_size,
        max_steps=steps,
        lora_dropout=0.0,
        logging_steps=1,
        save_steps=10_000,
        seed=1,
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = train_lora(
            model_dir=BASE,
            task=TASKS["qc"],
            rows=frame,
            config=config,
            out_dir=Path(tmp),
            progress=False,
        )
    summary = result.summary
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit(
        {
            "steps": summary["steps"],
            "batch_size": batch_size,
            # Trainer's own runtime: the steps, without loading the model and tokenizing.
            "seconds_per_step": round(summary["train_seconds"] / summary["steps"], 2),
            "seconds_total_with_load": round(summary["seconds"], 1),
            "matmul_dtype": summary.get("matmul_dtype"),
            "peak_rss_mib": round(peak_mib),
        }
    )


@main.command()
@click.option("--steps", default=6, show_default=True)
@click.option("--batch-size", default=16, show_default=True)
@click.option("--rows", default=512, show_default=True, help="Rows to score.")
@click.option("--score-batch-size", default=32, show_default=True)
@click.option("--repeats", default=2, show_default=True, help="Alternating runs; best kept.")
def heads(steps: int, batch_size: int, rows: int, score_batch_size: int, repeats: int) -> None:
    """yes_no vs seq_cls head: train s/step and merged-bf16 scoring pairs/s.

    The heads run alternately, ``repeats`` times each, and the best figure is kept, so
    load from other processes on this shared machine hits both alike.
    """
    from relevance.model.scoring import HFScorer
    from relevance.model.train import TrainParams, train_lora
    from relevance.schema import TASKS

    task = TASKS["qc"]
    train = pd.read_parquet(ROOT / "data" / "ingested" / "qc" / "train.parquet")
    train = train.sample(n=steps * batch_size, replace=steps * batch_size > len(train),
                         random_state=1).reset_index(drop=True)  # fmt: skip
    frame = sample_rows(rows)
    figures: dict[str, dict[str, list[float]]] = {"yes_no": {}, "seq_cls": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(repeats):
            for head, out in figures.items():
                config = TrainParams(head=head, per_device_batch_size=batch_size,
                                     max_steps=steps, logging_steps=1, save_steps=10_000,
                                     seed=1, merge=True)  # fmt: skip
                run = train_lora(model_dir=BASE, task=task, rows=train, config=config,
                                 out_dir=Path(tmp) / f"{head}-{rep}", progress=False)  # fmt: skip
                per_step = run.summary["train_seconds"] / steps
                out.setdefault("train_seconds_per_step", []).append(round(per_step, 2))
        for _ in range(repeats):
            for head, out in figures.items():
                for cache in (True, False):
                    scorer = HFScorer(Path(tmp) / f"{head}-0" / "merged", progress=False,
                                      batch_size=score_batch_size, max_length=256,
                                      prefix_cache=cache)  # fmt: skip
                    assert scorer.head == head and scorer.dtype == torch.bfloat16
                    scorer.score(task, frame.head(score_batch_size))  # warm-up
                    start = time.perf_counter()
                    scorer.score(task, frame)
                    rate = rows / (time.perf_counter() - start)
                    key = f"pairs_per_s_{'prefix_cache' if cache else 'no_cache'}"
                    out.setdefault(key, []).append(round(rate, 1))
                    del scorer
    best = {
        head: {k: (min(v) if k.startswith("train") else max(v)) for k, v in out.items()}
        for head, out in figures.items()
    }
    emit({"steps": steps, "batch_size": batch_size, "rows": rows,
          "score_batch_size": score_batch_size, "best": best, "all": figures})  # fmt: skip


@main.command("real-data")
@real_data_option
@click.option("--train-rows", default=4000, show_default=True)
@click.option("--eval-rows", default=1500, show_default=True)
@click.option("--epochs", default=1.0, show_default=True)
@click.option(
    "--prefix-levels",
    default=2,
    show_default=True,
    help="Rows sharing the first N category levels stay on one side of the split.",
)
@click.option("--seed", default=13, show_default=True)
def real_data(
    data_dir: Path, train_rows: int, eval_rows: int, epochs: float, prefix_levels: int, seed: int
) -> None:
    """Train on real QC rows and score a group-held-out part against baselines."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupShuffleSplit

    from relevance.data.ingest import read_split
    from relevance.evaluate.metrics import best_threshold, score_rows, threshold_sweep
    from relevance.model.checkpoints import publish_model
    from relevance.model.scoring import HFScorer
    from relevance.model.train import load_train_params, train_lora
    from relevance.schema import TASKS, category_prefix

    task = TASKS["qc"]
    rows = pd.DataFrame(read_split(data_dir / "train_QC.txt", task=task, split="train").rows)
    groups = rows["candidate"].map(lambda p: category_prefix(p, prefix_levels))
    split = GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=seed)
    train_idx, held_idx = next(split.split(rows, groups=groups))
    train = rows.iloc[train_idx].sample(n=min(train_rows, len(train_idx)), random_state=seed)
    held = rows.iloc[held_idx].sample(n=min(eval_rows, len(held_idx)), random_state=seed)
    assert not set(groups.iloc[train_idx]) & set(groups.iloc[held_idx])
    labels = held["label"].to_numpy(int)

    # Baseline the design notes measured: char n-gram TF-IDF + logistic regression.
    def text(frame: pd.DataFrame) -> pd.Series:
        return frame["query"] + " || " + frame["candidate"]

    vectorizer = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True
    )
    lr = LogisticRegression(max_iter=2000, C=1.0)
    lr.fit(vectorizer.fit_transform(text(train)), train["label"].to_numpy(int))
    tfidf = lr.predict_proba(vectorizer.transform(text(held)))[:, 1]

    config = replace(
        load_train_params("qc", ROOT / "params.yaml"),
        epochs=float(epochs), seed=seed, merge=True, save_steps=10_000,
    )  # fmt: skip
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = train_lora(
            model_dir=BASE, task=task, rows=train, config=config, out_dir=Path(tmp) / "ckpt"
        )
        summary = publish_model(result, Path(tmp) / "model")
        train_seconds = time.perf_counter() - started
        scorer = HFScorer(Path(tmp) / "model" / "merged", batch_size=32, max_length=256)
        started = time.perf_counter()
        p_yes = scorer.score(task, held)
        score_seconds = time.perf_counter() - started

    def report(scores: np.ndarray) -> dict:
        at = score_rows(labels, scores, 0.4)
        best = best_threshold(threshold_sweep(labels, scores))
        return {
            "f1_at_0.4": at["f1"],
            "auc": at["auc"],
            "best_threshold": best["threshold"],
            "best_f1": round(best["f1"], 6),
        }

    emit(
        {
            "train_rows": len(train),
            "held_out_rows": len(held),
            "held_out_positive_rate": round(float(labels.mean()), 4),
            "group": f"first {prefix_levels} category levels",
            "epochs": epochs,
            "steps": summary["steps"],
            "train_seconds": round(train_seconds),
            "score_pairs_per_s": round(len(held) / score_seconds, 1),
            "all_positive_f1": score_rows(labels, np.ones(len(labels)), 0.5)["f1"],
            "tfidf_logreg": report(tfidf),
            "lora_gemma_270m": report(p_yes),
        }
    )


@main.command("scorer-load")
@click.option(
    "--adapter",
    type=click.Path(path_type=Path),
    default=ROOT / "models" / "qc" / "adapter",
    show_default=True,
    help="A trained adapter (train@qc's, after `dvc repro train@qc`).",
)
@click.option("--repeats", default=3, show_default=True)
def scorer_load(adapter: Path, repeats: int) -> None:
    """Seconds to load a bf16 scorer: a full folder, against base + adapter merged in memory.

    A merged folder (train.<task>.merge: true) is as large as the base, so loading the
    base alone stands in for it; the adapter path adds reading and merging the LoRA.
    """
    from relevance.model.scoring import HFScorer

    def best_seconds(**kwargs) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            scorer = HFScorer(BASE, dtype="bfloat16", progress=False, **kwargs)
            times.append(time.perf_counter() - started)
            del scorer
        return round(min(times), 2)

    emit(
        {
            "repeats": repeats,
            "full_folder_seconds": best_seconds(),
            "base_plus_adapter_seconds": best_seconds(adapter_dir=adapter),
        }
    )


@main.command("cv-split")
@real_data_option
@click.option("--rows", default=1200, show_default=True, help="Real rows sampled for CV.")
@click.option("--folds", default=3, show_default=True)
@click.option("--prefix-levels", default=2, show_default=True)
@click.option("--seed", default=13, show_default=True)
@click.option("--skip-lora", is_flag=True, help="Only the TF-IDF learner (seconds, not hours).")
def cv_split(
    data_dir: Path, rows: int, folds: int, prefix_levels: int, seed: int, skip_lora: bool
) -> None:
    """CV F1 with the grouped split against a plain random split on real QC rows."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from relevance.data.ingest import read_split
    from relevance.data.split import SplitParams, assign_folds, split_groups
    from relevance.evaluate.metrics import cv_report
    from relevance.folds.plan import oof_plan
    from relevance.folds.training import train_fold_models
    from relevance.model.predict import PredictParams
    from relevance.model.train import load_train_params
    from relevance.schema import TASKS

    task = TASKS["qc"]
    everything = pd.DataFrame(read_split(data_dir / "train_QC.txt", task=task, split="train").rows)
    data = everything.sample(n=min(rows, len(everything)), random_state=seed)
    data = data.reset_index(drop=True)
    split_config = SplitParams(folds=folds, qc_prefix_levels=prefix_levels, seed=seed)
    groups = split_groups(data, task="qc", config=split_config)
    strata = data["language"].astype(str) + "|" + data["label"].astype(str)
    random_folds = np.empty(len(data), dtype=np.int64)
    for fold, (_, held) in enumerate(
        StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(data, strata)
    ):
        random_folds[held] = fold
    splits = {
        "grouped": assign_folds(data, task="qc", config=split_config),
        "random": random_folds,
    }

    config = replace(load_train_params("qc", ROOT / "params.yaml"), seed=seed, save_steps=10_000)
    threshold = 0.4

    def text(frame: pd.DataFrame) -> pd.Series:
        return frame["query"] + " || " + frame["candidate"]

    results: dict[str, dict] = {}
    for name, fold_ids in splits.items():
        # How much of each held-out fold's category groups the other folds also hold:
        # the leakage the grouped split removes.
        shared = [
            float(groups[fold_ids == f].isin(set(groups[fold_ids != f])).mean())
            for f in range(folds)
        ]
        rows_with_fold = data.assign(fold=fold_ids)
        plan = oof_plan(fold_ids, mode="oof", folds=folds, key="--folds")
        tfidf = np.full(len(data), np.nan)
        for train_idx, held_idx in plan:
            vectorizer = TfidfVectorizer(
                analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True
            )
            train = rows_with_fold.iloc[train_idx]
            lr = LogisticRegression(max_iter=2000, C=1.0)
            lr.fit(vectorizer.fit_transform(text(train)), train["label"].to_numpy(int))
            held = rows_with_fold.iloc[held_idx]
            tfidf[held_idx] = lr.predict_proba(vectorizer.transform(text(held)))[:, 1]
        oof = rows_with_fold[["language", "label"]].assign(model=fold_ids)

        def summary(p_yes: np.ndarray, frame: pd.DataFrame = oof) -> dict:
            report = cv_report(frame.assign(p_yes=p_yes), threshold=threshold)
            return {
                "f1_mean": report["f1_mean"],
                "f1_std": report["f1_std"],
                "auc_mean": report["auc_mean"],
                "per_fold_f1": [round(f["f1"], 4) for f in report["per_fold"]],
            }

        results[name] = {
            "held_out_rows_whose_group_is_in_training": round(float(np.mean(shared)), 4),
            "all_positive": summary(np.ones(len(data))),
            "tfidf_logreg": summary(tfidf),
        }
        if not skip_lora:
            started = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                scores, models = train_fold_models(
                    rows_with_fold,
                    plan,
                    task=task,
                    base_model=BASE,
                    train_params=config,
                    predict_params=PredictParams(),
                    work_dir=Path(tmp),
                )
            results[name]["lora_gemma_270m"] = summary(scores["p_yes"].to_numpy())
            results[name]["lora_seconds"] = round(time.perf_counter() - started)
            results[name]["lora_train_seconds_per_fold"] = [m["train_seconds"] for m in models]
        click.echo(json.dumps({name: results[name]}, indent=2), err=True)

    emit(
        {
            "rows": len(data),
            "folds": folds,
            "threshold": threshold,
            "positive_rate": round(float(data["label"].mean()), 4),
            "group": f"first {prefix_levels} category levels",
            "category_groups": int(groups.nunique()),
            **results,
        }
    )


if __name__ == "__main__":
    main()
