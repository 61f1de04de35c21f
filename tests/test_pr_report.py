"""`relevance pr-report` on tiny temporary git + DVC repositories (real git and DVC, no network).

The repository has one stage that reads `threshold.qc` from params.yaml and writes an F1
computed from ten fixed scores (`metrics/qc.json`) and a threshold curve
(`reports/threshold_qc.csv`). Branch `main` uses 0.4 (F1 0.6), branch `feature` 0.35
(F1 12/13 = 0.92308).
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
from click.testing import CliRunner

from relevance.tools.cli import main
from relevance.tools.pr_curves import CurvePlot, param_value, parse_curve
from relevance.tools.pr_git import PRReportError
from relevance.tools.pr_headline import (
    MINUS,
    NO_LABELS,
    NO_VALUE,
    CompareRow,
    format_delta,
    headline_rows,
    language_rows,
    metric_cell,
    verdict,
)
from relevance.tools.prreport import (
    PRReport,
    diff_table,
    fetch_hint,
    render_markdown,
    split_metrics_table,
)

BIN = Path(sys.executable).parent

SCORE_PY = """\
import csv, json, os
import yaml

SCORES = [0.1, 0.2, 0.3, 0.36, 0.37, 0.38, 0.42, 0.5, 0.7, 0.9]
LABELS = [0, 0, 0, 1, 1, 1, 0, 1, 1, 1]


def prf(t):
    tp = sum(s >= t and y == 1 for s, y in zip(SCORES, LABELS))
    fp = sum(s >= t and y == 0 for s, y in zip(SCORES, LABELS))
    fn = sum(s < t and y == 1 for s, y in zip(SCORES, LABELS))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn)
    return (2 * p * r / (p + r) if p + r else 0.0), p, r


t = yaml.safe_load(open("params.yaml"))["threshold"]["qc"]
os.makedirs("metrics", exist_ok=True)
os.makedirs("reports", exist_ok=True)
f1, p, r = prf(t)
with open("metrics/qc.json", "w") as f:
    json.dump({"dev": {"f1": round(f1, 6), "precision": round(p, 6), "recall": round(r, 6)}}, f)
with open("reports/threshold_qc.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["threshold", "f1", "precision", "recall"])
    for i in range(1, 20):
        w.writerow([f"{i / 20:.2f}", *(f"{v:.6f}" for v in prf(i / 20))])
"""


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }


def _run(args: list[str], cwd: Path, *, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300, check=False
    )
    if ok:
        assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def _set_threshold(repo: Path, value: float) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump({"threshold": {"qc": value}}))


def _make_repo(path: Path, *, cache_outputs: bool) -> Path:
    """git + DVC repository on branch main with threshold.qc 0.4, reproduced and committed."""
    path.mkdir()
    # What `dvc init` writes, without its second of start-up; no analytics, no update
    # check, DVC's site cache inside the test's folder (not /var/tmp).
    (path / ".dvc").mkdir()
    (path / ".dvc/config").write_text("[core]\n    analytics = false\n    check_update = false\n")
    (path / ".dvc/config.local").write_text(f"[core]\n    site_cache_dir = {path / '.site'}\n")
    (path / ".dvc/.gitignore").write_text("/config.local\n/tmp\n/cache\n")
    (path / ".gitignore").write_text("/.site/\n")
    (path / "score.py").write_text(SCORE_PY)
    _set_threshold(path, 0.4)
    stage = {
        "cmd": f"{sys.executable} score.py",
        "deps": ["score.py"],
        "params": ["threshold.qc"],
        "metrics": [{"metrics/qc.json": {"cache": cache_outputs}}],
        "plots": [
            {"reports/threshold_qc.csv": {"cache": cache_outputs, "x": "threshold", "y": "f1"}}
        ],
    }
    (path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"evaluate": stage}}))
    _run(["git", "init", "-q", "--initial-branch=main"], path)
    _run([str(BIN / "dvc"), "repro", "-q"], path)
    _run(["git", "add", "-A"], path)
    _run(["git", "commit", "-qm", "threshold 0.4"], path)
    return path


@pytest.fixture(scope="module")
def pr_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Branch feature (threshold.qc 0.35, reproduced, committed) checked out over main."""
    repo = _make_repo(tmp_path_factory.mktemp("pr") / "repo", cache_outputs=False)
    _run(["git", "checkout", "-qb", "feature"], repo)
    _set_threshold(repo, 0.35)
    _run([str(BIN / "dvc"), "repro", "-q"], repo)
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "threshold 0.35"], repo)
    return repo


