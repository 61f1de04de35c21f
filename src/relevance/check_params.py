"""Every key of params.yaml must be one the pipeline reads (stage ``check_params``).

DVC tracks only the keys each stage lists, so a misspelt key (``ingest.max_bad_fracton``)
is invisible to ``dvc status`` and ``dvc repro``: the run says "up to date" and the
default silently applies. The ``check_params`` stage tracks the whole file, runs first
(``models`` and ``ingest@<task>`` depend on its output) and stops the run on any key no
stage reads, naming it, its line and the closest valid name. Its output never changes,
so a valid params change still reruns only the stages that read the changed keys.

The valid keys are the fields of the params dataclasses, read from their source with
:mod:`ast` rather than imported: this runs on every params change, and importing
torch (through the training module) alone takes seconds.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from relevance.errors import ConfigError
from relevance.params import load_yaml
from relevance.schema import TASKS

# Section -> the dataclass that loads it (module, class).
SECTIONS: dict[str, tuple[str, str]] = {
    "data": ("relevance.data.ingest", "DataParams"),
    "ingest": ("relevance.data.ingest", "IngestParams"),
    "stats": ("relevance.data.stats", "StatsParams"),
    "split": ("relevance.data.split", "SplitParams"),
    "translator": ("relevance.augment.translators", "TranslatorParams"),
    "translate": ("relevance.augment.translate", "TranslateParams"),
    "negatives": ("relevance.augment.negatives", "NegativesParams"),
    "augment": ("relevance.augment.assemble", "AugmentParams"),
    "selfval": ("relevance.folds.selfval", "SelfValParams"),
    "filter": ("relevance.folds.filter", "FilterParams"),
    "cv": ("relevance.folds.cv", "CVParams"),
    "input": ("relevance.model.inputs", "InputParams"),
    "models": ("relevance.model.base_models", "ModelsParams"),
    "predict": ("relevance.model.predict", "PredictParams"),
    "distill": ("relevance.model.distill", "DistillParams"),
}
# Sections with one entry per task: ``train.qc.<field>``, ``threshold.qc``.
PER_TASK_SECTIONS: dict[str, tuple[str, str] | None] = {
    "train": ("relevance.model.train", "TrainParams"),
    "threshold": None,  # a number per task
}
TOP_LEVEL_VALUES = ("tasks",)


@cache
def dataclass_fields(module: str, name: str) -> tuple[str, ...]:
    """The field names of dataclass ``name`` in ``module``, read from its source."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ConfigError(f"{module}: module not found (relevance.check_params.SECTIONS)")
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return tuple(
                item.target.id
                for item in node.body
                if isinstance(item, ast.AnnAssign)
                and isinstance(item.target, ast.Name)
                and "ClassVar" not in ast.unparse(item.annotation)
            )
    raise ConfigError(f"{module}.{name}: class not found (relevance.check_params.SECTIONS)")


def valid_keys() -> list[str]:
    """Every dotted key params.yaml may hold (``train.<task>.*`` for each task)."""
    keys = list(TOP_LEVEL_VALUES)
    for section, (module, name) in SECTIONS.items():
        keys += [f"{section}.{field}" for field in dataclass_fields(module, name)]
    for section, source in PER_TASK_SECTIONS.items():
        for task in TASKS:
            if source is None:
                keys.append(f"{section}.{task}")
            else:
                keys += [f"{section}.{task}.{field}" for field in dataclass_fields(*source)]
    return keys


def _key_lines(text: str) -> dict[str, int]:
    """Dotted key -> 1-based line of the key in the YAML text (mappings only)."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, prefix: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            lines[key] = key_node.start_mark.line + 1
            walk(value_node, f"{key}.")

    root = yaml.compose(text)
    if root is not None:
        walk(root, "")
    return lines


def unknown_keys(params: dict[str, Any]) -> list[str]:
    """Dotted keys of ``params`` that no stage reads (a whole unknown section is one key)."""
    valid = set(valid_keys())
    sections = {key.split(".")[0] for key in valid}
    unknown = []
    for section, value in params.items():
        if section not in sections:
            unknown.append(str(section))
        elif isinstance(value, dict):
            for key, inner in value.items():
                dotted = f"{section}.{key}"
                if section in PER_TASK_SECTIONS and PER_TASK_SECTIONS[section] is not None:
                    if not any(v.startswith(f"{dotted}.") for v in valid):
                        unknown.append(dotted)
                    elif isinstance(inner, dict):
                        unknown += [f"{dotted}.{k}" for k in inner if f"{dotted}.{k}" not in valid]
                elif dotted not in valid:
                    unknown.append(dotted)
    return unknown


def check_params_file(path: str | Path = "params.yaml") -> int:
    """Raise :class:`ConfigError` naming every unknown key of ``path``, its line and the
    closest valid key; return the number of keys checked."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        params = load_yaml(text) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: params file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(params).__name__}")
    unknown = unknown_keys(params)
    if unknown:
        valid, lines = valid_keys(), _key_lines(text)
        problems = []
        for key in unknown:
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{path}:{lines.get(key, '?')}: unknown key {key}{hint}")
        raise ConfigError(
            "; ".join(problems) + ". No stage reads these keys, so they would change "
            "nothing: fix or remove them"
        )
    return len(_key_lines(text))
