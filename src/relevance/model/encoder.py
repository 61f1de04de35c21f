"""The encoder backbone: a BERT / XLM-R / DeBERTa-style cross-encoder beside the causal
LM, the cheap model of the paper's "architecture-agnostic" claim and the natural student
for distillation.

The pair ``query`` / ``candidate`` goes through the encoder as one sequence
(``[CLS] query [SEP] candidate [SEP]``, with e5's ``"query: "`` / ``"passage: "`` prefixes
by default) and a 2-way sequence-classification head answers; p(yes) is the softmax of
its logits, class 1. Training is full fine-tuning or LoRA (peft, the head trained
in full), optionally with the word embeddings frozen (most of a multilingual encoder's
parameters: 96M of multilingual-e5-small's 118M). Targets are the 0/1 labels or, for
distillation, a teacher's p(yes) in [0, 1] (soft cross-entropy over the two classes).

Which family a base model folder is comes from its ``config.json``
(:func:`relevance.modelfolder.model_family`): the project never asks a user to say it twice.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from relevance.devices import flush_denormals, resolve_device, resolve_dtype, supports_bf16
from relevance.errors import ConfigError, DataError
from relevance.model.checkpoints import sort_target_modules
from relevance.modelfolder import (
    check_safetensors,
    model_family,
    normalise_model_folder,
)
from relevance.schema import Task

logger = logging.getLogger(__name__)

METHODS = ("full", "lora")
ENCODER_META_FILE = "relevance_encoder.json"
# e5's convention: both sides prefixed, the candidate as the passage.
QUERY_PREFIX, CANDIDATE_PREFIX = "query: ", "passage: "
ID2LABEL = {0: "no", 1: "yes"}


def pair_texts(rows: pd.DataFrame, *, prefixes: bool) -> tuple[list[str], list[str]]:
    """The two sides of each row's pair, prefixed the e5 way when ``prefixes``."""
    missing = {"query", "candidate"} - set(rows.columns)
    if missing:
        raise DataError(f"rows to encode lack columns {sorted(missing)}")
    queries = rows["query"].astype(str).tolist()
    candidates = rows["candidate"].astype(str).tolist()
    if prefixes:
        queries = [QUERY_PREFIX + q for q in queries]
        candidates = [CANDIDATE_PREFIX + c for c in candidates]
    return queries, candidates


def encode_pairs(
    tokenizer: Any, rows: pd.DataFrame, *, max_length: int, prefixes: bool
) -> list[dict[str, list[int]]]:
    """Token ids (and token type ids where the model has them) of each row's pair,
    truncated to ``max_length`` (the longer side first)."""
    queries, candidates = pair_texts(rows, prefixes=prefixes)
    encoded = tokenizer(
        queries, candidates, truncation="longest_first", max_length=max_length, padding=False
    )
    keys = [k for k in ("input_ids", "token_type_ids") if k in encoded]
    return [{k: encoded[k][i] for k in keys} for i in range(len(rows))]


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of 2-way ``logits`` [B, 2] against p(yes) ``targets`` [B] in
    [0, 1]: the usual cross-entropy for 0/1 targets, distillation for a teacher's p(yes)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(targets * logp[:, 1] + (1 - targets) * logp[:, 0]).mean()


