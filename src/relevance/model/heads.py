"""The answer position, shared by training and scoring: p(yes) math, the tensor
helpers that find the last prompt token and apply the two label rows of the head, the
two kinds of head a model can answer with (:data:`HEADS`, and :func:`load_head_model`
that builds either), and the prompt metadata written beside a trained model.

Kept apart from :mod:`relevance.model.scoring` so that a change to a scoring backend does not
change what training depends on (and DVC does not retrain for it).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from relevance.errors import ConfigError, RelevanceError
from relevance.model.prompt import (
    DEFAULT_TEMPLATE,
    PROMPT_VERSIONS,
    LabelTokens,
    PromptTemplate,
    template_of,
)
from relevance.modelfolder import check_safetensors
from relevance.schema import Task

# Written by training beside an adapter or merged model; checked by the scorers.
PROMPT_META_FILE = "relevance_prompt.json"

# How a model turns the last prompt token's hidden state into p(yes):
# - "yes_no": the causal LM's own head; p(yes) = softmax over the " yes"/" no" logits.
# - "seq_cls": a new 2-way linear head (``*ForSequenceClassification``'s ``score``,
#   class 0 = "no", class 1 = "yes") on the same decoder body; p(yes) = softmax[:, 1].
HEADS = ("yes_no", "seq_cls")

# Class order of the seq_cls head (label 1 = relevant, as in the data).
SEQ_CLS_ID2LABEL = {0: "no", 1: "yes"}


# --------------------------------------------------------------------------- math


def two_way_p_yes(yes_logit: Any, no_logit: Any) -> np.ndarray:
    """p(yes) = softmax([yes, no])[0] = sigmoid(yes - no), computed without overflow.

    Args:
        yes_logit, no_logit: scalars or arrays of the same shape (any float dtype).

    Returns:
        float64 array of that shape, values in [0, 1]. ``-inf`` for one side gives
        exactly 0 or 1.

    Raises:
        RelevanceError: a pair has no defined answer (NaN, or both ``-inf``).
    """
    with np.errstate(invalid="ignore"):  # -inf - -inf is reported just below
        diff = np.asarray(yes_logit, dtype=np.float64) - np.asarray(no_logit, dtype=np.float64)
    if np.isnan(diff).any():
        raise RelevanceError(
            f"{int(np.isnan(diff).sum())} yes/no logit pairs give no probability "
            "(NaN, or both -inf): check the model's output"
        )
    # exp of a non-positive number never overflows: sigmoid(d) = 1/(1+e^-d) for d >= 0,
    # e^d/(1+e^d) for d < 0.
    with np.errstate(under="ignore"):  # exp(-2000) = 0 is the right answer
        e = np.exp(-np.abs(diff))
    return np.where(diff >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def p_yes_from_logprobs(lp_yes: Any, lp_no: Any) -> np.ndarray:
    """p(yes) from the log-probabilities of the two label tokens.

    Log-probabilities differ from logits by one constant per row (the log of the
    softmax normaliser, over the whole vocabulary or over the two allowed tokens), and
    the two-way softmax cancels it, so this equals :func:`two_way_p_yes` on the logits.
    """
    return two_way_p_yes(lp_yes, lp_no)


# ---------------------------------------------------------------- tensor helpers


def pad_right(
    sequences: Sequence[Sequence[int]], *, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists into a batch.

    Right padding keeps every real token at positions ``0..n-1``, exactly as in an
    unpadded forward pass, so the default position ids are right and no real query
    row ever sees only masked keys (left padding gives padded rows that attend to
    nothing, whose NaN-prone softmax then sits in the backward pass).

    Returns:
        ``input_ids`` [B, T] int64 and ``attention_mask`` [B, T] int64, T = longest.
    """
    if not sequences:
        raise ValueError("pad_right needs at least one sequence")
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, seq in enumerate(sequences):
        input_ids[i, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        attention_mask[i, : len(seq)] = 1
    return input_ids, attention_mask


# A shared prefix shorter than this is not worth the cache copies.
MIN_SHARED_PREFIX = 8


def shared_prefix_length(rows: list[list[int]], *, window: int | None = None) -> int:
    """Tokens every row starts with, stopping one short of the shortest row (every row
    keeps its answer position past the prefix); 0 when under :data:`MIN_SHARED_PREFIX`
    or when a row is longer than a sliding attention ``window`` (its layers would crop a
    cached prefix).

    The Alpaca preamble is ~54 of a ~82-token prompt: scoring and training compute it
    once per batch instead of once per row.
    """
    if not rows or (window is not None and max(len(r) for r in rows) > window):
        return 0
    first = rows[0]
    length = min(len(r) for r in rows) - 1
    for ids in rows:
        k = 0
        while k < length and ids[k] == first[k]:
            k += 1
        length = k
    return length if length >= MIN_SHARED_PREFIX else 0


def gather_last_token(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Hidden state of each row's last real token under right padding.

    Args:
        hidden: [B, T, H] final (normed) hidden states.
        attention_mask: [B, T], 1 on real tokens, which come first.

    Returns:
        [B, H]: ``hidden[b, attention_mask[b].sum() - 1]``.
    """
    last = attention_mask.sum(dim=1) - 1  # [B]
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last.to(hidden.device)]


def head_logits(
    hidden_last: torch.Tensor,
    head_weight: torch.Tensor,
    *,
    token_ids: Sequence[int] | None = None,
    softcap: float | None = None,
) -> torch.Tensor:
    """Logits at the answer position from the ``lm_head`` weight.

    Args:
        hidden_last: [B, H] hidden state of the last prompt token.
        head_weight: [V, H] ``lm_head.weight`` (tied to the embeddings in Gemma).
        token_ids: rows of the head to use, e.g. ``(yes_id, no_id)``: then only those
            K rows are multiplied, [B, H] x [H, K]. None uses all V rows.
        softcap: ``config.final_logit_softcapping``: logits -> cap * tanh(logits / cap),
            as the model's own forward does.

    Returns:
        [B, K] (or [B, V]) logits in the dtype of the matmul.
    """
    weight = head_weight if token_ids is None else head_weight[list(token_ids)]
    logits = torch.nn.functional.linear(hidden_last, weight)
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    return logits


def decoder_body(model: torch.nn.Module) -> torch.nn.Module:
    """The transformer body of a ``*ForCausalLM`` or ``*ForSequenceClassification``
    (``model.model``): everything but ``lm_head`` / ``score``."""
    body = getattr(model, "base_model", model)
    if body is model:
        raise ConfigError(
            f"cannot find the decoder body of {type(model).__name__}: expected a transformers "
            "*ForCausalLM with a base_model_prefix"
        )
    return body


def check_head(head: str) -> str:
    """``head`` if it is one of :data:`HEADS`, else ConfigError."""
    if head not in HEADS:
        raise ConfigError(f"unknown head {head!r}: expected one of {list(HEADS)}")
    return head


@contextmanager
def peft_wrapping() -> Iterator[None]:
    """Around peft's model wrapping: peft 0.21 reads ``is_gradient_checkpointing``, which
    transformers 5.24 deprecates with a FutureWarning on every call. Nothing for a user
    to act on, so that one warning (only) is silenced here."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning
        )
        yield


def load_head_model(
    model_dir: str | Path,
    *,
    head: str,
    dtype: torch.dtype,
    pad_token_id: int | None = None,
    **kwargs: Any,
) -> torch.nn.Module:
    """The model for ``head``, loaded from ``model_dir`` (a base LM or a trained folder).

    ``yes_no``: ``AutoModelForCausalLM``. ``seq_cls``: ``AutoModelForSequenceClassification``
    with 2 labels (:data:`SEQ_CLS_ID2LABEL`); on a causal-LM folder transformers maps the
    config to its classification class (gemma-3-270m, ``gemma3_text``:
    ``Gemma3TextForSequenceClassification``), loads the decoder body and draws a fresh
    ``score`` [2, H] head (seeded by the caller's RNG). Its own forward pools the rightmost
    token that is not ``pad_token_id``, so that is set: with right padding it is the last
    prompt token, the same position :func:`gather_last_token` finds from the mask.

    Safetensors only: a local folder without ``*.safetensors`` weights is a ConfigError
    (pickled weights can run code), and transformers is told never to read pickles.
    """
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    check_head(head)
    if Path(model_dir).is_dir():
        check_safetensors(Path(model_dir), label="model")
    kwargs = {**kwargs, "use_safetensors": True}
    if head == "yes_no":
        return AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, **kwargs)
    if pad_token_id is None:
        raise ConfigError(
            f"{model_dir}: a seq_cls head pools the last non-padding token and needs a "
            "pad token id: the tokenizer has neither a pad nor an eos token"
        )
    return AutoModelForSequenceClassification.from_pretrained(
        model_dir,
        dtype=dtype,
        num_labels=2,
        id2label=dict(SEQ_CLS_ID2LABEL),
        label2id={v: k for k, v in SEQ_CLS_ID2LABEL.items()},
        pad_token_id=pad_token_id,
        **kwargs,
    )


