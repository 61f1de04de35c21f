"""One training call for either backbone family: the causal LM's yes/no LoRA
(:mod:`relevance.model.train`) or an encoder cross-encoder (:mod:`relevance.model.encoder`),
chosen by the base model folder's config (:func:`relevance.model.encoder.model_family`).

The stages that train (train, tapt, selfval and cv's fold models) call
:func:`train_model` with the task's ``train.<task>`` params and publish what it returns
with :func:`relevance.model.checkpoints.publish_model`; the scorers pick the family from
the published folder (:func:`relevance.model.predict.scorer_for`). Both families publish
the same layout: ``adapter/`` (a LoRA adapter, to load over the base model) and/or
``merged/`` (a whole model that scores alone: a merged LLM, or a fully fine-tuned encoder).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from relevance.errors import ConfigError, DataError
from relevance.launch import is_main_process
from relevance.model.checkpoints import ADAPTER_DIR, MERGED_DIR, TrainResult, publish_model
from relevance.model.encoder import EncoderTrainParams, model_family, train_encoder
from relevance.model.inputs import InputParams, prepare_rows
from relevance.model.train import TrainParams, train_lora
from relevance.schema import Task
from relevance.tables import read_table

logger = logging.getLogger(__name__)


def encoder_params(config: TrainParams) -> EncoderTrainParams:
    """The encoder recipe of ``train.<task>``: the keys both families share (learning
    rate, epochs, batch, length, LoRA rank and alpha, warm-up, decay, seed, steps, bf16)
    and the encoder's own (``method``, ``freeze_word_embeddings``, ``freeze_layers``). The
    causal LM's prompt, head, loss, dropout and target modules do not apply to an
    encoder."""
    return EncoderTrainParams(
        method=config.method,
        learning_rate=config.learning_rate,
        epochs=config.epochs,
        per_device_batch_size=config.per_device_batch_size,
        max_length=config.max_length,
        freeze_word_embeddings=config.freeze_word_embeddings,
        freeze_layers=config.freeze_layers,
        lora_rank=config.lora_rank,
        lora_alpha=config.lora_alpha,
        warmup_ratio=config.warmup_ratio,
        weight_decay=config.weight_decay,
        seed=config.seed,
        max_steps=config.max_steps,
        bf16=config.bf16,
    )


# train.<task> keys of the causal LM's recipe that an encoder has no use for, with the
# value that means "nothing asked for".
_CAUSAL_LM_ONLY = {
    "lora_dropout": 0.0, "target_modules": "all-linear", "gradient_accumulation_steps": 1,
    "loss": "lm", "prompt": "alpaca", "head": "yes_no", "weights_dtype": "auto",
    "attn_implementation": "auto", "gradient_checkpointing": False, "group_by_length": False,
    "merge": False,
}  # fmt: skip


def ignored_by_encoder(config: TrainParams) -> list[str]:
    """The causal-LM-only keys of ``config`` set to something an encoder will not do."""
    return [
        f"{key}={getattr(config, key)!r}"
        for key, idle in _CAUSAL_LM_ONLY.items()
        if getattr(config, key) != idle
    ]


def training_processes(base_model: Path, config: TrainParams, *, stage: str) -> int:
    """How many processes a stage trains ``base_model`` in: ``config.num_processes`` for a
    causal LM; one for an encoder, whose small plain loop does not run distributed (a
    warning says so when more were asked for)."""
    if config.num_processes > 1 and model_family(base_model) == "encoder":
        logger.warning(
            "%s: %s is an encoder: it trains in one process (num_processes is %d)",
            stage, base_model, config.num_processes,
        )  # fmt: skip
        return 1
    return config.num_processes


def train_model(
    *,
    model_dir: Path,
    task: Task,
    rows: pd.DataFrame,
    config: TrainParams,
    out_dir: Path,
    restart_on_mismatch: bool = False,
    init_adapter: Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``model_dir``'s family on ``rows`` into ``out_dir``.

    A causal LM: :func:`relevance.model.train.train_lora` (resumable checkpoints, the
    ``config.method`` must be ``lora``). An encoder: :func:`train_encoder` into
    ``out_dir/adapter`` (``method: lora``) or ``out_dir/merged`` (``full``). Either way
    the model folders an earlier run left in ``out_dir`` go first. ``init_adapter``: the
    published model folder of a TAPT run (``adapter/`` for an LLM; ``adapter/`` or
    ``merged/`` for an encoder) to continue from.
    """
    out_dir = Path(out_dir)
    causal_lm = model_family(model_dir) == "causal_lm"
    if causal_lm and config.method != "lora":
        raise ConfigError(
            f"train.{task.name}.method is {config.method!r}: a causal LM ({model_dir}) "
            "trains with LoRA only (method: lora)"
        )
    if causal_lm and config.freeze_layers:
        raise ConfigError(
            f"train.{task.name}.freeze_layers is {config.freeze_layers}: it is for encoder "
            f"backbones; a causal LM ({model_dir}) trains LoRA adapters and keeps every base "
            "weight as it is (set it to 0)"
        )
    if is_main_process():
        # The model folders of an earlier run in out_dir (say, an encoder's merged/ before
        # an LLM run) must not outlive it: a scorer of out_dir prefers merged/ to the
        # adapter. An LLM resumes from checkpoint-*/ only; an encoder run is minutes, so
        # it restarts rather than resumes.
        for name in (ADAPTER_DIR, MERGED_DIR):
            shutil.rmtree(out_dir / name, ignore_errors=True)
    if causal_lm:
        return train_lora(
            model_dir=model_dir, task=task, rows=rows, config=config, out_dir=out_dir,
            restart_on_mismatch=restart_on_mismatch, init_adapter=init_adapter,
            progress=progress,
        )  # fmt: skip
    ignored = ignored_by_encoder(config)
    if ignored:
        logger.warning(
            "%s is an encoder: train.%s keys of the causal LM's recipe do not apply: %s",
            model_dir, task.name, ", ".join(ignored),
        )  # fmt: skip
    folder = out_dir / (ADAPTER_DIR if config.method == "lora" else MERGED_DIR)
    result = train_encoder(
        model_dir=model_dir, task=task, rows=rows, config=encoder_params(config),
        out_dir=folder, init_from=init_adapter, progress=progress,
    )  # fmt: skip
    summary: dict[str, Any] = {**result.summary, "config": config.to_dict()}
    return TrainResult(
        out_dir=out_dir,
        adapter_dir=folder if config.method == "lora" else None,
        merged_dir=folder if config.method == "full" else None,
        summary=summary,
    )


