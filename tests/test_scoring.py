"""p(yes) math, tensor helpers and the HF scorer on a tiny model; vLLM where installed."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tiny_lm import build_tiny_lm, toy_rows
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from relevance.devices import supports_bf16
from relevance.errors import ConfigError, RelevanceError
from relevance.model.heads import PROMPT_META_FILE, load_head_model, model_head, write_prompt_meta
from relevance.model.prompt import LabelTokens, encode_rows, resolve_label_tokens
from relevance.model.scoring import (
    HFScorer,
    gather_last_token,
    head_logits,
    label_logprobs,
    make_scorer,
    p_yes_from_logprobs,
    pad_right,
    two_way_p_yes,
    vllm_sampling_kwargs,
)
from relevance.schema import TASKS

LABELS = LabelTokens(yes_id=7, no_id=3, yes_text=" yes", no_text=" no")


# Tiny models run one torch thread (see conftest.one_torch_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------- pure math


def test_two_way_p_yes_on_hand_values() -> None:
    yes = np.array([0.0, 2.0, -2.0, 1000.0, -1000.0, -math.inf, 5.0])
    no = np.array([0.0, 0.0, 0.0, -1000.0, 1000.0, 0.0, -math.inf])
    with np.errstate(over="raise", invalid="raise"):  # no overflow on the way
        p = two_way_p_yes(yes, no)
    sigmoid2 = 1 / (1 + math.exp(-2))
    np.testing.assert_allclose(p, [0.5, sigmoid2, 1 - sigmoid2, 1.0, 0.0, 0.0, 1.0], atol=1e-15)
    assert p.dtype == np.float64


def test_two_way_p_yes_refuses_undefined_pairs() -> None:
    with pytest.raises(RelevanceError, match="2 yes/no logit pairs"):
        two_way_p_yes([math.nan, -math.inf, 0.0], [0.0, -math.inf, 0.0])


def test_p_yes_from_logprobs_equals_softmax_of_the_logits() -> None:
    logits = torch.randn(5, 50, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 4
    # Full-vocabulary and two-token-renormalised log-probs give the same p(yes).
    full = torch.log_softmax(logits, dim=-1)
    two = torch.log_softmax(logits[:, [7, 3]], dim=-1)
    expected = torch.softmax(logits[:, [7, 3]], dim=-1)[:, 0].numpy()
    np.testing.assert_allclose(p_yes_from_logprobs(full[:, 7], full[:, 3]), expected, atol=1e-12)
    np.testing.assert_allclose(p_yes_from_logprobs(two[:, 0], two[:, 1]), expected, atol=1e-12)
    np.testing.assert_allclose(two_way_p_yes(logits[:, 7], logits[:, 3]), expected, atol=1e-12)


def test_pad_right_and_gather_last_token() -> None:
    ids, mask = pad_right([[5, 6, 7], [8], [9, 10]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    hidden = torch.arange(3 * 3 * 2, dtype=torch.float32).reshape(3, 3, 2)  # [B, T, H]
    last = gather_last_token(hidden, mask)
    assert last.tolist() == [hidden[0, 2].tolist(), hidden[1, 0].tolist(), hidden[2, 1].tolist()]


def test_head_logits_uses_only_the_requested_rows_and_softcaps() -> None:
    hidden = torch.tensor([[1.0, 2.0]])
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [30.0, 30.0]])
    assert head_logits(hidden, weight).tolist() == [[1.0, 2.0, 90.0]]
    assert head_logits(hidden, weight, token_ids=(2, 0)).tolist() == [[90.0, 1.0]]
    capped = head_logits(hidden, weight, token_ids=(2, 0), softcap=30.0)
    torch.testing.assert_close(capped, 30.0 * torch.tanh(torch.tensor([[3.0, 1 / 30]])))


# ---------------------------------------------------------- vLLM, without vLLM


def test_label_logprobs_reads_vllm_logprob_objects() -> None:
    position = {7: SimpleNamespace(logprob=-0.1), 3: SimpleNamespace(logprob=-2.4), 11: -9.0}
    assert label_logprobs(position, LABELS) == (-0.1, -2.4)
    with pytest.raises(RelevanceError, match=r"label token ' no' \(id 3\)"):
        label_logprobs({7: -0.1}, LABELS)


def test_vllm_sampling_asks_one_token_among_the_labels_with_both_logprobs() -> None:
    kwargs = vllm_sampling_kwargs(LABELS)
    assert kwargs["max_tokens"] == 1
    assert kwargs["allowed_token_ids"] == [7, 3]
    assert kwargs["logprobs"] >= 2
    assert kwargs["temperature"] == 0.0


def test_make_scorer_rejects_unknown_backends(tiny_lm_dir) -> None:
    with pytest.raises(ConfigError, match="expected 'hf' or 'vllm'"):
        make_scorer("onnx", tiny_lm_dir)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_backend_without_vllm_says_how_to_install(tiny_lm_dir) -> None:
    with pytest.raises(ConfigError, match=r"pip install \.\[gpu\]"):
        make_scorer("vllm", tiny_lm_dir)


@pytest.mark.slow
def test_vllm_scorer_matches_hf(vllm_lm_dir) -> None:
    """vLLM for real (its CPU build in .venv-vllm here, CUDA on a GPU machine): the same
    p(yes) as the hf scorer, both in fp32, on the tiny LM."""
    pytest.importorskip("vllm")
    rows = toy_rows(12, seed=3)
    expected = HFScorer(vllm_lm_dir, dtype="float32", progress=False).score(TASKS["qc"], rows)
    got = make_scorer("vllm", vllm_lm_dir, dtype="float32", max_length=256, progress=False)
    np.testing.assert_allclose(got.score(TASKS["qc"], rows), expected, atol=1e-3)


# ------------------------------------------------------------- HF scorer


@pytest.fixture(scope="module")
def fp32_scorer(tiny_lm_dir) -> HFScorer:
    return HFScorer(tiny_lm_dir, batch_size=4, dtype="float32", progress=False)


def test_hf_scorer_equals_softmax_of_a_plain_full_forward(tiny_lm_dir, fp32_scorer) -> None:
    rows = toy_rows(10, seed=1)
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir, dtype=torch.float32).eval()
    assert model.config.final_logit_softcapping  # the tiny model exercises softcapping
    labels = resolve_label_tokens(tokenizer)
    expected = []
    with torch.no_grad():
        for ids in encode_rows(tokenizer, TASKS["qc"], rows, max_length=256):
            # One unpadded row, all logits at all positions: the reference.
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
            expected.append(torch.softmax(logits[list(labels.ids)], dim=-1)[0].item())
    got = fp32_scorer.score(TASKS["qc"], rows)
    assert got.shape == (10,)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.ptp(got) > 1e-3  # rows really differ, so order mix-ups would show


def test_hf_scorer_builds_the_template_the_model_folder_records(tiny_lm_dir, tmp_path) -> None:
    import shutil

    folder = shutil.copytree(tiny_lm_dir, tmp_path / "compact")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    labels = resolve_label_tokens(tokenizer)
    write_prompt_meta(folder, task=TASKS["qc"], labels=labels, template="compact")
    rows = toy_rows(6, seed=4)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    expected = []
    with torch.no_grad():
        for ids in encode_rows(tokenizer, TASKS["qc"], rows, max_length=256, template="compact"):
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
            expected.append(torch.softmax(logits[list(labels.ids)], dim=-1)[0].item())
    got = HFScorer(folder, dtype="float32", progress=False).score(TASKS["qc"], rows)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    alpaca = HFScorer(tiny_lm_dir, dtype="float32", progress=False).score(TASKS["qc"], rows)
    assert np.abs(got - alpaca).max() > 1e-4  # the template really differs
    meta = json.loads((folder / PROMPT_META_FILE).read_text())
    (folder / PROMPT_META_FILE).write_text(json.dumps({**meta, "prompt_version": "chat-v9"}))
    with pytest.raises(ConfigError, match=r"prompt version 'chat-v9'.*retrain"):
        HFScorer(folder, dtype="float32", progress=False)


def test_batch_size_and_row_order_do_not_change_scores(tiny_lm_dir, fp32_scorer) -> None:
    rows = toy_rows(13, seed=2)
    lengths = [
        len(x) for x in encode_rows(fp32_scorer.tokenizer, TASKS["qi"], rows, max_length=256)
    ]
    assert len(set(lengths)) > 2  # padding happens
    reference = fp32_scorer.score(TASKS["qi"], rows)
    for batch_size in (1, 5, 64):
        scorer = HFScorer(tiny_lm_dir, batch_size=batch_size, dtype="float32", progress=False)
        np.testing.assert_allclose(scorer.score(TASKS["qi"], rows), reference, atol=1e-5)
    # Output follows input order, whatever order the batches ran in.
    shuffled = rows.sample(frac=1.0, random_state=0)
    np.testing.assert_allclose(
        fp32_scorer.score(TASKS["qi"], shuffled),
        reference[shuffled.index.to_numpy()],
        atol=1e-5,
    )


@pytest.fixture(scope="module")
def wide_window_lm(tmp_path_factory) -> Path:
    """A tiny LM whose sliding window holds whole prompts: the prefix cache is used."""
    return build_tiny_lm(tmp_path_factory.mktemp("wide"), sliding_window=512)


def test_prefix_cache_gives_the_same_scores_as_full_prompts(wide_window_lm) -> None:
    rows = toy_rows(13, seed=3)
    cached = HFScorer(wide_window_lm, batch_size=4, dtype="float32", progress=False)
    encoded = encode_rows(cached.tokenizer, TASKS["qi"], rows, max_length=256)
    prefix_len, cache = cached._shared_prefix(encoded)
    assert prefix_len >= 8 and cache is not None  # the cached path really runs
    assert len(set(len(e) for e in encoded)) > 2  # and suffixes need padding
    full = HFScorer(wide_window_lm, batch_size=5, dtype="float32", progress=False,
                    prefix_cache=False)  # fmt: skip
    got = cached.score(TASKS["qi"], rows)
    np.testing.assert_allclose(got, full.score(TASKS["qi"], rows), atol=1e-5)
    assert np.ptp(got) > 1e-3


def test_prefix_cache_is_off_when_a_sliding_window_would_crop_it(fp32_scorer) -> None:
    encoded = encode_rows(fp32_scorer.tokenizer, TASKS["qc"], toy_rows(4), max_length=256)
    assert max(len(e) for e in encoded) > fp32_scorer.model.config.sliding_window
    assert fp32_scorer._shared_prefix(encoded) == (0, None)


@pytest.mark.skipif(not supports_bf16(torch.device("cpu")), reason="CPU without fast bf16")
def test_bf16_scorer_loads_bf16_weights_directly(tiny_lm_dir, fp32_scorer) -> None:
    rows = toy_rows(8, seed=4)
    scorer = HFScorer(tiny_lm_dir, dtype="auto", device="cpu", progress=False)
    assert scorer.dtype == torch.bfloat16
    assert next(scorer.model.parameters()).dtype == torch.bfloat16
    # A bf16 load keeps the RoPE frequencies in fp32 (a whole-model .to() would not).
    inv_freq = [b for n, b in scorer.model.named_buffers() if "inv_freq" in n]
    assert inv_freq and all(b.dtype == torch.float32 for b in inv_freq)
    np.testing.assert_allclose(
        scorer.score(TASKS["qc"], rows), fp32_scorer.score(TASKS["qc"], rows), atol=0.03
    )


# ------------------------------------------------------------- seq_cls head


def _seq_cls_folder(base: Path, folder: Path, *, meta: bool = True) -> Path:
    """``base`` as a 2-way *ForSequenceClassification with a fresh seeded head, saved
    with its tokenizer (and the prompt meta training writes)."""
    torch.manual_seed(3)
    model = load_head_model(base, head="seq_cls", dtype=torch.float32, pad_token_id=0)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)
    if meta:
        write_prompt_meta(folder, task=TASKS["qc"], labels=None, head="seq_cls")
    return folder


@pytest.mark.parametrize("window", ["short", "wide"])
def test_seq_cls_scorer_equals_softmax_of_the_models_own_logits(
    window, tiny_lm_dir, wide_window_lm, tmp_path
) -> None:
    """Short window: full prompts through the body; wide: the prefix-cache path."""
    folder = _seq_cls_folder(tiny_lm_dir if window == "short" else wide_window_lm, tmp_path)
    scorer = HFScorer(folder, batch_size=4, dtype="float32", progress=False)
    assert scorer.head == "seq_cls" and scorer.labels is None
    rows = toy_rows(10, seed=1)
    encoded = encode_rows(scorer.tokenizer, TASKS["qc"], rows, max_length=256)
    assert (scorer._shared_prefix(encoded)[1] is not None) == (window == "wide")
    model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        # The model's own forward, one unpadded row at a time: [1, 2] class logits.
        expected = [torch.softmax(model(input_ids=torch.tensor([ids])).logits[0], -1)[1].item()
                    for ids in encoded]  # fmt: skip
        # ... and padded in one batch: its pooling finds the last non-pad token.
        ids, mask = pad_right(encoded, pad_id=0)
        batched = torch.softmax(model(input_ids=ids, attention_mask=mask).logits, -1)[:, 1]
    got = scorer.score(TASKS["qc"], rows)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got, batched.numpy(), atol=1e-5)
    assert np.ptp(got) > 1e-3


def test_the_saved_head_picks_the_scorer(tiny_lm_dir, tmp_path) -> None:
    seq = _seq_cls_folder(tiny_lm_dir, tmp_path / "seq")
    assert model_head(seq) == "seq_cls" and model_head(tiny_lm_dir) == "yes_no"
    assert HFScorer(tiny_lm_dir, progress=False).head == "yes_no"
    # Without the meta the config's architecture still says it.
    (seq / PROMPT_META_FILE).unlink()
    assert model_head(seq) == "seq_cls"
    with pytest.raises(ConfigError, match="holds a 'seq_cls' model, asked to score it as 'yes_no'"):
        HFScorer(seq, head="yes_no", progress=False)
    with pytest.raises(ConfigError, match="holds a 'yes_no' model, asked to score it as 'seq_cls'"):
        HFScorer(tiny_lm_dir, head="seq_cls", progress=False)


def test_the_vllm_backend_refuses_a_seq_cls_model(tiny_lm_dir, tmp_path) -> None:
    seq = _seq_cls_folder(tiny_lm_dir, tmp_path)
    with pytest.raises(ConfigError, match=r"vllm backend scores yes_no heads only.*backend 'hf'"):
        make_scorer("vllm", seq)


# ------------------------------------------------------- vLLM: how it gets an adapter


@pytest.fixture(scope="module")
def random_adapter(tiny_lm_dir, tmp_path_factory) -> Path:
    """A yes/no LoRA adapter on the tiny LM with random (non-zero) A and B matrices."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    folder = tmp_path_factory.mktemp("adapter")
    get_peft_model(model, config).save_pretrained(folder)
    labels = resolve_label_tokens(AutoTokenizer.from_pretrained(tiny_lm_dir))
    write_prompt_meta(folder, task=TASKS["qc"], labels=labels)
    return folder


