"""DVC stage evaluate@<task>: F1 at the task threshold, per language, threshold sweep,
and the competition submission files."""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

import logging
from pathlib import Path

import click
import pandas as pd

from relevance.errors import DataError
from relevance.evaluate.metrics import evaluate_predictions, threshold_sweep
from relevance.evaluate.plots import threshold_curve_png
from relevance.evaluate.submission import ROW_COLUMNS, read_quarantine, write_submission
from relevance.folds.cv import cv_report
from relevance.params import check_fallback_label, load_key, load_threshold
from relevance.schema import get_task
from relevance.stage import HELP_OPTIONS, setup_logging, user_errors, write_json, write_metrics

logger = logging.getLogger(__name__)


@click.command(context_settings=HELP_OPTIONS)
@click.option("--task", "task_name", required=True, help="Task: qc or qi.")
@click.option(
    "--predictions",
    type=click.Path(path_type=Path),
    required=True,
    help="predict@<task> output dir (<split>.parquet with id, language, p_yes, label).",
)
@click.option(
    "--ingested",
    type=click.Path(path_type=Path),
    required=True,
    help="ingest@<task> output dir (the input fields for the submission files).",
)
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON.")
@click.option(
    "--scores",
    type=click.Path(path_type=Path),
    required=True,
    help="Copy of the metrics for the overall stage (a DVC output).",
)
@click.option(
    "--curve",
    type=click.Path(path_type=Path),
    required=True,
    help="Threshold sweep CSV (plot data).",
)
@click.option("--curve-png", type=click.Path(path_type=Path), required=True, help="Sweep PNG.")
@click.option(
    "--threshold-point",
    type=click.Path(path_type=Path),
    required=True,
    help="CSV of the task threshold and its F1 (plot data: marks it on the curve).",
)
@click.option(
    "--cv-oof",
    type=click.Path(path_type=Path),
    required=True,
    help="cv@<task> out-of-fold scores (empty when cv.folds is 0).",
)
@click.option(
    "--submissions",
    type=click.Path(path_type=Path),
    required=True,
    help="Dir for <split>/submit_<TASK>.txt.",
)
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(
    task_name: str,
    predictions: Path,
    ingested: Path,
    metrics: Path,
    scores: Path,
    curve: Path,
    curve_png: Path,
    threshold_point: Path,
    cv_oof: Path,
    submissions: Path,
    params_path: str,
) -> None:
    """Score dev predictions (where labels exist) and write submissions for dev and test.

    Every dev/test id is answered once, in input order: scored rows at the threshold,
    records quarantined at ingest with ``predict.fallback_label``. Without dev labels
    (the competition's files) the metrics say so and nothing label-based is computed.
    """
    setup_logging()
    task = get_task(task_name)
    threshold = load_threshold(task.name, params_path)
    fallback_label = check_fallback_label(
        load_key("predict", "fallback_label", params_path), params_path
    )
    splits = sorted(p.stem for p in predictions.glob("*.parquet"))
    if "dev" not in splits:
        raise DataError(f"{predictions}/dev.parquet not found: run predict@{task.name} first")
    quarantine = read_quarantine(ingested)
    result: dict = {"task": task.code}
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
    dev = pd.read_parquet(predictions / "dev.parquet")
    labelled = dev[dev["label"].notna()]
    curve.parent.mkdir(parents=True, exist_ok=True)
    if labelled.empty:
        logger.info("dev has no labels: no F1, AUC or threshold sweep for %s", task.code)
        sweep = pd.DataFrame(columns=["threshold", "f1", "precision", "recall"])
    else:
        sweep = threshold_sweep(labelled["label"].to_numpy(int), labelled["p_yes"].to_numpy(float))
    sweep.to_csv(curve, index=False, float_format="%.6f")
    # One row: `dvc plots diff` then shows where each revision's threshold sits on its
    # curve, which a threshold change alone would not (the curve stays the same).
    point = pd.DataFrame({"threshold": [threshold], "f1": [result["dev"].get("f1")]})
    point.dropna().to_csv(threshold_point, index=False, float_format="%.6f")
    threshold_curve_png(
        curve_png,
        sweep,
        title=f"{task.code} dev: F1 against threshold" + (" (no labels)" if labelled.empty else ""),
        threshold=threshold,
        best=result["dev"].get("best", {}).get("threshold"),
    )
    if not cv_oof.is_file():
        raise DataError(f"{cv_oof} not found: run cv@{task.name} first")
    oof = pd.read_parquet(cv_oof)
    if not oof.empty:
        # Training-set CV at the task threshold: mean +- std over the fold models.
        result["cv"] = cv_report(oof, threshold=threshold)
    write_metrics(metrics, result)
    write_json(scores, result)
    lines = ", ".join(f"{s} {result[s]['submission']['lines']} lines" for s in splits)
    if labelled.empty:
        click.echo(f"evaluate@{task.name}: dev has no labels, so no F1; submissions: {lines}")
    else:
        d = result["dev"]
        click.echo(
            f"evaluate@{task.name}: dev F1 {d['f1']:.4f} at threshold {threshold:g} "
            f"(AUC {d['auc']}, all-positive F1 {d['all_positive_f1']:.4f}, "
            f"best {d['best']['f1']:.4f} at {d['best']['threshold']:g}); submissions: {lines}"
        )


if __name__ == "__main__":
    main()
