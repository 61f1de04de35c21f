"""A copy of the project in a temporary git + DVC repository, with tiny random-weight
base models, for tests that run the real `dvc repro` (no network)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from tiny_lm import build_tiny_embedder, build_tiny_lm

ROOT = Path(__file__).resolve().parent.parent
# What a checkout holds (the ignore files too, so the copy commits what a clone would).
COPIED = [
    "dvc.yaml", "params.yaml", "stages", "src", "data/sample", ".dvc/config", ".dvc/.gitignore",
    ".dvcignore", ".gitignore", "reports/ablation.md",
]  # fmt: skip
DVC = [sys.executable, "-m", "dvc"]


def run_env(cwd: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
        # One thread per stage: tiny models gain nothing from more, and it keeps the
        # test's time steady on a busy 2-core machine.
        "OMP_NUM_THREADS": "1",
        # Translation and embedding caches of this test only, never the user's.
        "RELEVANCE_CACHE_DIR": str(cwd / ".relevance-cache"),
    }  # fmt: skip


def run(args: list[str], cwd: Path) -> str:
    """Run a command in ``cwd``; its stdout + stderr. Fails the test on a non-zero exit."""
    result = subprocess.run(
        args, cwd=cwd, env=run_env(cwd), capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def stages_ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def make_project(root: Path, models: Path, **params_update: dict[str, Any]) -> Path:
    """Copy the project into ``root`` with tiny models built in ``models``, git-committed.

    ``params_update``: sections of params.yaml to update (``data={"dir": ...}``).
    """
    for name in COPIED:
        source, target = ROOT / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["models"]["llm"] = f"path:{build_tiny_lm(models / 'llm')}"
    params["models"]["embedder"] = f"path:{build_tiny_embedder(models / 'embedder')}"
    for task in ("qc", "qi"):
        params["train"][task].update(learning_rate=5e-3, per_device_batch_size=32, epochs=1)
    # Random-weight translations would all fail the similarity gate; keep them so the
    # augmented rows flow through every stage.
    params["translator"].update(min_similarity=-1.0, max_new_tokens=8)
    for section, values in params_update.items():
        if isinstance(values, dict):
            params[section].update(values)
        else:
            params[section] = values
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], root)  # README compares against main
    run([*DVC, "config", "--local", "core.site_cache_dir", str(root / ".site")], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "project"], root)
    return root
