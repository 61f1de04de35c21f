"""The whole `dvc repro` graph on the bundled sample with tiny models (real DVC, real
training, translation, mining and scoring code, random-weight stand-ins for the base
models).

Also checks what experiments rerun: `-S negatives.rank_max=40` reruns mining and what
follows but not translation, and its queries all come from the translation cache;
`-S threshold.qc=0.35` reruns evaluate@qc and the two summaries of every task's metrics
(overall, report), nothing else.

And the team's round trip: `dvc push` to a local-folder remote, a fresh `git clone`,
`dvc pull`, after which `dvc status` is clean and `dvc repro` runs nothing.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pipeline_project import DVC, ROOT, make_project, run_env
from pipeline_project import run as _run
from pipeline_project import stages_ran as _ran
from sklearn.metrics import f1_score


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("models"))


def test_full_repro_then_threshold_experiment(project: Path) -> None:
    dvc = DVC
    first = _run([*dvc, "repro"], project)
    expected = {"models", "ingest@qc", "train@qc", "predict@qi", "evaluate@qi", "overall"}
    assert expected <= _ran(first)

    qc = json.loads((project / "metrics/qc.json").read_text())
    assert qc["dev"]["threshold"] == 0.4
    assert qc["dev"]["labelled"] == qc["dev"]["rows"] > 0
    assert {"de", "it", "pl", "ar"} <= set(qc["dev"]["per_language"])
    # The metrics are the predictions' own: F1 recomputed from the scored rows agrees.
    dev = pd.read_parquet(project / "data/predictions/qc/dev.parquet")
    predicted = (dev["p_yes"] >= 0.4).astype(int)
    assert qc["dev"]["f1"] == pytest.approx(f1_score(dev["label"], predicted), abs=1e-6)
    assert sum(qc["dev"][k] for k in ("tp", "fp", "fn", "tn")) == qc["dev"]["labelled"]
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
    # Cache hits are run statistics: beside the metrics file, not in it.
    cache = json.loads((project / "metrics/negatives_qc.run.json").read_text())["translation"]
    assert cache["cache"]["misses"] == 0 and cache["cache"]["hits"] > 0
    _run(["git", "checkout", "--", "."], project)
    _run([*dvc, "checkout", "--force"], project)

    experiment = _run([*dvc, "exp", "run", "-S", "threshold.qc=0.35"], project)
    # overall and report summarise every task's metrics, so they follow; check_params
    # reads the whole params file, and its unchanged output reruns nothing.
    assert _ran(experiment) == {"check_params", "evaluate@qc", "overall", "report"}
    qc_after = json.loads((project / "metrics/qc.json").read_text())
    assert qc_after["dev"]["threshold"] == 0.35
    diff = _run([*dvc, "metrics", "diff", "--md"], project)
    assert "metrics/qc.json" in diff and "dev.threshold" in diff

    # A misspelt key stops the run before any stage, naming the key and its fix.
    typo = subprocess.run(
        [*dvc, "exp", "run", "-S", "+ingest.max_bad_fracton=0.5"],
        cwd=project, capture_output=True, text=True, timeout=600, env=run_env(project),
    )  # fmt: skip
    assert typo.returncode != 0
    assert "unknown key ingest.max_bad_fracton (did you mean ingest.max_bad_fraction?)" in (
        typo.stdout + typo.stderr
    )
    assert _ran(typo.stdout + typo.stderr) == {"check_params"}
    _run(["git", "checkout", "--", "."], project)


def _experiment(project: Path, *options: str) -> set[str]:
    """`dvc exp run -S option ...` from the baseline commit; the stages that ran."""
    _run(["git", "checkout", "--", "."], project)
    _run([*DVC, "checkout", "--force"], project)
    output = _run([*DVC, "exp", "run", *[a for o in options for a in ("-S", o)]], project)
    return _ran(output)


def _metrics(project: Path, name: str) -> dict:
    return json.loads((project / f"metrics/{name}.json").read_text())


# The winning team's options, one experiment each (QC only, where the option allows), so a
# failure names the option that broke.


def test_option_english_pivot(project: Path) -> None:
    ran = _experiment(project, "input.pivot_en=true", "tasks=[qc]")
    assert {"pivot@qc", "train@qc", "predict@qc", "evaluate@qc"} <= ran
    assert _metrics(project, "pivot_qc")["enabled"] is True
    # A random-weight translator's English mostly fails the gate (empty, runaway, wrong
    # script); such rows keep their own query. Every non-English row is one or the other.
    train = _metrics(project, "train_qc")
    assert train["input"]["pivoted"] + train["input"]["no_pivot"] > 0
    dev_input = _metrics(project, "predict_qc")["dev"]["input"]
    # At most the 360 rows of the 9 non-English dev languages (an English that equals the
    # query itself, such as a brand name, is neither).
    assert 0 < dev_input["pivoted"] + dev_input["no_pivot"] <= 360


def test_option_task_adaptive_pretraining(project: Path) -> None:
    """TAPT reads the other task's ingested rows, so both tasks stay in the pipeline; only
    QC's stages rerun."""
    ran = _experiment(project, "train.qc.init_from=other_task")
    assert {"tapt@qc", "train@qc", "predict@qc", "evaluate@qc"} <= ran
    assert not {"tapt@qi", "train@qi", "ingest@qi"} & ran
    tapt = _metrics(project, "tapt_qc")
    assert tapt["trained_on"] == "qi" and tapt["rows"] > 0
    # train@qc started from that adapter (the model folder records which one).
    summary = json.loads((project / "models/qc/train_summary.json").read_text())
    assert summary["init_adapter_fingerprint"] is not None


