"""Score rows with a yes/no LLM: p(yes) = softmax over the yes/no logits after the prompt.

Backends share the prompt and its token ids (:func:`relevance.model.prompt.encode_rows`) and
the two-way math (:func:`two_way_p_yes`):

- :class:`HFScorer`: transformers on CPU or one GPU. Runs only the decoder body, takes
  the hidden state of each row's last real token and multiplies it by just the two
  ``lm_head`` rows of "yes" and "no": with Gemma's 262k-token vocabulary, full logits at
  every position cost several times the model body (DESIGN.md, CPU facts). A model
  trained with a classification head (``head: seq_cls``) runs the same body and takes
  the two rows of its ``score`` head instead, so it shares the prefix cache and the
  p(yes) math; the scorer reads which head a folder has from its prompt meta.
- :class:`VllmScorer`: vLLM on CUDA GPUs (optional extra ``.[gpu]``); yes/no heads only.

The tensor helpers (:func:`pad_right`, :func:`gather_last_token`, :func:`head_logits`) live
in :mod:`relevance.model.heads`, shared with training, so the answer position is found the
same way in both.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from relevance import vllm_engine
from relevance.devices import flush_denormals, resolve_device, resolve_dtype, supports_bf16
from relevance.errors import ConfigError, RelevanceError
from relevance.model.heads import (
    HEADS,
    PROMPT_META_FILE,
    _check_meta,
    answer_rows,
    check_head,
    decoder_body,
    gather_last_token,
    head_logits,
    load_head_model,
    model_head,
    p_yes_from_logprobs,
    pad_right,
    peft_wrapping,
    prompt_template,
    read_prompt_meta,
    shared_prefix_length,
    two_way_p_yes,
    write_prompt_meta,
)
from relevance.model.prompt import LabelTokens, encode_rows, resolve_label_tokens
from relevance.modelfolder import check_hub_access, check_safetensors
from relevance.schema import Task

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------- scorers


class Scorer(Protocol):
    """Anything that turns data rows into p(yes)."""

    def score(self, task: Task, rows: pd.DataFrame, *, label: str = "") -> np.ndarray:
        """p(yes) for each row, float64 [len(rows)], in row order. ``label`` names the
        rows in the progress bar (``dev``, ``fold 1``)."""
        ...


class HFScorer:
    """Score with transformers (+ an optional peft adapter) on CPU or one GPU.

    Args:
        model_dir: a transformers causal-LM folder with its tokenizer: the base model,
            or a merged model from training (``out_dir/merged``; the fastest path; a
            ``seq_cls`` merged folder is a ``*ForSequenceClassification``).
        adapter_dir: a peft LoRA adapter on top of ``model_dir``; merged into the
            weights at load time (in fp32, then cast: this briefly holds the model
            in fp32).
        batch_size: rows per forward pass. Rows are sorted by token length first, so
            a batch holds similar lengths and padding stays small.
        max_length: longest prompt in tokens (see :func:`relevance.model.prompt.encode_rows`).
        device: ``"auto"`` (CUDA if present, else CPU), ``"cpu"``, ``"cuda"``.
        dtype: ``"auto"`` (bf16 where the device has fast bf16, else fp32),
            ``"float32"`` or ``"bfloat16"``. The weights are loaded in this dtype
            directly: a model loaded in fp32 and then cast with ``.to(bf16)`` scored
            30x slower on this CPU (denormals; DESIGN.md).
        progress: show a tqdm bar over batches.
        prefix_cache: run the prompt's constant head (preamble, instruction, the start
            of the input block: ~54 of ~82 tokens for QC) once, keep its key/value
            cache, and run only each row's remaining tokens against it. Same scores
            (fp32 within 1e-5), about 1.6x the pairs/s on CPU. Off where a prompt is
            longer than a sliding-window layer's window, which would crop that cache.
            A ``seq_cls`` head uses it too: the body is the same, only the two head
            rows differ.
        head: ``"auto"``: what the prompt meta of ``adapter_dir`` (else ``model_dir``)
            says (:func:`relevance.model.heads.model_head`); or ``"yes_no"`` / ``"seq_cls"``,
            which must then agree with the meta.
        allow_download: ``models.allow_download``: a ``model_dir`` that is no local
            folder is taken for a hub id and refused (ConfigError) unless this is true.
            Folders must hold ``*.safetensors`` weights (the adapter too).
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        adapter_dir: str | Path | None = None,
        batch_size: int = 16,
        max_length: int = 256,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        progress: bool = True,
        prefix_cache: bool = True,
        head: str = "auto",
        allow_download: bool = False,
    ) -> None:
        from transformers import AutoTokenizer

        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        # Before any library sees the names: no hub lookup, no pickled weights.
        check_hub_access(model_dir, param="scoring model", allow_download=allow_download)
        if adapter_dir is not None:
            check_safetensors(Path(adapter_dir), label="scoring adapter")
        self.model_dir = Path(model_dir)
        self.adapter_dir = Path(adapter_dir) if adapter_dir is not None else None
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.progress = progress
        self.prefix_cache = prefix_cache
        if self.device.type == "cpu":
            # Denormal arithmetic is very slow on this CPU; flushing them to zero took
            # a bf16-cast model from 1.3 to 37 pairs/s (DESIGN.md). Process-wide.
            flush_denormals(self.device)

        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        meta_dir = self.adapter_dir if self.adapter_dir is not None else self.model_dir
        self._meta = read_prompt_meta(meta_dir)
        self._meta_dir = meta_dir
        found = model_head(meta_dir)
        if head != "auto" and check_head(head) != found:
            raise ConfigError(
                f"{meta_dir} holds a {found!r} model, asked to score it as {head!r}: "
                f"use head 'auto' (expected one of {['auto', *HEADS]})"
            )
        self.head = found
        # A seq_cls head never reads the label tokens (its tokenizer need not have them).
        self.labels = resolve_label_tokens(self.tokenizer) if found == "yes_no" else None
        pad_id = self.tokenizer.pad_token_id
        self._pad_id = pad_id if pad_id is not None else self.tokenizer.eos_token_id

        if self.adapter_dir is None:
            model = load_head_model(
                self.model_dir, head=found, dtype=self.dtype, pad_token_id=self._pad_id
            )
        else:
            model = merged_model(
                self.model_dir, self.adapter_dir, head=found, dtype=self.dtype,
                pad_token_id=self._pad_id,
            )  # fmt: skip
        model.eval().to(self.device)
        self.model = model
        self._body = decoder_body(model)
        # transformers 5.24 renamed the key/value cache argument and output field
        # `past_key_values` -> `cache` (the old name warns, and goes in 5.40); older
        # releases know only the old one.
        forward = inspect.signature(self._body.forward).parameters
        self._cache_arg = "cache" if "cache" in forward else "past_key_values"
        self._cache_position = "cache_position" in forward
        # Only two rows of the head are ever used, in (yes, no) order: [2, H]. The
        # lm_head's final-logit softcap is part of a yes_no head only (a
        # *ForSequenceClassification applies none).
        self._label_rows = answer_rows(model, head=found, labels=self.labels)
        self._softcap = (
            getattr(model.config, "final_logit_softcapping", None) if found == "yes_no" else None
        )
        logger.info(
            "HFScorer: %s%s on %s in %s, %s",
            self.model_dir,
            f" + adapter {self.adapter_dir}" if self.adapter_dir else "",
            self.device,
            self.dtype,
            f"label tokens {self.labels.yes_text!r}/{self.labels.no_text!r}"
            if self.labels is not None
            else "seq_cls head (p(yes) = softmax(score logits)[:, 1])",
        )

    @torch.inference_mode()
    def label_logits(self, task: Task, rows: pd.DataFrame, *, label: str = "") -> np.ndarray:
        """The (yes, no) logits at the answer position: float32 [len(rows), 2], row order.

        For a ``seq_cls`` head: the ``score`` logits of class 1 ("yes") and class 0 ("no").
        """
        _check_meta(self._meta, task=task, labels=self.labels, where=self._meta_dir)
        encoded = encode_rows(
            self.tokenizer, task, rows, max_length=self.max_length,
            template=prompt_template(self._meta),
        )  # fmt: skip
        out = np.empty((len(encoded), 2), dtype=np.float32)
        # Longest first: similar lengths share a batch, and an out-of-memory shows up
        # on the first batch rather than at the end.
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        prefix_len, cache = self._shared_prefix(encoded)
        starts = range(0, len(order), self.batch_size)
        for start in tqdm(
            starts,
            desc=f"score {task.name} {label}".rstrip(),
            unit="batch",
            disable=not self.progress,
        ):
            idx = order[start : start + self.batch_size]
            # Only the tokens after the shared prefix (all of them without a cache).
            input_ids, mask = pad_right([encoded[i][prefix_len:] for i in idx], pad_id=self._pad_id)
            input_ids, mask = input_ids.to(self.device), mask.to(self.device)
            if cache is None:
                hidden = self._body(
                    input_ids=input_ids, attention_mask=mask, use_cache=False
                ).last_hidden_state  # [B, T, H]; no KV cache: nothing is generated
            else:
                hidden = self._after_prefix(input_ids, mask, prefix_len, cache)
            last = gather_last_token(hidden, mask)  # [B, H]
            logits = head_logits(last.float(), self._label_rows.float(), softcap=self._softcap)
            out[idx] = logits.cpu().numpy()
        return out

    def _shared_prefix(self, encoded: list[list[int]]) -> tuple[int, Any]:
        """Length of the token prefix every row shares, and its key/value cache.

        Returns ``(0, None)`` when caching is off or not worth it. The prefix stops one
        token short of the shortest row, so every row keeps its answer position.
        """
        if not self.prefix_cache or not encoded:
            return 0, None
        window = getattr(self.model.config, "sliding_window", None)
        length = shared_prefix_length(encoded, window=window)
        if not length:
            return 0, None
        prefix = torch.tensor([encoded[0][:length]], device=self.device)
        output = self._body(input_ids=prefix, use_cache=True)
        return length, getattr(output, self._cache_arg)

    def _after_prefix(
        self, input_ids: torch.Tensor, mask: torch.Tensor, prefix_len: int, cache: Any
    ) -> torch.Tensor:
        """Final hidden states [B, T, H] of the suffix tokens, attending to the cached
        prefix. ``input_ids``/``mask``: [B, T] right-padded suffixes."""
        batch, width = input_ids.shape
        # The forward appends to the cache: each batch gets its own copy, repeated
        # per row ([1, ...] -> [B, ...]).
        batch_cache = copy.deepcopy(cache)
        batch_cache.batch_repeat_interleave(batch)
        full_mask = torch.cat(
            [torch.ones(batch, prefix_len, dtype=mask.dtype, device=mask.device), mask], dim=1
        )
        positions = torch.arange(prefix_len, prefix_len + width, device=input_ids.device)
        # Newer releases derive the cache positions from the cache itself.
        extra = {"cache_position": positions} if self._cache_position else {}
        return self._body(
            input_ids=input_ids,
            attention_mask=full_mask,
            position_ids=positions[None].expand(batch, width),
            use_cache=True,
            **{self._cache_arg: batch_cache},
            **extra,
        ).last_hidden_state

    def score(self, task: Task, rows: pd.DataFrame, *, label: str = "") -> np.ndarray:
        """p(yes) for each row: float64 [len(rows)] in row order."""
        logits = self.label_logits(task, rows, label=label)
        return two_way_p_yes(logits[:, 0], logits[:, 1])