def _visible(markdown: str) -> str:
    """The Markdown GitHub shows unfolded: everything between ``<details>`` and
    ``</details>`` removed (the report never nests them)."""
    assert markdown.count("<details>") == markdown.count("</details>"), markdown
    return re.sub(r"<details>.*?</details>", "", markdown, flags=re.DOTALL)


def _cells(markdown: str, first: str, second: str) -> list[str]:
    """The cells of the Markdown table row whose first two cells are ``first, second``."""
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == [first, second]:
            return cells
    raise AssertionError(f"no row {first} | {second} in:\n{markdown}")


def test_report_shows_metric_and_param_changes_and_curve_png(pr_repo: Path) -> None:
    # The console script, as the PR workflow runs it, from the repository root.
    relevance = shutil.which("relevance", path=str(BIN))
    assert relevance, f"no `relevance` console script in {BIN}: reinstall (make install)"
    result = _run([relevance, "pr-report", "--base", "main"], pr_repo)
    assert "wrote reports/pr.md" in result.stdout

    markdown = (pr_repo / "reports/pr.md").read_text()
    visible = _visible(markdown)
    # The result leads, unfolded: a sentence, then the headline row with the F1 change.
    assert "**Result:** QC F1 0.6000 → 0.9231 (+0.3231)." in visible
    assert visible.index("**Result:**") < visible.index("### Params")
    assert _cells(visible, "QC", "F1") == ["QC", "F1", "0.6000", "0.9231", "+0.3231", "changed"]
    assert _cells(visible, "QC", "precision")[-1] == "changed"
    # The repository's metrics file has no AUC: no row for it, and no mean (no overall.json).
    assert "| QC | AUC |" not in markdown
    assert "mean F1" not in markdown
    # dvc metrics diff, folded below: path, metric, base, workspace, change.
    assert "| metrics/qc.json | dev.f1 |" not in visible
    assert _cells(markdown, "metrics/qc.json", "dev.f1") == [
        "metrics/qc.json",
        "dev.f1",
        "0.6",
        "0.92308",
        "0.32308",
    ]
    assert _cells(markdown, "params.yaml", "threshold.qc") == [
        "params.yaml",
        "threshold.qc",
        "0.4",
        "0.35",
    ]
    # One PNG per curve, linked relative to the report.
    png = pr_repo / "reports/pr/threshold_qc.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](pr/threshold_qc.png)" in markdown


def test_metrics_split_into_model_quality_and_run_statistics() -> None:
    table = (
        "| Path | Metric | main | workspace | Change |\n|---|---|---|---|---|\n"
        "| metrics/translate_qc.json | seconds | 29.0 | 6.7 | -22.3 |\n"
        "| metrics/qc.json | dev.f1 | 0.6 | 0.7 | 0.1 |\n"
        "| metrics/overall.json | mean_f1 | 0.6 | 0.65 | 0.05 |\n"
    )
    quality, stats = split_metrics_table(table)
    assert [line.split("|")[1].strip() for line in quality.splitlines()[2:]] == [
        "metrics/qc.json",
        "metrics/overall.json",
    ]
    assert stats.splitlines()[2].startswith("| metrics/translate_qc.json")
    assert quality.splitlines()[:2] == stats.splitlines()[:2] == table.splitlines()[:2]
    assert split_metrics_table(table.splitlines()[0]) == ("", "")


def test_markdown_links_pngs_to_artifacts_url_and_folds_long_tables(tmp_path: Path) -> None:
    header = "| Path | Metric | main | workspace | Change |\n|---|---|---|---|---|\n"
    rows = "".join(
        f"| metrics/qc.json | dev.per_language.l{i}.f1 | 0.5 | 0.6 | 0.1 |\n" for i in range(40)
    )
    rows += "| metrics/train_qc.json | seconds | 95.1 | 98.7 | 3.6 |\n"
    curve = CurvePlot(
        task="qc",
        path="reports/threshold_qc.csv",
        png=tmp_path / "png/threshold_qc.png",
        in_base=False,
        in_workspace=True,
    )
    report = PRReport(
        base="main",
        base_commit="0123456789abcdef",
        metrics_md=diff_table(header + rows),
        params_md=diff_table(header.replace("Metric", "Param")),  # DVC's "nothing changed"
        curves=[curve],
    )
    url = "https://ci.example/runs/1"
    markdown = render_markdown(report, out=tmp_path / "pr.md", artifacts_url=url)
    assert "<details><summary>40 model metrics (confusion counts tp/fp/tn/fn" in markdown
    # No metrics files were read: the headline says so instead of a table.
    assert "No model quality metrics (`metrics/overall.json`" in _visible(markdown)
    # Run statistics (timings, counts) are folded apart, after the model metrics.
    stats = markdown.index("<details><summary>1 run statistics (seconds")
    assert markdown.index("| metrics/train_qc.json | seconds |") > stats
    assert markdown.index("dev.per_language.l0.f1") < stats
    assert "No param changed against `main`." in markdown
    assert f"[threshold_qc.png]({url})" in markdown
    assert "(not in `main`: workspace only)" in markdown
    assert "![" not in markdown
    embedded = render_markdown(report, out=tmp_path / "pr.md")
    assert "](png/threshold_qc.png)" in embedded


