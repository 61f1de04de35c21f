"""Benchmark: teacher, student and encoder on the real QC data, one training language held
out as if missing (issue 16's real-data benchmark, the gemma and distilled-student rows).

    python scripts/bench_distill.py --data ../shared/data/cikm-qc-real [--holdout ja]
        [--train-rows 4000] [--teacher-epochs 1] [--student-epochs 2] [--fill 0]
        [--out distill.json]

On the same rows (every language but ``--holdout``, shuffled, capped at ``--train-rows``,
10% of them kept aside to tune each model's threshold):

- teacher: gemma-3-270m yes/no LoRA (the models stage's base LLM), the pipeline's
  ``train.qc`` recipe with ``--teacher-epochs``, scored by the pipeline's scorer;
- student: multilingual-e5-small cross-encoder (the models stage's embedder, full
  fine-tuning, word embeddings frozen) trained on the teacher's p(yes) of the training
  rows (soft targets, as ``distill@<task>`` does);
- encoder: the same cross-encoder recipe trained on the labels.

``--fill N``: translation augmentation filling the held-out language (as
``bench_encoder.py --fill``): N English training rows with their queries translated into
it by the pipeline's translator and gated, added to the training rows of all three.

Reported on the held-out language: ROC AUC, F1 at the threshold tuned on the validation
rows, the all-positive F1, a char TF-IDF + logistic regression on the same rows, training
minutes and scoring pairs/s of each model.

``--eval-file F [--eval-labels L]``, ``--holdout none``: as in ``bench_encoder.py``
(labelled rows, e.g. in languages absent from training, scored by all three models;
their figures under ``eval``, one entry per model, as there).

Needs the models stage's folders (`dvc repro models`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd
from bench_encoder import (  # this folder: the same split, fill and eval rows as there
    eval_rows,
    eval_summary,
    holdout_split,
    scores_on,
)

ROOT = Path(__file__).resolve().parent.parent


def _timed_score(scorer, task, rows: pd.DataFrame, label: str) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    p = scorer.score(task, rows, label=label)
    return p, len(rows) / (time.perf_counter() - start)


@click.command()
@click.option(
    "--data", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True
)
@click.option("--holdout", default="ja", show_default=True, help="A language, or 'none'.")
@click.option("--train-rows", default=4000, show_default=True, help="0: every training row.")
@click.option("--teacher-epochs", default=1.0, show_default=True)
@click.option("--student-epochs", default=2.0, show_default=True)
@click.option("--fill", default=0, show_default=True, help="Translated English rows added.")
@click.option("--seed", default=13, show_default=True)
@click.option(
    "--eval-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="Labelled rows also scored (competition format).",
)  # fmt: skip
@click.option(
    "--eval-labels", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="id,label records for --eval-file.",
)  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def main(
    data: Path,
    holdout: str,
    train_rows: int,
    teacher_epochs: float,
    student_epochs: float,
    fill: int,
    seed: int,
    eval_file: Path | None,
    eval_labels: Path | None,
    out: Path | None,
) -> None:
    from relevance.evaluate.baseline import tfidf_baseline
    from relevance.evaluate.metrics import best_threshold, score_rows, threshold_sweep
    from relevance.model.encoder import EncoderScorer, EncoderTrainParams, train_encoder
    from relevance.model.predict import PredictParams, scorer_for
    from relevance.model.train import load_train_params, train_lora
    from relevance.schema import TASKS

    task = TASKS["qc"]
    train, valid, held = holdout_split(data, holdout, seed=seed, train_rows=train_rows, fill=fill)
    extra = eval_rows(eval_file, eval_labels)
    on_eval: dict[str, object] = {}  # each model's figures on the eval rows
    if held.empty and extra is None:
        raise click.UsageError("--holdout none scores nothing without --eval-file")
    bench = ROOT / "data" / "bench"
    llm, embedder = ROOT / "models/base/llm", ROOT / "models/base/embedder"

    def scored(scorer, name: str) -> tuple[dict[str, object], np.ndarray]:
        """``name``'s figures on the held-out language and the eval rows (threshold tuned
        on the validation rows), and its p(yes) on the first of them."""
        p_valid, _ = _timed_score(scorer, task, valid, f"{name}: validation")
        tuned = best_threshold(threshold_sweep(valid["label"].to_numpy(), p_valid))["threshold"]
        result: dict[str, object] = {
            "validation_auc": score_rows(valid["label"].to_numpy(), p_valid, tuned)["auc"],
            "tuned_threshold": tuned,
        }
        first = None
        if not held.empty:
            first, rate = _timed_score(scorer, task, held, f"{name}: {holdout}")
            at_tuned = score_rows(held["label"].to_numpy(), first, tuned)
            result.update(auc=at_tuned["auc"], f1_at_tuned=at_tuned["f1"], pairs_per_s=rate)
        if extra is not None:
            p_extra, rate = _timed_score(scorer, task, extra, f"{name}: {eval_file.name}")
            on_eval[name] = scores_on(extra, p_extra, tuned)
            result.setdefault("pairs_per_s", rate)
            first = p_extra if first is None else first
        result["pairs_per_s"] = round(result["pairs_per_s"], 1)
        return result, first

    # Teacher: gemma yes/no LoRA, the pipeline's recipe.
    recipe = dataclasses.replace(
        load_train_params("qc", ROOT / "params.yaml"), epochs=teacher_epochs
    )
    taught = train_lora(
        model_dir=llm, task=task, rows=train, config=recipe, out_dir=bench / f"teacher-{holdout}",
        restart_on_mismatch=True,
    )  # fmt: skip
    teacher = scorer_for(taught.out_dir, base_model=llm, params=PredictParams())
    p_train, _ = _timed_score(teacher, task, train, "teacher: train rows")
    results = {"teacher": {"train_minutes": round(taught.summary["seconds"] / 60, 1)}}
    figures, t_first = scored(teacher, "teacher")
    results["teacher"].update(figures)
    del teacher

    # Student (teacher's p(yes)) and encoder (labels): the same cross-encoder recipe.
    config = EncoderTrainParams(
        method="full", learning_rate=5e-5, epochs=student_epochs, per_device_batch_size=32,
        max_length=96, freeze_word_embeddings=True, seed=seed,
    )  # fmt: skip
    for name, targets in (("student", "teacher_p_yes"), ("encoder", "label")):
        trained = train_encoder(
            model_dir=embedder, task=task, rows=train.assign(teacher_p_yes=p_train),
            config=config, out_dir=bench / f"{name}-{holdout}", targets=targets,
        )  # fmt: skip
        results[name] = {"train_minutes": round(trained.summary["seconds"] / 60, 1)}
        figures, s_first = scored(EncoderScorer(trained.model_dir, batch_size=64), name)
        results[name].update(figures)
        if name == "student":
            # On the held-out language (or, without one, the eval rows).
            results[name]["mean_abs_gap_to_teacher"] = round(
                float(np.abs(s_first - t_first).mean()), 4
            )

    summary: dict[str, object] = {
        "holdout": holdout,
        "train_rows": len(train),
        "translated_rows": {"sampled": fill, "kept": int((train["lang"] == holdout).sum())},
        "validation_rows": len(valid),
        "holdout_rows": len(held),
        "teacher_epochs": teacher_epochs,
        "student_epochs": student_epochs,
        **results,
    }
    if not held.empty:
        labels = held["label"].to_numpy()
        (p_tfidf,) = tfidf_baseline(train, [held])
        summary["all_positive_f1"] = score_rows(labels, np.ones(len(labels)), 0.5)["f1"]
        summary["tfidf_auc"] = score_rows(labels, p_tfidf, 0.5)["auc"]
    if extra is not None:
        (p_tfidf,) = tfidf_baseline(train, [extra])
        summary["eval"] = {
            **eval_summary(eval_file, extra, train),
            **on_eval,
            "tfidf": scores_on(extra, p_tfidf, 0.5),
        }
    text = json.dumps(summary, indent=2)
    click.echo(text)
    if out is not None:
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
