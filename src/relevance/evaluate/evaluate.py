"""The evaluate@<task> stage: F1 at the task threshold, per language, the threshold
sweep (the paper's Figure 2) and the competition submission files.

Every dev/test id is answered once, in input order: scored rows at the threshold,
records quarantined at ingest with the fallback label (:mod:`relevance.evaluate.submission`).
Without dev labels (the competition's files) the metrics say so and nothing label-based
is computed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from relevance.errors import DataError
from relevance.evaluate.metrics import (
    best_threshold,
    cv_report,
    evaluate_predictions,
    score_rows,
    threshold_sweep,
)
from relevance.evaluate.plots import threshold_curve_png
from relevance.evaluate.submission import ROW_COLUMNS, read_quarantine, write_submission
from relevance.schema import Task
from relevance.tables import read_table

logger = logging.getLogger(__name__)

SWEEP_COLUMNS = ["threshold", "f1", "precision", "recall"]


@dataclass(frozen=True)
class PlotFiles:
    """Where evaluate@<task> writes its plot data and figure."""

    curve: Path  # the sweep, CSV (dvc plots)
    curve_png: Path  # the sweep, PNG (reports)
    threshold_point: Path  # the task threshold and its F1, CSV (dvc plots)


def evaluate_task(
    task: Task,
    *,
    predictions: Path,
    ingested: Path,
    baseline: Path,
    cv_oof: Path,
    submissions: Path,
    plots: PlotFiles,
    threshold: float,
    fallback_label: int,
) -> dict[str, Any]:
    """Score each predicted split, write its submission, the sweep and its plots.

    Returns:
        the metrics: per split the scores (or a note that there are no labels) and the
        submission's counts; ``cv`` with the training-set CV when cv@<task> ran.
    """
    splits = sorted(p.stem for p in predictions.glob("*.parquet"))
    if "dev" not in splits:
        raise DataError(f"{predictions}/dev.parquet not found: run predict@{task.name} first")
    quarantine = read_quarantine(ingested)
    result: dict[str, Any] = {"task": task.code}
    for split in splits:
        frame = pd.read_parquet(predictions / f"{split}.parquet")
        rows = pd.read_parquet(ingested / f"{split}.parquet", columns=ROW_COLUMNS)
        submitted = write_submission(
            submissions / split / f"submit_{task.code}.txt",
            task=task,
            rows=rows,
            p_yes=frame.set_index("id")["p_yes"],
            threshold=threshold,
            quarantined=quarantine[quarantine["split"] == split],
            fallback_label=fallback_label,
        )
        result[split] = evaluate_predictions(frame, threshold=threshold)
        result[split]["submission"] = submitted
        if result[split]["labelled"]:
            tfidf = read_table(baseline / f"{split}.parquet", made_by=f"baseline@{task.name}")
            result[split]["tfidf"] = baseline_scores(frame, tfidf, threshold=threshold)
    _write_plots(pd.read_parquet(predictions / "dev.parquet"), result, plots, task, threshold)
    oof = read_table(cv_oof, made_by=f"cv@{task.name}")
    if not oof.empty:
        # Training-set CV at the task threshold: mean +- std over the fold models.
        result["cv"] = cv_report(oof, threshold=threshold)
    return result


def baseline_scores(
    predictions: pd.DataFrame, baseline: pd.DataFrame, *, threshold: float
) -> dict[str, Any]:
    """The TF-IDF baseline on the same labelled rows as the model: AUC, F1 at the task
    threshold and its best F1 over the sweep (``baseline`` has id, p_yes)."""
    labelled = predictions[predictions["label"].notna()][["id", "label"]]
    rows = labelled.merge(baseline, on="id", how="left", validate="one_to_one")
    if rows["p_yes"].isna().any():
        missing = rows.loc[rows["p_yes"].isna(), "id"].head(3).tolist()
        raise DataError(f"the TF-IDF baseline has no score for ids {missing}: rerun baseline")
    labels, p_yes = rows["label"].to_numpy(int), rows["p_yes"].to_numpy(float)
    scored = score_rows(labels, p_yes, threshold)
    best = best_threshold(threshold_sweep(labels, p_yes), prefer=threshold)
    return {"auc": scored["auc"], "f1": scored["f1"], "best_f1": round(best["f1"], 6)}


def _write_plots(
    dev: pd.DataFrame, result: dict[str, Any], plots: PlotFiles, task: Task, threshold: float
) -> None:
    labelled = dev[dev["label"].notna()]
    if labelled.empty:
        logger.info("dev has no labels: no F1, AUC or threshold sweep for %s", task.code)
        sweep = pd.DataFrame(columns=SWEEP_COLUMNS)
    else:
        sweep = threshold_sweep(labelled["label"].to_numpy(int), labelled["p_yes"].to_numpy(float))
    plots.curve.parent.mkdir(parents=True, exist_ok=True)
    sweep.to_csv(plots.curve, index=False, float_format="%.6f")
    # One row: `dvc plots diff` then shows where each revision's threshold sits on its
    # curve, which a threshold change alone would not (the curve stays the same).
    point = pd.DataFrame({"threshold": [threshold], "f1": [result["dev"].get("f1")]})
    point.dropna().to_csv(plots.threshold_point, index=False, float_format="%.6f")
    threshold_curve_png(
        plots.curve_png,
        sweep,
        title=f"{task.code} dev: F1 against threshold" + (" (no labels)" if labelled.empty else ""),
        threshold=threshold,
        best=result["dev"].get("best", {}).get("threshold"),
    )


def summary_line(task: Task, result: dict[str, Any]) -> str:
    """The stage's one line: dev F1 against its baselines, and the submissions."""
    splits = [s for s in ("dev", "test") if s in result]
    lines = ", ".join(f"{s} {result[s]['submission']['lines']} lines" for s in splits)
    dev = result["dev"]
    if not dev.get("labelled"):
        return f"evaluate@{task.name}: dev has no labels, so no F1; submissions: {lines}"
    tfidf = dev.get("tfidf", {}).get("auc")
    return (
        f"evaluate@{task.name}: dev F1 {dev['f1']:.4f} at threshold {dev['threshold']:g} "
        f"(AUC {dev['auc']}, TF-IDF AUC {tfidf}, all-positive F1 {dev['all_positive_f1']:.4f}, "
        f"best {dev['best']['f1']:.4f} at {dev['best']['threshold']:g}); submissions: {lines}"
    )