NOTE = "no labels: F1, AUC and the threshold sweep need labelled rows"


def _task(f1: float, **languages: float) -> dict:
    """A metrics/<task>.json with dev F1 ``f1`` (AUC 0.7, precision 0.6, recall 0.9)."""
    per_language = {lang: {"f1": value} for lang, value in languages.items()}
    dev = {"f1": f1, "auc": 0.7, "precision": 0.6, "recall": 0.9, "all_positive_f1": 0.5}
    return {"dev": {**dev, "labelled": 10, "per_language": per_language}}


def _unlabelled() -> dict:
    return {"dev": {"labelled": 0, "rows": 5, "threshold": 0.4, "note": NOTE}}


def test_metric_cell_reads_numbers_no_labels_and_absences() -> None:
    assert metric_cell(_task(0.8), "dev.f1") == 0.8
    assert metric_cell(_unlabelled(), "dev.f1") == NO_LABELS
    assert metric_cell({"note": "no task has labelled dev rows", "tasks": {}}, "mean_f1") == (
        NO_LABELS
    )
    assert metric_cell(None, "dev.f1") == NO_VALUE  # no such file
    assert metric_cell({"dev": {"f1": 0.8, "labelled": 3}}, "dev.auc") == NO_VALUE  # no key
    assert metric_cell({"dev": {"f1": "n/a"}}, "dev.f1") == NO_VALUE


def test_headline_rows_say_changed_and_unchanged() -> None:
    base = {"metrics/overall.json": {"mean_f1": 0.8}, "metrics/qc.json": _task(0.788)}
    base["metrics/qi.json"] = _task(0.8)
    pr = {"metrics/overall.json": {"mean_f1": 0.7395}, "metrics/qc.json": _task(0.679)}
    pr["metrics/qi.json"] = _task(0.8)
    rows = headline_rows(base, pr)
    assert [(r.task, r.metric) for r in rows[:3]] == [
        ("all", "mean F1"),
        ("QC", "F1"),
        ("QC", "AUC"),
    ]
    assert rows[1].cells() == ["QC", "F1", "0.7880", "0.6790", f"{MINUS}0.1090", "changed"]
    assert rows[2].cells() == ["QC", "AUC", "0.7000", "0.7000", "0", "unchanged"]
    assert len(rows) == 11  # mean, then five per task
    assert verdict(rows) == (
        f"QC F1 0.7880 → 0.6790 ({MINUS}0.1090); QI F1 unchanged (0.8000); "
        f"mean F1 0.8000 → 0.7395 ({MINUS}0.0605)."
    )


def test_headline_rows_without_labels_or_without_a_base_file() -> None:
    pr = {"metrics/qc.json": _task(0.7), "metrics/qi.json": _unlabelled()}
    # QI has no labels on either side: one row, no numbers; QC is not in the base at all.
    rows = headline_rows({"metrics/qi.json": _unlabelled()}, pr)
    assert rows[0].cells() == ["QC", "F1", NO_VALUE, "0.7000", NO_VALUE, "changed"]
    assert rows[-1].cells() == ["QI", "F1", NO_LABELS, NO_LABELS, NO_VALUE, "no labels: no F1"]
    assert verdict(rows) == "QC F1 — → 0.7000; QI: no labels: no F1."
    # Labels in the workspace only.
    rows = headline_rows({"metrics/qc.json": _unlabelled()}, {"metrics/qc.json": _task(0.7)})
    assert rows[0].cells() == ["QC", "F1", NO_LABELS, "0.7000", NO_VALUE, "changed"]
    assert headline_rows({}, {}) == []


