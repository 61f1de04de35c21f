"""The run report: ``reports/report.md`` with PNG figures, readable on GitHub as is.

Built only from the committed metrics files (``metrics/*.json``), so it describes exactly
the run the metrics describe: the dataset (the paper's Table 1), what each enhancement
added or removed per language, F1 / AUC per task and language against the all-positive
baseline, the threshold curves (the paper's Figure 2, drawn by ``evaluate@<task>``) and
teacher and distilled student when distill@<task> ran, and the latest ablation table
(``reports/ablation.md``) when one exists.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from relevance.errors import DataError
from relevance.evaluate.plots import bar_chart_png


def _load(metrics_dir: Path, name: str, *, required: bool = True) -> dict[str, Any]:
    path = metrics_dir / f"{name}.json"
    if not path.is_file():
        if required:
            raise DataError(f"{path} not found: run the pipeline (dvc repro) first")
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    def text(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        return "-" if value is None else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(text(v) for v in row) + " |" for row in rows]
    return lines


def dataset_section(stats: dict[str, Any], task: str) -> list[str]:
    """Rows and positive rate per split and language (the paper's Table 1)."""
    rows = stats.get("rows", {})
    languages = sorted({lang for split in rows.values() for lang in split})
    header = ["split", *languages, "total"]
    body = []
    for split in ("train", "dev", "test"):
        if split not in rows:
            continue
        cells = [rows[split].get(lang, {}).get("rows") for lang in languages]
        body.append([split, *cells, stats.get("totals", {}).get(split)])
    return [f"### {task.upper()}: rows per split and language", "", *_table(header, body), ""]


def enhancement_section(metrics_dir: Path, task: str) -> tuple[list[str], dict[str, dict]]:
    """Rows each enhancement added or removed per language, and the numbers for a chart."""
    assembled = _load(metrics_dir, f"assemble_{task}")
    filtered = _load(metrics_dir, f"filter_{task}")
    per_language = assembled.get("per_language", {})
    removed = filtered.get("by_language", {})
    body, chart = [], {}
    for lang in sorted(per_language):
        sources = per_language[lang]
        gone = removed.get(lang, {})
        row = [
            lang,
            sources.get("original", 0),
            sources.get("translated", 0),
            sources.get("negative", 0),
            -int(gone.get("removed", 0)),
            int(gone.get("relabelled", 0)),
            gone.get("rows_out"),
        ]
        body.append(row)
        chart[lang] = {"original": row[1], "translated": row[2], "negative": row[3]}
    header = ["language", "original", "+ translated", "+ negatives", "removed", "relabelled",
              "trained on"]  # fmt: skip
    title = f"### {task.upper()}: what each enhancement changed (training rows)"
    return [title, "", *_table(header, body), ""], chart


def scores_section(
    scores: dict[str, Any], task: str
) -> tuple[list[str], dict[str, dict[str, float]]]:
    """Dev F1, AUC and the all-positive F1 per language, and both F1s per language for a
    chart (the model's bar beside the baseline's: at ~69% positives F1 flatters)."""
    dev = scores.get("dev", {})
    if "f1" not in dev:
        return [f"### {task.upper()}: dev has no labels", ""], {}
    lines = [
        f"### {task.upper()}: dev F1 {dev['f1']:.4f} at threshold {dev['threshold']:g} "
        f"(AUC {dev.get('auc')}, all-positive F1 {dev['all_positive_f1']:.4f}; best "
        f"{dev['best']['f1']:.4f} at {dev['best']['threshold']:g})",
        "",
    ]
    per = dev.get("per_language", {})
    body = [
        [
            lang,
            v.get("rows", v.get("labelled")),
            v.get("f1"),
            v.get("auc"),
            v.get("all_positive_f1"),
        ]
        for lang, v in sorted(per.items())
    ]
    lines += _table(["language", "rows", "F1", "AUC", "all-positive F1"], body)
    cv = scores.get("cv")
    if cv and cv.get("folds"):
        lines += [
            "",
            f"Cross-validation on the training rows ({cv['folds']} fold models): F1 "
            f"{cv['f1_mean']:.4f} +- {cv['f1_std']:.4f}, AUC {cv.get('auc_mean')}.",
        ]
    chart = {
        lang: {"F1": v["f1"], "all-positive F1": v.get("all_positive_f1") or 0.0}
        for lang, v in per.items()
        if v.get("f1") is not None
    }
    return [*lines, ""], chart


def distill_section(distill: dict[str, Any], task: str) -> list[str]:
    """Teacher and student side by side (distill@<task>), or nothing when it was off."""
    dev = distill.get("dev") or {}
    if not distill.get("enabled") or not dev.get("labelled"):
        return []
    body = [
        [name, dev[name].get("auc"), dev[name].get("f1_best"), dev[name].get("best_threshold")]
        for name in ("teacher", "student")
    ]
    return [
        f"### {task.upper()}: teacher and distilled student on {dev['labelled']} dev rows",
        "",
        *_table(["model", "AUC", "best F1", "at threshold"], body),
        "",
        f"All-positive F1 {dev.get('all_positive_f1')}, TF-IDF AUC {dev.get('tfidf_auc')}; "
        f"the student learned from {distill.get('train_rows')} training rows and "
        f"{distill.get('unlabelled_rows')} unlabelled ones.",
        "",
    ]


def _link(path: Path, base: Path) -> str:
    """``path`` as a Markdown link from a file in ``base``. Absolute paths, not resolved
    ones: a figure that is a link into DVC's cache is linked where it stands."""
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(base))).as_posix()


