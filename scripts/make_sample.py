"""Write the bundled SYNTHETIC sample (data/sample/) in the CIKM AnalytiCup 2025 format.

    python scripts/make_sample.py --out data/sample --seed 13
    python scripts/make_sample.py --out /tmp/full --qc-train 300000 --qi-train 340000

The generator and what the data imitates are documented in ``relevance.tools.synthetic``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from relevance.stage import setup_logging, user_errors
from relevance.tools.synthetic.config import DEFAULT_SIZES, SampleConfig
from relevance.tools.synthetic.sample import write_sample


def _count_option(task: str, split: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    default = DEFAULT_SIZES[task, split]
    return click.option(
        f"--{task.lower()}-{split}",
        type=click.IntRange(min=0),
        default=None,
        help=f"Rows in {split}_{task}.txt [default: {default} x --size-scale].",
    )


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write the eight files into (created if missing).",
)
@click.option("--seed", type=int, default=13, show_default=True, help="Random seed.")
@click.option(
    "--size-scale",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Multiply every default row count (explicit counts below win).",
)
@_count_option("QC", "train")
@_count_option("QC", "dev")
@_count_option("QC", "test")
@_count_option("QI", "train")
@_count_option("QI", "dev")
@_count_option("QI", "test")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes writing files in parallel (the output is the same).",
)
@user_errors
def main(out: Path, seed: int, size_scale: float, workers: int, **counts: int | None) -> None:
    """Generate the synthetic train/dev/test files and dev labels for QC and QI."""
    setup_logging()
    config = SampleConfig.scaled(
        size_scale, seed=seed, **{name: rows for name, rows in counts.items() if rows is not None}
    )
    written = write_sample(out, config, workers=workers)
    for name, rows in written.items():
        click.echo(f"{out / name}: {rows} rows")


if __name__ == "__main__":
    main()
