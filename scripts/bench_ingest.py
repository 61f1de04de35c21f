"""Benchmark: ingest + stats on competition-sized synthetic input.

Generates 300k QC + 340k QI training rows (plus dev 100k / 65k, as the competition)
with the sample generator, then times the two stages as DVC runs them (separate
processes, `python stages/<name>.py ...`) and reports each one's wall time and peak
resident memory (the child's max RSS from the kernel).

    python scripts/bench_ingest.py [--workdir /tmp/bench-ingest] [--scale 1.0]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from relevance.tools.synthetic.config import SampleConfig
from relevance.tools.synthetic.sample import write_sample

ROOT = Path(__file__).resolve().parent.parent


def run_stage(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one stage run in its own child process."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    # wait4 gives this child's own resource usage (ru_maxrss in KiB on Linux).
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise click.ClickException(f"{' '.join(args)} failed: {child.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


@click.command()
@click.option("--workdir", type=click.Path(path_type=Path), default=None, help="Scratch dir.")
@click.option("--scale", default=1.0, show_default=True, help="Fraction of competition size.")
def main(workdir: Path | None, scale: float) -> None:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    raw = workdir / "raw"
    config = SampleConfig(
        qc_train=int(300_000 * scale),
        qc_dev=int(100_000 * scale),
        qc_test=0,
        qi_train=int(340_000 * scale),
        qi_dev=int(65_000 * scale),
        qi_test=0,
    )
    start = time.perf_counter()
    counts = write_sample(raw, config)
    click.echo(f"generated {sum(counts.values())} records in {time.perf_counter() - start:.1f} s")
    params = workdir / "params.yaml"
    params.write_text(
        "data:\n  dir: unused\n  test: none_{TASK}.txt\ningest:\n  max_bad_fraction: 0.01\n"
        "stats:\n  top_categories: 20\n"
    )
    total = 0.0
    rows = []
    for task in ("qc", "qi"):
        out = workdir / "ingested" / task
        t_ingest, rss_ingest = run_stage(
            [
                "stages/ingest.py",
                "--task",
                task,
                "--data-dir",
                str(raw),
                "--out-dir",
                str(out),
                "--metrics",
                str(workdir / f"ingest_{task}.json"),
                "--params",
                str(params),
            ]
        )
        t_stats, rss_stats = run_stage(
            [
                "stages/stats.py",
                "--task",
                task,
                "--ingested",
                str(out),
                "--languages-out",
                str(workdir / f"languages_{task}.json"),
                "--metrics",
                str(workdir / f"stats_{task}.json"),
                "--report",
                str(workdir / f"stats_{task}.md"),
                "--params",
                str(params),
            ]
        )
        total += t_ingest + t_stats
        rows.append((task, t_ingest, t_stats, rss_ingest, rss_stats))
    click.echo("| task | ingest s | stats s | ingest peak RSS MiB | stats peak RSS MiB |")
    click.echo("|---|---|---|---|---|")
    for task, ti, ts, ri, rs in rows:
        click.echo(f"| {task} | {ti:.1f} | {ts:.1f} | {ri:.0f} | {rs:.0f} |")
    click.echo(f"total ingest + stats, both tasks: {total:.1f} s (target < 60 s)")


if __name__ == "__main__":
    main()
