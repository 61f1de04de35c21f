"""The ablation: the paper's Table 2 (and the winning team's options) as DVC experiments.

:data:`CONFIGS` names each configuration by the params it changes from params.yaml
(whose defaults are the paper's full recipe: translation + negatives + self-validation).
``scripts/ablation.py`` queues them (``dvc exp run --queue -n <name> -S ...``), runs the
queue, and turns ``dvc exp show --json`` into ``reports/ablation.md`` with
:func:`ablation_markdown`: dev F1 per task at the task threshold (the paper's 0.4 / 0.2)
and at the best threshold of the sweep, per language, and deltas against the
original-SFT row.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from relevance.errors import DataError

BASELINE = "original-sft"

# name -> the -S overrides of that experiment.
CONFIGS: dict[str, dict[str, Any]] = {
    BASELINE: {"augment.translate": False, "augment.negatives": False, "selfval.enabled": False},
    "translation": {"augment.negatives": False, "selfval.enabled": False},
    "translation-negatives": {"selfval.enabled": False},
    "translation-negatives-selfval": {},
    "translation-selfval": {"augment.negatives": False},
    # The winning team's options on top of the full recipe.
    "pivot-en": {"input.pivot_en": True},
    "cv-ensemble": {"cv.folds": 3, "cv.ensemble": True},
}


def set_arguments(overrides: Mapping[str, Any]) -> list[str]:
    """``-S key=value`` arguments (YAML spelling of booleans) for ``dvc exp run``."""
    args: list[str] = []
    for key, value in overrides.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args += ["-S", f"{key}={text}"]
    return args


def _entries(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, data) of every commit and experiment in ``dvc exp show --json`` output."""
    if isinstance(node, list):
        for item in node:
            yield from _entries(item)
    elif isinstance(node, dict):
        data = node.get("data")
        if isinstance(data, dict) and "metrics" in data:
            yield str(node.get("name") or node.get("rev")), data
        for key in ("experiments", "revs"):
            if node.get(key):
                yield from _entries(node[key])


def collect(
    exp_show: Any, tasks: tuple[str, ...] = ("qc", "qi")
) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """The ablation experiments of one baseline commit: ``(commit, {name: {task: metrics}})``.

    ``exp_show`` is ``dvc exp show --json --all-commits``: one node per commit with its
    experiments. Configurations are never mixed across commits (code may differ): the
    commit whose ablation experiments ran last wins, and within it the newest
    experiment of each name.
    """
    best: tuple[str, str | None, dict[str, dict[str, Any]]] = ("", None, {})
    for commit in exp_show if isinstance(exp_show, list) else [exp_show]:
        if not isinstance(commit, dict):
            continue
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for name, data in _entries(commit.get("experiments") or []):
            if name not in CONFIGS:
                continue
            per_task = {}
            for task in tasks:
                entry = (data.get("metrics") or {}).get(f"metrics/{task}.json", {})
                if "data" in entry:
                    per_task[task] = entry["data"]
            stamp = str(data.get("timestamp") or "")
            if per_task and (name not in found or stamp > found[name][0]):
                found[name] = (stamp, per_task)
        if not found:
            continue
        latest = max(stamp for stamp, _ in found.values())
        if latest >= best[0]:
            rev = str(commit.get("rev")) if commit.get("rev") else None
            best = (latest, rev, {name: per_task for name, (_, per_task) in found.items()})
    return best[1], best[2]


def _f1(
    metrics: Mapping[str, Any] | None, *, best: bool, language: str | None = None
) -> float | None:
    if not metrics:
        return None
    dev = metrics.get("dev", {})
    if language is not None:
        dev = dev.get("per_language", {}).get(language, {})
        return dev.get("f1")
    return dev.get("best", {}).get("f1") if best else dev.get("f1")


def _auc(metrics: Mapping[str, Any] | None) -> float | None:
    return (metrics or {}).get("dev", {}).get("auc")


def _cell(value: float | None, base: float | None) -> str:
    if value is None:
        return "-"
    if base is None:
        return f"{value:.4f}"
    return f"{value:.4f} ({value - base:+.4f})"


def ablation_markdown(
    results: Mapping[str, Mapping[str, Any]], tasks: tuple[str, ...], *, commit: str | None = None
) -> str:
    """The ablation table: one row per configuration, deltas against original SFT.

    Raises:
        DataError: no configuration of :data:`CONFIGS` has metrics.
    """
    if not results:
        raise DataError(
            "no ablation experiment has metrics in `dvc exp show`: run `make ablation` "
            f"(experiments named {', '.join(CONFIGS)})"
        )
    base = results.get(BASELINE, {})
    lines = [
        "# Ablation (dev F1)",
        "",
        "Rows: the paper's Table 2 configurations, then the winning team's options on top of",
        "the full recipe. Cells: F1 at the task threshold (`threshold.<task>`, the paper's)",
        f"and at the sweep's best threshold; in brackets the change against `{BASELINE}`.",
        "ROC AUC on dev beside them: on a small sample F1 often equals the all-positive",
        "baseline's, and AUC still shows whether the ranking moved.",
        "",
    ]
    if commit:
        lines[-1:-1] = [f"Experiments of commit `{commit[:7]}` (`dvc exp show --all-commits`)."]
    header = ["configuration", "-S overrides"]
    for task in tasks:
        header += [f"{task.upper()} F1", f"{task.upper()} best F1", f"{task.upper()} AUC"]
    header.append("mean F1")
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def mean(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return sum(present) / len(present) if len(present) == len(values) else None

    base_mean = mean([_f1(base.get(t), best=False) for t in tasks])
    for name in CONFIGS:
        if name not in results:
            continue
        row = [f"`{name}`", " ".join(set_arguments(CONFIGS[name])[1::2]) or "(defaults)"]
        for task in tasks:
            metrics = results[name].get(task)
            for best in (False, True):
                row.append(_cell(_f1(metrics, best=best), _f1(base.get(task), best=best)))
            row.append(_cell(_auc(metrics), _auc(base.get(task))))
        row.append(_cell(mean([_f1(results[name].get(t), best=False) for t in tasks]), base_mean))
        lines.append("| " + " | ".join(row) + " |")
    for task in tasks:
        languages = sorted(
            {
                lang
                for per_task in results.values()
                for lang in (per_task.get(task, {}).get("dev", {}).get("per_language") or {})
            }
        )
        if not languages:
            continue
        lines += ["", f"## {task.upper()}: F1 per language at the task threshold", ""]
        lines += ["| configuration | " + " | ".join(languages) + " |"]
        lines += ["|" + "---|" * (len(languages) + 1)]
        for name in CONFIGS:
            if name not in results:
                continue
            metrics = results[name].get(task)
            cells = [
                _cell(
                    _f1(metrics, best=False, language=lang),
                    _f1(base.get(task), best=False, language=lang) if name != BASELINE else None,
                )
                for lang in languages
            ]
            lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
