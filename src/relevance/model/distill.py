"""Distillation (the ``distill@<task>`` stage, off by default): the trained model of
train@<task> (the teacher: the LLM) teaches a small encoder cross-encoder (the student:
by default the multilingual-e5-small the models stage builds) through soft labels.

The deployment story: a large teacher on GPUs labels the rows once; a student that
serves on CPUs learns its p(yes). The student's targets are the teacher's p(yes) on the
training rows (scored here), mixed with the labels by ``label_weight``; with
``unlabelled`` also the teacher's p(yes) on the dev/test rows (predict@<task>'s files:
no label of theirs is read, but the student has then seen the rows it is scored on, so
its dev figures are transductive, as a deployed student's would be on its own traffic).

The teacher is train@<task>'s model. With ``cv.ensemble`` on, its training-row scores
are that model's while the dev/test p(yes) it reports (and teaches with ``unlabelled``)
are predict@<task>'s, the fold ensemble's.

The stage writes the student (``model/``: ``merged/`` or ``adapter/`` as train@<task>
publishes) and its p(yes) of every dev/test row, and reports teacher and student side
by side on the labelled dev rows: AUC, F1 at each one's best threshold, pairs/s, beside
the all-positive F1 and the TF-IDF baseline's AUC.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relevance.errors import ConfigError, DataError
from relevance.evaluate.metrics import auc, best_threshold, binary_scores, threshold_sweep
from relevance.model.checkpoints import ADAPTER_DIR, MERGED_DIR
from relevance.model.encoder import EncoderTrainParams, train_encoder
from relevance.model.inputs import InputParams, prepare_rows
from relevance.model.predict import (
    PredictParams,
    predict_splits,
    prepared_splits,
    score_rows,
    scorer_for,
)
from relevance.modelfolder import model_family
from relevance.schema import Task
from relevance.tables import read_table

logger = logging.getLogger(__name__)

# The only file of a distill@<task> output when distillation is off.
MARKER = "NO_DISTILL"
STUDENT_DIR = "model"
TARGET_COLUMN = "teacher_target"


@dataclasses.dataclass(frozen=True)
class DistillParams:
    """params.yaml ``distill``: whether and how the student learns.

    Attributes:
        enabled: run distillation (off by default: it trains a second model per task).
        unlabelled: also learn the teacher's p(yes) on the dev/test rows (their labels
            are never read; the student's dev figures are then transductive).
        label_weight: target = ``label_weight * label + (1 - label_weight) * teacher``
            on the training rows (0: the teacher alone; unlabelled rows always the
            teacher alone).
        method, learning_rate, epochs, per_device_batch_size, max_length,
        freeze_word_embeddings, freeze_layers, seed: the student's recipe
        (:class:`relevance.model.encoder.EncoderTrainParams`).
        batch_size: rows per scoring batch of the student.
    """

    enabled: bool = False
    unlabelled: bool = False
    label_weight: float = 0.0
    method: str = "full"
    learning_rate: float = 5e-5
    epochs: float = 2.0
    per_device_batch_size: int = 32
    max_length: int = 96
    freeze_word_embeddings: bool = True
    freeze_layers: int = 0
    seed: int = 13
    batch_size: int = 64

    def __post_init__(self) -> None:
        if not 0 <= self.label_weight <= 1:
            raise ConfigError(f"label_weight must be in [0, 1], got {self.label_weight!r}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size!r}")
        self.student()  # the recipe's own checks

    def student(self) -> EncoderTrainParams:
        return EncoderTrainParams(
            method=self.method, learning_rate=self.learning_rate, epochs=self.epochs,
            per_device_batch_size=self.per_device_batch_size, max_length=self.max_length,
            freeze_word_embeddings=self.freeze_word_embeddings,
            freeze_layers=self.freeze_layers, seed=self.seed,
        )  # fmt: skip


def soft_targets(labels: np.ndarray, teacher: np.ndarray, *, label_weight: float) -> np.ndarray:
    """The student's targets on labelled rows: the teacher's p(yes), mixed with the 0/1
    labels by ``label_weight``."""
    return label_weight * np.asarray(labels, dtype=float) + (1 - label_weight) * np.asarray(
        teacher, dtype=float
    )


def side_by_side(
    dev: pd.DataFrame, *, teacher: str, student: str, tfidf: pd.Series | None
) -> dict[str, Any]:
    """Teacher and student on the labelled rows of ``dev``: AUC and the F1 at the best
    swept threshold of each (tuned on these rows: an optimistic F1, the same for both),
    with the all-positive F1 and the TF-IDF baseline's AUC on the same rows.

    Not at the task threshold (``threshold.<task>``): the stage would then rerun on
    every threshold experiment, and a student's p(yes) need not sit on its teacher's
    scale."""
    labelled = dev[dev["label"].notna()]
    if labelled.empty:
        return {"labelled": 0}
    labels = labelled["label"].astype(int).to_numpy()
    result: dict[str, Any] = {"labelled": len(labelled)}
    for name, column in (("teacher", teacher), ("student", student)):
        p_yes = labelled[column].to_numpy()
        best = best_threshold(threshold_sweep(labels, p_yes))
        result[name] = {
            "auc": auc(labels, p_yes),
            "f1_best": best["f1"],
            "best_threshold": best["threshold"],
        }
    result["all_positive_f1"] = binary_scores(labels, np.ones_like(labels))["f1"]
    if tfidf is not None:
        result["tfidf_auc"] = auc(labels, tfidf.reindex(labelled["id"]).to_numpy())
    return result


def distill_task(
    task: Task,
    *,
    train: Path,
    pivot: Path,
    ingested: Path,
    teacher: Path,
    teacher_base: Path,
    teacher_predictions: Path,
    student_base: Path,
    baseline: Path,
    out_dir: Path,
    params: DistillParams,
    predict_params: PredictParams,
    inputs: InputParams,
) -> dict[str, Any]:
    """The distill@<task> stage (see the module doc); returns its metrics."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    if not params.enabled:
        (out_dir / MARKER).write_text("distill.enabled is false: no student\n")
        return {"enabled": False}
    if model_family(student_base) != "encoder":
        raise ConfigError(f"{student_base}: the student must be an encoder (see model_family)")

    # 1. The teacher's p(yes) of the training rows (and of dev/test, from predict@<task>).
    rows, _ = prepare_rows(
        read_table(train, made_by=f"filter@{task.name}"), params=inputs,
        pivot=read_table(pivot, made_by=f"pivot@{task.name}"), split="train",
    )  # fmt: skip
    scorer = scorer_for(teacher, base_model=teacher_base, params=predict_params)
    started = time.perf_counter()
    teacher_train = score_rows(scorer, task, rows, label="train rows by the teacher")
    teacher_seconds = time.perf_counter() - started
    del scorer
    targets = soft_targets(rows["label"], teacher_train, label_weight=params.label_weight)
    parts = [rows.assign(**{TARGET_COLUMN: targets})]
    splits, _ = prepared_splits(task, ingested=ingested, pivot=pivot, inputs=inputs)
    teacher_p = {
        split: read_table(teacher_predictions / f"{split}.parquet", made_by=f"predict@{task.name}")
        .set_index("id")["p_yes"]
        for split in splits
    }  # fmt: skip
    unlabelled_rows = 0
    if params.unlabelled:
        for split, split_rows in splits.items():
            p = teacher_p[split].reindex(split_rows["id"]).to_numpy()
            if np.isnan(p).any():
                raise DataError(
                    f"{teacher_predictions}/{split}.parquet lacks {int(np.isnan(p).sum())} "
                    f"of the {split} rows: rerun predict@{task.name}"
                )
            parts.append(split_rows.assign(**{TARGET_COLUMN: p}))
            unlabelled_rows += len(split_rows)

    # 2. The student learns them.
    student_dir = out_dir / STUDENT_DIR / (ADAPTER_DIR if params.method == "lora" else MERGED_DIR)
    result = train_encoder(
        model_dir=student_base, task=task, rows=pd.concat(parts, ignore_index=True),
        config=params.student(), out_dir=student_dir, targets=TARGET_COLUMN,
    )  # fmt: skip

    # 3. The student scores dev/test; teacher and student side by side.
    student_params = dataclasses.replace(predict_params, backend="hf", batch_size=params.batch_size)
    student = scorer_for(out_dir / STUDENT_DIR, base_model=student_base, params=student_params)
    scored = predict_splits(task=task, scorer=student, split_files=splits, out_dir=out_dir)
    dev = pd.read_parquet(out_dir / "dev.parquet").rename(columns={"p_yes": "student"})
    dev["teacher"] = teacher_p["dev"].reindex(dev["id"]).to_numpy()
    tfidf_path = baseline / "dev.parquet"
    tfidf = pd.read_parquet(tfidf_path).set_index("id")["p_yes"] if tfidf_path.is_file() else None
    comparison = side_by_side(dev, teacher="teacher", student="student", tfidf=tfidf)
    teacher_rate = len(rows) / teacher_seconds if teacher_seconds > 0 else None
    return {
        "enabled": True,
        "train_rows": len(rows),
        "unlabelled_rows": unlabelled_rows,
        "label_weight": params.label_weight,
        "student_train_seconds": result.summary["seconds"],
        "student_final_loss": result.summary["final_loss"],
        "teacher_pairs_per_second": round(teacher_rate, 1) if teacher_rate else None,
        "student_pairs_per_second": scored["dev"]["pairs_per_second"],
        "dev": comparison,
    }
