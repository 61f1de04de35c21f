"""The project's command line: ``relevance <command>`` (installed as a console script).

Commands are thin: options in, a library call, a one-line summary out. Library errors
(:class:`relevance.errors.RelevanceError`) become a Click error: message, exit code 1.
"""

from __future__ import annotations

from pathlib import Path

import click

from relevance.stage import setup_logging, user_errors


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Tools around the relevance DVC pipeline."""
    setup_logging()


@main.command("pr-report")
@click.option(
    "--base",
    default="main",
    show_default=True,
    help="Git revision to compare the workspace with (a branch such as main or origin/main).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("reports/pr.md"),
    show_default=True,
    help="Markdown report to write.",
)
@click.option(
    "--png-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports/pr"),
    show_default=True,
    help="Folder for one PNG per threshold curve (base and workspace overlaid).",
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Run in this git + DVC repository, as `git -C` does: git and dvc run there, and "
    "relative --out and --png-dir paths are inside it.",
)
@click.option(
    "--artifacts-url",
    default=None,
    help="Link the PNGs to this URL (e.g. a CI run page holding them) instead of embedding "
    "them by relative path; for reports posted away from the files, such as PR comments.",
)
@user_errors
def pr_report(base: str, out: Path, png_dir: Path, repo: Path, artifacts_url: str | None) -> None:
    """Markdown of `dvc metrics diff`, `dvc params diff` and threshold curve PNGs against BASE.

    Fails (exit 1, with how to fix it) when BASE is not in the clone, when DVC cannot load
    some metrics (DVC itself exits 0 then), or when git or dvc fails.
    """
    from relevance.prreport import build_report  # pandas and matplotlib: load on use

    out, png_dir = (p if p.is_absolute() else repo / p for p in (out, png_dir))
    report = build_report(base, repo=repo, out=out, png_dir=png_dir, artifacts_url=artifacts_url)
    click.echo(f"wrote {out} ({len(report.curves)} threshold curve PNGs in {png_dir})")


if __name__ == "__main__":
    main()
