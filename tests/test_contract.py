"""The dvc.yaml contract: every stage is a thin script whose deps and params are honest.

The stages are read through DVC's own parser (templating and foreach resolved), so what
is checked is what `dvc repro` runs.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import shlex
from functools import cache
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from relevance import params as params_module

ROOT = Path(__file__).resolve().parent.parent


@cache
def dvc_stages() -> list:
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return [
            {
                "name": stage.addressing,
                "cmd": stage.cmd,
                "deps": [str(Path(d.def_path)) for d in stage.deps if d.def_path != "params.yaml"],
                "params": sorted(
                    key for d in stage.deps if hasattr(d, "params") and d.params for key in d.params
                ),
                "outs": [str(o.def_path) for o in stage.outs],
            }
            for stage in repo.index.stages
        ]


def _module_file(name: str) -> Path:
    return ROOT / "src" / Path(*name.split(".")).with_suffix(".py")


def relevance_imports(path: Path, seen: set[Path] | None = None) -> set[Path]:
    """Library modules a file imports, transitively (``relevance.*`` only)."""
    seen = set() if seen is None else seen
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] != "relevance":
                continue
            file = _module_file(name)
            if file.is_file() and file not in seen:
                seen.add(file)
                relevance_imports(file, seen)
    return seen


def _script(stage: dict) -> Path:
    words = shlex.split(stage["cmd"])
    assert words[0] == "python" and words[1].startswith("stages/"), stage["cmd"]
    return ROOT / words[1]


STAGES = dvc_stages()
IDS = [s["name"] for s in STAGES]


def test_there_are_stages() -> None:
    for name in ("ingest", "stats", "train", "predict", "evaluate"):
        assert {f"{name}@qc", f"{name}@qi"} <= set(IDS)
    assert {"models", "overall"} <= set(IDS)


@pytest.mark.parametrize("stage", STAGES, ids=IDS)
def test_script_has_help(stage: dict) -> None:
    script = _script(stage)
    module = importlib.import_module(f"stages.{script.stem}")
    result = CliRunner().invoke(module.main, ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    short = CliRunner().invoke(module.main, ["-h"])
    assert short.exit_code == 0 and short.output == result.output
    # Every option the cmd passes is an option of the script.
    options = {opt for param in module.main.params for opt in getattr(param, "opts", [])}
    for word in shlex.split(stage["cmd"])[2:]:
        if word.startswith("--"):
            assert word in options, f"{stage['name']}: {word} is not an option of {script.name}"


@pytest.mark.parametrize("stage", STAGES, ids=IDS)
def test_deps_list_the_script_and_its_library_modules(stage: dict) -> None:
    script = _script(stage)
    deps = {(ROOT / d).resolve() for d in stage["deps"]}
    assert script.resolve() in deps, f"{stage['name']}: {script} not in deps"
    missing = sorted(
        str(m.relative_to(ROOT))
        for m in relevance_imports(script)
        if m.resolve() not in deps and m.name != "__init__.py"
    )
    assert not missing, f"{stage['name']}: imports {missing} but does not list them under deps"


@pytest.mark.parametrize("stage", STAGES, ids=IDS)
def test_outputs_are_passed_to_the_script(stage: dict) -> None:
    for out in stage["outs"]:
        assert out in stage["cmd"], f"{stage['name']}: output {out} is not passed in its cmd"


def _imported_names(tree: ast.Module) -> dict[str, str]:
    """``{name: module}`` for each ``from relevance.x import name`` in a script."""
    return {
        alias.asname or alias.name: node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("relevance")
        for alias in node.names
    }


def _reads(script: Path) -> tuple[dict[str, type], set[str], set[str]]:
    """What a script reads from params.yaml: whole sections through
    ``load_section(XParams, "name", ..., skip=(...))`` ({"name": (XParams, skipped)}),
    per-task subtrees through ``load_task_value("name", ...)`` / ``load_threshold(...)``
    ({"name"}) and single keys through ``load_key("section", "key")`` ({"section.key"}).

    ``translation_setup`` reads the ``translator`` section wherever the name stands, called
    or passed on: ``@stage.translation_inputs(translation_setup)`` calls it, after
    ``hub_access`` (``models.allow_download``)."""
    sections, per_task, keys = {}, set(), set()
    tree = ast.parse(script.read_text(encoding="utf-8"))
    imported = _imported_names(tree)
    for node in ast.walk(tree):
        # A Name (called or passed on) or an Attribute (translators.translation_setup).
        if "translation_setup" in (getattr(node, "id", None), getattr(node, "attr", None)):
            from relevance.augment.translators import TranslatorParams

            sections["translator"] = (TranslatorParams, set())
            keys.add("models.allow_download")
        if not isinstance(node, ast.Call):
            continue
        func = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if func == "load_section":
            name = node.args[0].id
            module = importlib.import_module(imported.get(name, params_module.__name__))
            skip = next((k.value for k in node.keywords if k.arg == "skip"), None)
            skipped = {e.value for e in skip.elts} if skip is not None else set()
            sections[node.args[1].value] = (getattr(module, name), skipped)
        elif func == "load_key":
            keys.add(f"{node.args[0].value}.{node.args[1].value}")
        elif func == "hub_access":  # relevance.stage: models.allow_download
            keys.add("models.allow_download")
        elif func == "load_train_params":  # relevance.model.train: train.<task>
            per_task.add("train")
        elif func == "load_task_value":
            per_task.add(node.args[0].value)
        elif func == "load_threshold":
            per_task.add("threshold")
        elif func == "load_tasks":
            per_task.add("tasks")
    return sections, per_task, keys


@pytest.mark.parametrize("stage", STAGES, ids=IDS)
def test_params_are_exactly_the_keys_the_stage_reads(stage: dict) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for key in stage["params"]:
        node = params
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, (
                f"{stage['name']}: {key} not in params.yaml"
            )
            node = node[part]
    sections, per_task, keys = _reads(_script(stage))
    task = stage["name"].partition("@")[2]
    read = {
        f"{section}.{field.name}"
        for section, (cls, skipped) in sections.items()
        for field in dataclasses.fields(cls)
        if field.name not in skipped
    }
    read |= {name if name == "tasks" else f"{name}.{task}" for name in per_task}
    read |= keys
    listed = set(stage["params"])
    assert read == listed, (
        f"{stage['name']}: reads {sorted(read - listed)} without listing them, "
        f"lists {sorted(listed - read)} without reading them"
    )


def _leaf_keys(node: object, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        return [k for key, v in node.items() for k in _leaf_keys(v, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


def test_every_params_key_reruns_some_stage() -> None:
    """`dvc exp run -S key=value` must change something for every key of params.yaml:
    a key no stage lists would be accepted and silently do nothing."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    listed = {key for stage in STAGES for key in stage["params"]}
    unused = [
        key
        for key in _leaf_keys(params)
        if not any(key == k or key.startswith(f"{k}.") for k in listed)
    ]
    assert not unused, f"params.yaml keys no stage of dvc.yaml lists: {unused}"


