"""Translation augmentation: synthetic training rows for languages missing from train.

The paper's first data-centric step (Yin et al., CIKM AnalytiCup 2025): languages that
appear in dev/test but not in train get rows whose query is translated from a
high-resource language, with the candidate and the label kept. The same machinery
pivots every non-English query into English (``input.pivot_en``).

Pieces, in the order a stage uses them:

1. :class:`TranslateParams` / :class:`TranslatorParams`: the ``translate`` and
   ``translator`` sections of params.yaml.
2. :func:`sample_sources`: per target language, a seeded sample of source-language train
   rows.
3. A :class:`Translator` (:func:`make_translator`): the base LLM prompted few-shot on
   CPU (:class:`CausalLMTranslator`), an NLLB / M2M100 / Marian folder
   (:class:`Seq2SeqTranslator`) or Seed-X through vLLM on GPUs (:class:`VllmTranslator`).
4. :func:`translate_texts` through a :class:`TranslationCache`: content-keyed, written
   after every batch, so a killed run resumes and a rerun translates nothing.
5. :func:`gate_translations`: drops empty, runaway, copied, wrong-script and
   low-similarity outputs (a 270M base model translates poorly: the gate is essential).
6. :func:`build_translated_rows` / :func:`pivot_rows`: the stage outputs and their counts.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from relevance.augment.embedding import Embedder, pair_similarity
from relevance.clean import clean_text
from relevance.devices import flush_denormals
from relevance.errors import ConfigError, DataError
from relevance.kvstore import KeyValueStore, content_key, folder_revision
from relevance.languages import (
    has_letters_outside,
    has_script_letters,
    iso_language,
    language_name,
    language_script,
    nllb_code,
)
from relevance.modelfolder import check_hub_access, check_safetensors
from relevance.tables import PIVOT_SCHEMA, TRANSLATED_SCHEMA

logger = logging.getLogger(__name__)

BACKENDS = ("causal-lm", "seq2seq", "vllm")

# Bump when a prompt (or its post-processing) changes: the version is part of every
# cache key, so old translations are simply not found.
CAUSAL_LM_PROMPT_VERSION = "fewshot-query-v1"
SEQ2SEQ_PROMPT_VERSION = "seq2seq-v1"
SEEDX_PROMPT_VERSION = "seedx-v1"


# ----------------------------------------------------------------------- params


@dataclasses.dataclass(frozen=True)
class TranslatorParams:
    """How texts are translated (params.yaml section ``translator``).

    ``backend``: ``causal-lm`` (the base LLM prompted few-shot; the CPU default),
    ``seq2seq`` (a local NLLB / M2M100 / Marian folder) or ``vllm`` (CUDA GPUs, e.g. the
    paper's ``ByteDance-Seed/Seed-X-PPO-7B``; ``pip install .[gpu]``).
    ``model``: empty = the base LLM folder the stage gets with ``--llm``; else a local
    folder (seq2seq: required) or, for vllm, a hub id (fetched only with
    ``models.allow_download: true``) or folder. Folders need ``*.safetensors`` weights.
    ``batch_size``: texts per generate call (left-padded for causal-lm).
    ``max_new_tokens``: generated tokens per text; queries are short (a few words), 48
    leaves room for CJK/Thai tokenisation without letting a runaway loop cost much.
    ``num_beams``: 1 = greedy; more = beam search.
    ``device``/``dtype``: ``auto`` = CUDA if present, else CPU; bf16 where fast, else fp32
    (never fp16: about 1 GFLOP/s on CPU, DESIGN.md).
    ``min_similarity``: the gate's floor on the cross-lingual cosine similarity of
    source and translation (multilingual-e5-small, ``query:`` on both sides). e5's
    similarities are compressed near the top: on 40 English train queries translated by
    gemma-3-270m, outright garbage scored 0.77-0.88 (Arabic) and 0.80-0.86 (German),
    plausible German 0.86-0.99 and unchanged copies 1.0; 0.5 would keep everything. 0.86
    drops most garbage and keeps most plausible translations; retune it for another
    embedder.
    ``max_length_ratio``: the gate's bound on translation length / source length (in
    characters, the source counted as at least 8 so ``tv`` may become ``Fernseher``).
    """

    backend: str = "causal-lm"
    model: str = ""
    batch_size: int = 16
    max_new_tokens: int = 48
    num_beams: int = 1
    device: str = "auto"
    dtype: str = "auto"
    min_similarity: float = 0.86
    max_length_ratio: float = 4.0

    def __post_init__(self) -> None:
        where = "params.yaml:translator"
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"{where}.backend: expected one of {', '.join(BACKENDS)}, got {self.backend!r}"
            )
        if self.backend == "seq2seq" and not self.model:
            raise ConfigError(
                f"{where}.model: the seq2seq backend needs a local NLLB / M2M100 / Marian "
                "folder, got an empty value"
            )
        for key in ("batch_size", "max_new_tokens", "num_beams"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{where}.{key}: expected >= 1, got {getattr(self, key)}")
        if self.dtype not in ("auto", "float32", "fp32", "bfloat16", "bf16"):
            raise ConfigError(
                f"{where}.dtype: expected auto, float32 or bfloat16, got {self.dtype!r} "
                "(fp16 is refused: it is about 1 GFLOP/s on CPU)"
            )
        if not self.device or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ConfigError(
                f"{where}.device: expected auto, cpu or cuda[:n], got {self.device!r}"
            )
        if not -1.0 <= self.min_similarity <= 1.0:
            raise ConfigError(
                f"{where}.min_similarity: expected a cosine similarity in [-1, 1], "
                f"got {self.min_similarity}"
            )
        if self.max_length_ratio <= 0:
            raise ConfigError(
                f"{where}.max_length_ratio: expected > 0, got {self.max_length_ratio}"
            )


@dataclasses.dataclass(frozen=True)
class TranslateParams:
    """Which rows are translated into which languages (params.yaml section ``translate``).

    ``languages``: ``auto`` = the stats stage's ``missing_from_train`` list (languages in
    dev/test but not in train); else explicit codes as the data spells them (``vn``).
    ``source_languages``: train rows in these languages are the sources (the paper
    translates from English).
    ``rows_per_language``: rows sampled per target language (without replacement).
    ``seed``: the sample's seed; each target has its own stream derived from it, so adding
    a target language does not change the rows of the others.
    """

    languages: str | tuple[str, ...] = "auto"
    source_languages: tuple[str, ...] = ("en",)
    rows_per_language: int = 15
    seed: int = 13

    def __post_init__(self) -> None:
        where = "params.yaml:translate"
        if isinstance(self.languages, str) and self.languages != "auto":
            raise ConfigError(
                f"{where}.languages: expected 'auto' or a list of codes such as [de, it], "
                f"got {self.languages!r}"
            )
        if not isinstance(self.languages, str) and (
            not self.languages or any(not str(c).strip() for c in self.languages)
        ):
            raise ConfigError(
                f"{where}.languages: expected non-empty codes, got {list(self.languages)}"
            )
        if not self.source_languages or any(not str(c).strip() for c in self.source_languages):
            raise ConfigError(
                f"{where}.source_languages: expected a non-empty list of codes, "
                f"got {list(self.source_languages)}"
            )
        if self.rows_per_language < 1:
            raise ConfigError(
                f"{where}.rows_per_language: expected >= 1, got {self.rows_per_language}"
            )


# ------------------------------------------------------------------- languages

# Few-shot examples for the causal-LM prompt: three short e-commerce queries (a product,
# a product with attributes, a brand/model query whose brand stays as written), in every
# language of relevance.model.prompt.LANGUAGE_NAMES. Lower case, as real queries mostly are.
FEWSHOT_EXAMPLES: dict[str, tuple[str, str, str]] = {
    "ar": ("سماعات أذن لاسلكية", "فستان صيفي نسائي", "جراب هاتف iphone 13"),
    "de": ("kabellose kopfhörer", "sommerkleid für damen", "iphone 13 handyhülle"),
    "en": ("wireless earbuds", "women's summer dress", "iphone 13 phone case"),
    "es": ("auriculares inalámbricos", "vestido de verano para mujer", "funda para iphone 13"),
    "fr": ("écouteurs sans fil", "robe d'été femme", "coque iphone 13"),
    "id": ("earphone nirkabel", "gaun musim panas wanita", "casing hp iphone 13"),
    "it": ("auricolari wireless", "vestito estivo da donna", "cover iphone 13"),
    "ja": ("ワイヤレスイヤホン", "レディース 夏 ワンピース", "iphone 13 スマホケース"),
    "ko": ("무선 이어폰", "여성 여름 원피스", "아이폰 13 케이스"),
    "nl": ("draadloze oordopjes", "zomerjurk voor dames", "iphone 13 telefoonhoesje"),
    "pl": ("słuchawki bezprzewodowe", "letnia sukienka damska", "etui na telefon iphone 13"),
    "pt": ("fones de ouvido sem fio", "vestido de verão feminino", "capa para iphone 13"),
    "ru": ("беспроводные наушники", "женское летнее платье", "чехол для iphone 13"),
    "th": ("หูฟังไร้สาย", "ชุดเดรสฤดูร้อนผู้หญิง", "เคสโทรศัพท์ iphone 13"),
    "tr": ("kablosuz kulaklık", "kadın yazlık elbise", "iphone 13 telefon kılıfı"),
    "vi": ("tai nghe không dây", "váy mùa hè nữ", "ốp lưng điện thoại iphone 13"),
    "zh": ("无线耳机", "女士夏季连衣裙", "iphone 13 手机壳"),
}


def seq2seq_family(model_type: str, tokenizer_class: str = "") -> str:
    """``nllb``, ``m2m100`` or ``marian`` from ``config.model_type``.

    NLLB-200 checkpoints declare ``model_type: m2m_100`` like M2M100 itself: the
    tokenizer class (``NllbTokenizer[Fast]``) tells them apart.
    """
    if model_type in ("nllb-moe", "nllb_moe") or tokenizer_class.lower().startswith("nllb"):
        return "nllb"
    if model_type == "m2m_100":
        return "m2m100"
    if model_type == "marian":
        return "marian"
    raise ConfigError(
        f"unsupported seq2seq model_type {model_type!r} (tokenizer {tokenizer_class or '?'}): "
        "expected an NLLB, M2M100 or Marian folder"
    )


# ---------------------------------------------------------------- translators


@runtime_checkable
class Translator(Protocol):
    """Anything that translates a batch of texts from one language into another.

    ``id`` names the backend, the model and its content revision (and the decoding
    settings that change outputs); ``prompt_version`` the prompt. Both are part of every
    cache key, so another model or prompt never reuses a stale translation.
    Language codes are as in the data (``vn``) or ISO (``vi``).
    """

    id: str
    prompt_version: str

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]: ...


def first_line(text: str) -> str:
    """The generated text up to its first newline, whitespace-normalised."""
    return clean_text(text.split("\n", 1)[0])


def fewshot_prompt(text: str, *, source: str, target: str) -> str:
    """The causal-LM prompt: three translated example queries, then the text.

    The examples are shown in the source language when :data:`FEWSHOT_EXAMPLES` has it
    (every language the competition uses) and otherwise in English, labelled "English";
    the text itself is always labelled with its own language. (An English-only example
    side would teach the English pivot to copy: en -> en.) A base model continues the
    pattern with the translation and a newline; generation stops at that newline.
    """
    src, tgt = iso_language(source), iso_language(target)
    if tgt not in FEWSHOT_EXAMPLES:
        raise ConfigError(
            f"no few-shot examples for target language {target!r}: expected one of "
            f"{', '.join(sorted(FEWSHOT_EXAMPLES))} (or use the seq2seq or vllm backend)"
        )
    example_src = src if src in FEWSHOT_EXAMPLES else "en"
    src_name, tgt_name = language_name(src), language_name(tgt)
    example_name = language_name(example_src)
    lines = [f"Translate online shop search queries from {src_name} into {tgt_name}.", ""]
    for left, right in zip(FEWSHOT_EXAMPLES[example_src], FEWSHOT_EXAMPLES[tgt], strict=True):
        lines += [f"{example_name}: {left}", f"{tgt_name}: {right}", ""]
    lines += [f"{src_name}: {clean_text(text)}", f"{tgt_name}:"]
    return "\n".join(lines)


def seedx_prompt(text: str, *, source: str, target: str) -> str:
    """Seed-X's raw prompt (no chat template), the target tag at the end::

    Translate the following English sentence into German:
    wireless earbuds <de>
    """
    src, tgt = iso_language(source), iso_language(target)
    return (
        f"Translate the following {language_name(src)} sentence into {language_name(tgt)}:\n"
        f"{clean_text(text)} <{tgt}>"
    )


def seedx_sampling_kwargs(*, max_new_tokens: int) -> dict[str, Any]:
    """vLLM ``SamplingParams`` for greedy translation (pure, tested without vLLM)."""
    return {"temperature": 0.0, "max_tokens": max_new_tokens, "stop": ["\n"]}


def _newline_token_ids(tokenizer: Any) -> list[int]:
    """Token ids whose text contains a newline: generation ends at any of them.

    SentencePiece vocabularies (Gemma) hold literal ``"\\n"`` runs and a byte fallback
    ``<0x0A>``; byte-level BPE (Qwen, GPT-2) spells the newline ``Ċ``.
    """
    vocab = tokenizer.get_vocab()
    ids = {i for token, i in vocab.items() if "\n" in token or token == "<0x0A>"}
    if not ids:
        ids = {i for token, i in vocab.items() if "Ċ" in token}
    return sorted(ids)


def _model_name(folder: Path) -> str:
    return folder.resolve().name or str(folder)


class CausalLMTranslator:
    """A base causal LM (gemma-3-270m on CPU) prompted with :func:`fewshot_prompt`.

    Greedy (``num_beams`` 1) or beam search, batched with LEFT padding (generation
    continues at the right end of every row), stopped at the first newline token. The
    model is loaded on the first :meth:`translate` call (a rerun whose translations are
    all cached loads none), in bf16 where that is fast, and kept for the whole run.
    """

    prompt_version = CAUSAL_LM_PROMPT_VERSION

    def __init__(
        self,
        folder: Path,
        *,
        max_new_tokens: int = 48,
        num_beams: int = 1,
        device: str = "auto",
        dtype: str = "auto",
    ) -> None:
        from relevance.devices import resolve_device, resolve_dtype

        self.folder = Path(folder)
        if not (self.folder / "config.json").is_file():
            raise ConfigError(
                f"{self.folder}: expected a causal LM folder (config.json); "
                "run the models stage first or set params.yaml:translator.model"
            )
        check_safetensors(self.folder, label="translator model")
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        dtype_name = str(self.dtype).removeprefix("torch.")
        self.id = (
            f"causal-lm:{_model_name(self.folder)}@{folder_revision(self.folder)}"
            f":{dtype_name}:beams={num_beams}:max_new_tokens={max_new_tokens}"
        )
        self.tokenizer: Any = None
        self.model: Any = None

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.device.type == "cpu":
            # Denormal arithmetic is very slow on this CPU (DESIGN.md). Process-wide.
            flush_denormals(self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._stop_ids = [self.tokenizer.eos_token_id, *_newline_token_ids(self.tokenizer)]
        self.model = AutoModelForCausalLM.from_pretrained(
            self.folder, dtype=self.dtype, use_safetensors=True
        )
        self.model.eval().to(self.device)
        logger.info("CausalLMTranslator: %s on %s in %s", self.folder, self.device, self.dtype)

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        import torch

        if not texts:
            return []
        if self.model is None:
            self._load()
        prompts = [fewshot_prompt(t, source=source, target=target) for t in texts]
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
        with torch.inference_mode():
            out = self.model.generate(
                **enc,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                num_beams=self.num_beams,
                early_stopping=self.num_beams > 1,
                eos_token_id=self._stop_ids,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new = out[:, enc["input_ids"].shape[1] :]
        return [first_line(t) for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]


class Seq2SeqTranslator:
    """An encoder-decoder MT model from a local folder (NLLB-200, M2M100 or Marian).

    NLLB: ``tokenizer.src_lang`` = the source's NLLB code and the target code forced as
    the first generated token; M2M100 the same with ISO codes (``get_lang_id``); Marian
    checkpoints are one language pair each and are used as they are (multi-target Marian
    models that need a ``>>xx<<`` prefix are not supported).
    """

    prompt_version = SEQ2SEQ_PROMPT_VERSION

    def __init__(
        self,
        folder: Path,
        *,
        max_new_tokens: int = 48,
        num_beams: int = 1,
        device: str = "auto",
        dtype: str = "auto",
    ) -> None:
        from transformers import AutoConfig, AutoTokenizer

        from relevance.devices import resolve_device, resolve_dtype

        self.folder = Path(folder)
        if not (self.folder / "config.json").is_file():
            raise ConfigError(
                f"{self.folder}: expected a seq2seq model folder (config.json) for "
                "params.yaml:translator.model"
            )
        check_safetensors(self.folder, label="params.yaml:translator.model")
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        model_type = AutoConfig.from_pretrained(self.folder).model_type
        self.family = seq2seq_family(model_type, type(self.tokenizer).__name__)
        self.model: Any = None  # loaded on the first translate call
        dtype_name = str(self.dtype).removeprefix("torch.")
        self.id = (
            f"seq2seq-{self.family}:{_model_name(self.folder)}@{folder_revision(self.folder)}"
            f":{dtype_name}:beams={num_beams}:max_new_tokens={max_new_tokens}"
        )

    def _codes(self, source: str, target: str) -> tuple[str | None, int | None]:
        """(src_lang, forced_bos_token_id) for the family."""
        if self.family == "nllb":
            tgt = nllb_code(target)
            return nllb_code(source), self.tokenizer.convert_tokens_to_ids(tgt)
        if self.family == "m2m100":
            src, tgt = iso_language(source), iso_language(target)
            return src, self.tokenizer.get_lang_id(tgt)
        return None, None

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        import torch

        if not texts:
            return []
        if self.model is None:
            from transformers import AutoModelForSeq2SeqLM

            if self.device.type == "cpu":
                flush_denormals(self.device)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(
                self.folder, dtype=self.dtype, use_safetensors=True
            )
            self.model.eval().to(self.device)
        src_lang, forced_bos = self._codes(source, target)
        if src_lang is not None:
            self.tokenizer.src_lang = src_lang
        enc = self.tokenizer([clean_text(t) for t in texts], return_tensors="pt", padding=True)
        kwargs: dict[str, Any] = {}
        if forced_bos is not None:
            kwargs["forced_bos_token_id"] = forced_bos
        with torch.inference_mode():
            out = self.model.generate(
                **enc.to(self.device),
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                num_beams=self.num_beams,
                **kwargs,
            )
        return [first_line(t) for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as err:
        raise ConfigError(
            "params.yaml:translator.backend vllm needs the vllm package: `pip install .[gpu]` "
            "on a machine with a CUDA GPU (vLLM has no CPU wheel); on CPU use causal-lm"
        ) from err
    return vllm


class VllmTranslator:
    """Seed-X (``ByteDance-Seed/Seed-X-PPO-7B``, the paper's translator) through vLLM.

    Raw :func:`seedx_prompt` prompts, no chat template; greedy ``SamplingParams`` or
    vLLM's beam search when ``num_beams > 1``. ``model`` is a hub id or a local folder
    (a folder is identified by its content revision, a hub id by its name); vLLM reads
    safetensors weights only. Whether a hub id may be fetched is decided by the caller
    (:func:`make_translator`).
    """

    prompt_version = SEEDX_PROMPT_VERSION

    def __init__(
        self,
        model: str,
        *,
        max_new_tokens: int = 48,
        num_beams: int = 1,
        dtype: str = "auto",
    ) -> None:
        vllm = _import_vllm()
        self.model_name = model
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        path = Path(model)
        if path.is_dir():
            check_safetensors(path, label="params.yaml:translator.model")
        revision = folder_revision(path) if path.is_dir() else "hub"
        name = _model_name(path) if path.is_dir() else model
        self.id = f"vllm:{name}@{revision}:beams={num_beams}:max_new_tokens={max_new_tokens}"
        # "auto" would let vLLM serve an fp32 checkpoint in fp16; bf16 is the safe choice.
        self._dtype = {"auto": "bfloat16", "fp32": "float32", "bf16": "bfloat16"}.get(dtype, dtype)
        self._vllm = vllm
        self.llm: Any = None  # the engine starts on the first translate call

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        if not texts:
            return []
        if self.llm is None:
            # vLLM's "auto" load format falls back to pickled *.bin / *.pt weights.
            self.llm = self._vllm.LLM(
                model=self.model_name, dtype=self._dtype, load_format="safetensors"
            )
            self._sampling = self._vllm.SamplingParams(
                **seedx_sampling_kwargs(max_new_tokens=self.max_new_tokens)
            )
        prompts = [seedx_prompt(t, source=source, target=target) for t in texts]
        if self.num_beams == 1:
            outputs = self.llm.generate(prompts, self._sampling, use_tqdm=False)
            return [first_line(out.outputs[0].text) for out in outputs]
        from vllm.sampling_params import BeamSearchParams

        params = BeamSearchParams(beam_width=self.num_beams, max_tokens=self.max_new_tokens)
        outputs = self.llm.beam_search([{"prompt": p} for p in prompts], params)
        tokenizer = self.llm.get_tokenizer()
        results = []
        for prompt, out in zip(prompts, outputs, strict=True):
            # A beam's tokens include the prompt's: decode only what follows it.
            n_prompt = len(tokenizer(prompt)["input_ids"])
            best = out.sequences[0]
            results.append(
                first_line(tokenizer.decode(best.tokens[n_prompt:], skip_special_tokens=True))
            )
        return results


def make_translator(
    config: TranslatorParams, *, llm_dir: Path, allow_download: bool = False
) -> Translator:
    """The translator ``config`` describes; ``llm_dir`` is used when ``config.model`` is empty.

    A ``model`` that is no local folder is a hub id: refused (ConfigError, before any
    library is imported or asked for it) unless ``allow_download``
    (``models.allow_download``) is true, and then only the vllm backend fetches it;
    causal-lm and seq2seq load local folders only.
    """
    model = config.model or str(llm_dir)
    param = "params.yaml:translator.model" if config.model else "the base LLM folder (--llm)"
    if not Path(model).is_dir():
        if config.backend == "vllm":
            check_hub_access(model, param=param, allow_download=allow_download)
        elif config.model:
            raise ConfigError(
                f"{param} = {model!r} is not a local folder: the {config.backend} backend "
                "loads local folders only (a hub id needs translator.backend: vllm and "
                "models.allow_download: true)"
            )
        # else the base LLM folder is missing: the translator says to run the models stage.
    kwargs = {"max_new_tokens": config.max_new_tokens, "num_beams": config.num_beams}
    if config.backend == "causal-lm":
        return CausalLMTranslator(Path(model), device=config.device, dtype=config.dtype, **kwargs)
    if config.backend == "seq2seq":
        return Seq2SeqTranslator(Path(model), device=config.device, dtype=config.dtype, **kwargs)
    if config.backend == "vllm":
        return VllmTranslator(model, dtype=config.dtype, **kwargs)
    raise ConfigError(f"params.yaml:translator.backend: unknown backend {config.backend!r}")


# ---------------------------------------------------------------------- cache


class TranslationCache:
    """Translations keyed by content: (normalised text, source, target, translator id,
    prompt version) -> UTF-8 text, in ``<cache_dir>/translations.sqlite``."""

    FILE = "translations.sqlite"

    def __init__(self, cache_dir: Path) -> None:
        self.store = KeyValueStore(Path(cache_dir) / self.FILE, table="translations")

    @staticmethod
    def key(text: str, *, source: str, target: str, translator: Translator) -> str:
        """The entry's key. Texts equal after :func:`relevance.clean.clean_text` and codes
        equal after :func:`relevance.schema.iso_language` (``vn``/``vi``) share it."""
        return content_key(
            clean_text(text),
            iso_language(source),
            iso_language(target),
            translator.id,
            translator.prompt_version,
        )

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        return {k: v.decode("utf-8") for k, v in self.store.get_many(keys).items()}

    def put_many(self, items: dict[str, str]) -> None:
        self.store.put_many({k: v.encode("utf-8") for k, v in items.items()})

    def __len__(self) -> int:
        return len(self.store)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> TranslationCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclasses.dataclass(frozen=True)
class TranslationResult:
    """``translations[i]`` translates ``texts[i]``. ``hits``/``misses`` count distinct
    normalised texts found in / missing from the cache (so ``hits + misses`` is the number
    of distinct texts); ``seconds`` is the time spent in the translator."""

    translations: list[str]
    hits: int
    misses: int
    seconds: float


def translate_texts(
    texts: Sequence[str],
    *,
    source: str,
    target: str,
    translator: Translator,
    cache: TranslationCache,
    batch_size: int,
    progress: bool = True,
) -> TranslationResult:
    """Translate ``texts`` from ``source`` into ``target`` through ``cache``.

    1. Normalise (``clean_text``) and deduplicate.
    2. Look every distinct text up in the cache.
    3. Translate the misses in batches of ``batch_size``, shortest first (less padding),
       and store each batch as soon as it is done: a run killed mid-way keeps every
       finished batch, and the next run resumes with the rest.

    Empty texts translate to ``""`` and are not counted; a text whose source and target
    are the same language is returned as it is.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    normalised = [clean_text(str(t)) for t in texts]
    if iso_language(source) == iso_language(target):
        return TranslationResult(normalised, 0, 0, 0.0)
    unique = [t for t in dict.fromkeys(normalised) if t]
    keys = {t: cache.key(t, source=source, target=target, translator=translator) for t in unique}
    found = cache.get_many(list(keys.values()))
    misses = sorted((t for t in unique if keys[t] not in found), key=len)
    hits = len(unique) - len(misses)
    seconds = 0.0
    bar = tqdm(
        total=len(misses),
        desc=f"translate {source}->{target}",
        unit="text",
        disable=not progress or not misses,
    )
    with bar:
        for start in range(0, len(misses), batch_size):
            batch = misses[start : start + batch_size]
            began = time.perf_counter()
            out = translator.translate(batch, source=source, target=target)
            seconds += time.perf_counter() - began
            if len(out) != len(batch):
                raise RuntimeError(
                    f"translator {translator.id} returned {len(out)} texts for {len(batch)}"
                )
            new = {keys[t]: clean_text(o) for t, o in zip(batch, out, strict=True)}
            cache.put_many(new)  # after each batch: an interrupted run keeps this work
            found.update(new)
            bar.update(len(batch))
    logger.info(
        "translate %s->%s: %d distinct texts, %d cached, %d translated in %.1f s",
        source, target, len(unique), hits, len(misses), seconds,
    )  # fmt: skip
    translations = [found[keys[t]] if t else "" for t in normalised]
    return TranslationResult(translations, hits, len(misses), seconds)


def translate_grouped(
    texts: Sequence[str],
    *,
    sources: Sequence[str],
    targets: Sequence[str] | str,
    translator: Translator,
    cache: TranslationCache,
    batch_size: int,
    progress: bool = True,
) -> TranslationResult:
    """:func:`translate_texts` for rows in mixed languages: one call per (source, target)
    pair (ISO codes), in sorted order; translations come back in row order."""
    n = len(texts)
    targets = [targets] * n if isinstance(targets, str) else list(targets)
    if len(sources) != n or len(targets) != n:
        raise ValueError(f"{n} texts but {len(sources)} sources and {len(targets)} targets")
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (s, t) in enumerate(zip(sources, targets, strict=True)):
        groups.setdefault((iso_language(str(s)), iso_language(str(t))), []).append(i)
    translations = [""] * n
    hits = misses = 0
    seconds = 0.0
    for (source, target), rows in sorted(groups.items()):
        result = translate_texts(
            [texts[i] for i in rows],
            source=source,
            target=target,
            translator=translator,
            cache=cache,
            batch_size=batch_size,
            progress=progress,
        )
        for i, translation in zip(rows, result.translations, strict=True):
            translations[i] = translation
        hits, misses, seconds = hits + result.hits, misses + result.misses, seconds + result.seconds
    return TranslationResult(translations, hits, misses, seconds)


# ----------------------------------------------------------------------- gate

# The gate's reasons, in the order they are checked; a translation gets the first that
# applies.
GATE_REASONS = ("empty", "runaway", "copied", "wrong_script", "low_similarity")

# Below this many characters a source counts as this long for the length ratio: short
# queries legitimately grow ("tv" -> "fernseher").
MIN_RATIO_LENGTH = 8

# A unit of 2-30 characters repeated at least three times in a row ("schuhe schuhe
# schuhe", "ababab"): the loop a small LM falls into.
_LOOP = re.compile(r"(\S.{1,29}?)(?:\s*\1){2,}")


def _loop_in(translation: str, source: str) -> bool:
    """A repetition loop in ``translation`` that the source does not have itself."""
    for match in _LOOP.finditer(translation):
        if any(ch.isalpha() for ch in match.group(1)) and match.group(0) not in source:
            return True
    return False


def _fold(text: str) -> str:
    return clean_text(text, lowercase=True).casefold()


def _broadcast(value: str | Sequence[str], n: int, name: str) -> list[str]:
    if isinstance(value, str):
        return [value] * n
    if len(value) != n:
        raise ValueError(f"{name}: expected {n} codes, got {len(value)}")
    return [str(v) for v in value]


def gate_translations(
    sources: Sequence[str],
    translations: Sequence[str],
    *,
    source: str | Sequence[str],
    target: str | Sequence[str],
    similarity: Sequence[float] | np.ndarray | None,
    config: TranslatorParams,
) -> list[str | None]:
    """Check each translation; None keeps it, else the reason to drop it.

    Checks, in this order (the first that applies is the reason):

    1. ``empty``: nothing left after whitespace normalisation.
    2. ``runaway``: longer than ``config.max_length_ratio`` times the source (counted as
       at least :data:`MIN_RATIO_LENGTH` characters), or a unit repeated three or more
       times in a row that the source does not repeat (a generation loop).
    3. ``copied``: equal to the source (case-folded) although the source text has
       letters outside the target language's script (``en -> ar`` unchanged, or a
       Japanese query "pivoted" to English unchanged). Copies already written in the
       target's script are kept: brand or model names (``birkenstock arizona`` into
       German, a Latin-letter ``switch pro controller`` in the Korean data into English),
       and so is every row whose source and target language are the same.
    4. ``wrong_script``: no letter of the target language's script (Arabic, Hangul,
       Thai, Cyrillic, kana/kanji, ... and Latin for Latin-script targets). Skipped for
       languages whose script is unknown.
    5. ``low_similarity``: the cross-lingual cosine similarity of source and translation
       is below ``config.min_similarity``. Skipped where ``similarity`` is None or NaN.

    Args:
        sources, translations: aligned texts.
        source, target: one language code each, or one per row.
        similarity: one cosine per row (e.g. :func:`relevance.augment.embedding.pair_similarity`).
    """
    n = len(sources)
    if len(translations) != n:
        raise ValueError(f"{n} sources but {len(translations)} translations")
    if similarity is not None and len(similarity) != n:
        raise ValueError(f"{n} sources but {len(similarity)} similarities")
    source_langs = _broadcast(source, n, "source")
    target_langs = _broadcast(target, n, "target")
    reasons: list[str | None] = []
    for i in range(n):
        src_text, text = clean_text(str(sources[i])), clean_text(str(translations[i]))
        tgt_script = language_script(target_langs[i])
        sim = None if similarity is None else float(similarity[i])
        too_long = len(text) > config.max_length_ratio * max(len(src_text), MIN_RATIO_LENGTH)
        if not text:
            reason = "empty"
        elif too_long or _loop_in(text, src_text):
            reason = "runaway"
        elif (
            tgt_script is not None
            and iso_language(source_langs[i]) != iso_language(target_langs[i])
            and _fold(text) == _fold(src_text)
            and has_letters_outside(src_text, tgt_script)
        ):
            reason = "copied"
        elif tgt_script is not None and not has_script_letters(text, tgt_script):
            reason = "wrong_script"
        elif sim is not None and not np.isnan(sim) and sim < config.min_similarity:
            reason = "low_similarity"
        else:
            reason = None
        reasons.append(reason)
    return reasons


def _similarities(
    embedder: Embedder | None, sources: Sequence[str], translations: Sequence[str]
) -> np.ndarray:
    """Cosine per pair (NaN where the translation is empty or there is no embedder),
    rounded to 4 decimals so batch-order float noise never changes the output bytes."""
    sims = np.full(len(sources), np.nan)
    if embedder is None:
        return sims
    rows = [i for i, t in enumerate(translations) if t]
    if rows:
        values = pair_similarity(
            embedder, [sources[i] for i in rows], [translations[i] for i in rows]
        )
        sims[rows] = np.round(values.astype(np.float64), 4)
    return sims


# ---------------------------------------------------------------------- sample


def _lang_column(rows: pd.DataFrame) -> pd.Series:
    """ISO code per row: ``lang`` if present, else ``language`` normalised."""
    if "lang" in rows.columns:
        return rows["lang"].astype(str)
    if "language" in rows.columns:
        return rows["language"].astype(str).map(iso_language)
    raise DataError(f"rows lack a lang/language column: got columns {list(rows.columns)}")


def sample_sources(
    train_rows: pd.DataFrame,
    *,
    targets: Sequence[str],
    source_languages: Sequence[str],
    rows_per_language: int,
    seed: int,
) -> pd.DataFrame:
    """Source rows to translate: per target, ``rows_per_language`` labelled train rows
    in a source language, drawn without replacement.

    Each target has its own random stream, seeded from ``(seed, target)``, over the
    candidate rows sorted by id: the sample does not depend on the file's row order or
    on the other targets. Rows already in the target language are never sources.

    Returns:
        The sampled rows (all input columns) plus ``target`` (the code as given), ordered
        by target (as given) and then by id.

    Raises:
        DataError: fewer candidate rows than ``rows_per_language`` for a target.
    """
    missing = [c for c in ("id", "query", "candidate", "label") if c not in train_rows.columns]
    if missing:
        raise DataError(f"train rows lack columns {missing}: got {list(train_rows.columns)}")
    langs = _lang_column(train_rows)
    source_isos = {iso_language(c) for c in source_languages}
    pool = train_rows[langs.isin(source_isos) & train_rows["label"].notna()]
    parts = []
    for target in targets:
        target_iso = iso_language(target)
        candidates = pool[_lang_column(pool) != target_iso].sort_values("id", kind="stable")
        if len(candidates) < rows_per_language:
            raise DataError(
                f"translate: rows_per_language={rows_per_language} for target {target!r}, but "
                f"train has only {len(candidates)} labelled rows in the source languages "
                f"{sorted(source_isos)}: lower params.yaml:translate.rows_per_language or add "
                "source_languages"
            )
        stream = int(content_key(str(seed), target_iso)[:16], 16)
        rng = np.random.default_rng([seed, stream])
        picked = np.sort(rng.choice(len(candidates), size=rows_per_language, replace=False))
        part = candidates.iloc[picked].copy()
        part["target"] = str(target)
        parts.append(part)
    if not parts:
        return train_rows.iloc[:0].assign(target=pd.Series(dtype=str))
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------ translated rows


def _levels(value: Any) -> list[str] | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return [str(v) for v in value]


def _reason_counts(reasons: Sequence[str | None]) -> dict[str, int]:
    counts = Counter(r for r in reasons if r is not None)
    return {reason: int(counts.get(reason, 0)) for reason in GATE_REASONS}


def _cache_view(result: TranslationResult) -> dict[str, Any]:
    total = result.hits + result.misses
    return {
        "hits": result.hits,
        "misses": result.misses,
        "distinct_texts": total,
        "hit_rate": round(result.hits / total, 4) if total else None,
        "translate_seconds": round(result.seconds, 2),
        "texts_per_second": round(result.misses / result.seconds, 3) if result.seconds else None,
    }


@dataclasses.dataclass(frozen=True)
class TranslatedRows:
    """The kept rows (:data:`TRANSLATED_SCHEMA` columns) and the counts behind them."""

    rows: pd.DataFrame
    report: dict[str, Any]


def build_translated_rows(
    samples: pd.DataFrame,
    *,
    translator: Translator,
    cache: TranslationCache,
    embedder: Embedder | None,
    config: TranslatorParams,
    progress: bool = True,
) -> TranslatedRows:
    """Translate each sampled row's query into its ``target``, gate it, build the rows.

    Args:
        samples: :func:`sample_sources` output (``target`` per row).
        embedder: scores source/translation similarity for the gate; None skips that
            check (the ``similarity`` column is then null).

    Returns:
        Rows that passed the gate in sample order, and a report: per target language
        (as the data spells it) ``sampled``, ``kept`` (of which ``kept_unchanged`` equal the
        source query), ``dropped`` and ``dropped_by_reason``
        (every reason listed, zeros included), the same totals, and the cache counts.
    """
    sources = [str(q) for q in samples["query"]]
    source_langs = list(_lang_column(samples)) if len(samples) else []
    targets = [str(t) for t in samples["target"]]
    result = translate_grouped(
        sources,
        sources=source_langs,
        targets=targets,
        translator=translator,
        cache=cache,
        batch_size=config.batch_size,
        progress=progress,
    )
    sims = _similarities(embedder, sources, result.translations)
    reasons = gate_translations(
        sources,
        result.translations,
        source=source_langs,
        target=targets,
        similarity=None if embedder is None else sims,
        config=config,
    )
    keep = [r is None for r in reasons]
    levels = samples["category_levels"] if "category_levels" in samples.columns else None
    out = pd.DataFrame(
        {
            "id": [f"tr:{t}:{int(i)}" for t, i in zip(targets, samples["id"], strict=True)],
            "language": targets,
            "lang": [iso_language(t) for t in targets],
            "query": result.translations,
            "candidate": [str(c) for c in samples["candidate"]],
            "label": np.asarray(samples["label"], dtype=np.int8),
            "category_levels": [None] * len(samples)
            if levels is None
            else [_levels(v) for v in levels],
            "source_id": np.asarray(samples["id"], dtype=np.int64),
            "source_language": source_langs,
            "target_language": [iso_language(t) for t in targets],
            "source_query": sources,
            "translator": translator.id,
            "prompt_version": translator.prompt_version,
            "similarity": sims,
        },
        columns=TRANSLATED_SCHEMA.names,
    )
    out = out[keep].reset_index(drop=True)

    languages: dict[str, Any] = {}
    for target in dict.fromkeys(targets):
        mine = [r for r, t in zip(reasons, targets, strict=True) if t == target]
        sim = [s for s, t in zip(sims, targets, strict=True) if t == target and not np.isnan(s)]
        kept = sum(r is None for r in mine)
        # Same-script copies pass the gate (brand names stay as written); this shows how
        # many kept rows are the source query unchanged.
        unchanged = sum(
            r is None and _fold(tr) == _fold(src)
            for r, t, tr, src in zip(reasons, targets, result.translations, sources, strict=True)
            if t == target
        )
        languages[target] = {
            "sampled": len(mine),
            "kept": kept,
            "kept_unchanged": unchanged,
            "dropped": len(mine) - kept,
            "dropped_by_reason": _reason_counts(mine),
            "similarity_mean": round(float(np.mean(sim)), 4) if sim else None,
        }
    kept_total = int(sum(keep))
    report = {
        "languages": languages,
        "total": {
            "sampled": len(samples),
            "kept": kept_total,
            "dropped": len(samples) - kept_total,
            "dropped_by_reason": _reason_counts(reasons),
        },
        "cache": _cache_view(result),
        "translator": translator.id,
        "prompt_version": translator.prompt_version,
    }
    logger.info(
        "translated rows: %d sampled, %d kept, dropped %s",
        len(samples),
        kept_total,
        report["total"]["dropped_by_reason"],
    )
    return TranslatedRows(out, report)


def pivot_rows(
    rows: pd.DataFrame,
    *,
    translator: Translator,
    cache: TranslationCache,
    embedder: Embedder | None,
    config: TranslatorParams,
    progress: bool = True,
) -> TranslatedRows:
    """English pivots of every query: ``query_en``.

    English rows keep their query; every other query is translated into English through
    the same cache and gated (:func:`gate_translations`, target ``en``). A query that
    fails gets ``query_en = None`` and the ``reason``: a consumer falls back to the
    original query.

    Args:
        rows: ``id``, ``split``, ``language`` (and ``lang``), ``query``.

    Returns:
        :data:`PIVOT_SCHEMA` rows in input order, and a report per split: rows,
        ``english`` (kept as they are), ``translated`` (gate passed), ``failed`` and
        ``failed_by_reason``, plus the cache counts.
    """
    missing = [c for c in ("id", "split", "language", "query") if c not in rows.columns]
    if missing:
        raise DataError(f"pivot rows lack columns {missing}: got {list(rows.columns)}")
    langs = list(_lang_column(rows))
    queries = [clean_text(str(q)) for q in rows["query"]]
    foreign = [i for i, lang in enumerate(langs) if lang != "en"]
    result = translate_grouped(
        [queries[i] for i in foreign],
        sources=[langs[i] for i in foreign],
        targets="en",
        translator=translator,
        cache=cache,
        batch_size=config.batch_size,
        progress=progress,
    )
    sources = [queries[i] for i in foreign]
    sims = _similarities(embedder, sources, result.translations)
    gate = gate_translations(
        sources,
        result.translations,
        source=[langs[i] for i in foreign],
        target="en",
        similarity=None if embedder is None else sims,
        config=config,
    )
    query_en: list[str | None] = list(queries)
    reasons: list[str | None] = [None] * len(rows)
    for i, translation, reason in zip(foreign, result.translations, gate, strict=True):
        query_en[i] = translation if reason is None else None
        reasons[i] = reason
    out = pd.DataFrame(
        {
            "id": np.asarray(rows["id"], dtype=np.int64),
            "split": [str(s) for s in rows["split"]],
            "language": [str(lang) for lang in rows["language"]],
            "query": queries,
            # object dtype: None stays None (a str column would turn it into NaN)
            "query_en": pd.Series(query_en, dtype=object),
            "reason": pd.Series(reasons, dtype=object),
        },
        columns=PIVOT_SCHEMA.names,
    )
    splits: dict[str, Any] = {}
    for split in dict.fromkeys(out["split"]):
        part = out[out["split"] == split]
        is_en = [lang == "en" for lang, s in zip(langs, out["split"], strict=True) if s == split]
        failed = list(part["reason"].dropna())
        splits[split] = {
            "rows": len(part),
            "english": int(sum(is_en)),
            "translated": len(part) - int(sum(is_en)) - len(failed),
            "failed": len(failed),
            "failed_by_reason": _reason_counts(failed),
        }
    report = {
        "enabled": True,
        "splits": splits,
        "total": {
            "rows": len(out),
            "english": len(out) - len(foreign),
            "translated": len(foreign) - sum(r is not None for r in gate),
            "failed": sum(r is not None for r in gate),
            "failed_by_reason": _reason_counts(gate),
        },
        "cache": _cache_view(result),
        "translator": translator.id,
        "prompt_version": translator.prompt_version,
    }
    return TranslatedRows(out, report)
