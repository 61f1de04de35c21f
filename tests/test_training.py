"""LoRA training on a tiny model: what changes, that it learns, resume, merge, precision,
the seq_cls head and starting from an init adapter."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file
from tiny_lm import build_tiny_lm, toy_rows
from transformers import set_seed

from relevance.devices import resolve_device, supports_bf16
from relevance.errors import ConfigError, DataError
from relevance.model.checkpoints import (
    RUN_FILE,
    RUN_KEYS,
    SUMMARY_FILE,
    TrainResult,
    check_resume,
    publish_model,
)
from relevance.model.heads import PROMPT_META_FILE, load_head_model, read_prompt_meta
from relevance.model.prompt import PROMPT_VERSIONS
from relevance.model.scoring import HFScorer
from relevance.model.train import TrainParams, load_train_params, train_lora
from relevance.params import parse_section
from relevance.schema import TASKS

# A fast, fp32 setting for the tiny model; tests override what they are about.
ROOT = Path(__file__).resolve().parents[1]
FAST_SEED = 42
FAST = {
    "seed": FAST_SEED,
    "lora_rank": 8,
    "lora_alpha": 32,
    "lora_dropout": 0.0,
    "learning_rate": 1e-2,
    "per_device_batch_size": 8,
    "max_steps": 40,
    "warmup_ratio": 0.0,
    "logging_steps": 5,
    "save_steps": 1000,
    "bf16": False,
}


# Tiny models run one torch thread (see conftest.one_torch_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(**overrides) -> TrainParams:
    return TrainParams(**{**FAST, **overrides})


def _train(
    model_dir: Path, out_dir: Path, *, rows=None, init_adapter=None, **overrides
) -> TrainResult:
    return train_lora(
        model_dir=model_dir,
        task=TASKS["qc"],
        rows=toy_rows(64) if rows is None else rows,
        config=_config(**overrides),
        out_dir=out_dir,
        progress=False,
        init_adapter=init_adapter,
    )


@pytest.fixture(scope="module")
def trained(tiny_lm_dir, tmp_path_factory) -> TrainResult:
    """One "lm"-loss run with a merged model, shared by the tests that only read it."""
    return _train(tiny_lm_dir, tmp_path_factory.mktemp("run_lm"), merge=True)


# ------------------------------------------------------------------ config


def test_params_section_parses_into_train_params() -> None:
    """The door the stages use: parse_section (through load_train_params)."""
    config = parse_section(
        TrainParams, {"target_modules": ["q_proj", "v_proj"], "bf16": "auto"}, name="train.qc"
    )
    assert config.target_modules == ("q_proj", "v_proj")  # a YAML list becomes a tuple
    assert config.to_dict()["target_modules"] == ["q_proj", "v_proj"]
    assert parse_section(TrainParams, {"bf16": False}, name="train.qc").bf16 is False


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"loss": "mse"}, "train.qc.loss: expected one of 'lm', 'two_way', got 'mse'"),
        ({"head": "regression"}, "train.qc.head: expected one of 'yes_no', 'seq_cls'"),
        ({"bf16": "yes"}, "train.qc.bf16: expected "),
        ({"lora_r": 8}, "train.qc: unknown key(s) lora_r"),
        ({"target_modules": []}, "target_modules must be 'all-linear' or a non-empty list"),
        ({"max_steps": 0}, "max_steps must be -1 (none) or an integer >= 1, got 0"),
    ],
)
def test_params_section_names_the_bad_key(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^params\.yaml:train\.qc") as caught:
        parse_section(TrainParams, values, name="train.qc")
    assert message in str(caught.value)


def test_load_train_params_names_the_params_file_used(tmp_path) -> None:
    params = tmp_path / "other.yaml"
    params.write_text("train:\n  qi:\n    lora_rank: 0\n    learning_rate: 1.0e-3\n")
    with pytest.raises(ConfigError) as caught:
        load_train_params("qi", params)
    assert re.fullmatch(
        rf"{re.escape(str(params))}:train\.qi: invalid training params: "
        r"lora_rank must be an integer >= 1, got 0",
        str(caught.value),
    )
    with pytest.raises(ConfigError, match=r"other\.yaml:train\.qc: missing"):
        load_train_params("qc", params)


def test_training_rows_need_0_1_labels(tiny_lm_dir, tmp_path) -> None:
    rows = toy_rows(8)
    rows.loc[3, "label"] = None
    with pytest.raises(DataError, match="1 of 8 training rows have no label"):
        _train(tiny_lm_dir, tmp_path, rows=rows)
    rows.loc[3, "label"] = 2
    with pytest.raises(DataError, match=r"must be 0 or 1, got \[2\]"):
        _train(tiny_lm_dir, tmp_path, rows=rows)


# ------------------------------------------------------------------ effects


def test_lora_changes_adapter_weights_and_not_base_weights(tiny_lm_dir, trained) -> None:
    base = load_file(tiny_lm_dir / "model.safetensors")
    adapter = load_file(trained.adapter_dir / "adapter_model.safetensors")
    merged = load_file(trained.merged_dir / "model.safetensors")
    scale = trained.summary["config"]["lora_alpha"] / trained.summary["config"]["lora_rank"]
    untouched = _assert_merged_is_base_plus_lora(base, adapter, merged, scale=scale)
    assert any("norm" in k for k in untouched)


def _assert_merged_is_base_plus_lora(
    base: dict, adapter: dict, merged: dict, *, scale: float
) -> list[str]:
    """merged = untouched base + scale * B @ A on each LoRA'd weight (the base did not
    train), every other tensor bit-identical to the base; returns the untouched keys."""
    lora_b = {k: v for k, v in adapter.items() if ".lora_B." in k}
    assert lora_b and all(v.abs().max() > 0 for v in lora_b.values())  # B starts at zero
    targeted = set()
    for key_b, b in lora_b.items():
        module = key_b.removeprefix("base_model.model.").removesuffix(".lora_B.weight")
        a = adapter[key_b.replace(".lora_B.", ".lora_A.")]
        torch.testing.assert_close(
            merged[f"{module}.weight"], base[f"{module}.weight"] + scale * b @ a
        )
        targeted.add(f"{module}.weight")
    untouched = [k for k in base if k not in targeted]
    assert any("embed_tokens" in k for k in untouched)
    for key in untouched:
        torch.testing.assert_close(merged[key], base[key], rtol=0, atol=0)
    return untouched


@pytest.mark.parametrize("loss", ["lm", "two_way"])
def test_loss_falls_and_the_scorer_reads_the_learned_answer(
    loss, tiny_lm_dir, trained, tmp_path
) -> None:
    result = trained if loss == "lm" else _train(tiny_lm_dir, tmp_path, loss=loss)
    history = [h["loss"] for h in result.summary["loss_history"]]
    assert len(history) == 8
    assert np.mean(history[-2:]) < 0.3 * history[0], history
    # Training's "yes" is the scorer's "yes": held-out rows of the same rule score right.
    rows = toy_rows(40, seed=7)
    p_yes = HFScorer(
        tiny_lm_dir, adapter_dir=result.adapter_dir, dtype="float32", progress=False
    ).score(TASKS["qc"], rows)
    positive = rows["label"].to_numpy() == 1
    assert ((p_yes >= 0.5) == positive).mean() >= 0.9
    assert p_yes[positive].mean() - p_yes[~positive].mean() > 0.5


def test_merged_model_scores_like_base_plus_adapter(tiny_lm_dir, trained) -> None:
    rows = toy_rows(12, seed=5)
    with_adapter = HFScorer(
        tiny_lm_dir, adapter_dir=trained.adapter_dir, dtype="float32", progress=False
    ).score(TASKS["qc"], rows)
    merged = HFScorer(trained.merged_dir, dtype="float32", progress=False).score(TASKS["qc"], rows)
    np.testing.assert_allclose(merged, with_adapter, atol=1e-4)


@pytest.mark.skipif(not supports_bf16(torch.device("cpu")), reason="CPU without fast bf16")
def test_bf16_adapter_path_scores_like_the_merged_folder(tiny_lm_dir, trained) -> None:
    """Both round the merged fp32 weights to bf16 once, and keep RoPE buffers in fp32."""
    rows = toy_rows(12, seed=6)
    with_adapter = HFScorer(
        tiny_lm_dir, adapter_dir=trained.adapter_dir, dtype="bfloat16", progress=False
    )
    merged = HFScorer(trained.merged_dir, dtype="bfloat16", progress=False)
    for scorer in (with_adapter, merged):
        dtypes = {n: b.dtype for n, b in scorer.model.named_buffers() if "inv_freq" in n}
        assert dtypes and set(dtypes.values()) == {torch.float32}
    np.testing.assert_allclose(
        with_adapter.score(TASKS["qc"], rows), merged.score(TASKS["qc"], rows), atol=1e-6
    )


def test_saved_model_folders_carry_no_library_versions(trained, tmp_path) -> None:
    """DVC hashes the model folders: another peft or transformers release must not change
    them for the same weights (no version records, no pickled TrainingArguments)."""
    adapter_config = json.loads((trained.adapter_dir / "adapter_config.json").read_text())
    assert "peft_version" not in adapter_config
    assert adapter_config["target_modules"] == sorted(adapter_config["target_modules"])
    assert "framework versions" not in (trained.adapter_dir / "README.md").read_text().lower()
    assert not (trained.adapter_dir / "training_args.bin").exists()
    for name in ("config.json", "generation_config.json"):
        assert "transformers_version" not in json.loads((trained.merged_dir / name).read_text())
    # publish_model keeps them so (it normalises again, which changes nothing).
    before = {p.name: p.read_bytes() for p in trained.adapter_dir.iterdir()}
    copy = tmp_path / "run"
    shutil.copytree(trained.out_dir, copy)
    result = TrainResult(
        out_dir=copy, adapter_dir=copy / "adapter", merged_dir=copy / "merged",
        summary=trained.summary,
    )  # fmt: skip
    publish_model(result, tmp_path / "published")
    after = {p.name: p.read_bytes() for p in (tmp_path / "published" / "adapter").iterdir()}
    assert after == before


def test_outputs_and_summary(trained) -> None:
    summary = json.loads((trained.out_dir / "train_summary.json").read_text())
    # Timings are in the returned summary (for the stage's metrics), not beside the model.
    assert trained.summary["seconds"] > 0 and trained.summary["train_seconds"] > 0
    assert summary == {k: v for k, v in trained.summary.items() if k not in RUN_KEYS}
    assert summary["steps"] == 40 and summary["rows"] == 64
    # The device "auto" resolves to (a GPU where there is one: the suite runs there too).
    assert summary["device"] == str(resolve_device("auto"))
    assert summary["weights_dtype"] == "float32"
    assert summary["label_tokens"]["yes_text"] == " yes"
    assert (trained.merged_dir / "tokenizer.json").is_file()
    assert (trained.adapter_dir / "adapter_config.json").is_file()


def test_scorer_refuses_an_adapter_of_the_other_task(tiny_lm_dir, trained) -> None:
    scorer = HFScorer(tiny_lm_dir, adapter_dir=trained.adapter_dir, progress=False)
    with pytest.raises(ConfigError, match="trained for task 'qc', asked to score 'qi'"):
        scorer.score(TASKS["qi"], toy_rows(2))


# ------------------------------------------------------------------ resume


def test_interrupted_run_resumes_from_its_last_checkpoint(tiny_lm_dir, tmp_path, caplog) -> None:
    first = _train(tiny_lm_dir, tmp_path, max_steps=4, save_steps=2, logging_steps=1)
    assert first.summary["steps"] == 4 and first.summary["resumed_from"] is None
    assert (tmp_path / "checkpoint-4").is_dir()
    with caplog.at_level(logging.INFO, logger="relevance.model"):
        second = _train(tiny_lm_dir, tmp_path, max_steps=8, save_steps=2, logging_steps=1)
    assert "resuming from" in caplog.text and "checkpoint-4 (step 4)" in caplog.text
    assert second.summary["resumed_from"] == "checkpoint-4"
    assert second.summary["resumed_from_step"] == 4
    assert second.summary["steps"] == 8
    # Steps 1-4 come from the first run's log, not a second pass over them.
    steps = [h["step"] for h in second.summary["loss_history"]]
    assert steps == list(range(1, 9))
    assert second.summary["loss_history"][:4] == first.summary["loss_history"]


@pytest.mark.parametrize("head", ["yes_no", "seq_cls"])
def test_a_finished_run_again_keeps_its_losses_and_model_files(tiny_lm_dir, tmp_path, head) -> None:
    """A rerun that finds the finished run's last checkpoint trains nothing (transformers
    would train a 5th step here: step 4 is mid-epoch). The summary keeps the finished
    run's losses, and the model folder is byte-identical, so `dvc repro -f train@qc`
    does not rerun predict."""
    settings = {"max_steps": 4, "save_steps": 2, "logging_steps": 3, "head": head}
    first = _train(tiny_lm_dir, tmp_path, **settings)
    files = {p.name: p.read_bytes() for p in (tmp_path / "adapter").iterdir()}
    on_disk = (tmp_path / "train_summary.json").read_text()
    again = _train(tiny_lm_dir, tmp_path, **settings)
    assert again.summary["resumed_from"] == "checkpoint-4"
    assert again.summary["resumed_from_step"] == 4 and again.summary["steps"] == 4
    for key in ("train_loss", "final_loss", "loss_history"):
        assert again.summary[key] == first.summary[key], key
    assert first.summary["train_loss"] > 0
    assert (tmp_path / "train_summary.json").read_text() == on_disk
    assert {p.name: p.read_bytes() for p in (tmp_path / "adapter").iterdir()} == files


def test_resume_refuses_checkpoints_of_other_settings(tiny_lm_dir, tmp_path) -> None:
    _train(tiny_lm_dir, tmp_path, max_steps=2, save_steps=2)
    with pytest.raises(ConfigError, match=r"config.learning_rate: 0.01 -> 0.001"):
        _train(tiny_lm_dir, tmp_path, max_steps=4, save_steps=2, learning_rate=1e-3)
    with pytest.raises(ConfigError, match="data_fingerprint"):
        _train(tiny_lm_dir, tmp_path, rows=toy_rows(64, seed=9), max_steps=4, save_steps=2)


def test_resume_refuses_checkpoints_of_other_base_weights(tiny_lm_dir, tmp_path) -> None:
    # Same folder name, other weights: the checkpoint belongs to another base model.
    other = build_tiny_lm(tmp_path / "base" / tiny_lm_dir.name, seed=7)
    _train(tiny_lm_dir, tmp_path / "run", max_steps=2, save_steps=2)
    with pytest.raises(ConfigError, match="model_fingerprint"):
        _train(other, tmp_path / "run", max_steps=4, save_steps=2)


def test_restart_on_mismatch_starts_over(tiny_lm_dir, tmp_path) -> None:
    _train(tiny_lm_dir, tmp_path, max_steps=4, save_steps=2)
    result = train_lora(
        model_dir=tiny_lm_dir,
        task=TASKS["qc"],
        rows=toy_rows(64),
        config=_config(max_steps=2, save_steps=2, learning_rate=1e-3),
        out_dir=tmp_path,
        restart_on_mismatch=True,
        progress=False,
    )
    assert result.summary["resumed_from"] is None and result.summary["steps"] == 2
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-2"]


def _checkpoint(
    out_dir: Path, step: int, *, state: str | None = "ok", weights: bool = True
) -> Path:
    """A hand-made ``checkpoint-<step>``: ``state`` "ok" (a whole trainer_state.json),
    None (none), or the literal text of the file."""
    folder = out_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if weights:
        (folder / "adapter_model.safetensors").write_bytes(b"weights")
    if state == "ok":
        state = json.dumps({"global_step": step, "log_history": []})
    if state is not None:
        (folder / "trainer_state.json").write_text(state)
    return folder


def _same_run(out_dir: Path) -> dict:
    """A run record that matches the one in ``out_dir`` (so resume is allowed)."""
    run = {
        "task": "qc",
        "prompt_version": "p",
        "data_fingerprint": "d",
        "model_dir": "m",
        "model_fingerprint": "f",
        "code_fingerprint": "c",
        "init_adapter_fingerprint": None,
        "config": {},
    }
    (out_dir / RUN_FILE).write_text(json.dumps(run))
    return run


def test_resume_sets_aside_incomplete_checkpoints_and_takes_the_newest_complete(
    tmp_path, caplog, monkeypatch
) -> None:
    monkeypatch.delenv("RANK", raising=False)
    _checkpoint(tmp_path, 2)
    _checkpoint(tmp_path, 4)
    _checkpoint(tmp_path, 6, state=None)  # killed before trainer_state.json
    _checkpoint(tmp_path, 8, state='{"global_step": 8, "log_hi')  # killed mid-write
    _checkpoint(tmp_path, 10, state='{"log_history": []}')  # no global_step
    _checkpoint(tmp_path, 12, weights=False)
    # A leftover of an earlier set-aside of the same step is replaced.
    (tmp_path / "incomplete-checkpoint-6").mkdir()
    (tmp_path / "incomplete-checkpoint-6" / "stale").write_text("earlier")
    (tmp_path / "checkpoint-x").mkdir()  # not a checkpoint name: ignored
    with caplog.at_level(logging.WARNING, logger="relevance.model"):
        chosen = check_resume(tmp_path, _same_run(tmp_path), restart_on_mismatch=False)
    assert chosen == str(tmp_path / "checkpoint-4")
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        "checkpoint-2",
        "checkpoint-4",
        "checkpoint-x",
        "incomplete-checkpoint-10",
        "incomplete-checkpoint-12",
        "incomplete-checkpoint-6",
        "incomplete-checkpoint-8",
    ]
    assert not (tmp_path / "incomplete-checkpoint-6" / "stale").exists()
    assert (tmp_path / "incomplete-checkpoint-8" / "adapter_model.safetensors").is_file()
    warnings = {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    assert len(warnings) == 4
    for step, why in [
        (6, "no trainer_state.json"),
        (8, "does not parse as JSON"),
        (10, "no integer global_step"),
        (12, "no weights file"),
    ]:
        [message] = [m for m in warnings if f"checkpoint-{step} is incomplete" in m]
        assert why in message and f"incomplete-checkpoint-{step}" in message
        assert "resuming from checkpoint-4" in message


def test_resume_without_a_complete_checkpoint_starts_over(tmp_path, caplog, monkeypatch) -> None:
    monkeypatch.delenv("RANK", raising=False)
    _checkpoint(tmp_path, 2, state="")
    with caplog.at_level(logging.WARNING, logger="relevance.model"):
        assert check_resume(tmp_path, _same_run(tmp_path), restart_on_mismatch=False) is None
    assert not (tmp_path / "checkpoint-2").exists()
    assert (tmp_path / "incomplete-checkpoint-2").is_dir()
    assert "no complete checkpoint left: starting over" in caplog.text


def test_only_rank_0_sets_incomplete_checkpoints_aside(tmp_path, caplog, monkeypatch) -> None:
    monkeypatch.setenv("RANK", "1")
    _checkpoint(tmp_path, 2)
    _checkpoint(tmp_path, 4, state=None)
    with caplog.at_level(logging.WARNING, logger="relevance.model"):
        chosen = check_resume(tmp_path, _same_run(tmp_path), restart_on_mismatch=False)
    assert chosen == str(tmp_path / "checkpoint-2")
    assert (tmp_path / "checkpoint-4").is_dir() and "skipping it" in caplog.text


# Trains in a child process that SIGKILLs itself halfway through writing
# checkpoint-4/trainer_state.json: the last file the Trainer writes into a checkpoint.
_KILLED_MID_SAVE = """
import dataclasses, json, os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import torch
from transformers.trainer_callback import TrainerState
from tiny_lm import toy_rows
from relevance.schema import TASKS
from relevance.model.train import TrainParams, train_lora