def build_report(
    *,
    metrics_dir: Path,
    reports_dir: Path,
    figures_dir: Path,
    tasks: tuple[str, ...],
    report_dir: Path | None = None,
) -> str:
    """The report's Markdown; writes its PNGs into ``figures_dir``.

    Links are relative to ``report_dir``, the folder report.md is written to
    (default ``reports_dir``).
    """
    base = reports_dir if report_dir is None else report_dir
    overall = _load(metrics_dir, "overall")
    mean_f1 = overall.get("mean_f1")
    lines = [
        "# Run report",
        "",
        "Generated by the `report` stage from `metrics/*.json`. "
        + (
            f"Mean F1 over the tasks: **{mean_f1:.4f}**."
            if mean_f1 is not None
            else "No task has labelled dev rows, so there is no F1 (submissions only)."
        ),
        "",
        "## Data",
        "",
    ]
    for task in tasks:
        lines += dataset_section(_load(metrics_dir, f"stats_{task}"), task)
    lines += ["## Enhancements", ""]
    for task in tasks:
        section, chart = enhancement_section(metrics_dir, task)
        png = figures_dir / f"training_rows_{task}.png"
        bar_chart_png(png, chart, title=f"{task.upper()}: training rows by source", stacked=True)
        lines += [
            *section,
            f"![{task} training rows]({_link(png, base)})",
            "",
        ]
    lines += ["## Scores", ""]
    for task in tasks:
        section, per_language = scores_section(_load(metrics_dir, task), task)
        lines += section
        if per_language:
            png = figures_dir / f"f1_by_language_{task}.png"
            bar_chart_png(
                png, per_language, title=f"{task.upper()}: dev F1 per language (and all-positive)"
            )
            lines += [f"![{task} F1 per language]({_link(png, base)})", ""]
        curve = reports_dir / f"threshold_{task}.png"
        lines += [f"![{task} threshold curve]({_link(curve, base)})", ""]
    distilled = [
        line
        for task in tasks
        for line in distill_section(_load(metrics_dir, f"distill_{task}", required=False), task)
    ]
    if distilled:
        lines += ["## Distillation", "", *distilled]
    ablation = reports_dir / "ablation.md"
    lines += ["## Ablation", ""]
    if ablation.is_file():
        text = ablation.read_text(encoding="utf-8").splitlines()
        lines += [line.replace("# ", "### ", 1) if line.startswith("#") else line for line in text]
    else:
        lines += ["No ablation yet: `make ablation` queues the experiments and writes it."]
    return "\n".join(lines) + "\n"
