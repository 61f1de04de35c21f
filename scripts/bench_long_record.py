"""Benchmark: ingest's memory on a record far over ingest.max_record_bytes.

Copies the bundled sample's QC files into a temporary folder, inserts one 200 MB line
(a query of 200 million "x") into the training file, runs ingest@qc as DVC does (its own
process) and reports the peak resident memory, median of several runs, beside the same
run on the unmodified files. The record is quarantined as too_long without being read
whole, so memory stays at the clean run's level.

    python scripts/bench_long_record.py [--megabytes 200] [--runs 3]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent


def peak_rss_mib(data_dir: Path, out: Path) -> float:
    """Peak RSS (MiB) of one ingest@qc run on ``data_dir``."""
    args = [
        sys.executable, "stages/ingest.py", "--task", "qc", "--data-dir", str(data_dir),
        "--out-dir", str(out / "ingested"), "--metrics", str(out / "ingest.json"),
    ]  # fmt: skip
    child = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise click.ClickException(child.stderr.read().decode())
    return usage.ru_maxrss / 1024


@click.command()
@click.option("--megabytes", default=200, show_default=True, help="Size of the long record.")
@click.option("--runs", default=3, show_default=True)
def main(megabytes: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clean, long = Path(tmp) / "clean", Path(tmp) / "long"
        for folder in (clean, long):
            folder.mkdir()
            for name in ("train_QC.txt", "dev_QC.txt", "dev_labels_QC.txt"):
                shutil.copy2(ROOT / "data/sample" / name, folder / name)
        with (long / "train_QC.txt").open("a", encoding="utf-8") as handle:
            head = '{"id": 999999, "task": "QC", "language": "en", "origin_query": "'
            handle.write(head)
            for _ in range(megabytes):
                handle.write("x" * (1 << 20))
            handle.write('", "category_path": "a,b", "label": 1}\n')
        result = {}
        for name, folder in (("clean", clean), ("with a long record", long)):
            peaks = [peak_rss_mib(folder, Path(tmp) / f"out-{name}-{i}") for i in range(runs)]
            result[name] = {"peak_rss_mib_median": round(statistics.median(peaks)), "runs": runs}
        metrics = json.loads(
            (Path(tmp) / f"out-with a long record-{runs - 1}/ingest.json").read_text()
        )
        result["quarantined_by_reason"] = metrics["train"]["quarantined_by_reason"]
        result["record_megabytes"] = megabytes
        click.echo(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
