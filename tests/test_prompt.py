"""Prompt text, label tokens and tokenization. In-memory tokenizers, no network."""

from __future__ import annotations

import pandas as pd
import pytest
from tiny_lm import build_tokenizer

from relevance.errors import ConfigError, DataError
from relevance.languages import language_name
from relevance.model.prompt import (
    PROMPT_VERSION,
    PROMPT_VERSIONS,
    RESPONSE_MARKER,
    build_prompt,
    encode_rows,
    resolve_label_tokens,
    special_prefix_ids,
    template_of,
)
from relevance.schema import TASKS


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def _rows(**overrides) -> pd.DataFrame:
    row = {"id": 1, "language": "vn", "lang": "vi", "query": "giày chạy bộ", "candidate": "shoes"}
    row.update(overrides)
    return pd.DataFrame([row])


@pytest.mark.parametrize(
    ("task", "label_line"), [("qc", "Category path: "), ("qi", "Item title: ")]
)
def test_prompt_holds_language_query_and_candidate(task: str, label_line: str) -> None:
    prompt = build_prompt(
        TASKS[task], language="vn", query="giày chạy bộ", candidate="sports,running shoes"
    )
    assert "Language: Vietnamese\n" in prompt
    assert "Query: giày chạy bộ\n" in prompt
    assert label_line + "sports,running shoes" in prompt
    assert f"relevant to the {TASKS[task].candidate_label}?" in prompt
    # The answer token follows the marker directly.
    assert prompt.endswith(RESPONSE_MARKER)
    assert PROMPT_VERSION


@pytest.mark.parametrize("task", ["qc", "qi"])
def test_compact_prompt_asks_the_same_without_the_preamble(task: str, tokenizer) -> None:
    fields = {"language": "vn", "query": "giày chạy bộ", "candidate": "sports,running shoes"}
    alpaca = build_prompt(TASKS[task], **fields)
    compact = build_prompt(TASKS[task], **fields, template="compact")
    assert alpaca == build_prompt(TASKS[task], **fields, template="alpaca")  # the default
    assert alpaca.startswith("Below is an instruction") and "Below" not in compact
    for line in ("Language: Vietnamese\n", "Query: giày chạy bộ\n", "sports,running shoes"):
        assert line in compact
    assert compact.endswith(RESPONSE_MARKER)
    (ids,) = encode_rows(tokenizer, TASKS[task], _rows(), max_length=256, template="compact")
    (long_ids,) = encode_rows(tokenizer, TASKS[task], _rows(), max_length=256)
    assert len(ids) < 0.7 * len(long_ids)
    with pytest.raises(ConfigError, match="expected one of"):
        build_prompt(TASKS[task], **fields, template="chatml")


def test_each_template_has_its_own_version() -> None:
    assert PROMPT_VERSION == PROMPT_VERSIONS["alpaca"] != PROMPT_VERSIONS["compact"]
    assert template_of(PROMPT_VERSIONS["compact"]) == "compact"
    with pytest.raises(ConfigError, match=r"model.json: .*'alpaca-yn-v0'.*retrain"):
        template_of("alpaca-yn-v0", where="model.json")


def test_language_name_reads_codes_as_given() -> None:
    assert language_name("vn") == "Vietnamese"
    assert language_name("JA") == "Japanese"
    assert language_name("xx") == "xx"  # unknown codes are shown as given


def test_encode_rows_prefers_iso_lang(tokenizer) -> None:
    (ids,) = encode_rows(
        tokenizer, TASKS["qi"], _rows(lang="de", language="german?"), max_length=256
    )
    prompt = build_prompt(TASKS["qi"], language="de", query="giày chạy bộ", candidate="shoes")
    assert "Language: German\n" in prompt
    assert ids == tokenizer(prompt)["input_ids"]


def test_label_tokens_are_single_tokens_after_the_marker(tokenizer) -> None:
    labels = resolve_label_tokens(tokenizer)
    assert (labels.yes_text, labels.no_text) == (" yes", " no")
    assert labels.yes_id != labels.no_id
    prompt = build_prompt(TASKS["qc"], language="en", query="shoes", candidate="shoes")
    base = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    for text, token_id in ((" yes", labels.yes_id), (" no", labels.no_id)):
        ids = tokenizer(prompt + text, add_special_tokens=False)["input_ids"]
        assert ids == [*base, token_id]


def test_label_tokens_fall_back_to_the_next_spelling(tokenizer) -> None:
    labels = resolve_label_tokens(tokenizer, spellings=((" YES!", " NO!"), (" yes", " no")))
    assert labels.yes_text == " yes"


def test_label_tokens_missing_raise_with_what_they_encoded_to() -> None:
    tokenizer = build_tokenizer(include_label_words=False)
    with pytest.raises(ConfigError) as err:
        resolve_label_tokens(tokenizer)
    message = str(err.value)
    assert "expected one token each" in message
    assert "' yes' -> [" in message and "'no' -> [" in message


def test_encode_rows_starts_with_bos(tokenizer) -> None:
    (ids,) = encode_rows(tokenizer, TASKS["qc"], _rows(), max_length=256)
    assert special_prefix_ids(tokenizer) == [tokenizer.bos_token_id]
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    prompt = build_prompt(TASKS["qc"], language="vi", query="giày chạy bộ", candidate="shoes")
    assert ids == tokenizer(prompt)["input_ids"]  # the tokenizer's own <bos> encoding


def test_encode_rows_truncates_the_candidate_and_keeps_the_marker(tokenizer) -> None:
    long_title = " ".join(["aluminium laptop stand"] * 60)
    rows = _rows(candidate=long_title)
    (full,) = encode_rows(tokenizer, TASKS["qi"], rows, max_length=1024)
    (cut,) = encode_rows(tokenizer, TASKS["qi"], rows, max_length=64)
    assert len(full) > 64 and len(cut) == 64
    assert cut[0] == tokenizer.bos_token_id
    # The marker tokens end both prompts; the query survives the cut.
    marker_len = len(tokenizer("\n\n" + RESPONSE_MARKER, add_special_tokens=False)["input_ids"])
    assert cut[-marker_len:] == full[-marker_len:]
    text = tokenizer.decode(cut)
    assert "Query: giày chạy bộ" in text and text.endswith(RESPONSE_MARKER)


def test_encode_rows_rejects_a_max_length_without_room(tokenizer) -> None:
    with pytest.raises(ConfigError, match="max_length 10"):
        encode_rows(tokenizer, TASKS["qc"], _rows(), max_length=10)


def test_encode_rows_names_missing_columns(tokenizer) -> None:
    with pytest.raises(DataError, match=r"lack columns \['candidate'\]"):
        encode_rows(tokenizer, TASKS["qc"], _rows().drop(columns="candidate"), max_length=64)
    with pytest.raises(DataError, match="have no 'query'"):
        encode_rows(tokenizer, TASKS["qc"], _rows(query=None), max_length=64)