@dataclasses.dataclass(frozen=True)
class EncoderTrainParams:
    """How an encoder cross-encoder trains.

    ``method``: ``full`` fine-tuning or ``lora`` (rank ``lora_rank`` on the attention
    and feed-forward linears; the classification head trains in full either way).
    ``freeze_word_embeddings``: keep the (large, multilingual) token embedding table as
    it is. ``freeze_layers``: full fine-tuning only; also keep the whole embedding block
    and the bottom N transformer layers as they are (:func:`freeze_lower_layers`).
    ``prefixes``: e5's ``query: ``/``passage: ``. ``bf16``: ``auto`` is bf16
    autocast where the device is fast at it.
    """

    method: str = "full"
    learning_rate: float = 5e-5
    epochs: float = 2.0
    per_device_batch_size: int = 32
    max_length: int = 96
    freeze_word_embeddings: bool = True
    freeze_layers: int = 0
    prefixes: bool = True
    lora_rank: int = 16
    lora_alpha: int = 32
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    seed: int = 13
    max_steps: int = -1
    bf16: str | bool = "auto"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method: expected one of {list(METHODS)}, got {self.method!r}")
        if self.per_device_batch_size < 1 or self.max_length < 8 or self.learning_rate <= 0:
            raise ConfigError(
                "per_device_batch_size must be >= 1, max_length >= 8 and learning_rate > 0, "
                f"got {self.per_device_batch_size}, {self.max_length}, {self.learning_rate}"
            )
        if self.freeze_layers < 0:
            raise ConfigError(f"freeze_layers must be >= 0, got {self.freeze_layers!r}")
        if self.freeze_layers and self.method != "full":
            raise ConfigError(
                f"freeze_layers is {self.freeze_layers} with method {self.method!r}: it applies "
                "to full fine-tuning (LoRA already keeps every base weight as it is)"
            )


def load_encoder(
    model_dir: str | Path, *, dtype: torch.dtype = torch.float32, pad_token_id: int | None = None
) -> torch.nn.Module:
    """``AutoModelForSequenceClassification`` with 2 labels (1 = yes) from an encoder
    folder: a base encoder gets a fresh head (seeded by the caller's RNG), a trained
    one its own. Safetensors only."""
    from transformers import AutoModelForSequenceClassification

    check_safetensors(Path(model_dir), label="encoder model")
    kwargs: dict[str, Any] = {"pad_token_id": pad_token_id} if pad_token_id is not None else {}
    return AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=2, id2label=dict(ID2LABEL),
        label2id={v: k for k, v in ID2LABEL.items()}, dtype=dtype, use_safetensors=True,
        **kwargs,
    )  # fmt: skip


# Where BERT-style encoders keep their stack of transformer layers, under base_model:
# BERT, XLM-R, e5, ELECTRA, DeBERTa(-v2/v3) ``encoder.layer``; DistilBERT
# ``transformer.layer``.
_LAYER_STACKS = ("encoder.layer", "transformer.layer")


def freeze_lower_layers(model: torch.nn.Module, count: int) -> None:
    """Keep the embedding block (word, position and type embeddings and their norm) and
    the bottom ``count`` transformer layers of an encoder as they are: the lower layers
    carry most of a multilingual encoder's cross-lingual alignment, which fine-tuning on
    a few languages wears away (on the real QC data with Japanese held out, freezing
    e5-small's bottom 6 of 12 layers ranked the unseen language a little better at two
    seeds, and trained a quarter faster; BENCHMARKS.md)."""
    base = model.base_model
    stack = None
    for path in _LAYER_STACKS:
        try:
            stack = base.get_submodule(path)
            break
        except AttributeError:
            continue
    embeddings = getattr(base, "embeddings", None)
    if not isinstance(stack, torch.nn.ModuleList) or embeddings is None:
        raise ConfigError(
            f"freeze_layers: expected an encoder with an embeddings block and a layer stack "
            f"at one of {list(_LAYER_STACKS)}, got {type(base).__name__}"
        )
    if count > len(stack):
        raise ConfigError(
            f"freeze_layers is {count}: the model has {len(stack)} transformer layers"
        )
    for module in (embeddings, *stack[:count]):
        module.requires_grad_(False)


def _check_init(folder: str | Path, *, method: str) -> None:
    """An encoder folder to continue training from: trained here, with ``method``."""
    path = Path(folder) / ENCODER_META_FILE
    if not path.is_file():
        raise ConfigError(f"{folder}: no {ENCODER_META_FILE}: not a trained encoder to start from")
    meta = json.loads(path.read_text())
    if meta.get("method") != method:
        raise ConfigError(
            f"{folder} was trained with method {meta.get('method')!r}; this run's is {method!r}"
        )