def test_option_classification_head(project: Path) -> None:
    ran = _experiment(project, "train.qc.head=seq_cls", "tasks=[qc]")
    assert {"train@qc", "predict@qc", "evaluate@qc"} <= ran
    # train.<task>.merge is off by default: the model is the adapter alone.
    assert not (project / "models/qc/merged").exists()
    meta = json.loads((project / "models/qc/adapter/relevance_prompt.json").read_text())
    assert meta["head"] == "seq_cls"


def test_option_cv_fold_ensemble(project: Path) -> None:
    ran = _experiment(project, "cv.folds=2", "cv.ensemble=true", "tasks=[qc]")
    assert {"cv@qc", "predict@qc", "evaluate@qc"} <= ran
    assert len(_metrics(project, "predict_qc")["dev"]["members"]) == 2  # soft voting
    cv = _metrics(project, "qc")["cv"]
    assert cv["folds"] == 2 and len(cv["per_fold"]) == 2
    assert cv["f1_std"] >= 0.0 and set(cv["per_language"]) >= {"en", "fr"}
    # Every training row is scored once, by the fold model that did not see it.
    assert sum(f["rows"] for f in cv["per_fold"]) == _metrics(project, "filter_qc")["rows_out"]


def test_encoder_backbone_through_the_whole_graph(project: Path, tmp_path: Path) -> None:
    """models.llm an encoder (a tiny BERT): self-validation's filter models, the CV fold
    ensemble, training and prediction all train and score the encoder, on the English
    pivot; the tiny LM translates (models.translator); the distilled student learns the
    encoder teacher. One experiment, as README shows it."""
    from tiny_lm import build_tiny_bert

    params = yaml.safe_load((project / "params.yaml").read_text())
    lm = params["models"]["llm"]  # path:<the tiny LM>
    bert = build_tiny_bert(tmp_path / "bert")
    ran = _experiment(
        project, f"models.llm=path:{bert}", f"models.translator={lm}", "train.qc.method=full",
        "train.qc.max_length=64", "cv.folds=2", "cv.ensemble=true", "input.pivot_en=true",
        "distill.enabled=true", "distill.epochs=1", "tasks=[qc]",
    )  # fmt: skip
    assert {"models", "selfval@qc", "cv@qc", "train@qc", "predict@qc", "distill@qc"} <= ran
    models = _metrics(project, "models")
    assert models["translator"]["source"].startswith("path:")
    # The encoder was fully fine-tuned (merged/: a whole model, no adapter).
    encoder_meta = json.loads((project / "models/qc/merged/relevance_encoder.json").read_text())
    assert encoder_meta["method"] == "full" and not (project / "models/qc/adapter").exists()
    assert (project / "models/cv/qc/fold-1/merged/relevance_encoder.json").is_file()
    assert _metrics(project, "selfval_qc")["rows_in"] > 0
    dev = pd.read_parquet(project / "data/predictions/qc/dev.parquet")
    # A tiny random encoder after one epoch, scored in bf16: few distinct values, not one.
    assert dev["p_yes"].between(0, 1).all() and dev["p_yes"].nunique() > 1
    assert len(_metrics(project, "predict_qc")["dev"]["members"]) == 2  # the fold encoders
    train = _metrics(project, "train_qc")
    assert train["input"]["pivoted"] + train["input"]["no_pivot"] > 0  # the pivot reached it
    distill = _metrics(project, "distill_qc")
    assert (
        distill["enabled"] and distill["train_rows"] == _metrics(project, "filter_qc")["rows_out"]
    )
    assert {"auc", "f1_best"} <= set(distill["dev"]["student"]) and "tfidf_auc" in distill["dev"]
    student = pd.read_parquet(project / "data/distill/qc/dev.parquet")
    assert len(student) == len(dev)