def tapt_init(tapt_dir: Path) -> Path:
    """The folder a TAPT run published its model in (``adapter/``, else ``merged/``)."""
    for name in (ADAPTER_DIR, MERGED_DIR):
        if (tapt_dir / name).is_dir():
            return tapt_dir / name
    raise ConfigError(f"{tapt_dir}: no {ADAPTER_DIR}/ or {MERGED_DIR}/ (run tapt first)")


# ------------------------------------------------------------------ the stage

# The run's figures in the stage's metrics; the full summary (loss history, settings)
# stays in <out-dir>/train_summary.json.
_METRIC_KEYS = (
    "steps",
    "rows",
    "positive_rate",
    "samples_seen",
    "tokens_per_row_mean",
    "train_loss",
    "final_loss",
    "seconds",
    "trainable_params",
    "resumed_from_step",
)


def train_task(
    task: Task,
    *,
    base_model: Path,
    train: Path,
    pivot: Path,
    tapt: Path,
    checkpoints: Path,
    out_dir: Path,
    params: TrainParams,
    inputs: InputParams,
) -> dict[str, Any]:
    """The train@<task> stage: fine-tune ``base_model`` (either family) on the filtered
    training rows (with the input options applied, as predict applies them), from the
    tapt@<task> model when ``init_from`` is ``other_task``; resume from ``checkpoints``
    (an LLM), publish the model to ``out_dir`` and return the stage's metrics."""
    rows, input_counts = prepare_rows(
        read_table(train, made_by=f"filter@{task.name}"),
        params=inputs,
        pivot=read_table(pivot, made_by=f"pivot@{task.name}"),
        split="train",
    )
    init_adapter = None
    if params.init_from == "other_task":
        if not tapt.is_dir():
            raise DataError(f"{tapt} not found: run tapt@{task.name} first")
        init_adapter = tapt_init(tapt)
    result = train_model(
        model_dir=base_model, task=task, rows=rows, config=params, out_dir=checkpoints,
        restart_on_mismatch=True, init_adapter=init_adapter,
    )  # fmt: skip
    summary = publish_model(result, out_dir)
    metrics = {key: summary[key] for key in _METRIC_KEYS if summary.get(key) is not None}
    metrics["input"] = input_counts
    # Steps of this run only: a resumed run trained fewer, a finished one none.
    trained = summary["steps"] - summary.get("resumed_from_step", 0)
    metrics["seconds_per_step"] = round(summary["seconds"] / trained, 3) if trained else None
    return metrics


__all__ = ["encoder_params", "tapt_init", "train_model", "train_task", "training_processes"]
