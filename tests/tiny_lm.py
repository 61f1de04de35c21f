"""A tiny, real causal LM for fast tests: in-memory training data, no network.

``build_tiny_lm(folder)`` trains a small BPE tokenizer with the ``tokenizers`` library on a
multilingual toy corpus (SentencePiece-style ``▁`` spaces and a ``<bos>`` post-processor, as
Gemma's tokenizer has), and saves it beside a randomly initialised two-layer
``Gemma3ForCausalLM`` (safetensors). The folder loads with ``AutoTokenizer`` and
``AutoModelForCausalLM`` exactly like the real gemma-3-270m folder.

The model keeps Gemma 3's shape features on purpose, so the tests cover them: tied
embeddings, sliding and full attention layers (the window is shorter than a prompt) and
final-logit softcapping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast

from relevance.model.prompt import build_prompt
from relevance.schema import TASKS

# Gemma's special-token layout: pad 0, eos 1, bos 2, unk 3.
SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>"]

# Words of the toy relevance data: queries and candidates are drawn from these.
TOY_WORDS = ["shoes", "phone", "coffee", "garden", "guitar", "laptop", "socks", "lamp"]

_CORPUS = [
    "red running shoes for men",
    "chaussures de course rouges pour homme",
    "zapatillas rojas para correr",
    "sapatos de corrida vermelhos",
    "rote Laufschuhe für Herren",
    "giày chạy bộ màu đỏ",
    "빨간 러닝화 남성용",
    "赤いランニングシューズ",
    "home & garden,kitchen,dining & bar,coffee cups",
    "automobiles, parts & accessories,interior accessories",
    "phone case for iphone",
    "guitar strings acoustic",
    "laptop stand aluminium",
    "wool socks winter",
    "desk lamp led",
    "yes no yes no yes no",
]


def _corpus(include_label_words: bool) -> list[str]:
    """The toy corpus plus every prompt shape the tests build, repeated so BPE merges them."""
    lines = list(_CORPUS)
    for task in TASKS.values():
        for word in TOY_WORDS:
            lines.append(build_prompt(task, language="en", query=word, candidate=word) + " yes")
            lines.append(build_prompt(task, language="vn", query=word, candidate="lamp") + " no")
    lines = lines * 3
    if not include_label_words:
        # Remove every "yes"/"no" so neither word can become a single token.
        lines = [line.replace("yes", "").replace("no", "") for line in lines]
    return lines


def build_tokenizer(
    *, vocab_size: int = 600, include_label_words: bool = True
) -> PreTrainedTokenizerFast:
    """A trained BPE tokenizer wrapped as ``PreTrainedTokenizerFast`` (adds ``<bos>``)."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    # SentencePiece-style: a space becomes "▁" and belongs to the word after it, so
    # " yes" is one token "▁yes", as in Gemma's tokenizer.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=1, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tok.train_from_iterator(_corpus(include_label_words), trainer=trainer)
    bos_id = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def build_tiny_lm(
    folder: Path,
    *,
    seed: int = 0,
    include_label_words: bool = True,
    final_logit_softcapping: float | None = 30.0,
    sliding_window: int = 24,
    head_dim: int = 16,
) -> Path:
    """Save a tokenizer and a random 2-layer Gemma 3 LM in ``folder``; return ``folder``.

    ``head_dim``: vLLM's CPU attention kernels take 32 and up (not the default 16)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(include_label_words=include_label_words)
    tokenizer.save_pretrained(folder)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=head_dim,
        query_pre_attn_scalar=head_dim,
        max_position_embeddings=1024,
        # Default shorter than the prompts, so the sliding mask matters.
        sliding_window=sliding_window,
        layer_types=["sliding_attention", "full_attention"],
        final_logit_softcapping=final_logit_softcapping,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
        # Wider than the usual 0.02: with tied embeddings that small, logits stay within
        # about +-1 whatever the hidden state, and a LoRA can not make any answer likely.
        initializer_range=0.2,
    )
    torch.manual_seed(seed)
    model = Gemma3ForCausalLM(config)
    model.save_pretrained(folder)
    return folder


def toy_rows(n: int = 64, *, seed: int = 0, language: str = "en") -> pd.DataFrame:
    """Learnable labelled rows: relevant iff the candidate is one of the first four words.

    Queries vary in length (1-3 words), so prompts differ in token count.
    """
    rng = np.random.default_rng(seed)
    relevant = set(TOY_WORDS[:4])
    rows = []
    for i in range(n):
        query = " ".join(rng.choice(TOY_WORDS, size=int(rng.integers(1, 4))))
        candidate = str(rng.choice(TOY_WORDS))
        rows.append(
            {
                "id": i,
                "language": language,
                "lang": language,
                "query": query,
                "candidate": candidate,
                "label": int(candidate in relevant),
            }
        )
    return pd.DataFrame(rows)


def build_tiny_bert(folder: Path, *, seed: int = 0) -> Path:
    """Save the toy tokenizer and a random 2-layer ``BertModel`` (an encoder folder, as
    the models stage's multilingual-e5-small is) in ``folder``; return ``folder``."""
    from transformers import BertConfig, BertModel

    folder = Path(folder)
    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(seed)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    return folder


def build_tiny_embedder(folder: Path, *, seed: int = 0) -> Path:
    """Save a random 2-layer BERT as a sentence-transformers folder (mean pooling,
    normalised), with the toy tokenizer: a stand-in for multilingual-e5-small."""
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers 6 moved the modules (the old path warns)
        from sentence_transformers.sentence_transformer import modules as st_models
    except ImportError:
        from sentence_transformers import models as st_models
    folder = Path(folder)
    raw = build_tiny_bert(folder.parent / f"{folder.name}-raw", seed=seed)
    body = st_models.Transformer(str(raw), max_seq_length=128)
    dimension = getattr(body, "get_embedding_dimension", None) or body.get_word_embedding_dimension
    pooling = st_models.Pooling(dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[body, pooling, st_models.Normalize()], device="cpu").save(
        str(folder)
    )
    return folder
