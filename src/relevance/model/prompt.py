"""The prompt the LLM answers "yes" or "no" to, and its tokenization.

Two templates, one wording per task: ``alpaca`` (the paper's: the Alpaca preamble,
instruction and input sections) and ``compact`` (the question and the input only, about
a third of the tokens: no preamble shared by every row). Both end with ``### Response:``
and the answer token follows directly, so the model's next-token distribution at the
last prompt position is the classifier: p(yes) = softmax over the yes/no logits there.

Training (``relevance.model.train``) and every scoring backend (``relevance.model.scoring``) build
token ids with :func:`encode_rows`, so what the model was trained on and what it is
scored on can not drift apart. Bump a template's entry in :data:`PROMPT_VERSIONS`
whenever its text or tokenization changes: adapters record the version they were
trained on, scorers build that template and refuse a version this code does not build.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pandas as pd

from relevance.errors import ConfigError, DataError
from relevance.languages import language_name
from relevance.schema import Task

logger = logging.getLogger(__name__)

# train.<task>.prompt -> the version a model folder records (heads.write_prompt_meta).
PROMPT_VERSIONS = {"alpaca": "alpaca-yn-v1", "compact": "compact-yn-v1"}
PromptTemplate = Literal["alpaca", "compact"]
DEFAULT_TEMPLATE: PromptTemplate = "alpaca"  # the paper's
PROMPT_VERSION = PROMPT_VERSIONS[DEFAULT_TEMPLATE]

RESPONSE_MARKER = "### Response:"

_PREAMBLE = (
    "Below is an instruction that describes a task, paired with an input that provides "
    "further context. Write a response that appropriately completes the request."
)

# How the yes/no answer may be spelled after the marker, in order of preference. With
# " yes" the prompt reads naturally ("### Response: yes"); tokenizers without a
# single-token " yes" may still have "yes".
LABEL_SPELLINGS: tuple[tuple[str, str], ...] = ((" yes", " no"), ("yes", "no"))

# Columns of the data rows this module reads.
ROW_COLUMNS = ("query", "candidate")


def template_of(version: str, *, where: object = "") -> PromptTemplate:
    """The template that builds prompt ``version`` (a model folder's record)."""
    for template, known in PROMPT_VERSIONS.items():
        if known == version:
            return template  # type: ignore[return-value]
    raise ConfigError(
        f"{where}: the model was trained with prompt version {version!r}, this code builds "
        f"{sorted(PROMPT_VERSIONS.values())}: retrain, or score with the matching code"
    )


def _head(
    task: Task, *, language: str, query: str, candidate: str, template: str = DEFAULT_TEMPLATE
) -> str:
    label = task.candidate_label
    field = f"{label[0].upper()}{label[1:]}"
    if template == "compact":
        return (
            f"Is the query relevant to the {label}? Answer yes or no.\n"
            f"Language: {language_name(language)}\n"
            f"Query: {query}\n"
            f"{field}: {candidate}"
        )
    if template != "alpaca":
        raise ConfigError(
            f"prompt template: expected one of {list(PROMPT_VERSIONS)}, got {template!r}"
        )
    return (
        f"{_PREAMBLE}\n\n"
        f"### Instruction:\n"
        f"Is the query relevant to the {label}? Answer yes or no.\n\n"
        f"### Input:\n"
        f"Language: {language_name(language)}\n"
        f"Query: {query}\n"
        f"{field}: {candidate}"
    )


# Everything after the candidate. Kept whole when a prompt is truncated.
_TAIL = f"\n\n{RESPONSE_MARKER}"


def build_prompt(
    task: Task, *, language: str, query: str, candidate: str, template: str = DEFAULT_TEMPLATE
) -> str:
    """The full prompt text for one row; the answer token follows it directly.

    ``language`` is a code as given (``"vn"``) or ISO (``"vi"``); the prompt shows its name.
    ``template``: ``alpaca`` (the paper's) or ``compact`` (see the module docstring).
    """
    head = _head(task, language=language, query=query, candidate=candidate, template=template)
    return head + _TAIL


@dataclass(frozen=True)
class LabelTokens:
    """The single tokens that spell the answers "yes" and "no" after the prompt."""

    yes_id: int
    no_id: int
    yes_text: str
    no_text: str

    @property
    def ids(self) -> tuple[int, int]:
        """``(yes_id, no_id)``: the order of the two-way logits everywhere."""
        return (self.yes_id, self.no_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def resolve_label_tokens(
    tokenizer: Any, *, spellings: Sequence[tuple[str, str]] = LABEL_SPELLINGS
) -> LabelTokens:
    """Find the yes/no spellings that are exactly one token each after the prompt.

    A spelling is checked in context: ``encode(marker + text)`` must be
    ``encode(marker)`` plus exactly one token, since that token is what the model
    predicts at the last prompt position (a SentencePiece tokenizer may encode "yes"
    alone differently from "yes" after the marker).

    Raises:
        ConfigError: no spelling in ``spellings`` gives one distinct token for each
            answer; the message lists what every spelling encoded to.
    """
    marker_ids = _encode(tokenizer, RESPONSE_MARKER)
    tried: list[str] = []
    for yes_text, no_text in spellings:
        found: dict[str, int] = {}
        for text in (yes_text, no_text):
            ids = _encode(tokenizer, RESPONSE_MARKER + text)
            extra = ids[len(marker_ids) :]
            if ids[: len(marker_ids)] == marker_ids and len(extra) == 1:
                found[text] = extra[0]
            else:
                pieces = tokenizer.convert_ids_to_tokens(extra)
                tried.append(f"{text!r} -> {extra} {pieces}")
        if len(found) == 2 and found[yes_text] != found[no_text]:
            return LabelTokens(found[yes_text], found[no_text], yes_text, no_text)
    raise ConfigError(
        "the tokenizer has no single-token spelling of the answers yes/no after "
        f"{RESPONSE_MARKER!r}: expected one token each, got "
        + "; ".join(tried)
        + f" (tokenizer {type(tokenizer).__name__}, vocabulary size {len(tokenizer)})"
    )


def special_prefix_ids(tokenizer: Any) -> list[int]:
    """Special tokens the tokenizer puts in front of a text (Gemma: ``[<bos>]``, Qwen: ``[]``).

    Found by encoding a probe with and without special tokens, so whatever the model's
    tokenizer is configured to prepend is used. Appended specials (an ``<eos>`` some
    tokenizers add) are not part of a prompt: the answer follows the prompt.
    """
    plain = _encode(tokenizer, "a")
    full = list(tokenizer("a", add_special_tokens=True)["input_ids"])
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start]
    raise ConfigError(
        f"cannot find the text tokens {plain} inside the tokenizer's output {full} for 'a'"
    )


def _check_rows(rows: pd.DataFrame) -> None:
    missing = [c for c in ROW_COLUMNS if c not in rows.columns]
    if "lang" not in rows.columns and "language" not in rows.columns:
        missing.append("lang (or language)")
    if missing:
        raise DataError(f"rows lack columns {missing}: got columns {list(rows.columns)}")
    for column in ROW_COLUMNS:
        bad = rows[column].isna()
        if bad.any():
            ids = rows.loc[bad, "id"].tolist()[:5] if "id" in rows.columns else []
            raise DataError(
                f"{int(bad.sum())} rows have no {column!r} (first ids: {ids}); "
                "clean or drop them before prompting"
            )


def encode_rows(
    tokenizer: Any,
    task: Task,
    rows: pd.DataFrame,
    *,
    max_length: int,
    template: str = DEFAULT_TEMPLATE,
) -> list[list[int]]:
    """Token ids of each row's ``template`` prompt, special prefix (``<bos>``) included,
    in row order.

    A prompt longer than ``max_length`` tokens loses tokens from the end of its head
    (the candidate, then the query) and keeps the ``### Response:`` tail whole, because
    the answer must follow the marker. Truncated prompts are counted in the log.

    Returns:
        ``len(rows)`` lists of ids, each of length ``<= max_length``.
    """
    _check_rows(rows)
    prefix = special_prefix_ids(tokenizer)
    generic_tail = _encode(tokenizer, _TAIL)
    budget = max_length - len(prefix) - len(generic_tail)
    if budget < 8:
        raise ConfigError(
            f"max_length {max_length} leaves {budget} tokens for the prompt text after the "
            f"special prefix ({len(prefix)}) and the response marker ({len(generic_tail)}): "
            "expected at least 8; raise max_length"
        )
    langs = rows["lang"] if "lang" in rows.columns else rows["language"]
    encoded: list[list[int]] = []
    truncated = 0
    for lang, query, candidate in zip(langs, rows["query"], rows["candidate"], strict=True):
        head = _head(
            task, language=str(lang), query=str(query), candidate=str(candidate),
            template=template,
        )  # fmt: skip
        ids = _encode(tokenizer, head + _TAIL)
        if len(prefix) + len(ids) > max_length:
            # Cut the head and keep the tail's tokens as they come in context (encoded
            # alone, a SentencePiece tail would gain a leading "▁"). Only over-long
            # prompts take this path, so the usual prompt is one joint encoding.
            head_ids = _encode(tokenizer, head)
            tail = ids[len(head_ids) :] if ids[: len(head_ids)] == head_ids else generic_tail
            ids = head_ids[: max_length - len(prefix) - len(tail)] + tail
            truncated += 1
        encoded.append(prefix + ids)
    if truncated:
        logger.info(
            "truncated %d of %d %s prompts to %d tokens",
            truncated,
            len(rows),
            task.name,
            max_length,
        )
    return encoded
