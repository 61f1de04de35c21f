"""What every stage script shares (relevance.stage): run statistics kept apart from the
committed metrics, the command writing a stage's metrics, the translation inputs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from relevance import stage
from relevance.errors import DataError
from relevance.stage import run_stats_path, split_run_stats, write_metrics


def test_run_statistics_leave_the_metrics_at_any_depth() -> None:
    metrics = {
        "rows": 10,
        "seconds": 3.2,
        "dev": {"rows": 4, "pairs_per_second": 81.0, "mean_p_yes": 0.61},
        "cache": {"distinct_texts": 48, "hits": 40, "misses": 8, "hit_rate": 0.83,
                  "translate_seconds": 1.5, "texts_per_second": 5.3},
        "resumed_from": "checkpoint-4",
        "seconds_per_step": 5.1,
        "per_language": {"de": {"rows": 2}},
    }  # fmt: skip
    results, run = split_run_stats(metrics)
    assert results == {
        "rows": 10,
        "dev": {"rows": 4, "mean_p_yes": 0.61},
        "cache": {"distinct_texts": 48},
        "per_language": {"de": {"rows": 2}},
    }
    assert run == {
        "seconds": 3.2,
        "dev": {"pairs_per_second": 81.0},
        "cache": {"hits": 40, "misses": 8, "hit_rate": 0.83, "translate_seconds": 1.5,
                  "texts_per_second": 5.3},
        "resumed_from": "checkpoint-4",
        "seconds_per_step": 5.1,
    }  # fmt: skip
    assert split_run_stats({"rows": 1}) == ({"rows": 1}, None)
    # Per-model entries in a list (self-validation's filter models).
    models = {"filter_models": [{"rows": 5, "train_seconds": 3.0}, {"rows": 6}]}
    assert split_run_stats(models) == (
        {"filter_models": [{"rows": 5}, {"rows": 6}]},
        {"filter_models": [{"train_seconds": 3.0}, None]},
    )
    assert split_run_stats({"langs": ["de", "fr"]}) == ({"langs": ["de", "fr"]}, None)


def test_write_metrics_puts_run_statistics_beside_the_file(tmp_path) -> None:
    path = tmp_path / "metrics" / "predict_qc.json"
    write_metrics(path, {"dev": {"rows": 4, "pairs_per_second": 80.0}})
    assert json.loads(path.read_text()) == {"dev": {"rows": 4}}
    assert run_stats_path(path) == tmp_path / "metrics" / "predict_qc.run.json"
    assert json.loads(run_stats_path(path).read_text()) == {"dev": {"pairs_per_second": 80.0}}
    first = path.read_bytes()
    write_metrics(path, {"dev": {"rows": 4, "pairs_per_second": 95.0}})  # another run
    assert path.read_bytes() == first  # the committed file does not change


def _metrics_stage(body: Any) -> Any:
    @stage.command
    @stage.path_option("--out", "Output.")
    @stage.metrics_option
    def main(out: Path, params_path: str) -> Any:
        return body(out)

    return main


def test_the_command_writes_what_the_body_returns_to_metrics(tmp_path) -> None:
    main = _metrics_stage(lambda out: {"rows": 3, "seconds": 1.5})
    path = tmp_path / "m" / "stage.json"
    result = CliRunner().invoke(main, ["--out", str(tmp_path / "o"), "--metrics", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(path.read_text()) == {"rows": 3}
    assert json.loads(run_stats_path(path).read_text()) == {"seconds": 1.5}


def test_a_failed_stage_writes_no_metrics(tmp_path) -> None:
    def fail(out: Path) -> dict:
        raise DataError(f"{out} not found: run split first")

    path = tmp_path / "stage.json"
    result = CliRunner().invoke(
        _metrics_stage(fail), ["--out", str(tmp_path / "o"), "--metrics", str(path)]
    )
    assert result.exit_code == 1 and "not found: run split first" in result.output
    assert not path.exists()
    # A body that declares --metrics but returns nothing is a bug, not an empty file.
    result = CliRunner().invoke(
        _metrics_stage(lambda out: None), ["--out", str(tmp_path / "o"), "--metrics", str(path)]
    )
    assert isinstance(result.exception, TypeError) and not path.exists()


def test_translation_inputs_build_the_setup_after_switching_hub_access(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # restored after the test, as the environment is
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", constants.HF_HUB_OFFLINE)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"models": {"allow_download": False}}))
    built: list[tuple] = []

    def build(params_path: str, **folders: Any) -> str:
        built.append((params_path, folders, os.environ["HF_HUB_OFFLINE"]))
        return "the setup"

    @stage.command
    @stage.translation_inputs(build)
    def main(ingested: Path, setup: str, params_path: str) -> None:
        built.append((ingested, setup))

    args = ["--ingested", "rows", "--llm", "llm", "--embedder", "emb", "--params", str(params)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    # No --translator: the base LLM translates.
    folders = {"llm": Path("llm"), "translator": Path("llm"), "embedder": Path("emb"),
               "cache_dir": None}  # fmt: skip
    assert built == [
        (str(params), {**folders, "allow_download": False}, "1"),  # offline before building
        (Path("rows"), "the setup"),
    ]
    options = [p.opts[0] for p in main.params]
    assert options[-5:] == ["--ingested", "--llm", "--translator", "--embedder", "--cache-dir"]