def answer_rows(model: torch.nn.Module, *, head: str, labels: LabelTokens | None) -> torch.Tensor:
    """The [2, H] weight rows that give the (yes, no) logits from the last hidden state.

    ``yes_no``: the ``lm_head`` rows of the two label tokens. ``seq_cls``: the ``score``
    rows in (yes, no) = (class 1, class 0) order, so softmax over them is p(yes) either way.
    """
    if check_head(head) == "yes_no":
        if labels is None:
            raise ConfigError("a yes_no head needs the label tokens")
        return model.get_output_embeddings().weight[list(labels.ids)].detach().clone()
    score = getattr(model, "score", None)
    if not isinstance(score, torch.nn.Linear) or score.out_features != 2 or score.bias is not None:
        raise ConfigError(
            f"{type(model).__name__} has no 2-way bias-free `score` head: expected a "
            "*ForSequenceClassification with num_labels 2"
        )
    return score.weight[[1, 0]].detach().clone()


# ---------------------------------------------------------------- prompt meta


def write_prompt_meta(
    folder: Path,
    *,
    task: Task,
    labels: LabelTokens | None,
    head: str = "yes_no",
    template: str = DEFAULT_TEMPLATE,
    extra: dict[str, Any] | None = None,
) -> None:
    """Record the prompt version (of ``template``), task, head and label tokens a model
    was trained with.

    ``labels`` is None for a ``seq_cls`` head, which does not read the label tokens.
    ``extra``: more JSON-able facts (training writes ``base_model_fingerprint``, which
    :func:`relevance.model.checkpoints.check_init_adapter` checks on an init adapter).
    """
    meta = {
        "prompt_version": PROMPT_VERSIONS[template],
        "task": task.name,
        "head": check_head(head),
        "label_tokens": labels.to_dict() if labels is not None else None,
        **(extra or {}),
    }
    (Path(folder) / PROMPT_META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def read_prompt_meta(folder: Path | None) -> dict[str, Any] | None:
    """The meta of :func:`write_prompt_meta`, or None (a base model has none)."""
    if folder is None or not (Path(folder) / PROMPT_META_FILE).is_file():
        return None
    path = Path(folder) / PROMPT_META_FILE
    meta = json.loads(path.read_text())
    template_of(str(meta.get("prompt_version")), where=path)  # a version this code builds
    return meta


def prompt_template(meta: dict[str, Any] | None) -> PromptTemplate:
    """The template a model was trained on (its meta's prompt version); a base model
    without meta is prompted with the default (the paper's) template."""
    if meta is None:
        return DEFAULT_TEMPLATE
    return template_of(str(meta.get("prompt_version")))


def model_head(folder: Path) -> str:
    """The head a model folder answers with: its prompt meta's ``head``; without one
    (meta written before heads existed, or none at all), ``seq_cls`` if its config names
    a ``*ForSequenceClassification`` architecture (or, for an adapter, its
    ``adapter_config.json`` says ``SEQ_CLS``), else ``yes_no``."""
    folder = Path(folder)
    meta = read_prompt_meta(folder)
    if meta is not None and meta.get("head") is not None:
        return check_head(meta["head"])
    config_file, adapter_file = folder / "config.json", folder / "adapter_config.json"
    if config_file.is_file():
        names = json.loads(config_file.read_text()).get("architectures") or []
        if any(str(n).endswith("ForSequenceClassification") for n in names):
            return "seq_cls"
    if adapter_file.is_file() and json.loads(adapter_file.read_text()).get("task_type") == (
        "SEQ_CLS"
    ):
        return "seq_cls"
    return "yes_no"


def _check_meta(
    meta: dict[str, Any] | None, *, task: Task, labels: LabelTokens | None, where: Path
) -> None:
    if meta is None:
        return
    if meta.get("task") != task.name:
        raise ConfigError(
            f"{where}: the model was trained for task {meta.get('task')!r}, "
            f"asked to score {task.name!r}"
        )
    if meta.get("head", "yes_no") == "seq_cls":
        return  # the label tokens play no part in a seq_cls head
    if labels is None or meta.get("label_tokens") != labels.to_dict():
        raise ConfigError(
            f"{where}: the model was trained with label tokens {meta.get('label_tokens')}, "
            f"the tokenizer now gives {labels.to_dict() if labels is not None else None}"
        )
