"""Benchmark of the data-centric enhancements on real QC data (figures go to BENCHMARKS.md).

    python scripts/bench_augment.py --data ../shared/data/cikm-qc-real --holdout fr

One training language (``--holdout``) is treated as missing from training: its rows are
the evaluation set, and the enhancements target it, as they target de/it/pl/ar in the
competition. Reports:

1. translation: texts/s of the configured translator (params.yaml ``translator``) on a
   cold cache, then the hit rate and time of the same run again (warm cache), and what
   the quality gate dropped;
2. embedding throughput (the e5 embedder, cold cache) and mining time;
3. self-validation cost (out-of-fold filter models: train + score seconds);
4. F1 / AUC on the held-out language for: original rows; + translation; + translation
   + negatives; + translation + negatives + self-validation (each one LoRA training),
   beside the all-positive F1.

Uses the library directly (no DVC), the real base models in models/base (run
`dvc repro models` first) and a temporary cache, so nothing of the user's is touched.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import click
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
LLM = ROOT / "models" / "base" / "llm"
EMBEDDER = ROOT / "models" / "base" / "embedder"


@click.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, exists=True),
    required=True,
    help="Folder with train_QC.txt (e.g. ../shared/data/cikm-qc-real).",
)
@click.option("--holdout", default="fr", show_default=True, help="Language treated as missing.")
@click.option("--train-rows", default=600, show_default=True)
@click.option("--eval-rows", default=500, show_default=True)
@click.option("--translate-rows", default=100, show_default=True)
@click.option("--negative-rows", default=60, show_default=True)
@click.option("--seed", default=13, show_default=True)
def main(
    data_dir: Path,
    holdout: str,
    train_rows: int,
    eval_rows: int,
    translate_rows: int,
    negative_rows: int,
    seed: int,
) -> None:
    """Translation, negatives and self-validation on a held-out language."""
    from relevance.augment.assemble import AugmentParams, assemble
    from relevance.augment.embedding import Embedder
    from relevance.augment.negatives import (
        NegativesParams,
        mine_hard_negatives,
        translate_negatives,
    )
    from relevance.augment.translate import build_translated_rows, sample_sources
    from relevance.augment.translation_cache import TranslationCache
    from relevance.augment.translators import TranslatorParams, make_translator
    from relevance.data.ingest import read_split
    from relevance.data.split import SplitParams, assign_folds
    from relevance.evaluate.metrics import best_threshold, score_rows, threshold_sweep
    from relevance.folds.filter import apply_filter
    from relevance.folds.selfval import (
        SelfValParams,
        find_label_issues,
        flagged_rows,
        self_validate,
    )
    from relevance.folds.training import ModelFoldTrainer
    from relevance.kvstore import KeyValueStore
    from relevance.model.checkpoints import publish_model
    from relevance.model.predict import PredictParams
    from relevance.model.scoring import HFScorer
    from relevance.model.train import TrainParams, train_lora
    from relevance.params import load_section, load_task_value, parse_section
    from relevance.schema import TASKS

    params = ROOT / "params.yaml"
    task = TASKS["qc"]
    rows = pd.DataFrame(read_split(data_dir / "train_QC.txt", task=task, split="train").rows)
    held = rows[rows["lang"] == holdout].sample(n=eval_rows, random_state=seed)
    train = rows[rows["lang"] != holdout].sample(n=train_rows, random_state=seed)
    train = train.sort_values("id").reset_index(drop=True)
    labels = held["label"].to_numpy(int)
    report: dict = {
        "holdout": holdout,
        "train_rows": len(train),
        "eval_rows": len(held),
        "eval_positive_rate": round(float(labels.mean()), 4),
    }
    translator_config = load_section(TranslatorParams, "translator", params)
    train_config = parse_section(
        TrainParams, load_task_value("train", "qc", params), name="train.qc"
    )
    train_config = replace(train_config, save_steps=10_000)
    predict_params = load_section(PredictParams, "predict", params)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cache = TranslationCache(tmp / "cache")
        vectors = KeyValueStore(tmp / "cache" / "embeddings.sqlite", table="embeddings")
        embedder = Embedder(EMBEDDER, cache=vectors)
        translator = make_translator(translator_config, llm_dir=LLM)

        # 1. Translation, cold then warm.
        samples = sample_sources(
            train, targets=[holdout], source_languages=["en"],
            rows_per_language=translate_rows, seed=seed,
        )  # fmt: skip
        cold = build_translated_rows(
            samples, translator=translator, cache=cache, embedder=embedder,
            config=translator_config,
        )  # fmt: skip
        start = time.perf_counter()
        warm = build_translated_rows(
            samples, translator=translator, cache=cache, embedder=embedder,
            config=translator_config,
        )  # fmt: skip
        report["translation"] = {
            "cold": cold.report["cache"],
            "warm": {**warm.report["cache"], "seconds": round(time.perf_counter() - start, 2)},
            "gate": cold.report["total"],
        }
        click.echo(json.dumps(report["translation"], indent=2))

        # 2. Embeddings and mining.
        candidates = sorted(set(train["candidate"]))
        start = time.perf_counter()
        embedder.encode(candidates)
        seconds = time.perf_counter() - start
        report["embedding"] = {
            "texts": len(candidates),
            "seconds": round(seconds, 1),
            "texts_per_second": round(len(candidates) / seconds, 1),
        }
        negatives_config = NegativesParams(
            rows_per_language=negative_rows, source_languages=("en",), seed=seed
        )
        start = time.perf_counter()
        mined = mine_hard_negatives(
            train, task="qc", targets=[(holdout, holdout)], config=negatives_config,
            embed=embedder.encode,
        )  # fmt: skip
        report["mining"] = {**mined.totals(), "seconds": round(time.perf_counter() - start, 2)}
        negatives, negatives_report = translate_negatives(
            mined.rows, translator=translator, cache=cache, embedder=embedder,
            config=translator_config,
        )  # fmt: skip
        report["negatives_translation"] = negatives_report["total"]

        folds = pd.DataFrame(
            {
                "id": train["id"],
                "fold": assign_folds(train, task="qc", config=SplitParams(folds=4, seed=seed)),
            }
        )

        def table(translate: bool, negs: bool) -> pd.DataFrame:
            frame, _ = assemble(
                original=train, folds=folds, translated=cold.rows, negatives=negatives,
                params=AugmentParams(translate=translate, negatives=negs),
            )  # fmt: skip
            return frame

        # 3. Self-validation on the fully augmented table.
        full = table(True, True)
        selfval_config = load_section(SelfValParams, "selfval", params)
        start = time.perf_counter()
        trainer = ModelFoldTrainer(
            task=task, base_model=LLM, train_params=train_config,
            predict_params=predict_params, work_dir=tmp / "selfval",
        )  # fmt: skip
        scores, summary = self_validate(full, params=selfval_config, trainer=trainer)
        issues = find_label_issues(
            labels=full["label"].to_numpy(), p_yes=scores["p_yes"].to_numpy(),
            max_flag_fraction=selfval_config.max_flag_fraction,
            min_confidence=selfval_config.min_confidence,
        )  # fmt: skip
        flagged = flagged_rows(full, scores["p_yes"].to_numpy(), issues)
        filtered, filter_counts = apply_filter(full, flagged, action="remove")
        report["selfval"] = {
            "mode": selfval_config.mode,
            "rows": len(full),
            "seconds": round(time.perf_counter() - start, 1),
            "models": summary["filter_models"],
            "flagged": int(issues["flagged"].sum()),
            "filter": {k: filter_counts[k] for k in ("rows_in", "rows_out", "by_reason")},
        }

        # 4. One training per configuration, scored on the held-out language.
        configs = {
            "original": table(False, False),
            "+translation": table(True, False),
            "+translation+negatives": full,
            "+translation+negatives+selfval": filtered,
        }
        results = {}
        for name, frame in configs.items():
            start = time.perf_counter()
            result = train_lora(
                model_dir=LLM, task=task, rows=frame, config=train_config,
                out_dir=tmp / name / "ckpt",
            )  # fmt: skip
            publish_model(result, tmp / name / "model")
            scorer = HFScorer(tmp / name / "model" / "merged", batch_size=32, max_length=256)
            p_yes = scorer.score(task, held)
            at = score_rows(labels, p_yes, 0.4)
            best = best_threshold(threshold_sweep(labels, p_yes))
            results[name] = {
                "train_rows": len(frame),
                "f1_at_0.4": at["f1"],
                "auc": at["auc"],
                "best_f1": round(best["f1"], 4),
                "seconds": round(time.perf_counter() - start, 1),
            }
            click.echo(f"{name}: {json.dumps(results[name])}")
        report["configs"] = results
        report["all_positive_f1"] = round(float(2 * labels.mean() / (1 + labels.mean())), 4)
        cache.close()
        vectors.close()
    click.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