def test_merged_adapter_scores_like_base_plus_adapter(tiny_lm_dir, random_adapter, tmp_path):
    from relevance.model.scoring import merge_adapter

    merged = merge_adapter(tiny_lm_dir, random_adapter, tmp_path / "merged")
    assert json.loads((merged / "config.json").read_text())["dtype"] == "bfloat16"
    assert (merged / PROMPT_META_FILE).read_text() == (
        random_adapter / PROMPT_META_FILE
    ).read_text()
    rows = toy_rows(24, seed=5)
    kwargs = {"dtype": "float32", "batch_size": 8, "progress": False}
    in_memory = HFScorer(tiny_lm_dir, adapter_dir=random_adapter, **kwargs).score(TASKS["qc"], rows)
    saved = HFScorer(merged, **kwargs).score(TASKS["qc"], rows)
    base = HFScorer(tiny_lm_dir, **kwargs).score(TASKS["qc"], rows)
    assert np.abs(in_memory - base).max() > 0.05  # the adapter moves the scores
    # The saved folder is rounded to bf16 once: bf16 rounding, nothing else.
    assert np.abs(saved - in_memory).max() < 0.02


class _RecordingVllm:
    """Stands in for the vllm package: records the engine arguments, loads nothing."""

    def __init__(self) -> None:
        self.engines: list[dict] = []
        self.LLM = lambda **kwargs: self.engines.append(kwargs)
        self.SamplingParams = lambda **kwargs: kwargs


