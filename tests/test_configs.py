"""The shipped configuration files: accelerate launch configs and the paper's GPU params
file. Parsed and validated as accelerate and the stages would; nothing is launched."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from accelerate.commands.config.config_args import ClusterConfig
from accelerate.commands.launch import _validate_launch_command, launch_command_parser

from relevance.augment.translators import TranslatorParams
from relevance.check_params import check_params_file
from relevance.model.predict import PredictParams
from relevance.model.train import load_train_params
from relevance.params import load_section

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = ROOT / "configs" / "accelerate"
PAPER = ROOT / "configs" / "params-paper-gpu.yaml"

# config file -> the launch flags accelerate derives from it
EXPECTED = {
    "ddp.yaml": {"multi_gpu": True, "use_fsdp": False, "use_deepspeed": False},
    "fsdp.yaml": {"multi_gpu": False, "use_fsdp": True, "use_deepspeed": False, "fsdp_version": 2},
    "deepspeed_zero2.yaml": {"use_deepspeed": True, "zero_stage": 2, "use_fsdp": False},
}


def test_every_shipped_config_is_checked() -> None:
    assert sorted(p.name for p in ACCELERATE.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_accelerate_config_parses_and_validates_for_the_train_stage(name: str) -> None:
    path = ACCELERATE / name
    ClusterConfig.from_yaml_file(path)  # unknown keys raise
    parser = launch_command_parser()
    args = parser.parse_args(
        ["--config_file", str(path), str(ROOT / "stages" / "train.py"), "--task", "qc"]
    )
    args = _validate_launch_command(args)[0]
    for flag, value in EXPECTED[name].items():
        assert getattr(args, flag) == value, (name, flag)
    assert args.training_script_args == ["--task", "qc"]


def test_paper_gpu_params_have_params_yaml_keys_and_the_papers_values() -> None:
    def keys(node: object, prefix: str = "") -> set[str]:
        if not isinstance(node, dict):
            return {prefix}
        return {k for key, v in node.items() for k in keys(v, f"{prefix}{key}.")}

    ours, paper = (yaml.safe_load(p.read_text()) for p in (ROOT / "params.yaml", PAPER))
    assert keys(paper) == keys(ours)
    assert check_params_file(PAPER) > 0
    qc, qi = (load_train_params(task, PAPER) for task in ("qc", "qi"))
    assert (qc.lora_rank, qc.lora_dropout, qc.learning_rate, qc.epochs) == (32, 0.1, 7.5e-5, 1)
    assert (qi.learning_rate, qi.epochs, qi.max_length) == (5e-5, 2, 512)
    # Effective batch on 8 GPUs: QC 128, QI 64 (the paper's).
    assert qc.per_device_batch_size * qc.gradient_accumulation_steps * 8 == 128
    assert qi.per_device_batch_size * qi.gradient_accumulation_steps * 8 == 64
    assert load_section(PredictParams, "predict", PAPER).backend == "vllm"
    assert load_section(TranslatorParams, "translator", PAPER).backend == "vllm"
    assert paper["models"] == {**ours["models"], "llm": "hf:Qwen/Qwen3-14B-Base",
                               "allow_download": True}  # fmt: skip


@pytest.mark.parametrize(
    ("gpus", "processes", "refused"), [(0, 4, False), (2, 2, False), (1, 2, True)]
)
def test_more_processes_than_gpus_is_refused_before_launch(
    monkeypatch, gpus: int, processes: int, refused: bool
) -> None:
    """Two NCCL ranks on one GPU fail deep in NCCL ("Duplicate GPU detected", seen on a
    one-GPU machine); the launcher says so first. Without GPUs the processes use gloo."""
    import torch

    from relevance.errors import ConfigError
    from relevance.launch import run_launched

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.delenv("RANK", raising=False)
    started = []
    monkeypatch.setattr("subprocess.run", lambda *a, **k: started.append(a) or _Done())
    if refused:
        with pytest.raises(ConfigError, match=r"2 processes asked for, but 1 GPU\(s\)"):
            run_launched(processes, argv=["stages/train.py"])
        assert not started
    else:
        assert run_launched(processes, argv=["stages/train.py"])
        assert len(started) == 1


class _Done:
    returncode = 0
