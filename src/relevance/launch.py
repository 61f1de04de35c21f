"""Start a stage in several processes (data-parallel training) from inside the stage.

``dvc repro`` runs ``python stages/train.py ...``; with ``train.<task>.num_processes``
above 1 the stage runs itself again under a launcher, in that many processes, and waits
for them. Users switch a params key instead of editing dvc.yaml:

- ``launcher_config`` empty: ``torchrun --standalone --nproc_per_node N`` (torch's own
  launcher). On CPUs that is DDP over gloo (``accelerate launch --cpu`` would start one
  process only: accelerate's CPU launcher needs MPI); on GPUs DDP over NCCL.
- ``launcher_config`` an accelerate config file (``configs/accelerate/*.yaml``: DDP,
  FSDP, DeepSpeed ZeRO-2): ``accelerate launch --config_file FILE --num_processes N``.

The launched processes find ``RANK`` in their environment and do the work; rank 0 alone
writes outputs and metrics (:func:`is_main_process`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from relevance.errors import ConfigError, RelevanceError

logger = logging.getLogger(__name__)


def launched() -> bool:
    """Whether this process was started by a distributed launcher (it sets RANK)."""
    return "RANK" in os.environ


def is_main_process() -> bool:
    """Rank 0 of a launched group, or a process no launcher started."""
    return int(os.environ.get("RANK", "0")) == 0


def process_state(device: str = "auto") -> Any:
    """accelerate's ``PartialState`` of this launched process, joining its group: gloo
    when it computes on the CPU (``device`` cpu, or no GPU), else NCCL with this rank's
    GPU made current. On CPUs the ``cpu`` flag is needed: without it accelerate does not
    see the torchrun group and every process believes it is alone."""
    import torch
    from accelerate import PartialState

    # The Trainer's own default (ddp_timeout 1800 s): rank 0 alone saves and publishes
    # models while the others wait, longer than NCCL's 10-minute default on a big model.
    return PartialState(
        cpu=device == "cpu" or not torch.cuda.is_available(), timeout=timedelta(minutes=30)
    )


def barrier() -> None:
    """Wait for every process of a launched group (nothing to wait for in a lone one):
    e.g. before ranks read a model folder that rank 0 alone writes."""
    if launched():
        process_state().wait_for_everyone()


def check_one_gpu_each(num_processes: int, device: str = "auto") -> None:
    """On a machine with GPUs every process needs its own: NCCL refuses two ranks on one
    GPU ("Duplicate GPU detected"), seen on a one-GPU machine. Said here, before any
    process starts, with what to change. Processes told to compute on the CPU (gloo)
    need no GPU."""
    import torch

    if device == "cpu" or not torch.cuda.is_available():
        return
    gpus = torch.cuda.device_count()
    if num_processes > gpus:
        raise ConfigError(
            f"num_processes: {num_processes} processes asked for, but {gpus} GPU(s) are "
            f"visible and NCCL needs one GPU per process: set num_processes to at most "
            f"{gpus}, or hide the GPUs (CUDA_VISIBLE_DEVICES=) to run the processes on CPUs"
        )


def launcher_command(
    argv: Sequence[str], *, num_processes: int, launcher_config: str = ""
) -> list[str]:
    """The command that runs ``argv`` (a script and its arguments) in ``num_processes``
    processes."""
    if launcher_config:
        if not Path(launcher_config).is_file():
            raise ConfigError(
                f"launcher_config: {launcher_config} not found (expected an accelerate "
                "config file, e.g. configs/accelerate/ddp.yaml)"
            )
        launcher = ["-m", "accelerate.commands.launch", "--config_file", launcher_config]
        launcher += ["--num_processes", str(num_processes)]
    else:
        launcher = ["-m", "torch.distributed.run", "--standalone"]
        launcher += ["--nproc_per_node", str(num_processes)]
    return [sys.executable, *launcher, *argv]


def run_launched(
    num_processes: int,
    *,
    launcher_config: str = "",
    argv: Sequence[str] | None = None,
    device: str = "auto",
) -> bool:
    """Run this script (``sys.argv``) again in ``num_processes`` processes and wait.

    Returns False, doing nothing, when one process is asked for or this process is
    already one of a launched group; True when the launched processes succeeded.

    Raises:
        RelevanceError: the launched processes failed (their output names the error).
    """
    if num_processes < 1:
        raise ConfigError(f"num_processes: expected 1 or more, got {num_processes}")
    if num_processes == 1 or launched():
        return False
    check_one_gpu_each(num_processes, device)
    command = launcher_command(
        list(sys.argv if argv is None else argv), num_processes=num_processes,
        launcher_config=launcher_config,
    )  # fmt: skip
    logger.info("starting %d processes: %s", num_processes, " ".join(command))
    # Threads per process: the cores shared out, as torchrun would otherwise set 1.
    threads = max(1, (os.cpu_count() or 1) // num_processes)
    env = {"OMP_NUM_THREADS": str(threads), **os.environ}
    done = subprocess.run(command, env=env, check=False)
    if done.returncode != 0:
        raise RelevanceError(
            f"{num_processes} launched processes failed (exit {done.returncode}): see their "
            "output above"
        )
    return True