def test_encoder_backbone_without_a_translator_is_refused(project: Path, tmp_path: Path) -> None:
    """An encoder cannot translate: with models.translator left at llm the first stage
    that translates stops and says what to set."""
    from tiny_lm import build_tiny_bert

    bert = build_tiny_bert(tmp_path / "bert")
    _run(["git", "checkout", "--", "."], project)
    _run([*DVC, "checkout", "--force"], project)
    result = subprocess.run(
        [*DVC, "exp", "run", "-S", f"models.llm=path:{bert}", "-S", "tasks=[qc]"],
        cwd=project, env=run_env(project), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode != 0
    assert "is an encoder, and translation needs a causal LM" in result.stdout + result.stderr
    assert "models.translator" in result.stdout + result.stderr


def test_remote_round_trip_reruns_nothing(project: Path, tmp_path: Path) -> None:
    """How a team shares results: push the reproduced graph to a DVC remote, clone the git
    repository afresh, `dvc pull`; the clone is up to date and `dvc repro` runs nothing."""
    dvc = DVC
    # Back to the last commit, whatever experiment an earlier test left in the workspace.
    # After test_full_repro_then_threshold_experiment this repro runs nothing; run alone, it
    # is the full repro.
    _run(["git", "checkout", "--", "."], project)
    if (project / "dvc.lock").exists():
        _run([*dvc, "checkout", "--force"], project)
    _run([*dvc, "repro"], project)
    # Commit what a real checkout commits. The fixture's `git add -A` also took this test's
    # DVC config.local, site cache and translation cache, and the training checkpoints
    # (the project's .gitignore keeps those out of git), so that a clone would get them
    # through git and prove nothing about `dvc pull`.
    local_only = [".dvc/config.local", ".site", ".relevance-cache", "data/checkpoints"]
    with (project / ".gitignore").open("a") as ignore:
        ignore.write("".join(f"/{name}\n" for name in local_only))
    _run(["git", "rm", "-r", "-q", "--cached", "--ignore-unmatch", *local_only], project)
    _run(["git", "add", "-A"], project)
    _run(["git", "commit", "-q", "--allow-empty", "-m", "reproduced"], project)

    # The remote is committed in .dvc/config (not --local), as a team shares it: a fresh
    # clone pulls with no set-up, and the pr-metrics workflow pulls instead of reproducing
    # when `dvc remote list` names one.
    store = tmp_path / "dvc-store"
    _run([*dvc, "remote", "add", "-d", "shared", str(store)], project)
    _run(["git", "commit", "-qm", "shared DVC remote", ".dvc/config"], project)
    _run([*dvc, "push"], project)
    assert "Cache and remote 'shared' are in sync." in _run([*dvc, "status", "-c"], project)

    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    assert not (clone / "models/qc").exists() and not (clone / "data/checkpoints").exists()
    # Machine-local, like the fixture's: the clone's own DVC site cache.
    _run([*dvc, "config", "--local", "core.site_cache_dir", str(clone / ".site")], clone)
    _run([*dvc, "pull"], clone)
    for name in ("models/base/llm", "models/qc/adapter", "models/qi/adapter", "data/cv/qc.parquet"):
        assert (clone / name).exists(), name
    pulled = clone / "data/predictions/qc/dev.parquet"
    assert pulled.read_bytes() == (project / "data/predictions/qc/dev.parquet").read_bytes()

    assert "Data and pipelines are up to date." in _run([*dvc, "status"], clone)
    repro = _run([*dvc, "repro"], clone)
    assert _ran(repro) == set() and "Data and pipelines are up to date." in repro
    # Nothing git tracks (metrics, reports, dvc.lock) was rewritten either.
    assert _run(["git", "status", "--porcelain"], clone) == ""


# Every `dvc ...` line of README's quick start and experiments sections, and what its
# output must show. A README line without an entry here fails the test: new commands
# get checked too.
README_SECTIONS = ("Quick start", "Experiments, metrics and pull requests")
README_EXPECTS = {
    "dvc repro": "Data and pipelines are up to date.",
    "dvc metrics show metrics/overall.json": "mean_f1",
    "dvc dag --mermaid": "flowchart",
    "dvc repro report": "report",
    "dvc exp show --only-changed": "threshold.qc",
    "dvc exp show --drop": "metrics/qc.json:dev.f1",
    "dvc metrics diff main": "dev.threshold",
    "dvc plots diff main": "index.html",
}


def readme_commands() -> list[str]:
    """The `dvc` lines of README's bash blocks in README_SECTIONS, comments cut off."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for section in re.split(r"^## ", text, flags=re.M):
        if not section.startswith(README_SECTIONS):
            continue
        for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
            for line in block.splitlines():
                command = re.split(r"\s{2,}#", line)[0].strip()
                if command.startswith("dvc "):
                    commands.append(command)
    return commands


def test_readme_commands_work_as_printed(project: Path) -> None:
    commands = readme_commands()
    assert len(commands) >= len(README_EXPECTS)
    _run(["git", "checkout", "--", "."], project)
    _run([*DVC, "repro"], project)  # nothing to do after the tests above
    # A user's main holds the reproduced metrics (run alone, this test commits them).
    _run(["git", "add", "-A"], project)
    _run(["git", "commit", "-q", "--allow-empty", "-m", "reproduced"], project)
    # An experiment to show and diff: only evaluate@qc and the summaries rerun.
    _run([*DVC, "exp", "run", "-S", "threshold.qc=0.45"], project)
    for command in commands:
        expected = next((v for k, v in README_EXPECTS.items() if command.startswith(k)), None)
        assert expected is not None, f"README shows {command!r}: add what it prints here"
        output = _run(shlex.split(command), project)  # fails the test on a non-zero exit
        assert expected in output, f"{command}: {expected!r} not in\n{output}"
    keep = next(c for c in commands if c.startswith("dvc exp show --drop"))
    shown = _run(shlex.split(keep), project)
    for column in ("mean_f1", "metrics/qc.json:dev.auc", "metrics/qi.json:dev.f1", "threshold.qc"):
        assert column in shown, f"{column} not shown by README's exp show line"
    _run(["git", "checkout", "--", "."], project)
    _run([*DVC, "checkout", "--force"], project)
