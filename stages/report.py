"""DVC stage report: reports/report.md with PNG figures, from the committed metrics."""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click

from relevance import stage
from relevance.evaluate.report import build_report
from relevance.params import load_tasks


@stage.command
@stage.path_option("--metrics-dir", "metrics/ folder.")
@stage.path_option("--reports-dir", "reports/ folder (threshold curves, ablation.md).")
@stage.path_option("--out", "report.md to write.")
@stage.path_option("--figures", "Folder for its PNGs.")
def main(metrics_dir: Path, reports_dir: Path, out: Path, figures: Path, params_path: str) -> None:
    """Write the run report."""
    tasks = load_tasks(params_path)
    text = build_report(
        metrics_dir=metrics_dir, reports_dir=reports_dir, figures_dir=figures, tasks=tasks,
        report_dir=out.parent,
    )  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(f"report: {out} ({len(tasks)} tasks)")


if __name__ == "__main__":
    main()