def label_logprobs(
    position_logprobs: Mapping[int, Any], labels: LabelTokens
) -> tuple[float, float]:
    """``(lp_yes, lp_no)`` from vLLM's log-probabilities at the first generated position.

    Args:
        position_logprobs: ``{token_id: Logprob}`` (or ``{token_id: float}``), i.e.
            ``request_output.outputs[0].logprobs[0]``.

    Raises:
        RelevanceError: a label token is missing (the engine was not set up as
            :class:`VllmScorer` sets it up).
    """
    values = []
    for token_id, text in ((labels.yes_id, labels.yes_text), (labels.no_id, labels.no_text)):
        if token_id not in position_logprobs:
            raise RelevanceError(
                f"vLLM returned no log-probability for label token {text!r} (id {token_id}); "
                f"got ids {sorted(position_logprobs)}: expected both label tokens "
                "(logprobs_mode='processed_logprobs', allowed_token_ids, logprobs=2)"
            )
        value = position_logprobs[token_id]
        values.append(float(getattr(value, "logprob", value)))
    return values[0], values[1]


class VllmScorer:
    """Score with vLLM on CUDA GPUs (``pip install .[gpu]``; vLLM >= 0.10.2).

    The engine runs with prefix caching (every prompt starts with the same
    instruction) and ``logprobs_mode="processed_logprobs"``; each request asks for one
    token restricted to the two label tokens (``allowed_token_ids``) with the top-2
    log-probabilities. After that restriction the top 2 are exactly "yes" and "no", so
    both always come back, normalised over the two; p(yes) follows from
    :func:`p_yes_from_logprobs`. Prompts go in as token ids from
    :func:`relevance.model.prompt.encode_rows`, identical to training and :class:`HFScorer`.

    Only ``yes_no`` heads: a ``seq_cls`` model raises ConfigError. vLLM can serve
    ``*ForSequenceClassification`` models with its pooling runner (``LLM.classify``,
    last-token pooling), which may fit a merged seq_cls model, but that path was not
    run here (no GPU), so it is refused rather than shipped untested.

    Args:
        model_dir: a merged model folder (``out_dir/merged``), or a base model.
        adapter_dir: a peft LoRA adapter, served as ``adapter_mode`` says.
        adapter_mode: ``lora``: through vLLM's LoRA support; ``merge``: merged into the
            base (in fp32, saved in bf16 to a scratch folder that lives as long as the
            scorer) and served as a plain model; ``auto``: ``lora`` with a CUDA GPU,
            else ``merge`` (vLLM's CPU LoRA kernels took ~24 s a prompt here, the merged
            model several prompts a second).
        max_length: longest prompt in tokens; the engine's context is one more.
        dtype: passed to vLLM. bf16 by default: a merged model trained on CPU is saved
            in fp32, and vLLM's "auto" would serve an fp32 model in fp16, which Gemma
            does not tolerate.
        tensor_parallel_size, gpu_memory_utilization, seed: vLLM engine arguments.
        engine_kwargs: any other ``vllm.LLM`` arguments.
        allow_download: ``models.allow_download``: a ``model_dir`` that is no local
            folder is a hub id, refused (ConfigError) unless this is true. Weights are
            read as safetensors only (``load_format="safetensors"``, and a folder or
            adapter without ``*.safetensors`` is refused first).
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        adapter_dir: str | Path | None = None,
        max_length: int = 512,
        dtype: str = "bfloat16",
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        seed: int = 0,
        progress: bool = True,
        engine_kwargs: Mapping[str, Any] | None = None,
        allow_download: bool = False,
        adapter_mode: str = "auto",
    ) -> None:
        # Before vLLM or transformers see the names: no hub lookup, no pickled weights.
        check_hub_access(model_dir, param="scoring model", allow_download=allow_download)
        if adapter_dir is not None:
            check_safetensors(Path(adapter_dir), label="scoring adapter")
        self.model_dir = Path(model_dir)
        self.adapter_dir = Path(adapter_dir) if adapter_dir is not None else None
        check_yes_no_for_vllm(self.adapter_dir or self.model_dir)
        vllm = _import_vllm()
        self.adapter_mode = resolve_adapter_mode(adapter_mode)
        if self.adapter_dir is not None and self.adapter_mode == "merge":
            self._scratch = tempfile.TemporaryDirectory(prefix="vllm-merged-")
            merged = Path(self._scratch.name) / "merged"
            logger.info("vLLM: merging %s into %s for serving", self.adapter_dir, merged)
            merge_adapter(self.model_dir, self.adapter_dir, merged)
            self.model_dir, self.adapter_dir = merged, None
        from transformers import AutoTokenizer

        self.max_length = max_length
        self.progress = progress
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self.labels = resolve_label_tokens(self.tokenizer)
        self._meta_dir = self.adapter_dir if self.adapter_dir is not None else self.model_dir
        self._meta = read_prompt_meta(self._meta_dir)

        kwargs: dict[str, Any] = {
            "model": str(self.model_dir),
            "dtype": dtype,
            # vLLM's "auto" falls back to pickled *.bin / *.pt weights.
            "load_format": "safetensors",
            "max_model_len": max_length + 1,
            "enable_prefix_caching": True,
            "logprobs_mode": "processed_logprobs",
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "seed": seed,
        }
        self._lora_request = None
        if self.adapter_dir is not None:
            from vllm.lora.request import LoRARequest

            rank = int(json.loads((self.adapter_dir / "adapter_config.json").read_text())["r"])
            # vLLM sizes its LoRA buffers by max_lora_rank: a power of two >= the rank.
            kwargs.update(enable_lora=True, max_lora_rank=max(8, 1 << (rank - 1).bit_length()))
            self._lora_request = LoRARequest("relevance", 1, str(self.adapter_dir))
        kwargs.update(engine_kwargs or {})
        self.llm = vllm.LLM(**vllm_engine.engine_kwargs(**kwargs))
        self.sampling_params = vllm.SamplingParams(**vllm_sampling_kwargs(self.labels))

    def score(self, task: Task, rows: pd.DataFrame, *, label: str = "") -> np.ndarray:
        """p(yes) for each row: float64 [len(rows)] in row order (vLLM shows its own
        progress; ``label`` goes to the log)."""
        logger.info("vLLM: scoring %d %s rows %s", len(rows), task.name, label)
        _check_meta(self._meta, task=task, labels=self.labels, where=self._meta_dir)
        encoded = encode_rows(
            self.tokenizer, task, rows, max_length=self.max_length,
            template=prompt_template(self._meta),
        )  # fmt: skip
        # vLLM returns outputs in request order.
        outputs = self.llm.generate(
            [{"prompt_token_ids": ids} for ids in encoded],
            self.sampling_params,
            use_tqdm=self.progress,
            lora_request=self._lora_request,
        )
        pairs = [label_logprobs(out.outputs[0].logprobs[0], self.labels) for out in outputs]
        lp = np.asarray(pairs, dtype=np.float64).reshape(-1, 2)
        return p_yes_from_logprobs(lp[:, 0], lp[:, 1])


ADAPTER_MODES = ("auto", "lora", "merge")


def resolve_adapter_mode(mode: str) -> str:
    """How vLLM gets a LoRA adapter: ``auto`` is ``lora`` with a CUDA GPU, else ``merge``."""
    if mode not in ADAPTER_MODES:
        raise ConfigError(f"vllm adapter mode: expected one of {list(ADAPTER_MODES)}, got {mode!r}")
    if mode == "auto":
        return "lora" if torch.cuda.is_available() else "merge"
    return mode


def merged_model(
    base: str | Path,
    adapter: str | Path,
    *,
    head: str,
    dtype: torch.dtype,
    pad_token_id: int | None = None,
) -> torch.nn.Module:
    """``base`` with the LoRA ``adapter`` merged in, its parameters in ``dtype``.

    Merged in fp32 and rounded once: LoRA deltas added to bf16 weights would be rounded
    away wherever they are below half a bf16 step of the weight. A seq_cls adapter also
    carries its trained `score` head (peft modules_to_save), which replaces the fresh one
    the load draws. Parameters only are cast, as a load with dtype=bf16 does: buffers
    such as the RoPE inv_freq stay fp32 (a whole-model .to() would cast them too).
    """
    from peft import PeftModel

    model = load_head_model(base, head=head, dtype=torch.float32, pad_token_id=pad_token_id)
    with peft_wrapping():
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    if dtype != torch.float32:
        for param in model.parameters():
            param.data = param.data.to(dtype)
    return model


def merge_adapter(base: Path, adapter: Path, out: Path) -> Path:
    """A yes/no LoRA ``adapter`` merged into ``base`` (:func:`merged_model`) and saved as
    a bf16 safetensors folder with the base's tokenizer and the adapter's prompt meta:
    what ``train.<task>.merge: true`` saves, rounded once to bf16 as a bf16 load of it
    would be. Returns ``out``."""
    from transformers import AutoTokenizer

    model = merged_model(base, adapter, head="yes_no", dtype=torch.bfloat16)
    model.config.dtype = torch.bfloat16
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    shutil.copy(Path(adapter) / PROMPT_META_FILE, Path(out) / PROMPT_META_FILE)
    return Path(out)


def vllm_sampling_kwargs(labels: LabelTokens) -> dict[str, Any]:
    """``SamplingParams`` arguments: one greedy token among the two labels, with both
    log-probabilities returned (pure, so it is tested without vLLM)."""
    return {
        "max_tokens": 1,
        "temperature": 0.0,
        "allowed_token_ids": list(labels.ids),
        "logprobs": 2,
        "detokenize": False,
    }


def check_yes_no_for_vllm(folder: Path) -> None:
    """ConfigError if ``folder`` holds a ``seq_cls`` model: the vLLM backend is yes/no only."""
    if model_head(folder) == "seq_cls":
        raise ConfigError(
            f"{folder} holds a seq_cls (classification-head) model: the vllm backend scores "
            "yes_no heads only; score it with backend 'hf' (predict.backend: hf)"
        )


def _import_vllm() -> Any:
    return vllm_engine.import_vllm("predict.backend vllm")


def make_scorer(backend: Literal["hf", "vllm"], model_dir: str | Path, **kwargs: Any) -> Scorer:
    """A scorer for ``backend``; ``kwargs`` go to :class:`HFScorer` or :class:`VllmScorer`."""
    if backend == "hf":
        return HFScorer(model_dir, **kwargs)
    if backend == "vllm":
        return VllmScorer(model_dir, **kwargs)
    raise ConfigError(f"unknown scoring backend {backend!r}: expected 'hf' or 'vllm'")


__all__ = [
    "PROMPT_META_FILE",
    "HFScorer",
    "Scorer",
    "VllmScorer",
    "check_yes_no_for_vllm",
    "decoder_body",
    "gather_last_token",
    "head_logits",
    "label_logprobs",
    "make_scorer",
    "p_yes_from_logprobs",
    "pad_right",
    "read_prompt_meta",
    "resolve_device",
    "resolve_dtype",
    "supports_bf16",
    "two_way_p_yes",
    "vllm_sampling_kwargs",
    "write_prompt_meta",
]