torch.set_num_threads(1)  # as the one_torch_thread fixture: the same sums as in-process
out_dir = Path(sys.argv[4])
kill_at = out_dir / "checkpoint-4" / "trainer_state.json"
save_to_json = TrainerState.save_to_json

def save_or_die(self, json_path):
    if Path(json_path) != kill_at:
        return save_to_json(self, json_path)
    text = json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)
    with open(json_path, "w", encoding="utf-8") as handle:
        handle.write(text[: len(text) // 2])
        handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)

TrainerState.save_to_json = save_or_die
train_lora(model_dir=Path(sys.argv[2]), task=TASKS["qc"], rows=toy_rows(64),
           config=TrainParams(**json.loads(sys.argv[3])), out_dir=out_dir, progress=False)
"""


def test_a_run_killed_mid_checkpoint_resumes_from_the_complete_one(
    tiny_lm_dir, tmp_path, caplog, monkeypatch
) -> None:
    """SIGKILL while the 2nd checkpoint is being saved leaves checkpoint-4 with weights,
    optimizer and RNG state but a cut-off trainer_state.json. The rerun sets it aside,
    resumes from checkpoint-2, and ends with the adapter of an uninterrupted run."""
    monkeypatch.delenv("RANK", raising=False)
    settings = {"max_steps": 6, "save_steps": 2, "logging_steps": 1}
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None)
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_MID_SAVE, str(Path(__file__).parent), str(tiny_lm_dir),
         json.dumps({**FAST, **settings}), str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    state = (out / "checkpoint-4" / "trainer_state.json").read_text()
    assert state and not state.rstrip().endswith("}")  # cut off mid-write
    assert (out / "checkpoint-4" / "adapter_model.safetensors").is_file()
    assert not (out / "checkpoint-6").exists() and not (out / SUMMARY_FILE).exists()

    with caplog.at_level(logging.INFO, logger="relevance.model"):
        resumed = _train(tiny_lm_dir, out, **settings)
    assert "checkpoint-4 is incomplete" in caplog.text and "does not parse" in caplog.text
    assert resumed.summary["resumed_from"] == "checkpoint-2"
    assert resumed.summary["resumed_from_step"] == 2 and resumed.summary["steps"] == 6
    assert (out / "incomplete-checkpoint-4" / "trainer_state.json").read_text() == state
    assert json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())["global_step"] == 4

    straight = _train(tiny_lm_dir, tmp_path / "straight", **settings)
    assert resumed.summary["loss_history"] == straight.summary["loss_history"]
    got = load_file(resumed.adapter_dir / "adapter_model.safetensors")
    want = load_file(straight.adapter_dir / "adapter_model.safetensors")
    assert got.keys() == want.keys()
    for name in want:
        # Bitwise: both runs do the same fp32 sums on one thread, and the checkpoint
        # restores weights, optimizer moments, schedule, RNG and data position exactly.
        assert torch.equal(got[name], want[name]), name


def test_publish_model_moves_the_finished_model(tiny_lm_dir, tmp_path) -> None:
    result = _train(tiny_lm_dir, tmp_path / "run", max_steps=2, logging_steps=1, merge=True)
    (tmp_path / "model" / "adapter").mkdir(parents=True)  # a stale earlier output
    summary = publish_model(result, tmp_path / "model")
    assert summary["final_loss"] == result.summary["loss_history"][-1]["loss"]
    assert not result.adapter_dir.exists() and not result.merged_dir.exists()
    published = json.loads((tmp_path / "model" / "train_summary.json").read_text())
    assert published["merged_dir"] == str(tmp_path / "model" / "merged")
    rows = toy_rows(4)
    from_adapter = HFScorer(
        tiny_lm_dir, adapter_dir=tmp_path / "model" / "adapter", dtype="float32", progress=False
    )
    merged = HFScorer(tmp_path / "model" / "merged", dtype="float32", progress=False)
    np.testing.assert_allclose(
        merged.score(TASKS["qc"], rows), from_adapter.score(TASKS["qc"], rows), atol=1e-4
    )


def test_publish_without_merge_removes_a_stale_merged_model(tiny_lm_dir, tmp_path) -> None:
    """merge off after merge on: predict would otherwise score the old merged/ folder."""
    stale = tmp_path / "model" / "merged"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_text("an earlier run's weights")
    result = _train(tiny_lm_dir, tmp_path / "run", max_steps=1, logging_steps=1, merge=False)
    assert result.merged_dir is None
    summary = publish_model(result, tmp_path / "model")
    assert not stale.exists() and summary["merged_dir"] is None
    assert (tmp_path / "model" / "adapter" / "adapter_config.json").is_file()


_RETRAIN = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tiny_lm import toy_rows
from relevance.schema import TASKS
from relevance.model.checkpoints import publish_model
from relevance.model.train import TrainParams, train_lora
config = TrainParams(**json.loads(sys.argv[3]))
run = train_lora(model_dir=Path(sys.argv[2]), task=TASKS["qc"], rows=toy_rows(32),
                 config=config, out_dir=Path(sys.argv[4]) / "run", progress=False)
publish_model(run, Path(sys.argv[4]) / "model")
"""


def test_retraining_on_the_same_inputs_writes_the_same_files(tiny_lm_dir, tmp_path) -> None:
    """Same data and settings, two processes with different string-hash seeds: every file
    of the published model is byte-identical, so DVC sees the same model and skips
    predict. Catches run timings in the folder and peft's set-ordered target_modules."""
    config = json.dumps({**FAST, "max_steps": 2})
    folders = []
    out = tmp_path / "work"  # one path for both: it is recorded in the summary and args
    for hash_seed in ("1", "2"):
        shutil.rmtree(out, ignore_errors=True)  # no checkpoint to resume from
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
        subprocess.run(
            [sys.executable, "-c", _RETRAIN, str(Path(__file__).parent), str(tiny_lm_dir),
             config, str(out)],
            check=True, env=env, capture_output=True,
        )  # fmt: skip
        folder = out / "model"
        folders.append(
            {
                str(path.relative_to(folder)): hashlib.md5(path.read_bytes()).hexdigest()
                for path in sorted(folder.rglob("*"))
                if path.is_file()
            }
        )
    assert "adapter/adapter_config.json" in folders[0] and "train_summary.json" in folders[0]
    assert folders[0] == folders[1]


# ------------------------------------------------------------------ precision


@pytest.mark.skipif(not supports_bf16(torch.device("cpu")), reason="CPU without fast bf16")
def test_bf16_autocast_trains_fp32_lora_weights_over_a_bf16_base(tiny_lm_dir, tmp_path) -> None:
    result = _train(tiny_lm_dir, tmp_path, max_steps=3, bf16="auto")
    assert result.summary["bf16_autocast"] is True
    assert result.summary["weights_dtype"] == "bfloat16"  # the frozen base: no per-step cast
    assert result.summary["matmul_dtype"] == "bfloat16"  # autocast really ran
    adapter = load_file(result.adapter_dir / "adapter_model.safetensors")
    assert {v.dtype for v in adapter.values()} == {torch.float32}  # what the optimizer updates
    fp32 = _train(tiny_lm_dir, tmp_path / "fp32", max_steps=3, bf16="auto", weights_dtype="float32")
    assert fp32.summary["weights_dtype"] == "float32"


def test_gradient_checkpointing_trains_the_same(tiny_lm_dir, tmp_path) -> None:
    plain = _train(tiny_lm_dir, tmp_path / "plain", max_steps=4, logging_steps=1)
    checkpointed = _train(
        tiny_lm_dir, tmp_path / "gc", max_steps=4, logging_steps=1, gradient_checkpointing=True
    )
    np.testing.assert_allclose(
        [h["loss"] for h in checkpointed.summary["loss_history"]],
        [h["loss"] for h in plain.summary["loss_history"]],
        rtol=1e-4,
    )


def test_fp32_training_runs_matmuls_in_fp32(trained) -> None:
    assert trained.summary["bf16_autocast"] is False
    assert trained.summary["matmul_dtype"] == "float32"


# ------------------------------------------------------------------ real model


@pytest.mark.slow
def test_real_base_llm_end_to_end(tmp_path) -> None:
    """gemma-3-270m (or any causal LM folder in RELEVANCE_BASE_LLM): train a few steps,
    merge, score in bf16 the way the pipeline does."""
    folder = os.environ.get("RELEVANCE_BASE_LLM")
    if not folder:
        pytest.skip("set RELEVANCE_BASE_LLM to a transformers causal-LM folder")
    rows = toy_rows(16, language="fr")
    result = train_lora(
        model_dir=folder,
        task=TASKS["qi"],
        rows=rows,
        config=TrainParams(max_steps=3, per_device_batch_size=4, merge=True, logging_steps=1),
        out_dir=tmp_path,
        progress=False,
    )
    assert result.summary["steps"] == 3
    assert all(np.isfinite(h["loss"]) for h in result.summary["loss_history"])
    p_yes = HFScorer(result.merged_dir, batch_size=8, progress=False).score(TASKS["qi"], rows)
    assert p_yes.shape == (16,) and np.all((p_yes >= 0) & (p_yes <= 1))


# ------------------------------------------------------------------ seq_cls head


@pytest.fixture(scope="module")
def seq_cls(tiny_lm_dir, tmp_path_factory) -> TrainResult:
    """One seq_cls run with a merged model, shared by the tests that only read it."""
    return _train(
        tiny_lm_dir, tmp_path_factory.mktemp("run_seq_cls"), head="seq_cls", max_steps=32,
        merge=True,
    )  # fmt: skip


def test_seq_cls_trains_adapter_and_head_and_not_base_weights(tiny_lm_dir, seq_cls) -> None:
    base = load_file(tiny_lm_dir / "model.safetensors")
    adapter = load_file(seq_cls.adapter_dir / "adapter_model.safetensors")
    merged = load_file(seq_cls.merged_dir / "model.safetensors")
    # The head: saved whole with the adapter (peft modules_to_save), moved off its init.
    set_seed(FAST_SEED)  # train_lora seeds before it loads, so this redraws the init head
    fresh = load_head_model(tiny_lm_dir, head="seq_cls", dtype=torch.float32, pad_token_id=0)
    head = adapter["base_model.model.score.weight"]  # [2, H]
    assert head.shape == (2, 64)
    assert (head - fresh.score.weight.detach()).abs().max() > 1e-2
    torch.testing.assert_close(merged["score.weight"], head, rtol=0, atol=0)
    # The body: merged = untouched base + the low-rank update, as for the yes/no head.
    assert not any("score" in k and ".lora_B." in k for k in adapter)  # trained whole
    _assert_merged_is_base_plus_lora(
        base, adapter, merged, scale=FAST["lora_alpha"] / FAST["lora_rank"]
    )
    assert seq_cls.summary["head"] == "seq_cls" and seq_cls.summary["label_tokens"] is None


def test_seq_cls_learns_and_its_scorers_agree(tiny_lm_dir, seq_cls) -> None:
    history = [h["loss"] for h in seq_cls.summary["loss_history"]]
    assert history[-1] < 0.3 * history[0], history
    rows = toy_rows(40, seed=7)
    merged = HFScorer(seq_cls.merged_dir, dtype="float32", progress=False)
    assert merged.head == "seq_cls"  # from the prompt meta, no option needed
    p_yes = merged.score(TASKS["qc"], rows)
    positive = rows["label"].to_numpy() == 1
    assert ((p_yes >= 0.5) == positive).mean() >= 0.9
    # Base + adapter (its trained score head replaces the fresh one) = the merged folder.
    with_adapter = HFScorer(
        tiny_lm_dir, adapter_dir=seq_cls.adapter_dir, dtype="float32", progress=False
    )
    assert with_adapter.head == "seq_cls"
    np.testing.assert_allclose(with_adapter.score(TASKS["qc"], rows), p_yes, atol=1e-5)
    for folder in (seq_cls.adapter_dir, seq_cls.merged_dir):
        assert read_prompt_meta(folder)["head"] == "seq_cls"


@pytest.mark.skipif(not supports_bf16(torch.device("cpu")), reason="CPU without fast bf16")
def test_seq_cls_merged_model_scores_in_bf16(seq_cls) -> None:
    rows = toy_rows(12, seed=6)
    bf16 = HFScorer(seq_cls.merged_dir, dtype="bfloat16", progress=False)
    assert next(bf16.model.parameters()).dtype == torch.bfloat16  # loaded so, not cast
    inv_freq = [b for n, b in bf16.model.named_buffers() if "inv_freq" in n]
    assert inv_freq and all(b.dtype == torch.float32 for b in inv_freq)
    fp32 = HFScorer(seq_cls.merged_dir, dtype="float32", progress=False)
    np.testing.assert_allclose(
        bf16.score(TASKS["qc"], rows), fp32.score(TASKS["qc"], rows), atol=0.03
    )


# ------------------------------------------------------------------ init adapter


def test_init_adapter_is_the_starting_point(tiny_lm_dir, trained, tmp_path) -> None:
    # A learning rate of ~0 for one step: what comes out is what went in.
    result = _train(
        tiny_lm_dir, tmp_path, init_adapter=trained.adapter_dir, learning_rate=1e-12,
        max_steps=1, logging_steps=1,
    )  # fmt: skip
    start = load_file(trained.adapter_dir / "adapter_model.safetensors")
    after = load_file(result.adapter_dir / "adapter_model.safetensors")
    assert sorted(after) == sorted(start)
    for key, value in start.items():
        torch.testing.assert_close(after[key], value, rtol=0, atol=1e-8)
    # The first loss is the trained adapter's (low), not a fresh LoRA's.
    first_fresh = trained.summary["loss_history"][0]["loss"]
    assert result.summary["loss_history"][0]["loss"] < 0.3 * first_fresh
    assert result.summary["init_adapter"] == str(trained.adapter_dir)
    assert result.summary["init_adapter_fingerprint"]


def test_init_adapter_must_fit_the_run(tiny_lm_dir, trained, seq_cls, tmp_path) -> None:
    adapter = trained.adapter_dir  # yes_no, rank 8, alpha 32, on tiny_lm_dir
    with pytest.raises(ConfigError, match="rank 8, this run's lora_rank is 4"):
        _train(tiny_lm_dir, tmp_path / "a", init_adapter=adapter, lora_rank=4)
    with pytest.raises(ConfigError, match="head 'yes_no', this run's head is 'seq_cls'"):
        _train(tiny_lm_dir, tmp_path / "b", init_adapter=adapter, head="seq_cls")
    with pytest.raises(ConfigError, match="task_type 'SEQ_CLS', head 'yes_no' needs"):
        _train(tiny_lm_dir, tmp_path / "c", init_adapter=seq_cls.adapter_dir)
    other = build_tiny_lm(tmp_path / "other", seed=7)
    with pytest.raises(ConfigError, match=r"base_model_fingerprint .* other base weights"):
        _train(other, tmp_path / "d", init_adapter=adapter)
    with pytest.raises(ConfigError, match="expected a peft adapter folder"):
        _train(tiny_lm_dir, tmp_path / "e", init_adapter=tmp_path / "missing")


def test_resume_refuses_checkpoints_from_another_init_adapter(
    tiny_lm_dir, trained, tmp_path
) -> None:
    changed = tmp_path / "changed"
    changed.mkdir()
    for item in trained.adapter_dir.iterdir():
        (changed / item.name).write_bytes(item.read_bytes())
    weights = load_file(changed / "adapter_model.safetensors")
    save_file({k: v + 1e-3 for k, v in weights.items()}, changed / "adapter_model.safetensors")
    run = tmp_path / "run"
    _train(tiny_lm_dir, run, init_adapter=trained.adapter_dir, max_steps=2, save_steps=2)
    with pytest.raises(ConfigError, match="init_adapter_fingerprint"):
        _train(tiny_lm_dir, run, init_adapter=changed, max_steps=4, save_steps=2)
    with pytest.raises(
        ConfigError, match=r"init_adapter_fingerprint: 'sha256:[0-9a-f]{64}' -> None"
    ):
        _train(tiny_lm_dir, run, max_steps=4, save_steps=2)


# ------------------------------------------------------------------ tapt


def _ingested(root: Path, rows_by_task: dict[str, pd.DataFrame]) -> Path:
    """A stand-in for data/ingested: <task>/train.parquet per task."""
    for task, rows in rows_by_task.items():
        (root / task).mkdir(parents=True)
        rows.to_parquet(root / task / "train.parquet")
    return root


def test_tapt_trains_on_the_other_tasks_ingested_rows(tmp_path, monkeypatch) -> None:
    from relevance.model import tapt

    ingested = _ingested(tmp_path / "ingested", {"qi": toy_rows(12, seed=3), "qc": toy_rows(5)})
    calls = []

    def fake_train_lora(**kwargs) -> TrainResult:
        calls.append(kwargs)
        summary = {"steps": 3, "final_loss": 0.5, "seconds": 1.0}
        return TrainResult(kwargs["out_dir"], kwargs["out_dir"] / "adapter", None, summary)

    monkeypatch.setattr(tapt, "train_model", fake_train_lora)
    monkeypatch.setattr(tapt, "publish_model", lambda result, out_dir: dict(result.summary))
    metrics = tapt.tapt_task(
        TASKS["qc"], ingested=ingested, base_model=tmp_path / "llm",
        checkpoints=tmp_path / "checkpoints", out_dir=tmp_path / "out",
        params=TrainParams(init_from="other_task"),
    )  # fmt: skip
    (call,) = calls
    assert call["task"] == TASKS["qi"]  # its rows, its prompt
    pd.testing.assert_frame_equal(call["rows"], pd.read_parquet(ingested / "qi" / "train.parquet"))
    assert call["config"].init_from == "other_task" and call["restart_on_mismatch"] is True
    assert call["out_dir"] == tmp_path / "checkpoints"
    assert metrics == {
        "init_from": "other_task", "trained_on": "qi", "rows": 12, "steps": 3,
        "final_loss": 0.5, "seconds": 1.0,
    }  # fmt: skip


def test_tapt_off_reads_nothing_and_writes_only_the_marker(tmp_path, monkeypatch) -> None:
    from relevance.model import tapt

    monkeypatch.setattr(tapt, "train_model", lambda **kwargs: pytest.fail("trained"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "adapter").mkdir()  # an earlier run's adapter must not outlive init_from: none
    metrics = tapt.tapt_task(
        TASKS["qi"], ingested=tmp_path / "no-such-folder", base_model=tmp_path / "llm",
        checkpoints=tmp_path / "checkpoints", out_dir=out, params=TrainParams(),
    )  # fmt: skip
    assert metrics == {"init_from": "none"}
    assert [p.name for p in out.iterdir()] == [tapt.MARKER]


def test_tapt_stage_without_the_other_task_names_tasks(tmp_path) -> None:
    """tasks: [qc] with TAPT on: ingest@qi never ran, and the stage says what to change."""
    from click.testing import CliRunner

    from stages.tapt import main

    ingested = _ingested(tmp_path / "ingested", {"qc": toy_rows(5)})
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {"models": {"allow_download": False}, "train": {"qc": {"init_from": "other_task"}}}
        )
    )
    result = CliRunner().invoke(
        main,
        ["--task", "qc", "--ingested", str(ingested), "--base-model", str(tmp_path / "llm"),
         "--checkpoints", str(tmp_path / "ckpt"), "--out-dir", str(tmp_path / "out"),
         "--metrics", str(tmp_path / "tapt.json"), "--params", str(params)],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "init_from: other_task needs the QI rows (ingest@qi): add qi to tasks" in result.output
    assert not (tmp_path / "tapt.json").exists()


# ------------------------------------------------------------ the shared prompt prefix


def _step_loss_and_grads(
    model_dir: Path, out_dir: Path, *, share_prefix: bool
) -> tuple[float, dict, list[tuple[int, ...]]]:
    """One loss + backward of the trainer on toy rows: the loss, the LoRA gradients and
    the shape of every forward's ``input_ids``."""
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments

    from relevance.model.heads import peft_wrapping
    from relevance.model.prompt import encode_rows, resolve_label_tokens
    from relevance.model.trainer import Collator, RowsDataset, answer_trainer_class

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.config.use_cache = False
    lora = LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=8, target_modules="all-linear")
    with peft_wrapping():
        model = get_peft_model(model, lora)
    for name, param in model.named_parameters():  # B starts at zero: give it a value
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.05, generator=torch.Generator().manual_seed(1))
    rows = toy_rows(6, seed=3)
    ids = encode_rows(tokenizer, TASKS["qc"], rows, max_length=256)
    examples = [{"input_ids": i, "label": int(y)} for i, y in zip(ids, rows["label"], strict=True)]
    batch = Collator(0)(examples)
    args = TrainingArguments(output_dir=str(out_dir), use_cpu=True, report_to="none")
    trainer = answer_trainer_class()(
        model=model, args=args, train_dataset=RowsDataset(ids, rows["label"]),
        labels=resolve_label_tokens(tokenizer), loss="lm", head="yes_no",
        share_prefix=share_prefix,
    )  # fmt: skip
    shapes: list[tuple[int, ...]] = []
    model.register_forward_pre_hook(
        lambda _, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return float(loss.detach()), grads, shapes


def test_the_shared_prefix_gives_the_full_forwards_loss_and_gradients(tmp_path: Path) -> None:
    """Training runs the prompt preamble once per batch and each row's own tokens against
    it: the same loss and LoRA gradients as running every row's whole prompt."""
    from relevance.model.heads import shared_prefix_length

    wide = build_tiny_lm(tmp_path / "wide", sliding_window=512)  # no window cropping
    full_loss, full, full_shapes = _step_loss_and_grads(wide, tmp_path, share_prefix=False)
    shared_loss, shared, shared_shapes = _step_loss_and_grads(wide, tmp_path, share_prefix=True)
    # The shared path really ran: the preamble once (batch 1), then the rows' own tokens.
    ((rows, width),) = full_shapes
    (prefix_rows, prefix), (suffix_rows, suffix) = shared_shapes
    assert (prefix_rows, suffix_rows) == (1, rows) and prefix + suffix == width
    assert shared_loss == pytest.approx(full_loss, rel=1e-5)
    assert full.keys() == shared.keys()
    for name, grad in full.items():
        torch.testing.assert_close(shared[name], grad, rtol=1e-4, atol=1e-6, msg=name)
    # The prefix is real: most of the prompt.
    from transformers import AutoTokenizer

    from relevance.model.prompt import encode_rows

    ids = encode_rows(
        AutoTokenizer.from_pretrained(wide), TASKS["qc"], toy_rows(6, seed=3), max_length=256
    )
    assert shared_prefix_length(ids, window=512) > 0.5 * min(len(i) for i in ids)
    assert shared_prefix_length(ids, window=8) == 0  # a window shorter than a row: no sharing


def test_the_compact_template_is_recorded_with_the_model(tiny_lm_dir, tmp_path) -> None:
    """The adapter records the template it was trained on (scorers follow the record,
    tests/test_scoring.py), and a run on the other template cannot continue from it."""
    result = _train(tiny_lm_dir, tmp_path / "compact", prompt="compact", max_steps=2)
    assert result.summary["prompt_version"] == PROMPT_VERSIONS["compact"]
    meta = json.loads((result.adapter_dir / PROMPT_META_FILE).read_text())
    assert meta["prompt_version"] == PROMPT_VERSIONS["compact"]
    with pytest.raises(ConfigError, match="prompt version 'compact-yn-v1'"):
        _train(tiny_lm_dir, tmp_path / "alpaca", init_adapter=result.adapter_dir, max_steps=1)


# ------------------------------------------------------------ several processes


# These tests are about DDP over gloo on CPUs: on a GPU machine, two processes on one
# GPU would be refused (NCCL needs one GPU per process; see launch.check_one_gpu_each).
CPU_ONLY = {"CUDA_VISIBLE_DEVICES": ""}


def _train_stage(tiny_lm_dir: Path, root: Path, **train) -> subprocess.CompletedProcess:
    """stages/train.py as dvc repro runs it, on toy rows, with train.qc = FAST + train."""
    from relevance.tables import PIVOT_SCHEMA, empty_frame

    toy_rows(64).to_parquet(root / "filtered.parquet")
    empty_frame(PIVOT_SCHEMA).to_parquet(root / "pivot.parquet")
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({
        "models": {"allow_download": False},
        "input": {"pivot_en": False, "lowercase": False},
        "train": {"qc": {**FAST, "max_steps": 6, **train}},
    }))  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RELEVANCE_LOG_LEVEL": "WARNING", **CPU_ONLY}
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / "train.py"), "--task", "qc",
         "--base-model", str(tiny_lm_dir), "--train", str(root / "filtered.parquet"),
         "--pivot", str(root / "pivot.parquet"), "--tapt", str(root / "tapt"),
         "--checkpoints", str(root / "ckpt"), "--out-dir", str(root / "model"),
         "--metrics", str(root / "train.json"), "--params", str(params)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip


def test_two_processes_train_the_one_process_adapter(tiny_lm_dir, tmp_path) -> None:
    """train.qc.num_processes: 2 makes the stage run itself under torchrun (DDP over
    gloo on CPU): the same global batch and seed give the single-process adapter, and
    rank 0 alone writes the model and the metrics."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    single = _train_stage(tiny_lm_dir, one, per_device_batch_size=8)
    assert single.returncode == 0, single.stderr[-3000:]
    double = _train_stage(tiny_lm_dir, two, per_device_batch_size=4, num_processes=2)
    assert double.returncode == 0, double.stderr[-3000:]
    summary = json.loads((two / "model" / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["samples_seen"] == 6 * 8
    a = load_file(one / "model" / "adapter" / "adapter_model.safetensors")
    b = load_file(two / "model" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    largest = max(float(t.abs().max()) for t in a.values())
    assert largest > 0.01  # trained away from LoRA's zero init
    # Gradients are averaged across processes instead of summed over one batch: float
    # rounding only (4.5e-7 here against weights up to 0.16).
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
    for metrics in (one / "train.json", two / "train.json"):
        assert json.loads(metrics.read_text())["steps"] == 6


def test_two_processes_resume_from_the_last_checkpoint(tiny_lm_dir, tmp_path) -> None:
    """A 2-process run killed after its step-3 checkpoint resumes there (both ranks load
    it) and finishes with the uninterrupted run's adapter."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    whole.mkdir(), cut.mkdir()
    settings = {"per_device_batch_size": 4, "num_processes": 2, "save_steps": 3}
    for root in (whole, cut):
        done = _train_stage(tiny_lm_dir, root, **settings)
        assert done.returncode == 0, done.stderr[-3000:]
    # The kill: step 6's checkpoint, the run's summary and the model never got written.
    assert (cut / "ckpt" / "checkpoint-3").is_dir()
    shutil.rmtree(cut / "ckpt" / "checkpoint-6")
    (cut / "ckpt" / "train_summary.json").unlink()
    shutil.rmtree(cut / "model")
    again = _train_stage(tiny_lm_dir, cut, **settings)
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads((cut / "model" / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 6
    # Run facts (timings, where it resumed) sit beside the metrics, not in them.
    assert json.loads((cut / "train.run.json").read_text())["resumed_from_step"] == 3
    a = load_file(whole / "model" / "adapter" / "adapter_model.safetensors")
    b = load_file(cut / "model" / "adapter" / "adapter_model.safetensors")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6


_FOLD_MODELS_SCRIPT = """
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, sys.argv[4])
from tiny_lm import toy_rows

from relevance.folds.plan import oof_plan
from relevance.folds.training import train_fold_models
from relevance.launch import is_main_process
from relevance.model.predict import PredictParams
from relevance.model.train import TrainParams

from relevance.schema import TASKS

out, model, batch = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
rows = toy_rows(48)
rows["fold"] = np.arange(len(rows)) % 2
plan = oof_plan(rows["fold"].to_numpy(), mode="oof", folds=2, key="test")
params = TrainParams(
    seed=42, lora_rank=8, lora_alpha=32, lora_dropout=0.0, learning_rate=1e-2,
    per_device_batch_size=batch, max_steps=4, warmup_ratio=0.0, save_steps=1000, bf16=False,
)
scores, models = train_fold_models(
    rows, plan, task=TASKS["qc"], base_model=model, train_params=params,
    predict_params=PredictParams(dtype="float32", batch_size=4),
    work_dir=out / "work", publish_dir=out / "models",
)
if is_main_process():
    scores.to_parquet(out / "scores.parquet")
"""


def test_two_processes_train_and_score_the_one_process_fold_models(tiny_lm_dir, tmp_path):
    """Fold models (selfval, cv) under torchrun: every process trains each model (DDP)
    and scores a share of its held-out rows; rank 0 publishes and writes. The scores
    equal one process's with the same global batch."""
    script = tmp_path / "fold_models.py"
    script.write_text(_FOLD_MODELS_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RELEVANCE_LOG_LEVEL": "WARNING", **CPU_ONLY}
    runs = {
        1: [sys.executable],
        2: [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
    }
    scores = {}
    for processes, launcher in runs.items():
        out = tmp_path / f"p{processes}"
        out.mkdir()
        batch = str(8 // processes)  # the same global batch
        done = subprocess.run(
            [*launcher, str(script), str(out), str(tiny_lm_dir), batch, str(ROOT / "tests")],
            capture_output=True, text=True, env=env, timeout=600, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert sorted(p.name for p in (out / "models").iterdir()) == ["fold-0", "fold-1"]
        scores[processes] = pd.read_parquet(out / "scores.parquet")
    one, two = scores[1], scores[2]
    assert two["model"].tolist() == one["model"].tolist() and set(one["model"]) == {0, 1}
    assert np.ptp(one["p_yes"]) > 1e-3
    np.testing.assert_allclose(two["p_yes"], one["p_yes"], atol=1e-5)


def test_two_processes_score_what_one_process_scores(tiny_lm_dir, tmp_path) -> None:
    """predict.num_processes: 2: each process scores a share, rank 0 writes all rows in
    input order, equal to one process's scores (fp32)."""
    from transformers import AutoTokenizer

    from relevance.model.heads import write_prompt_meta
    from relevance.model.prompt import resolve_label_tokens
    from relevance.tables import PIVOT_SCHEMA, empty_frame

    merged = shutil.copytree(tiny_lm_dir, tmp_path / "model" / "merged")
    labels = resolve_label_tokens(AutoTokenizer.from_pretrained(merged))
    write_prompt_meta(merged, task=TASKS["qc"], labels=labels)
    (tmp_path / "ingested").mkdir()
    toy_rows(37, seed=3).to_parquet(tmp_path / "ingested" / "dev.parquet")
    empty_frame(PIVOT_SCHEMA).to_parquet(tmp_path / "pivot.parquet")
    outputs = {}
    for processes in (1, 2):
        params = tmp_path / f"params{processes}.yaml"
        params.write_text(yaml.safe_dump({
            "models": {"allow_download": False},
            "input": {"pivot_en": False, "lowercase": False},
            "cv": {"folds": 0, "ensemble": False, "weights": []},
            "predict": {"dtype": "float32", "batch_size": 4, "num_processes": processes},
        }))  # fmt: skip
        out = tmp_path / f"predictions{processes}"
        done = subprocess.run(
            [sys.executable, str(ROOT / "stages" / "predict.py"), "--task", "qc",
             "--model", str(tmp_path / "model"), "--base-model", str(tiny_lm_dir),
             "--ingested", str(tmp_path / "ingested"), "--pivot", str(tmp_path / "pivot.parquet"),
             "--cv-models", str(tmp_path / "cv"), "--out-dir", str(out),
             "--metrics", str(tmp_path / f"predict{processes}.json"), "--params", str(params)],
            capture_output=True, text=True, timeout=600, check=False,
            env={**os.environ, "OMP_NUM_THREADS": "1", **CPU_ONLY},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        outputs[processes] = pd.read_parquet(out / "dev.parquet")
        assert json.loads((tmp_path / f"predict{processes}.json").read_text())["dev"]["rows"] == 37
    assert "process 1" in done.stderr  # the second process scored its share
    one, two = outputs[1], outputs[2]
    assert two["id"].tolist() == list(range(37))
    np.testing.assert_allclose(two["p_yes"], one["p_yes"], atol=1e-6)
    assert np.ptp(one["p_yes"]) > 1e-4
