"""The training step: rows as batches, and the Hugging Face ``Trainer`` whose loss reads
only the answer position.

The loss looks at ONE position per row, the last prompt token, whose next-token
distribution is the answer. Full-vocabulary logits at every position are never built:
with Gemma's 262k-token vocabulary they would cost several times the model body. The
model's forward is asked for no logits at all (``logits_to_keep`` = no positions) and
for its final hidden states; the hidden state of each row's last real token (right
padding) then meets the ``lm_head``:

- ``loss="lm"``: -log p(label token | prompt) over the full vocabulary, [B, V] logits.
- ``loss="two_way"``: cross-entropy over the yes/no logits only, [B, 2] logits (two
  ``lm_head`` rows).

With ``head="seq_cls"`` (the winning team's classification head) the model is a
``*ForSequenceClassification``: its own forward pools the 2-way ``score`` head at each
row's last non-padding token (class 1 = "yes"), with cross-entropy on the labels.

Mixed precision: in this transformers the Trainer hands it to accelerate, which wraps
the model's ``forward`` in ``torch.autocast`` (on CPU too, with ``use_cpu``); the head
matmul after the forward runs under ``accelerator.autocast()``, the same context.
:class:`MatmulProbe` checks that matmuls really ran in bf16.

Also the set-up of a run: bf16 or not, the ``TrainingArguments`` and the LoRA model.
Kept apart from :mod:`relevance.model.train` (the recipe and the run) because this is
what one optimizer step computes and how it is configured; both are in the training
code fingerprint.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from relevance.devices import flush_denormals, supports_bf16
from relevance.errors import ConfigError, DataError
from relevance.model.heads import (
    gather_last_token,
    head_logits,
    load_head_model,
    pad_right,
    peft_wrapping,
    shared_prefix_length,
)
from relevance.model.prompt import LabelTokens

logger = logging.getLogger(__name__)


class RowsDataset(torch.utils.data.Dataset):
    """Tokenized prompts with their 0/1 labels."""

    def __init__(self, input_ids: list[list[int]], labels: Sequence[int]) -> None:
        self.input_ids = input_ids
        self.labels = [int(v) for v in labels]

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.input_ids[i], "label": self.labels[i]}


class Collator:
    """Right-pads a list of examples into ``input_ids``/``attention_mask`` [B, T], ``label`` [B]."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        input_ids, mask = pad_right([e["input_ids"] for e in examples], pad_id=self.pad_id)
        labels = torch.tensor([e["label"] for e in examples], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": mask, "label": labels}


def check_labels(rows: pd.DataFrame) -> np.ndarray:
    """The rows' labels as int64 [N]; DataError unless every row has a 0/1 label."""
    if "label" not in rows.columns:
        raise DataError(f"training rows need a 'label' column: got columns {list(rows.columns)}")
    if len(rows) == 0:
        raise DataError("no training rows")
    labels = rows["label"]
    missing = labels.isna()
    if missing.any():
        raise DataError(
            f"{int(missing.sum())} of {len(rows)} training rows have no label: expected 0 or 1"
        )
    values = labels.astype("int64").to_numpy()
    bad = ~np.isin(values, (0, 1))
    if bad.any():
        raise DataError(
            f"training labels must be 0 or 1, got {sorted(set(values[bad].tolist()))[:10]}"
        )
    return values


def answer_trainer_class() -> type:
    """The Trainer subclass, built lazily so importing this module stays light."""
    from accelerate.utils import DistributedType
    from transformers import Trainer

    class AnswerTrainer(Trainer):
        """Trainer whose loss reads only the answer position (see module docstring)."""

        def __init__(
            self,
            *args: Any,
            labels: LabelTokens | None,
            loss: str,
            head: str,
            share_prefix: bool = True,
            **kwargs: Any,
        ) -> None:
            super().__init__(*args, **kwargs)
            self.label_tokens = labels
            self.loss_kind = loss
            self.head = head
            self.share_prefix = share_prefix
            # Our loss is a mean over the micro-batch, so the Trainer must divide it by
            # the accumulation steps (it skips that for models that take loss kwargs).
            self.model_accepts_loss_kwargs = False

        def compute_loss(
            self,
            model: torch.nn.Module,
            inputs: dict[str, torch.Tensor],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> torch.Tensor | tuple[torch.Tensor, Any]:
            mask = inputs["attention_mask"]
            labels = inputs["label"]  # [B], 1 = relevant
            if self.head == "seq_cls":
                # The model's forward pools the score head at each row's last non-pad
                # token (pad_token_id set at load): [B, 2] class logits, 1 = "yes".
                outputs = model(input_ids=inputs["input_ids"], attention_mask=mask, use_cache=False)
                loss = torch.nn.functional.cross_entropy(outputs.logits.float(), labels)
                return (loss, {"logits": outputs.logits}) if return_outputs else loss
            unwrapped = self.accelerator.unwrap_model(model)
            last = self._answer_states(model, unwrapped, inputs["input_ids"], mask)  # [B, H]
            softcap = getattr(unwrapped.config, "final_logit_softcapping", None)
            yes_id, no_id = self.label_tokens.ids
            with self.accelerator.autocast():
                kind = last.device.type
                dtype = torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else None
                head = self._frozen_head(unwrapped, dtype)  # [V, H]
                if self.loss_kind == "lm":
                    logits = head_logits(last, head, softcap=softcap)  # [B, V]
                    target = torch.where(labels == 1, yes_id, no_id)
                else:
                    logits = head_logits(last, head, token_ids=(yes_id, no_id), softcap=softcap)
                    target = 1 - labels  # column 0 is "yes"
            loss = torch.nn.functional.cross_entropy(logits.float(), target)
            return (loss, {"logits": logits}) if return_outputs else loss

        def _answer_states(
            self,
            model: torch.nn.Module,
            unwrapped: torch.nn.Module,
            input_ids: torch.Tensor,
            mask: torch.Tensor,
        ) -> torch.Tensor:
            """Final hidden state [B, H] of each row's last prompt token.

            Every row starts with the same prompt preamble (~54 of ~82 tokens with the
            Alpaca template). Causal attention makes its hidden states the same in every
            row, so it is computed once per batch (batch 1, keys and values kept, graph
            and all) and each row runs only its own tokens against it: ~2.8x fewer
            FLOPs per step, the same loss up to float rounding. Through the
            (autocast-wrapped) top-level forward both times. Under DDP (a second forward
            per step breaks its bookkeeping), FSDP or DeepSpeed, or activation
            checkpointing (no cache) the whole prompt runs per row.
            """
            no_logits = torch.empty(0, dtype=torch.long, device=mask.device)
            lengths = mask.sum(dim=1).tolist()
            window = getattr(unwrapped.config, "sliding_window", None)
            shared = 0
            checkpointing = getattr(self.args, "activation_checkpointing", None) or getattr(
                self.args, "gradient_checkpointing", False
            )
            # FSDP too, even in one process: it reshards after each forward of the
            # root module, and a second forward per step failed there (on one GPU:
            # "as_params=True type(prim_param)=<class 'torch.Tensor'>").
            wrapped = self.accelerator.num_processes > 1 or self.accelerator.distributed_type in (
                DistributedType.FSDP, DistributedType.DEEPSPEED,
            )  # fmt: skip
            if self.share_prefix and not wrapped and not checkpointing:
                rows = [ids[:n] for ids, n in zip(input_ids.tolist(), lengths, strict=True)]
                shared = shared_prefix_length(rows, window=window)
            if not shared:
                outputs = model(
                    input_ids=input_ids, attention_mask=mask, output_hidden_states=True,
                    logits_to_keep=no_logits, use_cache=False,
                )  # fmt: skip
                return gather_last_token(outputs.hidden_states[-1], mask)
            prefix = model(
                input_ids=input_ids[:1, :shared], logits_to_keep=no_logits, use_cache=True
            )
            cache_arg = "cache" if hasattr(prefix, "cache") else "past_key_values"  # 5.24 rename
            cache = getattr(prefix, cache_arg)
            batch, width = input_ids.shape
            cache.batch_repeat_interleave(batch)  # autograd sums the rows' gradients
            positions = torch.arange(shared, width, device=mask.device)[None].expand(batch, -1)
            outputs = model(
                input_ids=input_ids[:, shared:], attention_mask=mask, position_ids=positions,
                output_hidden_states=True, logits_to_keep=no_logits, use_cache=True,
                **{cache_arg: cache},
            )  # fmt: skip
            return gather_last_token(outputs.hidden_states[-1], mask[:, shared:])

        def _frozen_head(self, model: torch.nn.Module, dtype: torch.dtype | None) -> torch.Tensor:
            """The ``lm_head`` weight, cast once to the autocast dtype and kept.

            Autocast re-casts a frozen weight at every use: for Gemma's [262k, 640] head
            that is 168M values per step for the "lm" loss. The head is frozen (LoRA
            never targets it), so one cast for the whole run gives the same numbers.
            """
            weight = model.get_output_embeddings().weight
            # FSDP2 may hand out the head as a DTensor shard: gathered once, every rank
            # at the same call (a collective), into a plain frozen copy.
            sharded = hasattr(weight, "full_tensor")
            if weight.requires_grad or (not sharded and dtype in (None, weight.dtype)):
                return weight
            dtype = dtype or weight.dtype
            cached = getattr(self, "_head_cache", None)
            if cached is None or cached.dtype != dtype or cached.device != weight.device:
                full = weight.full_tensor() if sharded else weight
                cached = full.detach().to(dtype)
                self._head_cache = cached
            return cached

    return AnswerTrainer


class MatmulProbe:
    """One-shot forward hook on a linear layer: records the dtype its matmul produced,
    i.e. whether autocast really ran it in bf16."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.dtype: torch.dtype | None = None
        target = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
        self._handle = target.register_forward_hook(self._hook)

    def _hook(self, module: torch.nn.Module, args: Any, output: torch.Tensor) -> None:
        self.dtype = output.dtype
        self._handle.remove()


# ------------------------------------------------------------------ set-up
# The Trainer, the LoRA model and the precision of a run. ``config`` is the run's
# relevance.model.train.TrainParams (not imported: that module imports this one).


def training_precision(config: Any, device: torch.device) -> tuple[bool, torch.dtype]:
    """(bf16 autocast on?, dtype of the base weights)."""
    fast_bf16 = supports_bf16(device)
    if config.bf16 is True and not fast_bf16:
        raise ConfigError(
            f"bf16 is true but {device.type} has no fast bf16 (needs a bf16 GPU or a CPU with "
            "AVX-512 bf16/AMX): set bf16 to 'auto' or false"
        )
    use_bf16 = fast_bf16 if config.bf16 == "auto" else bool(config.bf16)
    if config.weights_dtype == "auto":
        # The frozen base in the autocast dtype: no cast of 100M weights per forward
        # (2.65 against 3.1 s per step here, with denormals flushed), half the memory.
        # LoRA's own weights stay fp32 (peft), so the optimizer still updates fp32.
        weights = torch.bfloat16 if use_bf16 else torch.float32
    else:
        weights = torch.float32 if config.weights_dtype == "float32" else torch.bfloat16
    if weights == torch.bfloat16:
        flush_denormals(device)  # denormal bf16 arithmetic is very slow on CPUs (DESIGN.md)
    return use_bf16, weights


def training_arguments(
    config: Any, *, out_dir: Path, device: torch.device, use_bf16: bool, progress: bool
) -> Any:
    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    kwargs: dict[str, Any] = {
        "output_dir": str(out_dir),
        "per_device_train_batch_size": config.per_device_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps,
        "weight_decay": config.weight_decay,
        "logging_strategy": "steps",
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "seed": config.seed,
        "data_seed": config.seed,
        "bf16": use_bf16,
        # On CPU accelerate's bf16 is CPU autocast; TrainingArguments wants use_cpu then.
        "use_cpu": device.type == "cpu",
        "report_to": "none",
        "disable_tqdm": not progress,
        "remove_unused_columns": False,  # our batches carry "label", which forward lacks
        "label_names": ["label"],
        "dataloader_num_workers": 0,
    }
    # Non-reentrant checkpointing works with frozen inputs (LoRA leaves the embeddings
    # frozen) without enable_input_require_grads(). transformers 5 renamed the option.
    prefix = "activation" if "activation_checkpointing" in names else "gradient"
    kwargs[f"{prefix}_checkpointing"] = config.gradient_checkpointing
    kwargs[f"{prefix}_checkpointing_kwargs"] = {"use_reentrant": False}
    # Batches of similar length (shuffled megabatches of 50 batches, sorted inside): the
    # padding that every row of a batch computes shrinks to almost nothing.
    if "train_sampling_strategy" in names:  # transformers 5
        kwargs["train_sampling_strategy"] = (
            "group_by_length" if config.group_by_length else "random"
        )
    else:
        kwargs["group_by_length"] = config.group_by_length
    # transformers 5 folded warmup_ratio into warmup_steps (a value < 1 is a ratio).
    if "warmup_ratio" in names:
        kwargs["warmup_ratio"] = config.warmup_ratio
    else:
        kwargs["warmup_steps"] = config.warmup_ratio
    return TrainingArguments(**kwargs)


def lora_model(
    model_dir: Path,
    *,
    config: Any,
    device: torch.device,
    dtype: torch.dtype,
    pad_id: int,
    init_adapter: Path | None,
) -> torch.nn.Module:
    """The base model with its weights frozen and LoRA adapters (and a seq_cls head)
    trainable: fresh, or continued from ``init_adapter``."""
    from peft import LoraConfig, PeftConfig, PeftModel, TaskType, get_peft_model

    attention = config.attn_implementation
    if attention == "auto":
        # On CPU, SDPA's flash-attention backward cost ~12% of a step at these short
        # prompts; eager attention was ~25% faster per step here (2 cores, ~90 tokens).
        attention = "eager" if device.type == "cpu" else "sdpa"
    model = load_head_model(
        model_dir, head=config.head, dtype=dtype, pad_token_id=pad_id, attn_implementation=attention
    )
    forward_params = inspect.signature(model.forward).parameters
    if config.head == "yes_no" and "logits_to_keep" not in forward_params:
        raise ConfigError(
            f"{type(model).__name__}.forward has no logits_to_keep argument: training it here "
            "would build full-vocabulary logits at every position"
        )
    model.config.use_cache = False
    if init_adapter is None:
        target = config.target_modules
        lora = LoraConfig(
            # SEQ_CLS: peft adds the `score` head to modules_to_save (trained whole, saved
            # with the adapter) and keeps it out of "all-linear".
            task_type=TaskType.SEQ_CLS if config.head == "seq_cls" else TaskType.CAUSAL_LM,
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=target if isinstance(target, str) else list(target),
            bias="none",
        )
        with peft_wrapping():
            return get_peft_model(model, lora)
    init_config = PeftConfig.from_pretrained(str(init_adapter))
    init_config.lora_dropout = config.lora_dropout
    try:
        with peft_wrapping():
            model = PeftModel.from_pretrained(
                model, str(init_adapter), is_trainable=True, config=init_config
            )
    except (RuntimeError, ValueError, KeyError) as err:
        raise ConfigError(
            f"init_adapter {init_adapter} does not load onto {model_dir}: {err}"
        ) from err
    logger.info("starting from the LoRA adapter %s", init_adapter)
    return model
