"""params.yaml sections load into frozen dataclasses that reject unknown keys."""

from __future__ import annotations

import dataclasses

import pytest

from relevance.errors import ConfigError
from relevance.params import DataParams, IngestParams, load_section, load_tasks, parse_section


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
