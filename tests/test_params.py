"""params.yaml sections load into frozen dataclasses that reject unknown keys."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pytest

from relevance.data.ingest import DataParams, IngestParams
from relevance.errors import ConfigError
from relevance.params import load_section, load_tasks, parse_section


def test_defaults_and_values() -> None:
    assert (
        parse_section(IngestParams, {"max_bad_fraction": 0}, name="ingest").max_bad_fraction == 0.0
    )
    assert parse_section(DataParams, None, name="data") == DataParams()


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        IngestParams().max_bad_fraction = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"max_bad_fracton": 0.1}, "params.yaml:ingest: unknown key(s) max_bad_fracton"),
        (
            {"max_bad_fraction": "lots"},
            "params.yaml:ingest.max_bad_fraction: expected float, got 'lots'",
        ),
        ({"max_bad_fraction": True}, "expected float, got True"),
        ({"max_bad_fraction": 2}, "must be in [0, 1], got 2"),
        ([1, 2], "params.yaml:ingest: expected a mapping"),
    ],
)
def test_bad_values_are_rejected(raw, message) -> None:
    with pytest.raises(ConfigError) as err:
        parse_section(IngestParams, raw, name="ingest")
    assert message in str(err.value)


def test_tasks(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("tasks: [qc]\n")
    assert load_tasks(path) == ("qc",)
    path.write_text("tasks: [qc, qz]\n")
    with pytest.raises(ConfigError, match="unknown task 'qz'"):
        load_tasks(path)
    path.write_text("tasks: []\n")
    with pytest.raises(ConfigError, match="expected a non-empty list"):
        load_tasks(path)


def test_missing_and_broken_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="params file not found"):
        load_section(IngestParams, "ingest", tmp_path / "nope.yaml")
    (tmp_path / "p.yaml").write_text("ingest: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_section(IngestParams, "ingest", tmp_path / "p.yaml")


# ------------------------------------------------------------------- check_params stage


def test_the_fields_read_from_source_are_the_dataclass_fields() -> None:
    """check_params reads the params classes' fields with ast (no torch import): they
    must be exactly what dataclasses.fields sees."""
    import dataclasses
    import importlib

    from relevance.check_params import PER_TASK_SECTIONS, SECTIONS, dataclass_fields

    sources = [*SECTIONS.values(), *(s for s in PER_TASK_SECTIONS.values() if s)]
    for module, name in sources:
        cls = getattr(importlib.import_module(module), name)
        assert dataclass_fields(module, name) == tuple(f.name for f in dataclasses.fields(cls))


def test_the_shipped_params_file_has_only_known_keys() -> None:
    from relevance.check_params import check_params_file

    assert check_params_file(Path(__file__).resolve().parent.parent / "params.yaml") > 50


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("ingest:\n  max_bad_fracton: 0.5\n",
         ":2: unknown key ingest.max_bad_fracton (did you mean ingest.max_bad_fraction?)"),
        ("train:\n  qc:\n    learning_rte: 0.1\n",
         ":3: unknown key train.qc.learning_rte (did you mean train.qc.learning_rate?)"),
        ("train:\n  qx:\n    seed: 1\n", ":2: unknown key train.qx"),
        ("threshold:\n  qc: 0.4\n  qd: 0.3\n", ":3: unknown key threshold.qd (did you mean"),
        ("treshold:\n  qc: 0.4\n", ":1: unknown key treshold (did you mean threshold"),
        ("tasks: [qc]\nmodels:\n  allow_downloads: true\n",
         ":3: unknown key models.allow_downloads (did you mean models.allow_download?)"),
    ],
)  # fmt: skip
def test_an_unknown_key_names_its_line_and_the_closest_valid_key(tmp_path, edit, message):
    from relevance.check_params import check_params_file

    path = tmp_path / "p.yaml"
    path.write_text(edit)
    with pytest.raises(ConfigError) as err:
        check_params_file(path)
    assert f"{path}{message}" in str(err.value)


def test_check_params_stage_exit_code_and_output(tmp_path) -> None:
    from click.testing import CliRunner

    from stages.check_params import main

    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("tasks: [qc]\ntrain:\n  qc:\n    max_steps: 3\n")
    bad.write_text("split:\n  fold: 3\n")
    out = tmp_path / "checked.txt"
    result = CliRunner().invoke(main, ["--out", str(out), "--params", str(good)])
    assert result.exit_code == 0, result.output
    first = out.read_bytes()
    result = CliRunner().invoke(main, ["--out", str(out), "--params", str(bad)])
    assert result.exit_code == 1
    assert "unknown key split.fold (did you mean split.folds?)" in result.output
    good.write_text("tasks: [qc, qi]\n")
    assert CliRunner().invoke(main, ["--out", str(out), "--params", str(good)]).exit_code == 0
    assert out.read_bytes() == first  # the same for every valid file: reruns nothing


def test_a_one_key_set_param_is_a_one_line_diff(tmp_path) -> None:
    """params.yaml is laid out the way DVC dumps it (block lists, single quotes), so
    `dvc exp run -S threshold.qc=0.45` changes that one line and nothing else."""
    import difflib

    from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` calls

    shipped = Path(__file__).resolve().parent.parent / "params.yaml"
    copy = tmp_path / "params.yaml"
    copy.write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    apply_overrides(str(copy), ["threshold.qc=0.45"])
    before = shipped.read_text(encoding="utf-8").splitlines()
    after = copy.read_text(encoding="utf-8").splitlines()
    changed = [line for line in difflib.ndiff(before, after) if line[:1] in "+-"]
    assert changed == ["-   qc: 0.4", "+   qc: 0.45"]


def test_literal_values_are_checked_when_a_section_loads() -> None:
    @dataclasses.dataclass(frozen=True)
    class Choice:
        head: Literal["yes_no", "seq_cls"] = "yes_no"
        bf16: bool | Literal["auto"] = "auto"

    assert parse_section(Choice, {"head": "seq_cls", "bf16": True}, name="x").bf16 is True
    with pytest.raises(ConfigError, match=r"p.yaml:x.head: expected one of 'yes_no', 'seq_cls'"):
        parse_section(Choice, {"head": "seq-cls"}, name="x", source="p.yaml")
    with pytest.raises(ConfigError, match=r"p.yaml:x.bf16: expected"):
        parse_section(Choice, {"bf16": "on"}, name="x", source="p.yaml")


def test_params_yaml_lists_every_field_and_code_defaults_match_it() -> None:
    """The recipe is params.yaml: every field of every params class is there, and a
    class's default equals its value (code defaults never silently define a run)."""
    import importlib

    import yaml

    from relevance.check_params import PER_TASK_SECTIONS, SECTIONS

    params = yaml.safe_load((Path(__file__).resolve().parent.parent / "params.yaml").read_text())
    sections = [(name, source, params[name]) for name, source in SECTIONS.items()]
    for name, source in PER_TASK_SECTIONS.items():
        if source is not None:
            sections += [(f"{name}.{task}", source, params[name][task]) for task in params[name]]
    problems = []
    for name, (module, cls_name), values in sections:
        cls = getattr(importlib.import_module(module), cls_name)
        defaults = dataclasses.asdict(cls())
        for field in dataclasses.fields(cls):
            if field.name not in values:
                problems.append(f"{name}.{field.name} is not in params.yaml")
                continue
            given, default = values[field.name], defaults[field.name]
            if isinstance(default, tuple):
                default = list(default)
            if given != default and not _differs_per_task(params, name, field.name):
                problems.append(f"{name}.{field.name}: params.yaml {given!r}, code {default!r}")
    assert not problems, "\n".join(problems)


def _differs_per_task(params: dict, name: str, key: str) -> bool:
    """A per-task key whose tasks disagree (one code default cannot match them all)."""
    section, _, task = name.partition(".")
    if not task:
        return False
    values = [entry.get(key) for entry in params[section].values()]
    return any(v != values[0] for v in values)


def test_floats_dvc_writes_without_a_dot_are_floats(tmp_path) -> None:
    """`dvc exp run -S train.qc.learning_rate=5e-5` writes `5e-05` (YAML 1.2); PyYAML's
    1.1 rules would read a string and the stage would refuse it."""
    from relevance.model.train import load_train_params
    from relevance.params import load_yaml

    assert load_yaml("a: 5e-05\nb: 1E3\nc: 0.5\nd: 7\ne: 1e-3x") == {
        "a": 5e-05, "b": 1000.0, "c": 0.5, "d": 7, "e": "1e-3x",
    }  # fmt: skip
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  qc:\n    learning_rate: 5e-05\n")
    assert load_train_params("qc", path).learning_rate == 5e-05
