"""DVC stage selfval@<task>: filter models score the training rows; confident
contradictions of the label are flagged.

``selfval.mode`` oof (default) trains one filter model per group of folds and scores the
rows it did not see; in-sample trains one on everything (the paper). Writes every
row's score and the flagged rows with score and reason; filter@<task> acts on them.
With ``selfval.enabled: false`` both outputs are empty and no model is trained.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from relevance.errors import DataError
from relevance.folds.noise import SelfValParams, find_label_issues
from relevance.folds.selfval import self_validate
from relevance.model.predict import PredictParams
from relevance.model.train import TrainParams
from relevance.params import load_key, load_section, load_task_value, parse_section
from relevance.schema import get_task
from relevance.stage import (
    HELP_OPTIONS,
    force_offline_unless_allowed,
    setup_logging,
    user_errors,
    write_metrics,
)

SCORE_COLUMNS = {
    "id": pa.string(),
    "fold": pa.int8(),
    "model": pa.int16(),
    "p_yes": pa.float64(),
}
FLAG_COLUMNS = {
    "id": pa.string(), "source": pa.string(), "language": pa.string(), "query": pa.string(),
    "candidate": pa.string(), "label": pa.int8(), "p_yes": pa.float64(),
    "self_confidence": pa.float64(), "threshold": pa.float64(), "reason": pa.string(),
}  # fmt: skip


def _write(frame: pd.DataFrame, columns: dict[str, pa.DataType], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([pa.field(name, kind) for name, kind in columns.items()])
    table = pa.Table.from_pandas(frame[list(columns)], schema=schema, preserve_index=False)
    pq.write_table(table, path, compression="zstd")


@click.command(context_settings=HELP_OPTIONS)
@click.option("--task", "task_name", required=True, help="Task: qc or qi.")
@click.option(
    "--train", "train_path", type=click.Path(path_type=Path), required=True,
    help="Assembled training rows (assemble@<task>).",
)  # fmt: skip
@click.option(
    "--base-model", type=click.Path(path_type=Path), required=True, help="Base causal LM folder."
)
@click.option(
    "--work-dir", type=click.Path(path_type=Path), required=True,
    help="Filter models' checkpoints (kept between runs, so a rerun resumes).",
)  # fmt: skip
@click.option("--scores", type=click.Path(path_type=Path), required=True, help="Parquet out.")
@click.option("--flagged", type=click.Path(path_type=Path), required=True, help="Parquet out.")
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON.")
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(
    task_name: str,
    train_path: Path,
    base_model: Path,
    work_dir: Path,
    scores: Path,
    flagged: Path,
    metrics: Path,
    params_path: str,
) -> None:
    """Score one task's training rows with filter models and flag likely label errors."""
    setup_logging()
    force_offline_unless_allowed(
        load_key("models", "allow_download", params_path), source=params_path
    )
    task = get_task(task_name)
    config = load_section(SelfValParams, "selfval", params_path)
    train_config = parse_section(
        TrainParams,
        load_task_value("train", task.name, params_path),
        name=f"train.{task.name}",
        source=params_path,
    )
    predict_params = load_section(PredictParams, "predict", params_path, skip=("fallback_label",))
    if not train_path.is_file():
        raise DataError(f"{train_path} not found: run assemble@{task.name} first")
    rows = pd.read_parquet(train_path)
    work_dir.mkdir(parents=True, exist_ok=True)  # a DVC output even when disabled
    if not config.enabled:
        _write(pd.DataFrame({c: [] for c in SCORE_COLUMNS}), SCORE_COLUMNS, scores)
        _write(pd.DataFrame({c: [] for c in FLAG_COLUMNS}), FLAG_COLUMNS, flagged)
        write_metrics(metrics, {"enabled": False, "rows_in": len(rows), "flagged": 0})
        click.echo(f"selfval@{task.name}: disabled, nothing flagged")
        return
    row_scores, summary = self_validate(
        rows,
        task=task,
        base_model=base_model,
        train_config=train_config,
        predict_params=predict_params,
        config=config,
        work_dir=work_dir,
    )
    issues = find_label_issues(
        labels=rows["label"].to_numpy(),
        p_yes=row_scores["p_yes"].to_numpy(),
        max_flag_fraction=config.max_flag_fraction,
        min_confidence=config.min_confidence,
    )
    _write(row_scores, SCORE_COLUMNS, scores)
    hits = rows.assign(
        p_yes=row_scores["p_yes"].to_numpy(),
        self_confidence=issues["self_confidence"].to_numpy(),
        threshold=issues["threshold"].to_numpy(),
        reason=issues["reason"].to_numpy(),
    )[issues["flagged"].to_numpy()]
    _write(hits, FLAG_COLUMNS, flagged)
    per_language = {
        str(lang): {
            "rows": len(group),
            "flagged": int(issues["flagged"].to_numpy()[group.index].sum()),
        }
        for lang, group in rows.reset_index(drop=True).groupby("language")
    }
    write_metrics(
        metrics,
        {
            "enabled": True,
            **summary,
            "rows_in": len(rows),
            "flagged": len(hits),
            "flagged_by_reason": {str(k): int(v) for k, v in hits.groupby("reason").size().items()},
            "flagged_by_source": {str(k): int(v) for k, v in hits.groupby("source").size().items()},
            "per_language": per_language,
        },
    )
    click.echo(f"selfval@{task.name}: {len(hits)} of {len(rows)} rows flagged -> {flagged}")


if __name__ == "__main__":
    main()