def test_format_delta() -> None:
    assert format_delta(0.3231) == "+0.3231"
    assert format_delta(-0.10899) == f"{MINUS}0.1090"
    assert format_delta(0.00002) == "+0.000020"  # four places would read 0
    assert format_delta(1e-9) == "0"  # float noise below the files' six places
    assert CompareRow("QC", "F1", 0.5, 0.5000001).status == "unchanged"


def _report(base_metrics: dict, workspace_metrics: dict) -> PRReport:
    return PRReport(
        base="main",
        base_commit="0123456789abcdef",
        metrics_md="",
        params_md="",
        base_metrics=base_metrics,
        workspace_metrics=workspace_metrics,
    )


def test_language_f1_visible_when_short_and_folded_when_long(tmp_path: Path) -> None:
    short = {"metrics/qc.json": _task(0.7, de=0.6, en=0.8)}
    changed = {"metrics/qc.json": _task(0.7, de=0.5, en=0.8)}
    assert [r.cells()[:2] for r in language_rows(short, changed)] == [["QC", "de"], ["QC", "en"]]
    visible = _visible(render_markdown(_report(short, changed), out=tmp_path / "pr.md"))
    assert _cells(visible, "QC", "de") == [
        "QC",
        "de",
        "0.6000",
        "0.5000",
        f"{MINUS}0.1000",
        "changed",
    ]
    assert _cells(visible, "QC", "en")[-1] == "unchanged"

    many = {f"l{i:02}": 0.5 for i in range(31)}
    long_base = {"metrics/qc.json": _task(0.7, **many)}
    long_pr = {"metrics/qc.json": _task(0.7, **{**many, "l00": 0.6})}
    markdown = render_markdown(_report(long_base, long_pr), out=tmp_path / "pr.md")
    assert "<summary>F1 per language and task: 31 rows, 1 changed</summary>" in markdown
    assert "| QC | l00 |" not in _visible(markdown)
    assert _cells(_visible(markdown), "QC", "F1")[-1] == "unchanged"  # the headline stays


@pytest.mark.parametrize(
    ("base", "fix"),
    [("nosuch", "git fetch origin nosuch:nosuch"), ("origin/main", "git fetch origin main")],
)
def test_missing_base_fails_with_fetch_command(
    pr_repo: Path, tmp_path: Path, base: str, fix: str
) -> None:
    result = CliRunner().invoke(
        main, ["pr-report", "--repo", str(pr_repo), "--base", base, "--out", str(tmp_path / "r.md")]
    )
    assert result.exit_code == 1
    assert f"base revision '{base}' not found" in result.output
    assert fix in result.output
    assert "fetch-depth: 0" in result.output
    assert not (tmp_path / "r.md").exists()


