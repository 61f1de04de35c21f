"""Where tensors run and in which precision: one place for every model the pipeline
loads (training, scoring, translation, embedding)."""

from __future__ import annotations

import torch

from relevance.errors import ConfigError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: the current CUDA device if there is one, else the CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise ConfigError(
            f"unknown device {device!r}: expected 'auto', 'cpu' or 'cuda[:n]'"
        ) from err


def supports_bf16(device: torch.device) -> bool:
    """Whether bf16 matmuls are fast on ``device``: a bf16 CUDA GPU, or a CPU with AVX-512
    (bf16) or AMX. Elsewhere bf16 is emulated and slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a torch build without oneDNN
            return False
    return False


_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """``"auto"``: bf16 where :func:`supports_bf16`, else fp32. fp16 is refused: on this
    CPU it runs at about 1 GFLOP/s (DESIGN.md)."""
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    elif dtype == "auto":
        return torch.bfloat16 if supports_bf16(device) else torch.float32
    elif dtype in _DTYPES:
        resolved = _DTYPES[dtype]
    else:
        raise ConfigError(f"unknown dtype {dtype!r}: expected 'auto', 'float32' or 'bfloat16'")
    if resolved not in (torch.float32, torch.bfloat16):
        raise ConfigError(f"dtype {resolved} is not supported: expected float32 or bfloat16")
    return resolved


def flush_denormals(device: torch.device) -> None:
    """On a CPU, flush denormal floats to zero (process-wide).

    Denormal arithmetic is very slow on this CPU class: flushing took a bf16-cast model
    from 1.3 to 37 pairs/s and sped up embedding about 1.5x (DESIGN.md). No effect on
    GPUs, which flush anyway.
    """
    if device.type == "cpu":
        torch.set_flush_denormal(True)
