"""Benchmark: wall time of `dvc exp run -S threshold.qc=<value>` after a full run.

Needs a clean git tree whose outputs are up to date (`dvc status` clean, as after `make
repro`). Each run sets another threshold (so no run is a no-op), times the whole
command, then puts the workspace back (`git checkout` of what the experiment wrote,
`dvc checkout`) and removes the experiment. Prints each run's seconds, the stages that
ran, and the median.

    python scripts/bench_threshold_experiment.py [--runs 3] [--first 0.30]

A value run before may have its stages restored from DVC's run cache instead of run
(reported as "restored"): pick a ``--first`` not used before to time every stage.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
WRITTEN = ["dvc.lock", "params.yaml", "metrics", "reports"]


def run(*args: str) -> str:
    """Run a command in the project with this venv first on PATH; its stdout and stderr."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(args, cwd=ROOT, env=env, text=True, capture_output=True, check=True)
    return done.stdout + done.stderr


@click.command()
@click.option("--runs", default=3, show_default=True)
@click.option("--first", default=0.30, show_default=True, help="Values: first, +0.01, ...")
def main(runs: int, first: float) -> None:
    if run("git", "status", "--porcelain").strip():
        raise click.ClickException("the git tree is not clean: commit or stash first")
    if run("dvc", "status", "--quiet", "--json").strip() not in ("", "{}"):
        raise click.ClickException("dvc status is not clean: run `dvc repro` first")
    seconds, ran, restored = [], [], []
    for i in range(runs):
        value = round(first + 0.01 * i, 2)
        start = time.perf_counter()
        out = run("dvc", "exp", "run", "-n", f"bench-threshold-{i}", "-S", f"threshold.qc={value}")
        seconds.append(time.perf_counter() - start)
        ran.append(re.findall(r"Running stage '([^']+)'", out))
        restored.append(re.findall(r"Stage '([^']+)' is cached - skipping run", out))
        run("git", "checkout", "--", *WRITTEN)
        run("dvc", "checkout", "--quiet")
        run("dvc", "exp", "remove", f"bench-threshold-{i}")
        click.echo(
            f"threshold.qc={value}: {seconds[-1]:.2f} s, ran {', '.join(ran[-1])}"
            + (f"; restored {', '.join(restored[-1])}" if restored[-1] else "")
        )
    click.echo(
        json.dumps(
            {
                "runs": runs,
                "seconds": [round(s, 2) for s in seconds],
                "median_seconds": round(statistics.median(seconds), 2),
                # Per run, the stages DVC restored from its run cache instead of running.
                "restored": restored,
            }
        )
    )


if __name__ == "__main__":
    main()