def _collate(tokenizer: Any, batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    features = [{k: v for k, v in item.items() if k != "target"} for item in batch]
    padded = dict(tokenizer.pad(features, return_tensors="pt"))
    padded["target"] = torch.tensor([item["target"] for item in batch], dtype=torch.float32)
    return padded


@dataclasses.dataclass(frozen=True)
class EncoderResult:
    model_dir: Path
    summary: dict[str, Any]


def train_encoder(
    *,
    model_dir: str | Path,
    task: Task,
    rows: pd.DataFrame,
    config: EncoderTrainParams,
    out_dir: str | Path,
    targets: str = "label",
    init_from: str | Path | None = None,
    progress: bool = True,
) -> EncoderResult:
    """Train a cross-encoder on ``rows`` (``query``, ``candidate`` and the ``targets``
    column: 0/1 labels, or a teacher's p(yes) for distillation) and save it to
    ``out_dir``: the whole model (``full``) or a LoRA adapter with its head (``lora``),
    the tokenizer, and :data:`ENCODER_META_FILE`. A plain PyTorch loop: AdamW, linear
    warm-up and decay, rows shuffled by ``config.seed``.

    ``init_from``: an encoder folder this function saved (for the same base and method)
    to continue from, head included: task-adaptive pre-training on the other task.
    """
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    if model_family(model_dir) != "encoder":
        raise ConfigError(f"{model_dir} is not an encoder (see model_family)")
    if rows.empty:
        raise DataError(f"no rows to train the {task.name} encoder on")
    values = pd.to_numeric(rows[targets], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0) | (values > 1)
    if bad.any():
        raise DataError(
            f"{targets}: expected numbers in [0, 1], got {rows[targets][bad].head(5).tolist()}"
        )
    device = resolve_device("auto")
    use_bf16 = supports_bf16(device) if config.bf16 == "auto" else bool(config.bf16)
    flush_denormals(device)
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if init_from is not None:
        _check_init(init_from, method=config.method)
    # A full run continues from the whole saved model; a LoRA run loads its adapter below.
    whole = init_from if init_from is not None and config.method == "full" else model_dir
    model = load_encoder(whole, pad_token_id=tokenizer.pad_token_id)
    if config.freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    if config.freeze_layers:
        freeze_lower_layers(model, config.freeze_layers)
    if config.method == "lora":
        from peft import LoraConfig, PeftModel, TaskType, get_peft_model

        if init_from is not None:
            check_safetensors(Path(init_from), label="encoder adapter to continue from")
            model = PeftModel.from_pretrained(model, init_from, is_trainable=True)
        else:
            lora = LoraConfig(
                task_type=TaskType.SEQ_CLS, r=config.lora_rank, lora_alpha=config.lora_alpha,
                lora_dropout=0.0, target_modules="all-linear",
            )  # fmt: skip
            model = get_peft_model(model, lora)
    model.to(device).train()
    trainable = [p for p in model.parameters() if p.requires_grad]

    encoded = encode_pairs(tokenizer, rows, max_length=config.max_length, prefixes=config.prefixes)
    items = [{**e, "target": float(t)} for e, t in zip(encoded, values, strict=True)]
    generator = torch.Generator().manual_seed(config.seed)
    loader = torch.utils.data.DataLoader(
        items, batch_size=config.per_device_batch_size, shuffle=True, generator=generator,
        collate_fn=lambda batch: _collate(tokenizer, batch),
    )  # fmt: skip
    steps = config.max_steps if config.max_steps > 0 else math.ceil(len(loader) * config.epochs)
    optimizer = torch.optim.AdamW(
        trainable, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = get_linear_schedule_with_warmup(optimizer, int(steps * config.warmup_ratio), steps)
    history: list[float] = []
    started = time.perf_counter()
    bar = tqdm(total=steps, desc=f"encoder {task.name}", disable=not progress)
    step = 0
    while step < steps:
        for batch in loader:
            if step == steps:
                break
            batch = {k: v.to(device) for k, v in batch.items()}
            target = batch.pop("target")
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                logits = model(**batch).logits
            loss = soft_cross_entropy(logits, target)
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            history.append(loss.item())
            step += 1
            bar.update(1)
    bar.close()
    seconds = time.perf_counter() - started

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    if config.method == "lora":
        sort_target_modules(out_dir)  # peft writes a set: byte-stable files for DVC
    meta = {
        "family": "encoder",
        "task": task.name,
        "method": config.method,
        "base_model": str(model_dir) if config.method == "lora" else None,
        "prefixes": config.prefixes,
        "max_length": config.max_length,
        "targets": targets,
        "init_from": str(init_from) if init_from is not None else None,
    }
    (out_dir / ENCODER_META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    normalise_model_folder(out_dir)
    lengths = [len(e["input_ids"]) for e in encoded]
    summary = {
        **meta,
        "rows": len(rows),
        "steps": steps,
        "samples_seen": steps * config.per_device_batch_size,  # an upper bound
        "positive_rate": float(values.mean()),
        "tokens_per_row_mean": float(np.mean(lengths)),
        "train_loss": float(np.mean(history)) if history else None,
        "first_loss": history[0] if history else None,
        "final_loss": float(np.mean(history[-10:])) if history else None,
        "loss_history": history,
        "frozen_layers": config.freeze_layers,
        "trainable_params": sum(p.numel() for p in trainable),
        "total_params": sum(p.numel() for p in model.parameters()),
        "bf16_autocast": use_bf16,
        "device": str(device),
        "seconds": round(seconds, 2),
    }
    logger.info(
        "encoder %s: %d steps on %d rows in %.0f s, loss %.4f -> %.4f",
        config.method, steps, len(rows), seconds, summary["first_loss"] or 0.0,
        summary["final_loss"] or 0.0,
    )  # fmt: skip
    return EncoderResult(model_dir=out_dir, summary=summary)


class EncoderScorer:
    """p(yes) of (query, candidate) rows from a trained cross-encoder folder (full model,
    or LoRA adapter whose base its meta names; merged in fp32 before any bf16 cast).

    Rows are scored in length-sorted batches (little padding), in bf16 where the device
    is fast at it, with a progress bar; the result is in row order.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        batch_size: int = 64,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        base_model: str | Path | None = None,
        progress: bool = True,
    ) -> None:
        """``base_model``: the base of a LoRA adapter, when not where its meta says
        (the meta records the path training saw)."""
        from transformers import AutoTokenizer

        self.model_dir = Path(model_dir)
        meta_path = self.model_dir / ENCODER_META_FILE
        if not meta_path.is_file():
            raise ConfigError(f"{model_dir}: no {ENCODER_META_FILE}: not a trained encoder")
        self.meta = json.loads(meta_path.read_text())
        self.batch_size = batch_size
        self.progress = progress
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        flush_denormals(self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        if self.meta["method"] == "lora":
            from peft import PeftModel

            check_safetensors(self.model_dir, label="encoder adapter")
            base_dir = base_model if base_model is not None else self.meta["base_model"]
            base = load_encoder(base_dir, pad_token_id=self.tokenizer.pad_token_id)
            model = PeftModel.from_pretrained(base, self.model_dir).merge_and_unload()
        else:
            model = load_encoder(self.model_dir)
        for param in model.parameters():
            param.data = param.data.to(self.dtype)
        self.model = model.eval().to(self.device)

    @torch.inference_mode()
    def score(self, task: Task, rows: pd.DataFrame, *, label: str = "") -> np.ndarray:
        if self.meta["task"] != task.name:
            raise ConfigError(
                f"{self.model_dir} was trained for {self.meta['task']}, asked to score {task.name}"
            )
        encoded = encode_pairs(
            self.tokenizer, rows, max_length=self.meta["max_length"], prefixes=self.meta["prefixes"]
        )
        order = np.argsort([len(e["input_ids"]) for e in encoded], kind="stable")
        p_yes = np.empty(len(rows), dtype=np.float64)
        starts = range(0, len(order), self.batch_size)
        for start in tqdm(starts, desc=f"encoder {task.name} {label}", disable=not self.progress):
            index = order[start : start + self.batch_size]
            batch = self.tokenizer.pad([encoded[i] for i in index], return_tensors="pt")
            logits = self.model(**{k: v.to(self.device) for k, v in batch.items()}).logits
            p_yes[index] = torch.softmax(logits.float(), dim=-1)[:, 1].cpu().numpy()
        return p_yes
