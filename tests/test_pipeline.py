"""`dvc repro` of the data stages on a copy of the project (real DVC, no network).

Runs ingest and stats for both tasks on the bundled sample inside a temporary git + DVC
repository, then checks that a second repro has nothing to do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COPIED = ["dvc.yaml", "params.yaml", "stages", "src", "data/sample", ".dvc/config", ".dvcignore"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in COPIED:
        source, target = ROOT / name, tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, target)
    _run(["git", "init", "-q"], tmp_path)
    # Keep DVC's site cache inside the test's folder, not in /var/tmp.
    _run(
        [
            sys.executable,
            "-m",
            "dvc",
            "config",
            "--local",
            "core.site_cache_dir",
            str(tmp_path / ".site"),
        ],
        tmp_path,
    )
    return tmp_path


def test_data_stages_repro_then_nothing_to_do(project: Path) -> None:
    dvc = [sys.executable, "-m", "dvc"]
    _run([*dvc, "repro", "stats"], project)
    for task in ("qc", "qi"):
        ingest = json.loads((project / f"metrics/ingest_{task}.json").read_text())
        assert (
            ingest["total"]["rows_in"]
            == ingest["total"]["rows_out"] + ingest["total"]["quarantined"]
        )
        assert (
            ingest["dev"]["labelled"] == ingest["dev"]["rows_out"]
        )  # dev labels came from their file
        languages = json.loads((project / f"data/stats/{task}/languages.json").read_text())
        missing = {m["language"] for m in languages["missing_from_train"]}
        assert missing == (
            {"de", "it", "pl", "ar"} if task == "qc" else {"de", "it", "pl", "ar", "id", "vn"}
        )
        assert (
            (project / f"reports/stats_{task}.md")
            .read_text()
            .startswith(f"# Dataset statistics: {task.upper()}")
        )
    second = _run([*dvc, "repro", "stats"], project)
    assert "didn't change, skipping" in second.stdout
    assert "Running stage" not in second.stdout
    status = _run([*dvc, "status", "stats"], project)
    assert "up to date" in status.stdout
