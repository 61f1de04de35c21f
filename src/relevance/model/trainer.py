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

Kept apart from :mod:`relevance.model.train` (the recipe and the run) because this is
what one optimizer step computes; both are in the training code fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from relevance.errors import DataError
from relevance.model.heads import gather_last_token, head_logits, pad_right, shared_prefix_length
from relevance.model.prompt import LabelTokens


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
            per step breaks its bookkeeping) or activation checkpointing (no cache) the
            whole prompt runs per row.
            """
            no_logits = torch.empty(0, dtype=torch.long, device=mask.device)
            lengths = mask.sum(dim=1).tolist()
            window = getattr(unwrapped.config, "sliding_window", None)
            shared = 0
            checkpointing = getattr(self.args, "activation_checkpointing", None) or getattr(
                self.args, "gradient_checkpointing", False
            )
            if self.share_prefix and self.accelerator.num_processes == 1 and not checkpointing:
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
            if dtype is None or weight.requires_grad or weight.dtype == dtype:
                return weight
            cached = getattr(self, "_head_cache", None)
            if cached is None or cached.dtype != dtype or cached.device != weight.device:
                cached = weight.detach().to(dtype)
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
