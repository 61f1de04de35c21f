"""params.yaml sections as frozen, typed dataclasses.

Each stage reads only its own sections. Loading a section rejects keys the dataclass
does not know (a typo such as ``max_bad_fracton`` must not silently fall back to the
default) and values of the wrong type, naming ``params.yaml:<section>.<key>``.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from relevance.errors import ConfigError
from relevance.schema import get_task

T = TypeVar("T")


class ParamsLoader(yaml.SafeLoader):
    """PyYAML's safe loader reading floats the YAML 1.2 way, as DVC writes them.

    PyYAML follows YAML 1.1, where a float needs a dot: ``5e-05`` is a string there. DVC
    (ruamel, YAML 1.2) writes ``dvc exp run -S train.qc.learning_rate=5e-5`` as exactly
    that, so a 1.1 reader would see a string where the file means a number.
    """


ParamsLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    """``text`` parsed by :class:`ParamsLoader` (safe, YAML 1.2 floats)."""
    return yaml.load(text, Loader=ParamsLoader)


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    """Check a YAML value against a (simple) annotation; ints are accepted for floats."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            try:
                return _check_type(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {annotation}, got {value!r}")
    if origin is typing.Literal:
        allowed = typing.get_args(annotation)
        # bool is an int: `true` must not pass for a Literal[1] (nor 1 for True).
        if any(value == a and type(value) is type(a) for a in allowed):
            return value
        raise ConfigError(
            f"{where}: expected one of {', '.join(map(repr, allowed))}, got {value!r}"
        )
    if annotation is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected null, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item_type, *_) = typing.get_args(annotation) or (Any,)
        return tuple(_check_type(v, item_type, f"{where}[{i}]") for i, v in enumerate(value))
    if annotation is Any:
        return value
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}")
    if isinstance(annotation, type) and not isinstance(value, annotation):
        raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}")
    return value


def parse_section(cls: type[T], raw: Any, *, name: str, source: str = "params.yaml") -> T:
    """Build dataclass ``cls`` from the mapping ``raw`` (the section ``name``)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}:{name}: expected a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}:{name}: unknown key(s) {', '.join(unknown)}; "
            f"expected some of {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    values = {
        key: _check_type(value, hints[key], f"{source}:{name}.{key}") for key, value in raw.items()
    }
    try:
        return cls(**values)
    except ConfigError as err:
        # A class's own checks say what is wrong with which key ("max_steps must be ...");
        # the file and section in front say where (the params file actually used).
        raise ConfigError(f"{source}:{name}: {err}") from None


def read_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """The whole params file as a mapping."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: params file not found") from None
    try:
        data = load_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def load_section(
    cls: type[T], name: str, path: str | Path = "params.yaml", *, skip: tuple[str, ...] = ()
) -> T:
    """Read one section of ``path`` into ``cls``.

    ``skip``: keys of the section this stage does not read (they keep their defaults),
    so dvc.yaml need not list them and a change to them does not rerun the stage.
    """
    raw = read_params(path).get(name)
    if skip and isinstance(raw, dict):
        raw = {key: value for key, value in raw.items() if key not in skip}
    return parse_section(cls, raw, name=name, source=str(path))


def load_tasks(path: str | Path = "params.yaml") -> tuple[str, ...]:
    """The ``tasks`` list, each checked to be a known task."""
    raw = read_params(path).get("tasks")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}:tasks: expected a non-empty list such as [qc, qi], got {raw!r}")
    return tuple(get_task(str(t)).name for t in raw)


def load_task_value(name: str, task: str, path: str | Path = "params.yaml") -> Any:
    """``<name>.<task>`` (e.g. ``threshold.qc``): a per-task value, read alone so that
    DVC tracks only that key and a change reruns only that task's stage."""
    section = read_params(path).get(name)
    if not isinstance(section, dict) or task not in section:
        raise ConfigError(f"{path}:{name}.{task}: missing (expected a value per task under {name})")
    return section[task]


def load_key(section: str, key: str, path: str | Path = "params.yaml") -> Any:
    """One key of a section (``input.pivot_en``), read alone so that DVC tracks only it:
    a stage that needs one switch of a shared section does not rerun when the others
    change."""
    node = read_params(path).get(section)
    if not isinstance(node, dict) or key not in node:
        raise ConfigError(f"{path}:{section}.{key}: missing (expected it under {section})")
    return node[key]


def check_fallback_label(value: Any, path: str | Path = "params.yaml") -> int:
    """``predict.fallback_label``: 0 or 1 (read alone by evaluate, so checked here)."""
    if isinstance(value, bool) or value not in (0, 1):
        raise ConfigError(f"{path}:predict.fallback_label: expected 0 or 1, got {value!r}")
    return int(value)


def load_threshold(task: str, path: str | Path = "params.yaml") -> float:
    """The decision threshold on p(yes) for one task, in (0, 1)."""
    value = _check_type(load_task_value("threshold", task, path), float, f"{path}:threshold.{task}")
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{path}:threshold.{task}: expected a value in (0, 1), got {value}")
    return value
