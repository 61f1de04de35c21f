"""Shared test set-up. Keep this file small; helpers live in their own modules
(competition_files.py, tiny_lm.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
# The project root (for `stages.<name>` imports), stages/ (for their first import,
# `_venv_check`, which a script run by DVC finds beside itself) and tests/ (for helper
# modules).
for extra in (ROOT, ROOT / "stages", ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Gemma 3 causal LM + trained tokenizer folder (random weights, seconds to build)."""
    from tiny_lm import build_tiny_lm

    return build_tiny_lm(tmp_path_factory.mktemp("tiny_lm"))


@pytest.fixture(scope="session")
def vllm_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny LM with head_dim 64, which vLLM's CPU attention kernels take (not 16)."""
    from tiny_lm import build_tiny_lm

    return build_tiny_lm(tmp_path_factory.mktemp("vllm_lm"), head_dim=64)


@pytest.fixture(scope="module")
def one_torch_thread():
    """The tiny model gains nothing from threads, and two threads sharing a busy 2-core
    machine with another process ran the training steps 10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
