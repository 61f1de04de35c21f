"""LoRA fine-tuning of a causal LM to answer "yes"/"no" after the relevance prompt: the
recipe (:class:`TrainParams`), one run (:func:`train_lora`) and the ``train@<task>``
stage (:func:`train_task`).

Built on the Hugging Face ``Trainer``, so the same code runs on one CPU, one GPU, or
several GPUs under ``accelerate launch`` (the Trainer and accelerate do the
distribution; nothing here is distributed by hand). What one optimizer step computes
(the loss at the answer position only) is in :mod:`relevance.model.trainer`; which
checkpoint a run may resume and how its model is saved and published, in
:mod:`relevance.model.checkpoints`.

With ``head="seq_cls"`` (the winning team's classification head) the base LM loads as
``AutoModelForSequenceClassification`` instead: the same decoder body, the ``lm_head``
replaced by a fresh 2-way linear ``score`` head, trained whole (peft
``modules_to_save``) beside the LoRA adapters. The prompt is the same text
(``### Response:`` tail included: it marks the position the head reads).

``init_adapter`` starts from a trained LoRA adapter (task-adaptive pre-training: the
other task's adapter) instead of a fresh one.

Precision (DESIGN.md, CPU facts): fp32 master weights under bf16 autocast trained 10x
faster on this CPU than bf16 weights. So on CPU the weights load in fp32 and the
Trainer runs with ``bf16=True`` when the CPU has fast bf16; the summary records the
dtype matmuls really ran in (``matmul_dtype``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from relevance.devices import resolve_device
from relevance.errors import ConfigError
from relevance.model.checkpoints import (
    SUMMARY_FILE,
    TrainResult,
    resume_point,
    run_identity,
    save_model_folders,
    write_summary,
)
from relevance.model.prompt import (
    PROMPT_VERSIONS,
    PromptTemplate,
    encode_rows,
    resolve_label_tokens,
)
from relevance.model.trainer import (
    Collator,
    MatmulProbe,
    RowsDataset,
    answer_trainer_class,
    check_labels,
    lora_model,
    training_arguments,
    training_precision,
)
from relevance.modelfolder import check_safetensors
from relevance.params import load_task_value, parse_section
from relevance.schema import Task

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainParams:
    """params.yaml ``train.<task>``: the LoRA recipe. The defaults are params.yaml's
    values (CPU settings for gemma-3-270m on the bundled sample), so code and params file
    never describe two recipes.

    The paper's GPU values (Qwen3-14B-Base, Yin et al. 2025) are rank 32, dropout 0.1,
    and per task: QC lr 7.5e-5, 1 epoch, batch 128; QI lr 5e-5, 2 epochs, batch 64,
    max length 512. "Batch" there is the effective batch:
    ``per_device_batch_size * gradient_accumulation_steps * number of GPUs``.

    The same section trains an encoder backbone (``models.llm`` an encoder folder:
    :mod:`relevance.model.backbone`): it reads the keys both families share and its
    own ``method`` and ``freeze_word_embeddings``.

    Attributes:
        method: ``"lora"`` (the causal LM's only method) or ``"full"``: full
            fine-tuning, for an encoder backbone.
        lora_rank: LoRA rank r (paper 32; DESIGN.md timed 16 on this CPU).
        lora_alpha: LoRA scale numerator; the update is scaled by alpha / r.
        lora_dropout: dropout on the LoRA input (paper 0.1). 0 on CPU: drawing the
            dropout masks took 28% of a gemma-3-270m step here (7.0 -> 4.6 s at batch
            16 x 84 tokens); on a GPU it is nearly free.
        target_modules: ``"all-linear"`` (every linear layer but ``lm_head``) or module
            names such as ``("q_proj", "v_proj")``.
        learning_rate: peak AdamW learning rate (paper QC 7.5e-5, QI 5e-5). A 270M
            model on a few hundred rows needs a larger one: 5e-4 learned both tasks of
            the sample (QC dev AUC 0.82, QI 0.95); 1e-3 made QC collapse to the label
            prior (BENCHMARKS.md, "A default run that learns").
        epochs: passes over the rows (paper QC 1, QI 2). 3 on the sample: with the
            ``lm`` loss the first epoch mostly teaches the model to answer yes/no at
            all, and one epoch left its dev AUC near chance.
        per_device_batch_size: rows per forward pass on each device. 16 on the sample:
            twice the updates of 32 for ~10% more time per row, which QC needed to
            learn; 8 was slower per row and learned less.
        gradient_accumulation_steps: forward passes per optimizer step.
        num_processes: data-parallel training processes. Above 1, ``train@<task>``
            starts itself again under a launcher (:mod:`relevance.launch`) in that many
            processes: DDP over gloo on CPUs, NCCL on GPUs. The global batch is
            ``per_device_batch_size * gradient_accumulation_steps * num_processes``;
            the same global batch and seed give the single-process adapter (within
            float rounding, tested).
        launcher_config: empty: torch's ``torchrun``; else an accelerate config file
            (``configs/accelerate/``: DDP, FSDP, DeepSpeed ZeRO-2) for
            ``accelerate launch``.
        max_length: longest prompt in tokens (paper QI 512); longer prompts lose the
            end of the candidate (:func:`relevance.model.prompt.encode_rows`).
        loss: ``"lm"``: -log p(label token) over the full vocabulary at the answer
            position; ``"two_way"``: cross-entropy over the yes/no logits only. For the
            ``yes_no`` head only (``seq_cls`` always uses 2-way cross-entropy).
        prompt: the prompt template (:mod:`relevance.model.prompt`): ``"alpaca"`` (the
            paper's) or ``"compact"`` (no Alpaca preamble: about a third of the tokens,
            so a cheaper step; the model folder records which, and scorers follow it).
        head: ``"yes_no"``: the LM's own head answers " yes"/" no" (the paper).
            ``"seq_cls"``: a new 2-way classification head on the decoder body (the
            winning team, DcuRAGONs), trained with the LoRA; p(yes) = softmax[:, 1].
            Scored by the hf backend only.
        init_from: ``"none"``: a fresh LoRA. ``"other_task"``: task-adaptive
            pre-training (the winning team's): ``train@<task>`` continues from the adapter
            ``tapt@<task>`` trained on the other task's rows (``init_adapter``).
        freeze_word_embeddings: an encoder backbone keeps its token embedding table
            as it is (most of a multilingual encoder's weights: 96M of
            multilingual-e5-small's 118M). The causal LM's LoRA never trains it.
        freeze_layers: an encoder backbone with ``method: full`` also keeps its whole
            embedding block and its bottom N transformer layers as they are (0: none;
            :func:`relevance.model.encoder.freeze_lower_layers`). Not for a causal LM.
        seed: seeds LoRA initialisation, dropout and data order.
        max_steps: stop after this many optimizer steps (-1: run all ``epochs``).
        warmup_ratio: fraction of the steps with a linear learning-rate warmup.
        weight_decay: AdamW weight decay on the LoRA weights.
        logging_steps: log the loss every this many steps.
        save_steps: write a resumable checkpoint every this many steps.
        save_total_limit: checkpoints kept in ``out_dir`` (older ones are deleted).
        bf16: ``"auto"``: bf16 autocast where the device has fast bf16 (a CPU with
            AVX-512 bf16/AMX, a bf16 GPU), else fp32; True requires it; False: fp32.
        weights_dtype: dtype the frozen base weights load in. ``"auto"``: bf16 when bf16
            autocast is on (no per-step cast of the base; denormals flushed on CPU), else
            fp32. The LoRA weights train in fp32 either way.
        attn_implementation: ``"auto"``: eager attention on CPU (faster than SDPA's
            backward for short prompts, measured here), SDPA on GPU; or set it.
        gradient_checkpointing: recompute layer activations in the backward pass
            instead of keeping them: about 30% more compute for much less memory (a
            14B model at 512 tokens on a GPU); no use for a small model on CPU.
        group_by_length: batches of rows of similar length (the Trainer's
            length-grouped sampler), so little of a step goes to padding. Off by default:
            where length tracks the label, length-sorted batches skew the labels a step
            sees, and a toy task here learned worse with it.
        merge: also save the model with the adapter merged in (``out_dir/merged``),
            the fastest thing to score.
    """

    method: Literal["lora", "full"] = "lora"
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: str | tuple[str, ...] = "all-linear"
    learning_rate: float = 5e-4
    epochs: float = 3.0
    per_device_batch_size: int = 16
    gradient_accumulation_steps: int = 1
    num_processes: int = 1
    launcher_config: str = ""
    max_length: int = 256
    loss: Literal["lm", "two_way"] = "lm"
    prompt: PromptTemplate = "alpaca"
    head: Literal["yes_no", "seq_cls"] = "yes_no"
    init_from: Literal["none", "other_task"] = "none"
    freeze_word_embeddings: bool = True
    freeze_layers: int = 0
    seed: int = 13
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
    group_by_length: bool = False
    merge: bool = False

    def __post_init__(self) -> None:
        # Types and the Literal choices are checked by relevance.params.parse_section;
        # here only the ranges a type cannot say.
        problems = []
        for name in (
            "lora_rank",
            "per_device_batch_size",
            "gradient_accumulation_steps",
            "num_processes",
            "logging_steps",
            "save_steps",
            "save_total_limit",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        if self.lora_alpha <= 0:
            problems.append(f"lora_alpha must be > 0, got {self.lora_alpha!r}")
        if not 0 <= self.lora_dropout < 1:
            problems.append(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        if self.learning_rate <= 0:
            problems.append(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.epochs <= 0:
            problems.append(f"epochs must be > 0, got {self.epochs!r}")
        if self.max_length < 16:
            problems.append(f"max_length must be an integer >= 16, got {self.max_length!r}")
        if self.max_steps < 1 and self.max_steps != -1:
            problems.append(
                f"max_steps must be -1 (none) or an integer >= 1, got {self.max_steps!r}"
            )
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.freeze_layers < 0:
            problems.append(f"freeze_layers must be an integer >= 0, got {self.freeze_layers!r}")
        if not self.target_modules:
            problems.append(
                "target_modules must be 'all-linear' or a non-empty list of names, "
                f"got {self.target_modules!r}"
            )
        if problems:
            raise ConfigError("invalid training params: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings (``target_modules`` as a list), as run records store them."""
        out = dataclasses.asdict(self)
        if isinstance(out["target_modules"], tuple):
            out["target_modules"] = list(out["target_modules"])
        return out


def load_train_params(task_name: str, params_path: str | Path = "params.yaml") -> TrainParams:
    """``train.<task>`` of the params file, checked. Stage scripts call it literally: the
    dvc.yaml contract test reads the call as a read of ``train.<task>``."""
    return parse_section(
        TrainParams,
        load_task_value("train", task_name, params_path),
        name=f"train.{task_name}",
        source=str(params_path),
    )


def _code_fingerprint() -> str:
    """sha256 of the modules that define what a run trains: the recipe and LoRA set-up
    (this module), the loss and batches (trainer), the answer position and heads (heads)
    and the prompt (prompt).

    When DVC reruns training because this code changed, a finished checkpoint of the
    old code must not be "resumed" in place of training with the new one. Not listed:
    inputs (what it does to rows shows in the data fingerprint, the token ids) and
    checkpoints (resumption and saving, redone on every run, finished or not).
    """
    from relevance.model import heads, prompt, trainer

    digest = hashlib.sha256()
    for module in (sys.modules[__name__], trainer, heads, prompt):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


# -------------------------------------------------------------------- a run


def train_lora(
    *,
    model_dir: str | Path,
    task: Task,
    rows: pd.DataFrame,
    config: TrainParams,
    out_dir: str | Path,
    restart_on_mismatch: bool = False,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
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
        callbacks: extra ``transformers.TrainerCallback`` objects (benchmarks time steps).
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
    from transformers import AutoTokenizer, set_seed

    started = time.perf_counter()
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    init_adapter = Path(init_adapter) if init_adapter is not None else None
    labels = check_labels(rows)
    # A local safetensors folder only, checked before any library opens it: a name that
    # is no folder would be looked up on the hub, and pickled weights can run code. (The
    # init adapter is checked likewise, in run_identity.)
    check_safetensors(model_dir, label="base model")

    # 1. Device and precision.
    device = resolve_device("auto")
    use_bf16, weights_dtype = training_precision(config, device)

    # 2. Prompts -> token ids, and the label tokens the loss targets (a seq_cls head
    #    has its own two classes and never reads them).
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    label_tokens = resolve_label_tokens(tokenizer) if config.head == "yes_no" else None
    input_ids = encode_rows(
        tokenizer, task, rows, max_length=config.max_length, template=config.prompt
    )
    lengths = np.fromiter((len(x) for x in input_ids), dtype=np.int64, count=len(input_ids))
    pad_id = tokenizer.pad_token_id
    pad_id = pad_id if pad_id is not None else tokenizer.eos_token_id

    # 3. Resume only a checkpoint of this very run (same data, task, prompt, code,
    #    settings, base model and init adapter).
    run = run_identity(
        task=task, config=config.to_dict(), input_ids=input_ids, labels=labels,
        model_dir=model_dir, init_adapter=init_adapter, code_fingerprint=_code_fingerprint(),
    )  # fmt: skip
    resume = resume_point(out_dir, run, restart_on_mismatch=restart_on_mismatch)

    # 4. Model, seeded (the seed also draws the fresh seq_cls head).
    set_seed(config.seed)
    model = lora_model(
        model_dir, config=config, device=device, dtype=weights_dtype, pad_id=pad_id,
        init_adapter=init_adapter,
    )  # fmt: skip
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    effective_batch = config.per_device_batch_size * config.gradient_accumulation_steps
    logger.info(
        "training %s LoRA r=%d on %d %s rows (%.0f%% positive, %.1f tokens/row, max %d): "
        "%s trainable of %s params; device %s, weights %s, bf16 autocast %s; "
        "%d rows per optimizer step per device, %d tokens",
        config.loss if config.head == "yes_no" else "seq_cls", config.lora_rank, len(rows),
        task.name, 100 * labels.mean(), lengths.mean(), lengths.max(), f"{trainable:,}",
        f"{total:,}", device, weights_dtype, use_bf16, effective_batch,
        int(lengths.mean() * effective_batch),
    )  # fmt: skip

    # 5. Train, or continue. A run that reached its last step trains nothing (transformers
    #    would still run one more step when that step falls mid-epoch): its weights are
    #    the checkpoint's.
    args = training_arguments(
        config, out_dir=out_dir, device=device, use_bf16=use_bf16, progress=progress
    )
    trainer = answer_trainer_class()(
        model=model, args=args, train_dataset=RowsDataset(input_ids, labels),
        data_collator=Collator(pad_id), processing_class=tokenizer, labels=label_tokens,
        loss=config.loss, head=config.head, callbacks=list(callbacks),
    )  # fmt: skip
    probe = MatmulProbe(model)
    if resume.finished is not None:
        logger.info("%s is the finished run: loading it, no training", resume.checkpoint)
        model.load_adapter(resume.checkpoint, adapter_name="default")
    else:
        output = trainer.train(resume_from_checkpoint=resume.checkpoint)
    if use_bf16 and probe.dtype is not None and probe.dtype != torch.bfloat16:
        logger.warning("bf16 autocast was requested but matmuls ran in %s", probe.dtype)

    # 6. Save the adapter (and the merged model) with the prompt they expect; the base
    #    model's fingerprint lets a later run that starts from this adapter check it.
    meta = {
        "task": task, "labels": label_tokens, "head": config.head, "template": config.prompt,
        "extra": {"base_model_fingerprint": run["model_fingerprint"]},
    }  # fmt: skip
    adapter_dir, merged_dir = save_model_folders(
        trainer, tokenizer, out_dir=out_dir, merge=config.merge, meta=meta
    )

    # 7. Summary: the finished run's own, or this one's.
    resumed = {
        "resumed_from": Path(resume.checkpoint).name if resume.checkpoint else None,
        "resumed_from_step": resume.step,
    }
    if resume.finished is not None:
        summary = {**resume.finished, "train_seconds": 0.0, **resumed}
    else:
        history = [
            {"step": int(e["step"]), "loss": float(e["loss"])}
            for e in trainer.state.log_history
            if "loss" in e and "step" in e
        ]
        world = max(1, int(getattr(args, "world_size", 1)))
        summary = {
            "task": task.name,
            "prompt_version": PROMPT_VERSIONS[config.prompt],
            "head": config.head,
            "loss_kind": config.loss if config.head == "yes_no" else "seq_cls_cross_entropy",
            "steps": int(trainer.state.global_step),
            "max_steps": int(trainer.state.max_steps),
            "rows": len(rows),
            "positive_rate": float(labels.mean()),
            # An upper bound: the last batch of an epoch may be short.
            "samples_seen": int(trainer.state.global_step) * effective_batch * world,
            "tokens_per_row_mean": float(lengths.mean()),
            "train_loss": float(output.training_loss),
            "final_loss": history[-1]["loss"] if history else float(output.training_loss),
            "loss_history": history,
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
            **resumed,
            "config": config.to_dict(),
        }
        logger.info(
            "trained %d steps in %.1f s, final logged loss %s",
            summary["steps"], time.perf_counter() - started,
            history[-1]["loss"] if history else "n/a",
        )  # fmt: skip
    summary["seconds"] = round(time.perf_counter() - started, 2)
    if trainer.is_world_process_zero():
        write_summary(out_dir / SUMMARY_FILE, summary)
    return TrainResult(
        out_dir=out_dir, adapter_dir=adapter_dir, merged_dir=merged_dir, summary=summary
    )
