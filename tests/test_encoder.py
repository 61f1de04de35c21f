"""The encoder backbone (relevance.model.encoder) on a tiny random BERT: family
detection, the loss, full and LoRA fine-tuning, scoring, distillation targets."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from sklearn.metrics import roc_auc_score
from tiny_lm import build_tiny_bert, toy_rows

from relevance.errors import ConfigError, DataError
from relevance.model.encoder import (
    ENCODER_META_FILE,
    EncoderScorer,
    EncoderTrainParams,
    encode_pairs,
    freeze_lower_layers,
    load_encoder,
    model_family,
    soft_cross_entropy,
    train_encoder,
)
from relevance.schema import TASKS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = {"learning_rate": 3e-3, "epochs": 20, "per_device_batch_size": 16, "max_length": 48,
        "warmup_ratio": 0.0, "bf16": False, "seed": 3}  # fmt: skip


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("bert"))


def _train(bert_dir: Path, out: Path, rows=None, targets: str = "label", **overrides):
    return train_encoder(
        model_dir=bert_dir, task=TASKS["qc"], rows=toy_rows(96) if rows is None else rows,
        config=EncoderTrainParams(**{**FAST, **overrides}), out_dir=out, progress=False,
        targets=targets,
    )  # fmt: skip


@pytest.fixture(scope="module")
def full(bert_dir, tmp_path_factory):
    return _train(bert_dir, tmp_path_factory.mktemp("full"))


def test_the_family_follows_the_config(tiny_lm_dir, bert_dir, tmp_path) -> None:
    assert model_family(tiny_lm_dir) == "causal_lm"
    assert model_family(bert_dir) == "encoder"
    t5 = tmp_path / "t5"
    t5.mkdir()
    (t5 / "config.json").write_text(
        json.dumps({"architectures": ["T5ForConditionalGeneration"], "is_encoder_decoder": True})
    )
    with pytest.raises(ConfigError, match="neither a causal LM"):
        model_family(t5)
    qwen = tmp_path / "qwen"
    qwen.mkdir()
    (qwen / "config.json").write_text(
        json.dumps({"architectures": ["Qwen2Model"], "model_type": "qwen2"})
    )
    with pytest.raises(ConfigError, match="neither a causal LM"):
        model_family(qwen)  # a decoder saved without its LM head is no encoder
    with pytest.raises(ConfigError, match=r"no config\.json"):
        model_family(tmp_path)


def test_soft_cross_entropy_is_cross_entropy_on_hard_labels_and_hand_values() -> None:
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.5], [-0.4, 0.4]])
    hard = torch.tensor([1, 0, 1])
    expected = torch.nn.functional.cross_entropy(logits, hard)
    assert torch.allclose(soft_cross_entropy(logits, hard.float()), expected)
    # One row, p(yes) target 0.25: -(0.25 log q1 + 0.75 log q0), q = softmax([0, ln 3]).
    got = soft_cross_entropy(torch.tensor([[0.0, float(np.log(3.0))]]), torch.tensor([0.25]))
    assert got.item() == pytest.approx(-(0.25 * np.log(0.75) + 0.75 * np.log(0.25)))


def test_pairs_are_prefixed_and_truncated(bert_dir) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bert_dir)
    rows = pd.DataFrame({"query": ["red shoes " * 40], "candidate": ["phone"]})
    (pair,) = encode_pairs(tokenizer, rows, max_length=20, prefixes=True)
    assert len(pair["input_ids"]) == 20
    text = tokenizer.decode(pair["input_ids"])
    assert "query" in text and "passage" in text and "phone" in text
    with pytest.raises(DataError, match="lack columns"):
        encode_pairs(tokenizer, rows.drop(columns="candidate"), max_length=20, prefixes=True)


def test_full_fine_tuning_learns_and_keeps_frozen_word_embeddings(bert_dir, full) -> None:
    summary = full.summary
    assert summary["final_loss"] < 0.5 * summary["first_loss"]
    rows = toy_rows(200, seed=9)
    p = EncoderScorer(full.model_dir, dtype="float32", progress=False).score(TASKS["qc"], rows)
    assert roc_auc_score(rows["label"], p) > 0.95
    before = load_file(bert_dir / "model.safetensors")
    after = load_file(full.model_dir / "model.safetensors")
    embeddings = next(k for k in before if k.endswith("word_embeddings.weight"))
    assert torch.equal(before[embeddings], after["bert." + embeddings])
    changed = [
        k for k in before if k != embeddings and not torch.equal(before[k], after["bert." + k])
    ]
    assert len(changed) > 10  # the rest of the encoder trained
    assert json.loads((full.model_dir / ENCODER_META_FILE).read_text())["method"] == "full"


def test_frozen_lower_layers_stay_as_they_were_and_the_rest_trains(bert_dir, tmp_path) -> None:
    """freeze_layers=1 of the tiny BERT's 2: the embedding block (word, position, type
    embeddings and their norm) and layer 0 come out bit-identical; layer 1 and the head
    train, and the model still learns the toy task."""
    result = _train(bert_dir, tmp_path / "frozen", freeze_layers=1)
    before = load_file(bert_dir / "model.safetensors")
    after = load_file(tmp_path / "frozen" / "model.safetensors")
    frozen = [k for k in before if k.startswith(("embeddings.", "encoder.layer.0."))]
    trained = [k for k in before if k.startswith("encoder.layer.1.")]
    assert len(frozen) > 10 and len(trained) > 10
    assert all(torch.equal(before[k], after["bert." + k]) for k in frozen)
    assert all(not torch.equal(before[k], after["bert." + k]) for k in trained)
    assert result.summary["frozen_layers"] == 1
    full_run = _train(bert_dir, tmp_path / "unfrozen", max_steps=1)
    assert result.summary["trainable_params"] < full_run.summary["trainable_params"]
    rows = toy_rows(200, seed=9)
    scorer = EncoderScorer(tmp_path / "frozen", dtype="float32", progress=False)
    assert roc_auc_score(rows["label"], scorer.score(TASKS["qc"], rows)) > 0.9


def test_freeze_layers_is_checked(bert_dir, tmp_path) -> None:
    with pytest.raises(ConfigError, match="the model has 2 transformer layers"):
        _train(bert_dir, tmp_path / "too-many", freeze_layers=3, max_steps=1)
    with pytest.raises(ConfigError, match="applies to full fine-tuning"):
        EncoderTrainParams(method="lora", freeze_layers=2)
    with pytest.raises(ConfigError, match="freeze_layers must be >= 0"):
        EncoderTrainParams(freeze_layers=-1)
    no_stack = SimpleNamespace(base_model=torch.nn.Linear(2, 2))  # no embeddings, no layers
    with pytest.raises(ConfigError, match="expected an encoder with an embeddings block"):
        freeze_lower_layers(no_stack, 1)


def test_a_causal_lm_refuses_freeze_layers(tiny_lm_dir, tmp_path) -> None:
    from relevance.model.backbone import train_model
    from relevance.model.train import TrainParams

    with pytest.raises(ConfigError, match=r"train\.qc\.freeze_layers is 2: it is for encoder"):
        train_model(
            model_dir=tiny_lm_dir, task=TASKS["qc"], rows=toy_rows(16),
            config=TrainParams(freeze_layers=2, max_steps=1), out_dir=tmp_path / "lm",
            progress=False,
        )  # fmt: skip
    with pytest.raises(ConfigError, match="freeze_layers must be an integer >= 0"):
        TrainParams(freeze_layers=-1)


def test_lora_trains_adapter_and_head_and_not_the_base(bert_dir, tmp_path) -> None:
    base_bytes = (bert_dir / "model.safetensors").read_bytes()
    result = _train(bert_dir, tmp_path / "lora", method="lora", learning_rate=1e-2)
    assert result.summary["trainable_params"] < 0.5 * result.summary["total_params"]
    saved = load_file(tmp_path / "lora" / "adapter_model.safetensors")
    assert any("lora_A" in k for k in saved) and any("classifier" in k for k in saved)
    assert not any("word_embeddings" in k for k in saved)
    rows = toy_rows(200, seed=9)
    p = EncoderScorer(tmp_path / "lora", dtype="float32", progress=False).score(TASKS["qc"], rows)
    assert roc_auc_score(rows["label"], p) > 0.9
    # The base folder is untouched (its file is what the adapter is merged into).
    assert (bert_dir / "model.safetensors").read_bytes() == base_bytes


def test_scores_are_the_softmax_of_a_plain_forward_in_row_order(full) -> None:
    from transformers import AutoTokenizer

    rows = toy_rows(23, seed=4)
    got = EncoderScorer(full.model_dir, dtype="float32", batch_size=5, progress=False).score(
        TASKS["qc"], rows
    )
    tokenizer = AutoTokenizer.from_pretrained(full.model_dir)
    model = load_encoder(full.model_dir).eval()
    expected = []
    for pair in encode_pairs(tokenizer, rows, max_length=FAST["max_length"], prefixes=True):
        with torch.no_grad():
            logits = model(**{k: torch.tensor([v]) for k, v in pair.items()}).logits
        expected.append(torch.softmax(logits, dim=-1)[0, 1].item())
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_scorer_refuses_another_task(full) -> None:
    with pytest.raises(ConfigError, match="trained for qc"):
        EncoderScorer(full.model_dir, progress=False).score(TASKS["qi"], toy_rows(4))


def test_distillation_moves_the_student_toward_the_teacher(bert_dir, tmp_path) -> None:
    """Soft targets: a hand-made teacher, confident but not certain, with one mistake
    pattern (it calls "lamp" relevant); the student ends near its p(yes)."""
    rows = toy_rows(96, seed=2)
    teacher = np.where(rows["label"] == 1, 0.85, 0.2)
    teacher[rows["candidate"].to_numpy() == "lamp"] = 0.7
    rows = rows.assign(teacher_p_yes=teacher)
    result = _train(bert_dir, tmp_path / "student", rows=rows, targets="teacher_p_yes")
    assert result.summary["final_loss"] < result.summary["first_loss"]
    student = EncoderScorer(tmp_path / "student", dtype="float32", progress=False)
    p = student.score(TASKS["qc"], rows)
    assert np.abs(p - teacher).mean() < 0.1
    assert p[rows["candidate"].to_numpy() == "lamp"].mean() > 0.5  # learned the teacher's view


def test_targets_outside_0_1_and_no_rows_are_refused(bert_dir, tmp_path) -> None:
    rows = toy_rows(8).assign(label=[0, 1, 2, 0, 1, 0, 1, 0])
    with pytest.raises(DataError, match=r"expected numbers in \[0, 1\]"):
        _train(bert_dir, tmp_path / "bad", rows=rows)
    with pytest.raises(DataError, match="no rows"):
        _train(bert_dir, tmp_path / "none", rows=rows.head(0), max_steps=3)


def test_tapt_continues_from_the_other_tasks_encoder(bert_dir, tmp_path) -> None:
    """train_model on an encoder base: a full run publishes merged/; a second run with
    init_adapter starts from it (its head included) rather than from the base."""
    from relevance.model.backbone import tapt_init, train_model
    from relevance.model.train import TrainParams

    config = TrainParams(
        method="full", learning_rate=3e-3, epochs=10, per_device_batch_size=16, max_length=48,
        warmup_ratio=0.0, bf16=False, seed=3,
    )  # fmt: skip
    rows = toy_rows(96)
    first = train_model(
        model_dir=bert_dir, task=TASKS["qi"], rows=rows, config=config, out_dir=tmp_path / "tapt",
        progress=False,
    )  # fmt: skip
    assert first.adapter_dir is None and first.merged_dir == tmp_path / "tapt" / "merged"
    init = tapt_init(tmp_path / "tapt")
    zero_steps = dataclasses.replace(config, max_steps=1, learning_rate=1e-12)
    second = train_model(
        model_dir=bert_dir, task=TASKS["qc"], rows=rows, config=zero_steps,
        out_dir=tmp_path / "qc", init_adapter=init, progress=False,
    )  # fmt: skip
    before, after = (
        load_file(init / "model.safetensors"),
        load_file(second.merged_dir / "model.safetensors"),
    )
    # One step at a vanishing rate: the continued model is the TAPT model (head too).
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)
    with pytest.raises(ConfigError, match="trains with LoRA only"):
        from tiny_lm import build_tiny_lm

        train_model(
            model_dir=build_tiny_lm(tmp_path / "lm"), task=TASKS["qc"], rows=rows,
            config=config, out_dir=tmp_path / "lm-run", progress=False,
        )  # fmt: skip


def test_an_llm_run_leaves_no_earlier_encoder_model_in_its_folder(tiny_lm_dir, tmp_path) -> None:
    """An encoder run, then an LLM run in the same checkpoint folder (an experiment that
    switched the backbone back): the encoder's merged/ must go, or a scorer of the folder
    would prefer it to the new adapter (it did, in selfval's fold models)."""
    from relevance.model.backbone import train_model
    from relevance.model.predict import PredictParams, scorer_for
    from relevance.model.scoring import HFScorer
    from relevance.model.train import TrainParams

    out = tmp_path / "model-0"
    (out / "merged").mkdir(parents=True)
    (out / "merged" / "relevance_encoder.json").write_text("{}")
    config = TrainParams(max_steps=1, per_device_batch_size=8, bf16=False)
    result = train_model(
        model_dir=tiny_lm_dir, task=TASKS["qc"], rows=toy_rows(16), config=config,
        out_dir=out, progress=False,
    )  # fmt: skip
    assert not (out / "merged").exists() and result.adapter_dir == out / "adapter"
    scorer = scorer_for(out, base_model=tiny_lm_dir, params=PredictParams(dtype="float32"))
    assert isinstance(scorer, HFScorer)


def test_causal_lm_keys_an_encoder_ignores_are_named() -> None:
    from relevance.model.backbone import ignored_by_encoder
    from relevance.model.train import TrainParams

    assert ignored_by_encoder(TrainParams()) == []
    assert ignored_by_encoder(TrainParams(head="seq_cls", prompt="compact")) == [
        "prompt='compact'", "head='seq_cls'",
    ]  # fmt: skip


def test_distillation_targets_and_side_by_side_report() -> None:
    from relevance.model.distill import DistillParams, side_by_side, soft_targets

    np.testing.assert_allclose(
        soft_targets(np.array([1, 0]), np.array([0.6, 0.3]), label_weight=0.25), [0.7, 0.225]
    )
    dev = pd.DataFrame(
        {"id": [1, 2, 3, 4, 5], "label": pd.array([1, 0, 1, 0, None], dtype="Int8"),
         "teacher": [0.9, 0.1, 0.8, 0.3, 0.5], "student": [0.6, 0.7, 0.8, 0.2, 0.5]}
    )  # fmt: skip
    tfidf = pd.Series([0.1, 0.9, 0.2, 0.8, 0.5], index=[1, 2, 3, 4, 5])
    report = side_by_side(dev, teacher="teacher", student="student", tfidf=tfidf)
    assert report["labelled"] == 4
    assert report["teacher"]["auc"] == 1.0 and report["student"]["auc"] == 0.75
    assert report["tfidf_auc"] == 0.0 and report["all_positive_f1"] == pytest.approx(2 / 3)
    with pytest.raises(ConfigError, match="label_weight"):
        DistillParams(label_weight=1.5)
