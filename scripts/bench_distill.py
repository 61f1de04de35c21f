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
rows and at 0.5, the all-positive F1, a char TF-IDF + logistic regression on the same
rows, training minutes and scoring pairs/s of each model, and its AUC on the validation
rows (the languages trained on); the figures are ``bench_encoder.model_figures``'.

``--eval-file F [--eval-labels L]``, ``--holdout none``: as in ``bench_encoder.py``
(labelled rows, e.g. in languages absent from training, scored by all three models;
their figures under ``eval``, one entry per model, as there).

Needs the models stage's folders (`dvc repro models`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click
import numpy as np
from bench_encoder import (  # this folder: the same split, eval rows and figures as there
    baseline_figures,
    eval_options,
    eval_rows,
    eval_summary,
    holdout_split,
    model_figures,
    timed_score,
)

ROOT = Path(__file__).resolve().parent.parent


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
@eval_options
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
    from relevance.model.encoder import EncoderScorer, EncoderTrainParams, train_encoder
    from relevance.model.predict import PredictParams, scorer_for
    from relevance.model.train import load_train_params, train_lora
    from relevance.schema import TASKS

    task = TASKS["qc"]
    train, valid, held = holdout_split(data, holdout, seed=seed, train_rows=train_rows, fill=fill)
    extra = eval_rows(eval_file, eval_labels)
    if held.empty and extra is None:
        raise click.UsageError("--holdout none scores nothing without --eval-file")
    bench = ROOT / "data" / "bench"
    llm, embedder = ROOT / "models/base/llm", ROOT / "models/base/embedder"
    sets = {
        "valid": valid, "held": held, "holdout": holdout, "extra": extra,
        "extra_name": eval_file.name if eval_file else "",
    }  # fmt: skip
    results: dict[str, dict[str, object]] = {}
    on_eval: dict[str, object] = {}  # each model's figures on the eval rows

    # Teacher: gemma yes/no LoRA, the pipeline's recipe.
    recipe = dataclasses.replace(
        load_train_params("qc", ROOT / "params.yaml"), epochs=teacher_epochs
    )
    taught = train_lora(
        model_dir=llm, task=task, rows=train, config=recipe, out_dir=bench / f"teacher-{holdout}",
        restart_on_mismatch=True,
    )  # fmt: skip
    teacher = scorer_for(taught.out_dir, base_model=llm, params=PredictParams())
    p_train, _ = timed_score(teacher, task, train, "teacher: train rows")
    figures, on_eval["teacher"], t_first = model_figures(teacher, task, "teacher", **sets)
    results["teacher"] = {"train_minutes": round(taught.summary["seconds"] / 60, 1), **figures}
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
        scorer = EncoderScorer(trained.model_dir, batch_size=64)
        figures, on_eval[name], s_first = model_figures(scorer, task, name, **sets)
        results[name] = {"train_minutes": round(trained.summary["seconds"] / 60, 1), **figures}
        if name == "student":
            # On the held-out language (or, without one, the eval rows).
            results[name]["mean_abs_gap_to_teacher"] = round(
                float(np.abs(s_first - t_first).mean()), 4
            )

    on_held, tfidf_extra = baseline_figures(train, held, extra)
    summary: dict[str, object] = {
        "holdout": holdout,
        "train_rows": len(train),
        "translated_rows": {"sampled": fill, "kept": int((train["lang"] == holdout).sum())},
        "validation_rows": len(valid),
        "holdout_rows": len(held),
        "teacher_epochs": teacher_epochs,
        "student_epochs": student_epochs,
        **results,
        **on_held,
    }
    if extra is not None:
        summary["eval"] = {**eval_summary(eval_file, extra, train), **on_eval, "tfidf": tfidf_extra}
    text = json.dumps(summary, indent=2)
    click.echo(text)
    if out is not None:
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