@pytest.mark.parametrize(
    ("mode", "cuda", "served"),
    [("merge", False, "merged"), ("lora", False, "lora"), ("auto", False, "merged"),
     ("auto", True, "lora")],
)  # fmt: skip
def test_vllm_gets_the_adapter_merged_on_cpus_and_as_lora_on_gpus(
    tiny_lm_dir, random_adapter, monkeypatch, mode: str, cuda: bool, served: str
) -> None:
    import sys

    from relevance.model import scoring

    fake = _RecordingVllm()
    monkeypatch.setattr(scoring, "_import_vllm", lambda: fake)
    monkeypatch.setitem(
        sys.modules, "vllm.lora.request", SimpleNamespace(LoRARequest=lambda *args: args)
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    scorer = scoring.VllmScorer(tiny_lm_dir, adapter_dir=random_adapter, adapter_mode=mode)
    engine = fake.engines[0]
    # On CPUs the KV cache is sized (gpu_memory_utilization would reserve 90% of RAM).
    assert engine.get("kv_cache_memory_bytes") == (None if cuda else 2 * 1024**3)
    if served == "merged":
        assert "enable_lora" not in engine and scorer.adapter_dir is None
        merged = Path(engine["model"])
        assert merged.is_dir() and (merged / "model.safetensors").is_file()
        assert (merged / PROMPT_META_FILE).is_file()
        del scorer  # the scratch folder goes with the scorer
        assert not merged.exists()
    else:
        assert engine["enable_lora"] is True and engine["model"] == str(tiny_lm_dir)
        assert engine["max_lora_rank"] == 8  # a power of two >= the rank (4), at least 8


def test_vllm_adapter_mode_is_checked() -> None:
    from relevance.model.predict import PredictParams

    with pytest.raises(ConfigError, match=r"vllm_adapter: expected one of \['auto'"):
        PredictParams(vllm_adapter="merged")
