"""DVC stage report: reports/report.md with PNG figures, from the committed metrics."""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click

from relevance.evaluate.report import build_report
from relevance.params import load_tasks
from relevance.stage import HELP_OPTIONS, setup_logging, user_errors


@click.command(context_settings=HELP_OPTIONS)
@click.option(
    "--metrics-dir", type=click.Path(path_type=Path), required=True, help="metrics/ folder."
)
@click.option(
    "--reports-dir", type=click.Path(path_type=Path), required=True,
    help="reports/ folder (threshold curves, ablation.md; report.md links are relative to it).",
)  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), required=True, help="report.md to write.")
@click.option(
    "--figures", type=click.Path(path_type=Path), required=True, help="Folder for its PNGs."
)
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(metrics_dir: Path, reports_dir: Path, out: Path, figures: Path, params_path: str) -> None:
    """Write the run report."""
    setup_logging()
    tasks = load_tasks(params_path)
    text = build_report(
        metrics_dir=metrics_dir, reports_dir=reports_dir, figures_dir=figures, tasks=tasks
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(f"report: {out} ({len(tasks)} tasks)")


if __name__ == "__main__":
    main()
