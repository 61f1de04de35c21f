"""The whole `dvc repro` graph on the bundled sample with tiny models (real DVC, real
training, translation, mining and scoring code, random-weight stand-ins for the base
models).

Also checks what experiments rerun: `-S negatives.rank_max=40` reruns mining and what
follows but not translation, and its queries all come from the translation cache;
`-S threshold.qc=0.35` reruns evaluate@qc and the two summaries of every task's metrics
(overall, report), nothing else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tiny_lm import build_tiny_embedder, build_tiny_lm

ROOT = Path(__file__).resolve().parent.parent
COPIED = [
    "dvc.yaml", "params.yaml", "stages", "src", "data/sample", ".dvc/config", ".dvcignore",
    "reports/ablation.md",
]  # fmt: skip


def _run(args: list[str], cwd: Path) -> str:
    env = {
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
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for name in COPIED:
        source, target = ROOT / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    models = tmp_path_factory.mktemp("models")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["models"]["llm"] = f"path:{build_tiny_lm(models / 'llm')}"
    params["models"]["embedder"] = f"path:{build_tiny_embedder(models / 'embedder')}"
    for task in ("qc", "qi"):
        params["train"][task].update(learning_rate=5e-3, per_device_batch_size=32)
    # Random-weight translations would all fail the similarity gate; keep them so the
    # augmented rows flow through every stage.
    params["translator"].update(min_similarity=-1.0, max_new_tokens=8)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc = [sys.executable, "-m", "dvc"]
    _run(["git", "init", "-q"], root)
    _run([*dvc, "config", "--local", "core.site_cache_dir", str(root / ".site")], root)
    _run(["git", "add", "-A"], root)
    _run(["git", "commit", "-qm", "project"], root)
    return root


def test_full_repro_then_threshold_experiment(project: Path) -> None:
    dvc = [sys.executable, "-m", "dvc"]
    first = _run([*dvc, "repro"], project)
    expected = {"models", "ingest@qc", "train@qc", "predict@qi", "evaluate@qi", "overall"}
    assert expected <= _ran(first)

    qc = json.loads((project / "metrics/qc.json").read_text())
    assert qc["dev"]["threshold"] == 0.4
    assert qc["dev"]["labelled"] == qc["dev"]["rows"] > 0
    assert {"de", "it", "pl", "ar"} <= set(qc["dev"]["per_language"])
    assert 0.0 <= qc["dev"]["f1"] <= 1.0 and 0.0 <= qc["dev"]["auc"] <= 1.0
    overall = json.loads((project / "metrics/overall.json").read_text())
    assert overall["mean_f1"] == pytest.approx(
        (overall["tasks"]["qc"]["f1"] + overall["tasks"]["qi"]["f1"]) / 2, abs=1e-6
    )
    submission = (project / "data/submissions/qi/test/submit_QI.txt").read_text().splitlines()
    ingest_qi = json.loads((project / "metrics/ingest_qi.json").read_text())
    assert len(submission) == ingest_qi["test"]["rows_out"]
    first_line = json.loads(submission[0])
    assert set(first_line) == {"id", "task", "language", "origin_query", "item_title", "prediction"}
    curve = (project / "reports/threshold_qc.csv").read_text().splitlines()
    assert curve[0] == "threshold,f1,precision,recall" and len(curve) == 20
    # Counts reconcile from ingest to training.
    ingested = json.loads((project / "metrics/ingest_qc.json").read_text())["train"]["rows_out"]
    translated = json.loads((project / "metrics/translate_qc.json").read_text())
    negatives = json.loads((project / "metrics/negatives_qc.json").read_text())
    assembled = json.loads((project / "metrics/assemble_qc.json").read_text())
    selfval = json.loads((project / "metrics/selfval_qc.json").read_text())
    filtered = json.loads((project / "metrics/filter_qc.json").read_text())
    train = json.loads((project / "metrics/train_qc.json").read_text())
    params = yaml.safe_load((project / "params.yaml").read_text())
    per_language = params["translate"]["rows_per_language"]
    assert translated["total"]["sampled"] == 4 * per_language  # ar de it pl
    assert negatives["mining"]["total"]["sampled"] == 4 * params["negatives"]["rows_per_language"]
    assert assembled["rows_by_source"] == {
        "original": ingested,
        "translated": translated["total"]["kept"],
        "negative": negatives["rows_out"],
    }
    assert selfval["rows_in"] == assembled["rows_out"] == filtered["rows_in"]
    assert filtered["rows_out"] == filtered["rows_in"] - selfval["flagged"] == train["rows"]
    assert train["steps"] == -(-train["rows"] // 32)  # one epoch at batch 32

    second = _run([*dvc, "repro"], project)
    assert _ran(second) == set()

    _run(["git", "add", "-A"], project)
    _run(["git", "commit", "-qm", "baseline run"], project)
    mining = _run([*dvc, "exp", "run", "-S", "negatives.rank_max=40"], project)
    assert {"negatives@qc", "negatives@qi"} <= _ran(mining)
    assert not {"translate@qc", "translate@qi", "split@qc", "pivot@qc"} & _ran(mining)
    cache = json.loads((project / "metrics/negatives_qc.json").read_text())["translation"]
    assert cache["cache"]["misses"] == 0 and cache["cache"]["hits"] > 0
    _run(["git", "checkout", "--", "."], project)
    _run([*dvc, "checkout", "--force"], project)

    experiment = _run([*dvc, "exp", "run", "-S", "threshold.qc=0.35"], project)
    # overall and report summarise every task's metrics, so they follow.
    assert _ran(experiment) == {"evaluate@qc", "overall", "report"}
    qc_after = json.loads((project / "metrics/qc.json").read_text())
    assert qc_after["dev"]["threshold"] == 0.35
    diff = _run([*dvc, "metrics", "diff", "--md"], project)
    assert "metrics/qc.json" in diff and "dev.threshold" in diff


def test_winning_team_options_in_one_experiment(project: Path) -> None:
    """English pivot, TAPT, classification head and a 2-fold CV ensemble together,
    through `dvc exp run -S` on the QC task only."""
    dvc = [sys.executable, "-m", "dvc"]
    _run(["git", "checkout", "--", "."], project)
    _run([*dvc, "checkout", "--force"], project)
    options = [
        "input.pivot_en=true", "train.qc.init_from=other_task", "train.qc.head=seq_cls",
        "cv.folds=2", "cv.ensemble=true", "tasks=[qc]",
    ]  # fmt: skip
    output = _run([*dvc, "exp", "run", *[a for o in options for a in ("-S", o)]], project)
    assert {"pivot@qc", "tapt@qc", "train@qc", "cv@qc", "predict@qc", "evaluate@qc"} <= _ran(output)
    tapt = json.loads((project / "metrics/tapt_qc.json").read_text())
    assert tapt["trained_on"] == "qi" and tapt["rows"] > 0
    pivot = json.loads((project / "metrics/pivot_qc.json").read_text())
    assert pivot["enabled"] is True
    # A random-weight translator's English mostly fails the gate (empty, runaway, wrong
    # script); such rows keep their own query. Every non-English row is one or the other.
    train = json.loads((project / "metrics/train_qc.json").read_text())
    assert train["input"]["pivoted"] + train["input"]["no_pivot"] > 0
    predict = json.loads((project / "metrics/predict_qc.json").read_text())
    assert len(predict["dev"]["members"]) == 2  # soft voting over the fold models
    dev_input = predict["dev"]["input"]
    # At most the 360 rows of the 9 non-English dev languages (an English that equals the
    # query itself, such as a brand name, is neither).
    assert 0 < dev_input["pivoted"] + dev_input["no_pivot"] <= 360
    cv = json.loads((project / "metrics/qc.json").read_text())["cv"]
    assert cv["folds"] == 2 and len(cv["per_fold"]) == 2
    assert 0.0 <= cv["f1_mean"] <= 1.0 and cv["f1_std"] >= 0.0
    assert set(cv["per_language"]) >= {"en", "fr"}
    # train.<task>.merge is off by default: the model is the adapter alone.
    assert not (project / "models/qc/merged").exists()
    meta = json.loads((project / "models/qc/adapter/relevance_prompt.json").read_text())
    assert meta["head"] == "seq_cls"
