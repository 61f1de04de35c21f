"""DVC stage filter@<task>: drop (or relabel) the rows selfval@<task> flagged.

``filter.action`` remove (the paper) or relabel (flip the label to the filter model's
answer). An empty flag list (self-validation off) passes the rows through unchanged.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click
import pandas as pd

from relevance.errors import DataError
from relevance.folds.noise import FilterParams, apply_filter
from relevance.params import load_section
from relevance.schema import get_task
from relevance.stage import HELP_OPTIONS, setup_logging, user_errors, write_metrics
from relevance.tables import AUGMENTED_SCHEMA, write_table


@click.command(context_settings=HELP_OPTIONS)
@click.option("--task", "task_name", required=True, help="Task: qc or qi.")
@click.option(
    "--train", "train_path", type=click.Path(path_type=Path), required=True,
    help="Assembled training rows (assemble@<task>).",
)  # fmt: skip
@click.option(
    "--flagged", type=click.Path(path_type=Path), required=True, help="selfval@<task> flags."
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Parquet out.")
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON.")
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(
    task_name: str, train_path: Path, flagged: Path, out: Path, metrics: Path, params_path: str
) -> None:
    """Apply the self-validation flags to one task's training rows."""
    setup_logging()
    task = get_task(task_name)
    config = load_section(FilterParams, "filter", params_path)
    for path, stage in ((train_path, "assemble"), (flagged, "selfval")):
        if not path.is_file():
            raise DataError(f"{path} not found: run {stage}@{task.name} first")
    rows = pd.read_parquet(train_path)
    hits = pd.read_parquet(flagged)
    unknown = sorted(set(hits["id"]) - set(rows["id"]))
    if unknown:
        raise DataError(
            f"{flagged}: {len(unknown)} flagged ids are not in {train_path} (first "
            f"{unknown[0]!r}); rerun selfval@{task.name}"
        )
    reason = rows["id"].map(hits.set_index("id")["reason"])
    flags = pd.DataFrame({"flagged": reason.notna().to_numpy(), "reason": reason.to_numpy()})
    filtered, counts = apply_filter(rows, flags, action=config.action)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_table(filtered, out, AUGMENTED_SCHEMA, keep_extra=True)
    write_metrics(metrics, {"action": config.action, **counts})
    click.echo(f"filter@{task.name}: {len(rows)} rows in, {len(filtered)} out -> {out}")


if __name__ == "__main__":
    main()