def test_unchanged_f1_says_unchanged(pr_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    result = CliRunner().invoke(
        main, ["pr-report", "--repo", str(pr_repo), "--base", "feature", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    visible = _visible(out.read_text())
    assert "**Result:** QC F1 unchanged (0.9231)." in visible
    assert _cells(visible, "QC", "F1") == ["QC", "F1", "0.9231", "0.9231", "0", "unchanged"]
    assert "No model metric (F1, AUC, thresholds) changed against `feature`." in visible


def test_base_without_labels_or_metrics_file_renders_blanks(pr_repo: Path, tmp_path: Path) -> None:
    # A clone of feature with two more bases: one whose dev set has no labels (the
    # competition's files), one from before the metrics file existed.
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", f"file://{pr_repo}", str(clone)], tmp_path)
    (clone / ".dvc/config.local").write_text(f"[core]\n    site_cache_dir = {tmp_path / 's'}\n")
    _run(["git", "checkout", "-qb", "unlabelled", "origin/main"], clone)
    (clone / "metrics/qc.json").write_text(json.dumps(_unlabelled()))
    _run(["git", "commit", "-qam", "dev without labels"], clone)
    _run(["git", "checkout", "-qb", "nometrics", "origin/main"], clone)
    dvc_yaml = yaml.safe_load((clone / "dvc.yaml").read_text())
    del dvc_yaml["stages"]["evaluate"]["metrics"]
    (clone / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml))
    _run(["git", "rm", "-q", "metrics/qc.json"], clone)
    _run(["git", "commit", "-qam", "no metrics yet"], clone)
    _run(["git", "checkout", "-q", "feature"], clone)

    reports = {}
    for base in ("unlabelled", "nometrics"):
        out = tmp_path / f"{base}.md"
        result = CliRunner().invoke(
            main, ["pr-report", "--repo", str(clone), "--base", base, "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        reports[base] = _visible(out.read_text())

    unlabelled = reports["unlabelled"]
    assert "**Result:** QC F1 no labels → 0.9231." in unlabelled
    assert _cells(unlabelled, "QC", "F1") == ["QC", "F1", NO_LABELS, "0.9231", NO_VALUE, "changed"]
    assert f"`metrics/qc.json` in `unlabelled` says: {NOTE}" in unlabelled

    nometrics = reports["nometrics"]
    assert "**Result:** QC F1 — → 0.9231." in nometrics
    assert _cells(nometrics, "QC", "F1") == ["QC", "F1", NO_VALUE, "0.9231", NO_VALUE, "changed"]
    assert "`nometrics` has no `metrics/qc.json`: its values show as —." in nometrics


def test_shallow_clone_is_named_in_the_error(pr_repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", "--depth", "1", f"file://{pr_repo}", str(clone)], tmp_path)
    result = CliRunner().invoke(main, ["pr-report", "--repo", str(clone), "--base", "main"])
    assert result.exit_code == 1
    assert "This clone is shallow." in result.output
    assert "git fetch --unshallow" in result.output


def test_metrics_dvc_cannot_load_fail_the_report(tmp_path: Path) -> None:
    # Metrics cached by DVC (cache: true) and a cache emptied, as on a fresh clone without
    # `dvc pull`: DVC prints "failed to load some metrics" and exits 0; the report must not.
    repo = _make_repo(tmp_path / "repo", cache_outputs=True)
    shutil.rmtree(repo / ".dvc/cache")
    result = CliRunner().invoke(
        main, ["pr-report", "--repo", str(repo), "--out", str(tmp_path / "r.md")]
    )
    assert result.exit_code == 1
    assert "DVC failed to load some metrics for following revisions: 'main'" in result.output
    assert "cache: false" in result.output
    assert "dvc fetch --all-branches --type metrics" in result.output
    assert not (tmp_path / "r.md").exists()


def test_metrics_missing_from_the_workspace_are_named(pr_repo: Path) -> None:
    metrics = pr_repo / "metrics/qc.json"
    kept = metrics.read_bytes()
    metrics.unlink()  # as when a new stage was never reproduced
    try:
        result = CliRunner().invoke(main, ["pr-report", "--repo", str(pr_repo)])
    finally:
        metrics.write_bytes(kept)
    assert result.exit_code == 1
    assert "failed to load some metrics for following revisions: 'workspace'" in result.output
    assert "In the workspace: metrics/qc.json (FileNotFoundError)" in result.output
    assert "Run `dvc repro`" in result.output


def test_dvc_failure_fails_the_report(tmp_path: Path) -> None:
    # A DVC config DVC rejects: `dvc metrics diff` exits non-zero.
    _run(["git", "init", "-q", "--initial-branch=main"], tmp_path)
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc/config").write_text("[core]\n    no_such_option = 1\n")
    _run(["git", "add", "-A"], tmp_path)
    _run(["git", "commit", "-qm", "a"], tmp_path)
    result = CliRunner().invoke(main, ["pr-report", "--repo", str(tmp_path)])
    assert result.exit_code == 1
    assert "`dvc metrics diff main --md` failed (exit 251)" in result.output
    assert "no_such_option" in result.output


def test_git_repository_without_dvc_fails_the_report(tmp_path: Path) -> None:
    # DVC would print empty tables here (and exit 0).
    _run(["git", "init", "-q", "--initial-branch=main"], tmp_path)
    result = CliRunner().invoke(main, ["pr-report", "--repo", str(tmp_path)])
    assert result.exit_code == 1
    assert "is not inside a DVC repository (no .dvc folder)" in result.output


def test_every_command_has_help() -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["--help"]).exit_code == 0
    for name in main.commands:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0
        assert "Usage:" in result.output


def test_helpers() -> None:
    assert fetch_hint("main") == "git fetch origin main:main"
    assert fetch_hint("origin/release") == "git fetch origin release"
    assert param_value("threshold:\n  qc: 0.4\n", "threshold.qc") == 0.4
    assert param_value("threshold:\n  qc: 0.4\n", "threshold.qi") is None
    assert param_value(None, "threshold.qc") is None
    curve = parse_curve("threshold,f1\n0.5,0.7\n0.1,0.8\n", source="x.csv")
    assert curve["threshold"].tolist() == [0.1, 0.5]
    with pytest.raises(PRReportError, match=r"x.csv: expected columns threshold,f1.*got a,b"):
        parse_curve("a,b\n1,2\n", source="x.csv")
