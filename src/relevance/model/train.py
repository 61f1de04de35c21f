"""LoRA fine-tuning of a causal LM to answer "yes"/"no" after the relevance prompt.

Built on the Hugging Face ``Trainer``, so the same code runs on one CPU, one GPU, or
several GPUs under ``accelerate launch`` (the Trainer and accelerate do the
distribution; nothing here is distributed by hand).

The loss looks at ONE position per row, the last prompt token, whose next-token
distribution is the answer. Full-vocabulary logits at every position are never built:
with Gemma's 262k-token vocabulary they would cost several times the model body. The
model's forward is asked for no logits at all (``logits_to_keep`` = no positions) and
for its final hidden states; the hidden state of each row's last real token (right
padding) then meets the ``lm_head``:

- ``loss="lm"``: -log p(label token | prompt) over the full vocabulary, [B, V] logits.
- ``loss="two_way"``: cross-entropy over the yes/no logits only, [B, 2] logits (two
  ``lm_head`` rows).

With ``head="seq_cls"`` (the winning team's classification head) the base LM loads as
``AutoModelForSequenceClassification`` instead: the same decoder body, the ``lm_head``
replaced by a fresh 2-way linear ``score`` head (class 1 = "yes"), trained whole (peft
``modules_to_save``) beside the LoRA adapters, with cross-entropy on the labels. The
prompt is the same text (``### Response:`` tail included: it marks the position the
head reads, and keeps one prompt for both heads); the head reads the hidden state of
the last prompt token, which the model's own forward finds as the rightmost
non-padding token.

``init_adapter`` starts from a trained LoRA adapter (task-adaptive pre-training: the
other task's adapter) instead of a fresh one.

Precision (DESIGN.md, CPU facts): fp32 master weights under bf16 autocast trained 10x
faster on this CPU than bf16 weights. So on CPU the weights load in fp32 and the
Trainer runs with ``bf16=True`` when the CPU has fast bf16. In this transformers the
Trainer hands mixed precision to accelerate, which wraps the model's ``forward`` in
``torch.autocast(device_type, dtype=torch.bfloat16)`` (on CPU too, with ``use_cpu``);
the head matmul after the forward runs under ``accelerator.autocast()``, the same
context. A one-shot forward hook checks that matmuls really ran in bf16 and records it
in the summary (``matmul_dtype``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from relevance.devices import resolve_device, supports_bf16
from relevance.errors import ConfigError, DataError
from relevance.model.heads import (
    HEADS,
    gather_last_token,
    head_logits,
    load_head_model,
    pad_right,
    peft_wrapping,
    read_prompt_meta,
    write_prompt_meta,
)
from relevance.model.prompt import PROMPT_VERSION, LabelTokens, encode_rows, resolve_label_tokens
from relevance.modelfolder import check_safetensors, normalise_model_folder
from relevance.schema import Task

logger = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"
MERGED_DIR = "merged"
SUMMARY_FILE = "train_summary.json"
RUN_FILE = "train_run.json"  # what a checkpoint in out_dir was trained with (for resume)
# The Trainer pickles its TrainingArguments beside every model it saves.
TRAINING_ARGS_FILE = "training_args.bin"
# Figures of one run rather than of its model (wall clock, where it resumed): in the
# returned summary and the stage's metrics, never in the model folder, so that training
# again on the same inputs (bitwise the same weights on CPU) gives the same DVC hash and
# the stages downstream of the model are skipped.
RUN_KEYS = ("seconds", "train_seconds", "resumed_from", "resumed_from_step")

# Config fields that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = {
    "max_steps",
    "epochs",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "merge",
}


@dataclass(frozen=True)
class TrainParams:
    """LoRA training settings. Defaults suit this 2-core CPU and gemma-3-270m.

    The paper's GPU values (Qwen3-14B-Base, Yin et al. 2025) are rank 32, dropout 0.1,
    and per task: QC lr 7.5e-5, 1 epoch, batch 128; QI lr 5e-5, 2 epochs, batch 64,
    max length 512 (:data:`PAPER_GPU_CONFIGS`). "Batch" there is the effective batch:
    ``per_device_batch_size * gradient_accumulation_steps * number of GPUs``.

    Attributes:
        lora_rank: LoRA rank r (paper 32; DESIGN.md timed 16 on this CPU).
        lora_alpha: LoRA scale numerator; the update is scaled by alpha / r.
        lora_dropout: dropout on the LoRA input (paper 0.1). 0 on CPU by default:
            drawing the dropout masks took 28% of a gemma-3-270m step here (7.0 ->
            4.6 s at batch 16 x 84 tokens); on a GPU it is nearly free.
        target_modules: ``"all-linear"`` (every linear layer but ``lm_head``) or module
            names such as ``("q_proj", "v_proj")``.
        learning_rate: peak AdamW learning rate (paper QC 7.5e-5, QI 5e-5; a small
            model on CPU learns faster with a larger one).
        epochs: passes over the rows (paper QC 1, QI 2).
        per_device_batch_size: rows per forward pass on each device.
        gradient_accumulation_steps: forward passes per optimizer step.
        max_length: longest prompt in tokens (paper QI 512); longer prompts lose the
            end of the candidate (:func:`relevance.model.prompt.encode_rows`).
        loss: ``"lm"``: -log p(label token) over the full vocabulary at the answer
            position; ``"two_way"``: cross-entropy over the yes/no logits only. For the
            ``yes_no`` head only (``seq_cls`` always uses 2-way cross-entropy).
        head: ``"yes_no"``: the LM's own head answers " yes"/" no" (the paper).
            ``"seq_cls"``: a new 2-way classification head on the decoder body (the
            winning team, DcuRAGONs), trained with the LoRA; p(yes) = softmax[:, 1].
            Scored by the hf backend only.
        init_from: ``"none"``: a fresh LoRA. ``"other_task"``: task-adaptive
            pre-training (the winning team's): ``train@<task>`` continues from the adapter
            ``tapt@<task>`` trained on the other task's rows (``init_adapter``).
        seed: seeds LoRA initialisation, dropout and data order.
        max_steps: stop after this many optimizer steps (-1: run all ``epochs``).
        warmup_ratio: fraction of the steps with a linear learning-rate warmup.
        weight_decay: AdamW weight decay on the LoRA weights.
        logging_steps: log the loss every this many steps.
        save_steps: write a resumable checkpoint every this many steps.
        save_total_limit: checkpoints kept in ``out_dir`` (older ones are deleted).
        bf16: ``"auto"``: bf16 autocast where the device has fast bf16 (a CPU with
            AVX-512 bf16/AMX, a bf16 GPU), else fp32; True requires it; False: fp32.
        weights_dtype: dtype the base weights load in. ``"auto"``: fp32 on CPU (the
            10x measured above), bf16 on GPU (a 14B model does not fit in fp32).
        attn_implementation: ``"auto"``: eager attention on CPU (faster than SDPA's
            backward for short prompts, measured here), SDPA on GPU; or set it.
        gradient_checkpointing: recompute layer activations in the backward pass
            instead of keeping them: about 30% more compute for much less memory (a
            14B model at 512 tokens on a GPU); no use for a small model on CPU.
        merge: also save the model with the adapter merged in (``out_dir/merged``),
            the fastest thing to score.
    """

    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: str | tuple[str, ...] = "all-linear"
    learning_rate: float = 2e-4
    epochs: float = 1.0
    per_device_batch_size: int = 16
    gradient_accumulation_steps: int = 1
    max_length: int = 256
    loss: Literal["lm", "two_way"] = "lm"
    head: Literal["yes_no", "seq_cls"] = "yes_no"
    init_from: Literal["none", "other_task"] = "none"
    seed: int = 42
    max_steps: int = -1
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    logging_steps: int = 10
    save_steps: int = 200
    save_total_limit: int = 2
    bf16: bool | Literal["auto"] = "auto"
    weights_dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    attn_implementation: Literal["auto", "eager", "sdpa", "flash_attention_2"] = "auto"
    gradient_checkpointing: bool = False
    merge: bool = False

    def __post_init__(self) -> None:
        problems = []
        for name in ("lora_rank", "per_device_batch_size", "gradient_accumulation_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                problems.append(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        for name in ("logging_steps", "save_steps", "save_total_limit"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                problems.append(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        if self.lora_alpha <= 0:
            problems.append(f"lora_alpha must be > 0, got {self.lora_alpha!r}")
        if not 0 <= self.lora_dropout < 1:
            problems.append(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        if self.learning_rate <= 0:
            problems.append(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.epochs <= 0:
            problems.append(f"epochs must be > 0, got {self.epochs!r}")
        if not isinstance(self.max_length, int) or self.max_length < 16:
            problems.append(f"max_length must be an integer >= 16, got {self.max_length!r}")
        if self.loss not in ("lm", "two_way"):
            problems.append(f"loss must be 'lm' or 'two_way', got {self.loss!r}")
        if self.init_from not in ("none", "other_task"):
            problems.append(f"init_from must be 'none' or 'other_task', got {self.init_from!r}")
        if self.head not in HEADS:
            problems.append(f"head must be one of {list(HEADS)}, got {self.head!r}")
        if not isinstance(self.max_steps, int) or (self.max_steps < 1 and self.max_steps != -1):
            problems.append(
                f"max_steps must be -1 (none) or an integer >= 1, got {self.max_steps!r}"
            )
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.bf16 not in (True, False, "auto"):
            problems.append(f"bf16 must be true, false or 'auto', got {self.bf16!r}")
        if self.attn_implementation not in ("auto", "eager", "sdpa", "flash_attention_2"):
            problems.append(
                "attn_implementation must be 'auto', 'eager', 'sdpa' or 'flash_attention_2', "
                f"got {self.attn_implementation!r}"
            )
        if self.weights_dtype not in ("auto", "float32", "bfloat16"):
            problems.append(
                f"weights_dtype must be 'auto', 'float32' or 'bfloat16', got {self.weights_dtype!r}"
            )
        if not isinstance(self.target_modules, str) and not (
            isinstance(self.target_modules, tuple) and self.target_modules
        ):
            problems.append(
                "target_modules must be 'all-linear' or a non-empty list of names, "
                f"got {self.target_modules!r}"
            )
        if problems:
            raise ConfigError("invalid training config: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainParams:
        """Build from a params section; unknown keys are an error, lists become tuples."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown training params {unknown}: expected a subset of {sorted(known)}"
            )
        values = dict(values)
        if isinstance(values.get("target_modules"), list):
            values["target_modules"] = tuple(values["target_modules"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if isinstance(out["target_modules"], tuple):
            out["target_modules"] = list(out["target_modules"])
        return out


# The paper's GPU settings (Qwen3-14B-Base on GPUs), for params files to start from.
PAPER_GPU_CONFIGS: dict[str, TrainParams] = {
    "qc": TrainParams(
        lora_rank=32, lora_alpha=64, lora_dropout=0.1, learning_rate=7.5e-5, epochs=1,
        per_device_batch_size=16, gradient_accumulation_steps=8, max_length=256,
    ),
    "qi": TrainParams(
        lora_rank=32, lora_alpha=64, lora_dropout=0.1, learning_rate=5e-5, epochs=2,
        per_device_batch_size=8, gradient_accumulation_steps=8, max_length=512,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class TrainResult:
    """Where training wrote its outputs, and what happened (``summary``, JSON-able)."""

    out_dir: Path
    adapter_dir: Path
    merged_dir: Path | None
    summary: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------ data


class _RowsDataset(torch.utils.data.Dataset):
    """Tokenized prompts with their 0/1 labels."""

    def __init__(self, input_ids: list[list[int]], labels: Sequence[int]) -> None:
        self.input_ids = input_ids
        self.labels = [int(v) for v in labels]

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.input_ids[i], "label": self.labels[i]}


class _Collator:
    """Right-pads a list of examples into ``input_ids``/``attention_mask`` [B, T], ``label`` [B]."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        input_ids, mask = pad_right([e["input_ids"] for e in examples], pad_id=self.pad_id)
        labels = torch.tensor([e["label"] for e in examples], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": mask, "label": labels}


def _check_labels(rows: pd.DataFrame) -> np.ndarray:
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


def _fingerprint(input_ids: list[list[int]], labels: np.ndarray) -> str:
    digest = hashlib.sha256()
    for ids in input_ids:
        digest.update(np.asarray(ids, dtype=np.int64).tobytes())
        digest.update(b"|")
    digest.update(labels.astype(np.int8).tobytes())
    return digest.hexdigest()[:16]


def _model_fingerprint(model_dir: Path) -> str:
    """sha256 over the base model's config and weight files.

    A checkpoint is only resumed on the very same base weights: a folder of the same
    name holding another model (``models.llm`` changed) must start over.
    """
    digest = hashlib.sha256()
    files = sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("config.json"))
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]


def _adapter_fingerprint(adapter_dir: Path) -> str:
    """sha256 over an adapter's config and weight files: a resumed run must start from
    the same init adapter."""
    digest = hashlib.sha256()
    files = [adapter_dir / "adapter_config.json", *sorted(adapter_dir.glob("adapter_model.*"))]
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]


# peft task type of each head.
_PEFT_TASK = {"yes_no": "CAUSAL_LM", "seq_cls": "SEQ_CLS"}


def _check_init_adapter(init_adapter: Path, *, config: TrainParams, model_fingerprint: str) -> None:
    """ConfigError unless ``init_adapter`` is a LoRA adapter this run can continue from:
    same rank and alpha (the weights mean something else under another scale), same head
    (peft task type and prompt meta), same base weights (meta ``base_model_fingerprint``,
    written by :func:`train_lora`) and, when ``config.target_modules`` names modules, the
    same modules. An adapter without our meta can only be checked by its shapes, at load.
    """
    config_file = init_adapter / "adapter_config.json"
    if not config_file.is_file() or not any(init_adapter.glob("adapter_model.*")):
        raise ConfigError(
            f"init_adapter {init_adapter}: expected a peft adapter folder (adapter_config.json "
            "and adapter_model.safetensors), e.g. the adapter/ of a tapt@<task> run"
        )
    # peft would fall back to a pickled adapter_model.bin, which can run code when loaded.
    check_safetensors(init_adapter, label="init_adapter")
    saved = json.loads(config_file.read_text())
    diffs = []
    if saved.get("peft_type") != "LORA":
        diffs.append(f"peft_type {saved.get('peft_type')!r}, expected 'LORA'")
    if saved.get("r") != config.lora_rank:
        diffs.append(f"rank {saved.get('r')!r}, this run's lora_rank is {config.lora_rank}")
    if saved.get("lora_alpha") != config.lora_alpha:
        diffs.append(
            f"lora_alpha {saved.get('lora_alpha')!r}, this run's lora_alpha is {config.lora_alpha}"
        )
    if saved.get("task_type") != _PEFT_TASK[config.head]:
        diffs.append(
            f"peft task_type {saved.get('task_type')!r}, head {config.head!r} needs "
            f"{_PEFT_TASK[config.head]!r}"
        )
    if not isinstance(config.target_modules, str):
        modules = saved.get("target_modules")
        if not isinstance(modules, list) or set(modules) != set(config.target_modules):
            diffs.append(
                f"target_modules {modules!r}, this run's are {list(config.target_modules)}"
            )
    meta = read_prompt_meta(init_adapter)
    if meta is None:
        logger.warning(
            "init_adapter %s has no prompt meta: its base model is checked by shapes only",
            init_adapter,
        )
    else:
        if meta.get("head", "yes_no") != config.head:
            diffs.append(f"head {meta.get('head', 'yes_no')!r}, this run's head is {config.head!r}")
        base = meta.get("base_model_fingerprint")
        if base is None:
            logger.warning(
                "init_adapter %s does not record its base model: checked by shapes only",
                init_adapter,
            )
        elif base != model_fingerprint:
            diffs.append(
                f"base_model_fingerprint {base}, this run's base model is {model_fingerprint} "
                "(trained on other base weights)"
            )
    if diffs:
        raise ConfigError(f"init_adapter {init_adapter} does not fit this run: " + "; ".join(diffs))


def _code_fingerprint() -> str:
    """sha256 of the modules that define a training run (loss, answer position, prompt).

    When DVC reruns training because this code changed, a finished checkpoint of the
    old code must not be "resumed" in place of training with the new one.
    """
    from relevance.model import heads as answer
    from relevance.model import prompt

    digest = hashlib.sha256()
    for module in (sys.modules[__name__], answer, prompt):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------- trainer


def _answer_trainer_class() -> type:
    """The Trainer subclass, built lazily so importing this module stays light."""
    from transformers import Trainer

    class AnswerTrainer(Trainer):
        """Trainer whose loss reads only the answer position (see module docstring)."""

        def __init__(
            self, *args: Any, labels: LabelTokens | None, loss: str, head: str, **kwargs: Any
        ) -> None:
            super().__init__(*args, **kwargs)
            self.label_tokens = labels
            self.loss_kind = loss
            self.head = head
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
            # Through the (possibly DDP-wrapped, autocast-wrapped) top-level forward, so
            # accelerate's autocast and DDP's gradient sync apply. No positions get
            # logits: only the final hidden states are wanted.
            outputs = model(
                input_ids=inputs["input_ids"],
                attention_mask=mask,
                output_hidden_states=True,
                logits_to_keep=torch.empty(0, dtype=torch.long, device=mask.device),
                use_cache=False,
            )
            hidden = outputs.hidden_states[-1]  # [B, T, H], after the final norm
            last = gather_last_token(hidden, mask)  # [B, H]
            unwrapped = self.accelerator.unwrap_model(model)
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

        def _frozen_head(self, model: torch.nn.Module, dtype: torch.dtype | None) -> torch.Tensor:
            """The ``lm_head`` weight, cast once to the autocast dtype and kept.

            Autocast re-casts a frozen weight at every use: for Gemma's [262k, 640] head
            that is 168M values per step for the "lm" loss. The head is frozen (LoRA
            never targets it), so one cast for the whole run gives the same numbers.
            """
            weight = model.get_output_embeddings().weight
            if dtype is None or weight.requires_grad or weight.dtype == dtype:
                return weight
            cached = getattr(self, "_head_cache", None)
            if cached is None or cached.dtype != dtype or cached.device != weight.device:
                cached = weight.detach().to(dtype)
                self._head_cache = cached
            return cached

    return AnswerTrainer


def _precision(config: TrainParams, device: torch.device) -> tuple[bool, torch.dtype]:
    """(bf16 autocast on?, dtype of the base weights)."""
    fast_bf16 = supports_bf16(device)
    if config.bf16 is True and not fast_bf16:
        raise ConfigError(
            f"bf16 is true but {device.type} has no fast bf16 (needs a bf16 GPU or a CPU with "
            "AVX-512 bf16/AMX): set bf16 to 'auto' or false"
        )
    use_bf16 = fast_bf16 if config.bf16 == "auto" else bool(config.bf16)
    if config.weights_dtype == "auto":
        weights = torch.bfloat16 if device.type == "cuda" and fast_bf16 else torch.float32
    else:
        weights = torch.float32 if config.weights_dtype == "float32" else torch.bfloat16
    return use_bf16, weights


def _training_arguments(
    config: TrainParams, *, out_dir: Path, device: torch.device, use_bf16: bool, progress: bool
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
    # transformers 5 folded warmup_ratio into warmup_steps (a value < 1 is a ratio).
    if "warmup_ratio" in names:
        kwargs["warmup_ratio"] = config.warmup_ratio
    else:
        kwargs["warmup_steps"] = config.warmup_ratio
    return TrainingArguments(**kwargs)


# Files a checkpoint's weights may be saved as (a peft adapter, or a whole model).
_CHECKPOINT_WEIGHTS = (
    "adapter_model.safetensors",
    "adapter_model.bin",
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
)
# Prefix of a set-aside incomplete checkpoint: the Trainer's ^checkpoint-(\d+)$ pattern
# (resume, rotation) no longer matches it.
INCOMPLETE_PREFIX = "incomplete-"


def _checkpoint_defect(checkpoint: Path) -> str | None:
    """Why ``checkpoint`` cannot be resumed from, or None when it is complete.

    The Trainer saves a checkpoint's weights, then optimizer, scheduler and RNG state,
    and ``trainer_state.json`` last: a whole, parsable state file after a weights file
    means the save finished.
    """
    state_file = checkpoint / "trainer_state.json"
    if not state_file.is_file():
        return "it has no trainer_state.json, which the Trainer writes last"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"its trainer_state.json does not parse as JSON ({err})"
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        return "its trainer_state.json has no integer global_step"
    if not any((checkpoint / name).is_file() for name in _CHECKPOINT_WEIGHTS):
        return f"it has no weights file (expected one of {', '.join(_CHECKPOINT_WEIGHTS)})"
    return None


def _last_complete_checkpoint(out_dir: Path) -> str | None:
    """The newest complete ``checkpoint-N`` in ``out_dir``; newer incomplete ones (a
    process killed mid-save) are set aside as ``incomplete-checkpoint-N``."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    if not out_dir.is_dir():
        return None
    prefix = f"{PREFIX_CHECKPOINT_DIR}-"
    numbered: list[tuple[int, Path]] = []
    for path in out_dir.iterdir():
        step = path.name.removeprefix(prefix)
        # The folders the Trainer itself would resume from: ^checkpoint-(\d+)$.
        if path.name.startswith(prefix) and step.isascii() and step.isdecimal() and path.is_dir():
            numbered.append((int(step), path))
    incomplete: list[tuple[Path, str]] = []
    last: Path | None = None
    for _, path in sorted(numbered, reverse=True):
        defect = _checkpoint_defect(path)
        if defect is None:
            last = path
            break
        incomplete.append((path, defect))
    then = f"resuming from {last.name}" if last else "no complete checkpoint left: starting over"
    for path, defect in incomplete:
        # One writer under `accelerate launch`/torchrun; the other ranks skip it alike.
        if int(os.environ.get("RANK", "0")) != 0:
            logger.warning("%s is incomplete (%s): skipping it, %s", path, defect, then)
            continue
        aside = path.with_name(INCOMPLETE_PREFIX + path.name)
        try:
            if aside.is_dir() and not aside.is_symlink():
                shutil.rmtree(aside)  # an earlier run's leftover of the same step
            elif aside.exists() or aside.is_symlink():
                aside.unlink()
            path.rename(aside)
        except OSError as err:
            raise ConfigError(
                f"{path} is an incomplete checkpoint ({defect}) and could not be set aside "
                f"as {aside} ({err}): delete it, then run again"
            ) from err
        logger.warning(
            "%s is incomplete (%s; the process was probably stopped while saving it): "
            "set it aside as %s, %s",
            path,
            defect,
            aside.name,
            then,
        )
    return str(last) if last is not None else None


def _check_resume(out_dir: Path, run: dict[str, Any], *, restart_on_mismatch: bool) -> str | None:
    """The last complete checkpoint in ``out_dir`` to resume from, if it belongs to this
    run (see :func:`_last_complete_checkpoint` for incomplete ones).

    Checkpoints of another run (other data, task, prompt or settings) are an error, or,
    with ``restart_on_mismatch``, deleted so the run starts over.
    """
    last = _last_complete_checkpoint(out_dir)
    if last is None:
        return None
    run_file = out_dir / RUN_FILE
    diffs = []
    if not run_file.is_file():
        diffs.append(f"no {RUN_FILE} says what it was trained with")
    else:
        before = json.loads(run_file.read_text())
        for key in (
            "task",
            "prompt_version",
            "data_fingerprint",
            "model_dir",
            "model_fingerprint",
            "code_fingerprint",
            "init_adapter_fingerprint",
        ):
            if before.get(key) != run[key]:
                diffs.append(f"{key}: {before.get(key)!r} -> {run[key]!r}")
        for key, value in run["config"].items():
            if key not in _RESUMABLE_CHANGES and before.get("config", {}).get(key) != value:
                diffs.append(f"config.{key}: {before.get('config', {}).get(key)!r} -> {value!r}")
    if not diffs:
        return last
    if not restart_on_mismatch:
        raise ConfigError(
            f"{last} was trained with other settings than this run ({'; '.join(diffs)}): "
            f"delete {out_dir} to start over, or restore the settings to resume"
        )
    logger.warning("%s belongs to another run (%s): starting over", last, "; ".join(diffs))
    if int(os.environ.get("RANK", "0")) == 0:
        # Set-aside incomplete checkpoints of that run go too: nothing resumes them.
        for old in [
            *out_dir.glob("checkpoint-*"),
            *out_dir.glob(INCOMPLETE_PREFIX + "checkpoint-*"),
        ]:
            if old.is_dir():
                shutil.rmtree(old)
    return None


def _earlier_summary(out_dir: Path, config: TrainParams, step: int) -> dict[str, Any] | None:
    """The summary of the earlier run in ``out_dir`` whose last checkpoint is ``step``.

    Only when it had exactly this run's settings (its checkpoints already passed
    :func:`_check_resume` for data, model and code); else None. A run writes its
    summary after its last checkpoint, so a crash in between leaves none.
    """
    path = out_dir / SUMMARY_FILE
    if not path.is_file():
        return None
    earlier = json.loads(path.read_text())
    if earlier.get("config") != config.to_dict() or earlier.get("steps") != step:
        return None
    return earlier


class _MatmulProbe:
    """One-shot forward hook on a linear layer: records the dtype its matmul produced,
    i.e. whether autocast really ran it in bf16."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.dtype: torch.dtype | None = None
        target = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
        self._handle = target.register_forward_hook(self._hook)

    def _hook(self, module: torch.nn.Module, args: Any, output: torch.Tensor) -> None:
        self.dtype = output.dtype
        self._handle.remove()


# ------------------------------------------------------------------------ main


def train_lora(
    *,
    model_dir: str | Path,
    task: Task,
    rows: pd.DataFrame,
    config: TrainParams,
    out_dir: str | Path,
    restart_on_mismatch: bool = False,
    progress: bool = True,
    init_adapter: str | Path | None = None,
) -> TrainResult:
    """Fine-tune a LoRA adapter on ``rows`` so the model answers " yes"/" no"
    (``config.head="yes_no"``) or its 2-way classification head does (``"seq_cls"``).

    Args:
        model_dir: base causal-LM folder with its tokenizer (e.g. gemma-3-270m).
        task: the task the rows belong to (selects the prompt).
        rows: data rows with ``query``, ``candidate``, ``lang`` (or ``language``) and a
            0/1 ``label``.
        config: training settings.
        out_dir: gets ``checkpoint-*/`` (resumable), ``adapter/``, ``merged/`` (if
            ``config.merge``) and ``train_summary.json``. If it already holds
            checkpoints of the same run, training continues from the last one.
        restart_on_mismatch: when ``out_dir`` holds checkpoints of another run (other
            data, task, prompt or settings), delete them and start over instead of
            raising ConfigError.
        progress: show the Trainer's tqdm bar.
        init_adapter: a LoRA adapter folder to continue training from instead of a
            fresh LoRA (task-adaptive pre-training: e.g. the other task's adapter from
            a ``tapt@<task>`` stage). Its rank, alpha, head and base model must match
            this run (ConfigError otherwise); its target modules are the ones trained,
            and ``config.lora_dropout`` applies. Its content is part of the resume
            fingerprint. For ``seq_cls`` it also brings its trained ``score`` head.

    Returns:
        :class:`TrainResult`; its ``summary`` has steps, rows, samples seen, the loss
        history, seconds, device and dtypes, and where it resumed from.

    Raises:
        DataError: missing columns or labels other than 0/1.
        ConfigError: bad settings, a tokenizer without single-token yes/no (yes_no
            head), checkpoints in ``out_dir`` from a different run, or an
            ``init_adapter`` that does not fit.
    """
    from peft import LoraConfig, PeftConfig, PeftModel, TaskType, get_peft_model
    from transformers import AutoTokenizer, set_seed

    started = time.perf_counter()
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    init_adapter = Path(init_adapter) if init_adapter is not None else None
    labels_np = _check_labels(rows)
    # A local safetensors folder only, checked before any library opens it: a name that
    # is no folder would be looked up on the hub, and pickled weights can run code. (The
    # init adapter is checked likewise in _check_init_adapter.)
    check_safetensors(model_dir, label="base model")

    # 1. Device and precision.
    device = resolve_device("auto")
    use_bf16, weights_dtype = _precision(config, device)

    # 2. Prompts -> token ids, and the label tokens the loss targets (a seq_cls head
    #    has its own two classes and never reads them).
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    label_tokens = resolve_label_tokens(tokenizer) if config.head == "yes_no" else None
    input_ids = encode_rows(tokenizer, task, rows, max_length=config.max_length)
    dataset = _RowsDataset(input_ids, labels_np)
    lengths = np.fromiter((len(x) for x in input_ids), dtype=np.int64, count=len(input_ids))
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )

    # 3. Resume only a checkpoint of this very run (same data, task, prompt, settings,
    #    init adapter).
    model_fingerprint = _model_fingerprint(model_dir)
    if init_adapter is not None:
        _check_init_adapter(init_adapter, config=config, model_fingerprint=model_fingerprint)
    run = {
        "task": task.name,
        "prompt_version": PROMPT_VERSION,
        "data_fingerprint": _fingerprint(input_ids, labels_np),
        "model_dir": model_dir.name,
        "model_fingerprint": model_fingerprint,
        "code_fingerprint": _code_fingerprint(),
        "init_adapter_fingerprint": (
            _adapter_fingerprint(init_adapter) if init_adapter is not None else None
        ),
        "config": config.to_dict(),
    }
    resume_from = _check_resume(out_dir, run, restart_on_mismatch=restart_on_mismatch)
    out_dir.mkdir(parents=True, exist_ok=True)
    # One writer under `accelerate launch`/torchrun (they set RANK); read before the
    # Trainer exists, so no accelerate state is created here with other settings.
    if int(os.environ.get("RANK", "0")) == 0:
        (out_dir / RUN_FILE).write_text(json.dumps(run, indent=2) + "\n")

    # 4. Model: base weights frozen, LoRA adapters (and a seq_cls head) trainable,
    #    seeded (the seed also draws the fresh seq_cls head).
    set_seed(config.seed)
    attention = config.attn_implementation
    if attention == "auto":
        # On CPU, SDPA's flash-attention backward cost ~12% of a step at these short
        # prompts; eager attention was ~25% faster per step here (2 cores, ~90 tokens).
        attention = "eager" if device.type == "cpu" else "sdpa"
    model = load_head_model(
        model_dir,
        head=config.head,
        dtype=weights_dtype,
        pad_token_id=pad_id,
        attn_implementation=attention,
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
            model = get_peft_model(model, lora)
    else:
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
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    effective_batch = config.per_device_batch_size * config.gradient_accumulation_steps
    logger.info(
        "training %s LoRA r=%d on %d %s rows (%.0f%% positive, %.1f tokens/row, max %d): "
        "%s trainable of %s params; device %s, weights %s, bf16 autocast %s; "
        "%d rows per optimizer step per device, %d tokens",
        config.loss if config.head == "yes_no" else "seq_cls",
        config.lora_rank,
        len(rows),
        task.name,
        100 * labels_np.mean(),
        lengths.mean(),
        lengths.max(),
        f"{trainable:,}",
        f"{total:,}",
        device,
        weights_dtype,
        use_bf16,
        effective_batch,
        int(lengths.mean() * effective_batch),
    )

    # 5. Train (or continue).
    args = _training_arguments(
        config, out_dir=out_dir, device=device, use_bf16=use_bf16, progress=progress
    )
    trainer = _answer_trainer_class()(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=_Collator(pad_id),
        processing_class=tokenizer,
        labels=label_tokens,
        loss=config.loss,
        head=config.head,
    )
    probe = _MatmulProbe(model)
    resumed_step = 0
    if resume_from is not None:
        state = json.loads((Path(resume_from) / "trainer_state.json").read_text())
        resumed_step = int(state.get("global_step", 0))
        logger.info("resuming from %s (step %d)", resume_from, resumed_step)
    # Read before this run overwrites it.
    earlier = _earlier_summary(out_dir, config, resumed_step) if resume_from else None
    finished = earlier is not None and earlier.get("max_steps") == resumed_step
    if finished:
        # The earlier run reached its last step: nothing to train. (transformers would
        # still run one more step when that step falls mid-epoch.) Its weights are
        # the checkpoint's.
        logger.info("%s is the finished run: loading it, no training", resume_from)
        model.load_adapter(resume_from, adapter_name="default")
    else:
        output = trainer.train(resume_from_checkpoint=resume_from)
    if use_bf16 and probe.dtype is not None and probe.dtype != torch.bfloat16:
        logger.warning("bf16 autocast was requested but matmuls ran in %s", probe.dtype)

    # 6. Save the adapter (and the merged model) with the prompt they expect.
    adapter_dir = out_dir / ADAPTER_DIR
    trainer.save_model(str(adapter_dir))
    if trainer.is_world_process_zero():
        sort_target_modules(adapter_dir)
        # Nothing loads it, it is a pickle, and its bytes follow the transformers version
        # (the class's fields), so it would change the adapter's DVC hash on an upgrade.
        (adapter_dir / TRAINING_ARGS_FILE).unlink(missing_ok=True)
    merged_dir = out_dir / MERGED_DIR if config.merge else None
    meta: dict[str, Any] = {
        "task": task,
        "labels": label_tokens,
        "head": config.head,
        # Lets a later run that starts from this adapter check its base weights.
        "extra": {"base_model_fingerprint": model_fingerprint},
    }
    if trainer.is_world_process_zero():
        write_prompt_meta(adapter_dir, **meta)
        # Library versions out (peft_version, the model card's framework list): the same
        # weights must hash the same under another peft or transformers release.
        normalise_model_folder(adapter_dir)
        if merged_dir is not None:
            # Merged in the dtype the weights trained in (fp32 on CPU): a scorer then
            # loads them with dtype=bf16 directly, the fast path (DESIGN.md). A seq_cls
            # model merges to a *ForSequenceClassification with its trained score head.
            merged = trainer.model.merge_and_unload()
            merged.save_pretrained(str(merged_dir))
            tokenizer.save_pretrained(str(merged_dir))
            write_prompt_meta(merged_dir, **meta)
            normalise_model_folder(merged_dir)

    # 7. Summary.
    if finished:
        summary = {
            **earlier,
            "seconds": round(time.perf_counter() - started, 2),
            "train_seconds": 0.0,
            "resumed_from": Path(resume_from).name,
            "resumed_from_step": resumed_step,
        }
        if trainer.is_world_process_zero():
            write_summary(out_dir / SUMMARY_FILE, summary)
        return TrainResult(
            out_dir=out_dir, adapter_dir=adapter_dir, merged_dir=merged_dir, summary=summary
        )
    history = [
        {"step": int(e["step"]), "loss": float(e["loss"])}
        for e in trainer.state.log_history
        if "loss" in e and "step" in e
    ]
    world = max(1, int(getattr(args, "world_size", 1)))
    summary = {
        "task": task.name,
        "prompt_version": PROMPT_VERSION,
        "head": config.head,
        "loss_kind": config.loss if config.head == "yes_no" else "seq_cls_cross_entropy",
        "steps": int(trainer.state.global_step),
        "max_steps": int(trainer.state.max_steps),
        "rows": len(rows),
        "positive_rate": float(labels_np.mean()),
        # An upper bound: the last batch of an epoch may be short.
        "samples_seen": int(trainer.state.global_step) * effective_batch * world,
        "tokens_per_row_mean": float(lengths.mean()),
        "train_loss": float(output.training_loss),
        "final_loss": history[-1]["loss"] if history else float(output.training_loss),
        "loss_history": history,
        "seconds": round(time.perf_counter() - started, 2),
        "train_seconds": float(output.metrics.get("train_runtime", 0.0)),
        "device": str(device),
        "world_size": world,
        "weights_dtype": str(weights_dtype).removeprefix("torch."),
        "bf16_autocast": use_bf16,
        "matmul_dtype": str(probe.dtype).removeprefix("torch.") if probe.dtype else None,
        "trainable_params": trainable,
        "total_params": total,
        "label_tokens": label_tokens.to_dict() if label_tokens is not None else None,
        "init_adapter": str(init_adapter) if init_adapter is not None else None,
        "init_adapter_fingerprint": run["init_adapter_fingerprint"],
        "resumed_from": Path(resume_from).name if resume_from else None,
        "resumed_from_step": resumed_step,
        "config": config.to_dict(),
    }
    if trainer.is_world_process_zero():
        write_summary(out_dir / SUMMARY_FILE, summary)
    logger.info(
        "trained %d steps in %.1f s, final logged loss %s",
        summary["steps"],
        summary["seconds"],
        history[-1]["loss"] if history else "n/a",
    )
    return TrainResult(
        out_dir=out_dir, adapter_dir=adapter_dir, merged_dir=merged_dir, summary=summary
    )


def write_summary(path: Path, summary: Mapping[str, Any]) -> None:
    """Write a run's summary beside its model, without the per-run :data:`RUN_KEYS`."""
    stable = {key: value for key, value in summary.items() if key not in RUN_KEYS}
    path.write_text(json.dumps(stable, indent=2) + "\n")


def sort_target_modules(adapter_dir: Path) -> None:
    """Rewrite ``adapter_config.json`` with ``target_modules`` sorted.

    peft keeps the modules as a set and saves ``list(set)``, whose order follows the
    process's string-hash seed: two identical runs would write different files (and
    DVC would see a different model). Same JSON layout as peft writes.
    """
    path = adapter_dir / "adapter_config.json"
    config = json.loads(path.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
        path.write_text(json.dumps(config, indent=2, sort_keys=True))


def publish_model(result: TrainResult, out_dir: str | Path) -> dict[str, Any]:
    """Move the finished ``adapter/`` (and ``merged/``) of a run into ``out_dir``.

    For a DVC stage that keeps resumable checkpoints in one (persistent) folder and
    hands the model on in another (hashed) one. A move, not a copy: a merged 14B model
    is 28 GB. ``out_dir`` also gets ``train_summary.json`` and the prompt meta stays in
    the moved folders. Replaces what ``out_dir`` held under those names, and removes a
    ``merged/`` left there by an earlier run when this one has none. Afterwards
    ``result.adapter_dir``/``merged_dir`` no longer exist.

    Returns:
        the run's summary (with ``adapter_dir``/``merged_dir`` pointing into ``out_dir``).
    """
    out_dir = Path(out_dir)
    summary = dict(result.summary)
    if int(os.environ.get("RANK", "0")) != 0:  # one writer under `accelerate launch`
        return summary
    out_dir.mkdir(parents=True, exist_ok=True)
    moves = [(result.adapter_dir, out_dir / ADAPTER_DIR)]
    if result.merged_dir is not None:
        moves.append((result.merged_dir, out_dir / MERGED_DIR))
    stale_merged = out_dir / MERGED_DIR
    if result.merged_dir is None and stale_merged.exists():
        # The scorer prefers merged/ over adapter/: an earlier merge must not outlive
        # the adapter it was made from.
        shutil.rmtree(stale_merged)
        logger.info("removed %s, left by an earlier run with merge on", stale_merged)
    for source, target in moves:
        if not source.is_dir():
            raise ConfigError(f"{source} not found: nothing to publish (was it moved already?)")
        if target.resolve() == source.resolve():
            continue
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(source), str(target))
    for _, target in moves:
        # Idempotent; also covers a run's folders written before normalising existed.
        normalise_model_folder(target)
    summary["adapter_dir"] = str(out_dir / ADAPTER_DIR)
    summary["merged_dir"] = str(out_dir / MERGED_DIR) if result.merged_dir is not None else None
    write_summary(out_dir / SUMMARY_FILE, summary)
    logger.info("published %s to %s", ", ".join(t.name for _, t in moves), out_dir)
    return summary