def test_dvc_config_disables_analytics_and_update_checks() -> None:
    text = (ROOT / ".dvc" / "config").read_text()
    assert "analytics = false" in text and "check_update = false" in text


def test_a_python_without_the_project_gets_a_clear_message() -> None:
    """`.venv/bin/dvc repro` from a shell whose `python` is another interpreter: the
    stage says which python ran and what to do (here: site-packages switched off)."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-S", "stages/split.py", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"{sys.executable} runs this stage, but the project is not installed" in result.stderr
    assert "source .venv/bin/activate" in result.stderr
    assert "git checkout -- metrics reports && dvc checkout" in result.stderr


@pytest.mark.parametrize("stage", STAGES, ids=IDS)
def test_stage_script_imports_the_venv_check_first(stage: dict) -> None:
    tree = ast.parse(_script(stage).read_text(encoding="utf-8"))
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert imports[0].module == "__future__"
    assert isinstance(imports[1], ast.Import) and imports[1].names[0].name == "_venv_check"


def test_check_params_depends_on_every_params_class_it_reads() -> None:
    """check_params reads the params classes from their source files: a changed class
    must rerun it, so each of those files is among its deps."""
    from relevance.check_params import PER_TASK_SECTIONS, SECTIONS

    (stage,) = [s for s in STAGES if s["name"] == "check_params"]
    sources = [*SECTIONS.values(), *(s for s in PER_TASK_SECTIONS.values() if s)]
    files = {str(_module_file(module).relative_to(ROOT)) for module, _ in sources}
    assert files <= set(stage["deps"]), sorted(files - set(stage["deps"]))
