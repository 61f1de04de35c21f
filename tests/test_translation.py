"""Translation augmentation: cache, resume, gate, sampling, stage outputs. In-memory toy
data and tiny random models (tests/tiny_lm.py), no network; caches under tmp_path."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from relevance.augment import translators
from relevance.augment.gate import (
    GATE_REASONS,
    gate_translations,
    reason_counts,
    score_and_gate,
    unchanged,
)
from relevance.augment.pivot import pivot_rows, pivot_task, read_splits
from relevance.augment.translate import (
    TranslateParams,
    build_translated_rows,
    sample_sources,
    translate_task,
)
from relevance.augment.translation_cache import (
    TranslationCache,
    TranslationResult,
    Translator,
    translate_grouped,
    translate_texts,
)
from relevance.augment.translators import (
    FEWSHOT_EXAMPLES,
    CausalLMTranslator,
    Seq2SeqTranslator,
    TranslationSetup,
    TranslatorParams,
    fewshot_prompt,
    first_line,
    make_translator,
    open_translation,
    seedx_prompt,
    seedx_sampling_kwargs,
    seq2seq_family,
)
from relevance.errors import ConfigError, DataError
from relevance.languages import LANGUAGE_NAMES, NLLB_CODES, nllb_code
from relevance.params import load_section, parse_section
from relevance.schema import TASKS
from relevance.stage import run_stats_path
from relevance.tables import INGESTED_SCHEMA, PIVOT_SCHEMA, TRANSLATED_SCHEMA, write_table

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WORDS = ["red", "blue", "shoes", "phone", "case", "coffee", "lamp", "garden", "socks", "guitar"]


class FakeTranslator:
    """Deterministic and instant: ``<target> text``; records every batch it gets."""

    prompt_version = "fake-v1"

    def __init__(self, id: str = "fake:model@rev1", fail_on_batch: int | None = None) -> None:
        self.id = id
        self.batches: list[list[str]] = []
        self.fail_on_batch = fail_on_batch

    def translate(self, texts, *, source, target):
        if self.fail_on_batch is not None and len(self.batches) == self.fail_on_batch:
            raise KeyboardInterrupt("killed")
        self.batches.append(list(texts))
        return [f"{target} {t}" for t in texts]


def _ingested_frame(rows: list[tuple[int, str, str, int | None]]) -> pd.DataFrame:
    langs = {"vn": "vi"}
    return pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "task": "QC",
            "language": [r[1] for r in rows],
            "language_raw": [r[1] for r in rows],
            "lang": [langs.get(r[1], r[1]) for r in rows],
            "query": [r[2] for r in rows],
            "candidate": ["home & garden,kitchen"] * len(rows),
            "label": [r[3] for r in rows],
            "query_raw": [r[2] for r in rows],
            "candidate_raw": ["home & garden,kitchen"] * len(rows),
            "category_levels": [["home & garden", "kitchen"]] * len(rows),
            "defect": None,
            "source_file": "x.txt",
            "source_line": [r[0] for r in rows],
        }
    )


def _queries(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    out: list[str] = []
    while len(out) < n:  # distinct two-word queries
        q = " ".join(rng.choice(WORDS, size=2, replace=False))
        if q not in out:
            out.append(q)
    return out


@pytest.fixture
def ingested(tmp_path: Path) -> Path:
    """train: 30 en + 6 fr labelled rows; dev: de and vn rows (missing from train)."""
    folder = tmp_path / "ingested"
    folder.mkdir()
    en = [(i, "en", q, i % 2) for i, q in enumerate(_queries(30), start=1)]
    fr = [(100 + i, "fr", f"chaussures {w}", 1) for i, w in enumerate(WORDS[:6])]
    dev = [(1, "de", "rote schuhe", None), (2, "vn", "giày đỏ", None), (3, "en", "lamp", None)]
    for split, rows in (("train", en + fr), ("dev", dev)):
        table = pa.Table.from_pandas(_ingested_frame(rows), schema=INGESTED_SCHEMA)
        pq.write_table(table, folder / f"{split}.parquet")
    (tmp_path / "languages.json").write_text(
        json.dumps(
            {
                "missing_from_train": [
                    {"language": "de", "lang": "de"},
                    {"language": "vn", "lang": "vi"},
                ]
            }
        )
    )
    return folder


def _params(path: Path, **sections) -> Path:
    base = {
        "translate": {"languages": "auto", "source_languages": ["en"], "rows_per_language": 12},
        "translator": {
            "backend": "causal-lm",
            "batch_size": 1,
            "max_new_tokens": 6,
            "dtype": "float32",
            "min_similarity": -1.0,
        },
        "input": {"pivot_en": True},
        "models": {"allow_download": False},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    path.write_text(yaml.safe_dump(base))
    return path


@pytest.fixture(scope="module")
def tiny_embedder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_lm import build_tiny_embedder

    return build_tiny_embedder(tmp_path_factory.mktemp("tiny_embedder") / "embedder")


# ----------------------------------------------------------------- config


def test_configs_reject_bad_values_naming_the_key(tmp_path: Path) -> None:
    def parse(section: str, cls: type, **values: object) -> object:
        return parse_section(cls, values, name=section)

    # Literal keys are checked by the loader, naming the file, the section and the key.
    with pytest.raises(ConfigError, match=r"^params.yaml:translator.backend: expected one of"):
        parse("translator", TranslatorParams, backend="google")
    with pytest.raises(ConfigError, match=r"^params.yaml:translator.dtype: .* got 'float16'"):
        parse("translator", TranslatorParams, dtype="float16")
    # The class's own checks name the key; the loader puts the file and section in front.
    with pytest.raises(ConfigError, match=r"^params.yaml:translator: model: the seq2seq"):
        parse("translator", TranslatorParams, backend="seq2seq")
    with pytest.raises(ConfigError, match=r"^params.yaml:translator: device must be"):
        parse("translator", TranslatorParams, device="gpu")
    with pytest.raises(ConfigError, match=r"^params.yaml:translate: languages must be auto"):
        parse("translate", TranslateParams, languages="de")
    with pytest.raises(ConfigError, match=r"^params.yaml:translate: rows_per_language must be"):
        parse("translate", TranslateParams, rows_per_language=0)
    with pytest.raises(ConfigError, match=r"source_languages\[1\]: expected a language code"):
        TranslateParams(source_languages=("en", " "))
    with pytest.raises(ConfigError, match=r"unknown key\(s\) min_simlarity"):
        parse("translator", TranslatorParams, min_simlarity=0.3)
    params = _params(tmp_path / "other.yaml", translate={"languages": ["de", " vn", "de"]})
    assert load_section(TranslateParams, "translate", params).languages == ("de", "vn")
    with pytest.raises(ConfigError, match=r"other.yaml:translator: num_beams must be >= 1"):
        load_section(TranslatorParams, "translator", _params(params, translator={"num_beams": 0}))


def test_vllm_backend_without_vllm_says_how_to_install(tmp_path: Path) -> None:
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed")
    with pytest.raises(ConfigError, match=r"pip install \.\[gpu\]"):
        make_translator(
            TranslatorParams(backend="vllm", model="x/y"), llm_dir=tmp_path, allow_download=True
        )


@pytest.mark.slow
def test_vllm_translator_runs(vllm_lm_dir: Path, tmp_path: Path) -> None:
    """The vLLM translator for real (its CPU build in .venv-vllm here): one engine,
    one line out per text. The tiny LM translates nothing; the path is what is tested."""
    pytest.importorskip("vllm")
    translator = make_translator(
        TranslatorParams(backend="vllm", model=str(vllm_lm_dir), max_new_tokens=8),
        llm_dir=tmp_path,
    )
    out = translator.translate(["red shoes", "phone case"], source="en", target="de")
    assert len(out) == 2 and all(isinstance(text, str) and "\n" not in text for text in out)
    assert translator.id.startswith("vllm:")


# ----------------------------------------------------------------- prompts


def test_seedx_prompt_is_raw_with_the_target_tag_at_the_end() -> None:
    assert seedx_prompt(" wireless   earbuds ", source="en", target="de") == (
        "Translate the following English sentence into German:\nwireless earbuds <de>"
    )
    # The data's "vn" is ISO "vi": named Vietnamese, tagged <vi>.
    assert seedx_prompt("giày đỏ", source="vn", target="en").endswith("into English:\ngiày đỏ <en>")
    assert seedx_sampling_kwargs(max_new_tokens=32) == {
        "temperature": 0.0,
        "max_tokens": 32,
        "stop": ["\n"],
    }


def test_seq2seq_codes_and_families() -> None:
    assert set(NLLB_CODES) == set(LANGUAGE_NAMES)
    assert nllb_code("vn") == "vie_Latn"
    assert nllb_code("de") == "deu_Latn"
    assert nllb_code("ar") == "arb_Arab"
    assert nllb_code("zh") == "zho_Hans"
    with pytest.raises(ConfigError, match="no NLLB code"):
        nllb_code("xx")
    # NLLB-200 declares model_type m2m_100: its tokenizer tells it apart.
    assert seq2seq_family("m2m_100", "NllbTokenizerFast") == "nllb"
    assert seq2seq_family("m2m_100", "M2M100Tokenizer") == "m2m100"
    assert seq2seq_family("marian", "MarianTokenizer") == "marian"
    with pytest.raises(ConfigError, match="expected an NLLB, M2M100 or Marian"):
        seq2seq_family("t5", "T5TokenizerFast")


def test_seq2seq_translator_sets_source_and_forced_target_codes() -> None:
    class Tokenizer:
        def convert_tokens_to_ids(self, token: str) -> int:
            return {"deu_Latn": 7, "vie_Latn": 9}[token]

        def get_lang_id(self, code: str) -> int:
            return {"de": 17, "vi": 19}[code]

    translator = Seq2SeqTranslator.__new__(Seq2SeqTranslator)  # no model needed
    translator.tokenizer = Tokenizer()
    translator.family = "nllb"
    assert translator._codes("en", "vn") == ("eng_Latn", 9)
    translator.family = "m2m100"
    assert translator._codes("vn", "de") == ("vi", 17)
    translator.family = "marian"
    assert translator._codes("en", "de") == (None, None)


def test_seq2seq_translator_runs_a_tiny_marian_model(tmp_path: Path) -> None:
    import torch
    from tiny_lm import build_tokenizer
    from transformers import MarianConfig, MarianMTModel

    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(tmp_path)
    config = MarianConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
        decoder_ffn_dim=64, max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    MarianMTModel(config).save_pretrained(tmp_path)
    translator = make_translator(
        TranslatorParams(backend="seq2seq", model=str(tmp_path), max_new_tokens=4, dtype="fp32"),
        llm_dir=tmp_path / "unused",
    )
    assert isinstance(translator, Seq2SeqTranslator) and translator.family == "marian"
    assert translator.id.startswith("seq2seq-marian:sha256:")
    assert translator.translate([], source="en", target="de") == []
    assert translator.model is None  # loaded on the first call with texts, not before
    texts = ["red shoes", "phone"]
    out = translator.translate(texts, source="en", target="de")
    # The model's own greedy decoding of the batch, capped at max_new_tokens and cut at
    # the first line: nothing dropped, reordered, sampled or decoded past the cap.
    enc = translator.tokenizer(texts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        reference = MarianMTModel.from_pretrained(tmp_path).eval()
        ids = reference.generate(**enc, max_new_tokens=4, do_sample=False, num_beams=1)
    decoded = translator.tokenizer.batch_decode(ids, skip_special_tokens=True)
    assert out == [first_line(t) for t in decoded]
    assert any(out), "the tiny model decoded nothing: the comparison proves little"
    # Decoding settings change outputs, so they are part of the id (and every cache key).
    longer = make_translator(
        TranslatorParams(backend="seq2seq", model=str(tmp_path), max_new_tokens=5, dtype="fp32"),
        llm_dir=tmp_path / "unused",
    )
    assert (
        longer.id == translator.id.replace("max_new_tokens=4", "max_new_tokens=5") != translator.id
    )


def test_fewshot_examples_cover_every_language_and_shape_the_prompt() -> None:
    assert set(FEWSHOT_EXAMPLES) == set(LANGUAGE_NAMES)
    assert all(len(ex) == 3 and all(ex) for ex in FEWSHOT_EXAMPLES.values())
    prompt = fewshot_prompt("red shoes", source="en", target="de")
    assert prompt.endswith("English: red shoes\nGerman:")
    assert "English: wireless earbuds\nGerman: kabellose kopfhörer" in prompt
    # A non-English source shows the examples in that language (never en -> en for the
    # English pivot)...
    pivot = fewshot_prompt("giày đỏ", source="vn", target="en")
    assert "Vietnamese: tai nghe không dây\nEnglish: wireless earbuds" in pivot
    assert pivot.endswith("Vietnamese: giày đỏ\nEnglish:")
    # ... and English examples when the table lacks the source language.
    other = fewshot_prompt("röda skor", source="sv", target="de")
    assert "English: wireless earbuds\nGerman:" in other
    assert other.endswith("sv: röda skor\nGerman:")


# ------------------------------------------------------------------ cache


def test_cache_keys(tmp_path: Path) -> None:
    fake, other = FakeTranslator(), FakeTranslator(id="fake:model@rev2")
    key = TranslationCache.key
    base = key("red shoes", source="en", target="de", translator=fake)
    assert key("  red \t shoes ", source="en", target="de", translator=fake) == base
    assert key("red shoes", source="en", target="it", translator=fake) != base
    assert key("red shoes", source="fr", target="de", translator=fake) != base
    assert key("red shoes", source="en", target="de", translator=other) != base
    assert key("Red shoes", source="en", target="de", translator=fake) != base  # case kept
    newer = FakeTranslator()
    newer.prompt_version = "fake-v2"
    assert key("red shoes", source="en", target="de", translator=newer) != base
    # The data's "vn" and ISO "vi" are one language.
    assert key("x", source="en", target="vn", translator=fake) == key(
        "x", source="en", target="vi", translator=fake
    )
    with TranslationCache(tmp_path) as cache:
        cache.put_many({base: "rote Schuhe"})
        assert cache.get_many([base, "nope"]) == {base: "rote Schuhe"}
    assert (tmp_path / "translations.sqlite").is_file()


def test_translate_texts_dedupes_caches_and_second_call_translates_nothing(
    tmp_path: Path,
) -> None:
    texts = ["red shoes", "blue lamp", " red  shoes", "green socks", "blue lamp", "tea", "cup"]
    fake = FakeTranslator()
    assert isinstance(fake, Translator)
    with TranslationCache(tmp_path) as cache:
        first = translate_texts(
            texts, source="en", target="de", translator=fake, cache=cache, batch_size=2
        )
        assert first.translations == [f"de {' '.join(t.split())}" for t in texts]
        assert (first.hits, first.misses) == (0, 5)
        assert [len(b) for b in fake.batches] == [2, 2, 1]  # batches of batch_size, shortest first
        assert fake.batches[0] == ["tea", "cup"]
        again = translate_texts(
            texts, source="en", target="de", translator=fake, cache=cache, batch_size=2
        )
        assert again.translations == first.translations
        assert (again.hits, again.misses) == (5, 0)
        assert len(fake.batches) == 3  # nothing translated the second time
        # Another target language is another entry.
        third = translate_texts(
            ["tea"], source="en", target="it", translator=fake, cache=cache, batch_size=2
        )
        assert (third.hits, third.misses, third.translations) == (0, 1, ["it tea"])


def test_an_interrupted_translation_keeps_finished_batches(tmp_path: Path) -> None:
    texts = [f"item {i}" for i in range(10)]
    with TranslationCache(tmp_path) as cache:
        with pytest.raises(KeyboardInterrupt):
            translate_texts(
                texts,
                source="en",
                target="de",
                translator=FakeTranslator(fail_on_batch=2),
                cache=cache,
                batch_size=3,
            )
        assert len(cache) == 6  # the two finished batches were committed
        resumed = translate_texts(
            texts, source="en", target="de", translator=FakeTranslator(), cache=cache, batch_size=3
        )
    assert (resumed.hits, resumed.misses) == (6, 4)
    assert resumed.translations == [f"de {t}" for t in texts]


def test_translate_grouped_splits_by_language_pair(tmp_path: Path) -> None:
    fake = FakeTranslator()
    with TranslationCache(tmp_path) as cache:
        result = translate_grouped(
            ["chaussures", "shoes", "giày", "lamp"],
            sources=["fr", "en", "vn", "en"],
            targets="en",
            translator=fake,
            cache=cache,
            batch_size=8,
        )
    # English rows need no translation; the others come back in row order.
    assert result.translations == ["en chaussures", "shoes", "en giày", "lamp"]
    assert (result.hits, result.misses) == (0, 2)
    assert sorted(map(tuple, fake.batches)) == [("chaussures",), ("giày",)]


def test_cache_report_counts_distinct_texts_and_speed() -> None:
    report = TranslationResult(["x"], hits=3, misses=1, seconds=2.0).cache_report()
    assert report == {
        "hits": 3, "misses": 1, "distinct_texts": 4, "hit_rate": 0.75,
        "translate_seconds": 2.0, "texts_per_second": 0.5,
    }  # fmt: skip
    nothing = TranslationResult([], hits=0, misses=0, seconds=0.0).cache_report()
    assert (nothing["hit_rate"], nothing["texts_per_second"]) == (None, None)


# ------------------------------------------------------------------- gate


def test_gate_reasons_on_hand_written_examples() -> None:
    config = TranslatorParams(min_similarity=0.8, max_length_ratio=4.0)
    cases = [
        # (source, translation, source lang, target lang, similarity, expected)
        ("red shoes", "rote schuhe", "en", "de", 0.95, None),
        ("birkenstock arizona", "Birkenstock Arizona", "en", "de", 0.99, None),  # same script
        ("red shoes", "   ", "en", "de", 0.95, "empty"),
        ("tv", "fernseher", "en", "de", 0.9, None),  # short sources may grow (floor of 8)
        ("red shoes", "rote schuhe " * 4, "en", "de", 0.9, "runaway"),  # 48 > 4 * 9 chars
        ("phone case", "handy handy handy hülle", "en", "de", 0.9, "runaway"),  # a loop
        ("xxxl hoodie", "xxxl kapuzenpullover", "en", "de", 0.9, None),  # no letter loop
        ("iphone 13", "iPhone 13", "en", "ar", 0.99, "copied"),  # other script, unchanged
        ("phone case", "iphone case", "en", "ar", 0.7, "wrong_script"),  # no Arabic letter
        ("phone case", "جراب هاتف", "en", "ar", 0.9, None),
        ("phone case", "ケース", "en", "ko", 0.9, "wrong_script"),  # kana is not Hangul
        ("phone case", "スマホケース", "en", "ja", 0.9, None),
        ("phone case", "чехол", "en", "de", 0.9, "wrong_script"),  # Cyrillic for German
        ("phone case", "kühlschrank", "en", "de", 0.79, "low_similarity"),
        ("giày đỏ", "red shoes", "vn", "en", 0.85, None),
        ("三脚", "三脚", "ja", "en", 1.0, "copied"),  # a pivot that did not translate
        ("switch pro controller", "switch pro controller", "ko", "en", 1.0, None),  # Latin
        ("huawei watch gt 4", "Huawei Watch GT 4", "ko", "ar", 0.99, "copied"),
    ]
    reasons = gate_translations(
        [c[0] for c in cases],
        [c[1] for c in cases],
        source=[c[2] for c in cases],
        target=[c[3] for c in cases],
        similarity=np.array([c[4] for c in cases]),
        config=config,
    )
    for case, reason in zip(cases, reasons, strict=True):
        assert reason == case[5], case
    assert {c[5] for c in cases} - {None} == set(GATE_REASONS)


def test_gate_checks_in_order_and_skips_missing_similarity() -> None:
    config = TranslatorParams(min_similarity=0.8)
    # Empty wins over low similarity; runaway over wrong script; copied over wrong script.
    assert gate_translations(
        ["a b", "ab", "tv"],
        ["", "xyz " * 30, "TV"],
        source="en",
        target="ar",
        similarity=[0.1, 0.1, 0.1],
        config=config,
    ) == ["empty", "runaway", "copied"]
    assert gate_translations(
        ["shoes"], ["schuhe"], source="en", target="de", similarity=None, config=config
    ) == [None]
    assert gate_translations(
        ["shoes"], ["schuhe"], source="en", target="de", similarity=[float("nan")], config=config
    ) == [None]


def test_score_and_gate_without_an_embedder_skips_only_the_similarity_check() -> None:
    config = TranslatorParams(min_similarity=0.99)
    sources, translations = ["red shoes", "tv", "lamp"], ["rote schuhe", "", "LAMP "]
    sims, reasons = score_and_gate(
        sources, translations, source="en", target="de", embedder=None, config=config
    )
    assert np.isnan(sims).all()  # unscored: min_similarity drops nothing
    assert reasons == [None, "empty", None]
    assert reasons == gate_translations(
        sources, translations, source="en", target="de", similarity=None, config=config
    )
    # A same-script copy passes the gate but counts as unchanged in the report.
    assert unchanged("LAMP ", "lamp") and not unchanged("rote schuhe", "red shoes")
    assert reason_counts(reasons) == {reason: int(reason == "empty") for reason in GATE_REASONS}


# -------------------------------------------------------------- sampling


def test_sample_sources_is_seeded_per_target(ingested: Path) -> None:
    train = pd.read_parquet(ingested / "train.parquet")
    kwargs = {"source_languages": ["en"], "rows_per_language": 10}
    a = sample_sources(train, targets=["de", "vn"], seed=1, **kwargs)
    b = sample_sources(train.sample(frac=1, random_state=0), targets=["de", "vn"], seed=1, **kwargs)
    pd.testing.assert_frame_equal(a, b)  # the file's row order does not matter
    assert list(a["target"]) == ["de"] * 10 + ["vn"] * 10
    assert set(a["lang"]) == {"en"}
    for _, part in a.groupby("target"):
        assert part["id"].is_unique and part["id"].is_monotonic_increasing
    other = sample_sources(train, targets=["de", "vn"], seed=2, **kwargs)
    assert set(other["id"][:10]) != set(a["id"][:10])
    # Each target has its own stream: adding one leaves the others' rows alone.
    alone = sample_sources(train, targets=["vn"], seed=1, **kwargs)
    assert list(alone["id"]) == list(a["id"][10:])
    # A target that is itself a source language never samples its own rows.
    fr = sample_sources(
        train, targets=["fr"], source_languages=["en", "fr"], rows_per_language=30, seed=1
    )
    assert set(fr["lang"]) == {"en"}
    with pytest.raises(DataError, match=r"rows_per_language=31 .* only 30 labelled rows"):
        sample_sources(train, targets=["de"], source_languages=["en"], rows_per_language=31, seed=1)


def test_translated_rows_are_byte_identical_for_the_same_seed(
    ingested: Path, tmp_path: Path
) -> None:
    train = pd.read_parquet(ingested / "train.parquet")
    config = TranslatorParams(batch_size=4)

    def run(seed: int, name: str) -> bytes:
        samples = sample_sources(
            train, targets=["de", "vn"], source_languages=["en"], rows_per_language=8, seed=seed
        )
        with TranslationCache(tmp_path / f"cache-{name}") as cache:
            result = build_translated_rows(
                samples, translator=FakeTranslator(), cache=cache, embedder=None, config=config
            )
        path = tmp_path / f"{name}.parquet"
        write_table(result.rows, path, TRANSLATED_SCHEMA)
        return path.read_bytes()

    assert run(5, "a") == run(5, "b")
    assert run(5, "a") != run(6, "c")
    rows = pd.read_parquet(tmp_path / "a.parquet")
    assert list(rows.columns) == TRANSLATED_SCHEMA.names
    first = rows.iloc[0]
    assert first["id"] == f"tr:de:{first['source_id']}"
    assert (first["language"], first["lang"], first["source_language"]) == ("de", "de", "en")
    assert first["query"] == f"de {first['source_query']}"
    assert list(first["category_levels"]) == ["home & garden", "kitchen"]
    vn = rows[rows["language"] == "vn"].iloc[0]
    assert (vn["lang"], vn["target_language"], vn["id"][:6]) == ("vi", "vi", "tr:vn:")
    assert rows["label"].dtype == np.int8 and rows["source_id"].dtype == np.int64


# ------------------------------------------------------------------ pivot


def test_pivot_rows_keep_english_and_report_failures(tmp_path: Path) -> None:
    rows = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "split": ["train", "train", "dev", "dev"],
            "language": ["en", "fr", "vn", "ar"],
            "lang": ["en", "fr", "vi", "ar"],
            "query": ["red shoes", "chaussures", "giày", "أحذية"],
        }
    )

    class Pivot(FakeTranslator):
        def translate(self, texts, *, source, target):
            self.batches.append(list(texts))
            return ["shoes" if source != "ar" else "" for _ in texts]

    with TranslationCache(tmp_path) as cache:
        result = pivot_rows(
            rows, translator=Pivot(), cache=cache, embedder=None, config=TranslatorParams()
        )
    out = result.rows
    assert list(out.columns) == PIVOT_SCHEMA.names
    assert list(out["query_en"]) == ["red shoes", "shoes", "shoes", None]
    assert list(out["reason"]) == [None, None, None, "empty"]
    assert result.report["splits"]["dev"] == {
        "rows": 2,
        "english": 0,
        "translated": 1,
        "failed": 1,
        "failed_by_reason": {reason: int(reason == "empty") for reason in GATE_REASONS},
    }
    assert result.report["total"]["translated"] + result.report["total"]["failed"] == 3


def test_pivot_task_checks_the_switch_and_needs_every_split_but_test(
    ingested: Path, tmp_path: Path
) -> None:
    setup = TranslationSetup(
        TranslatorParams(), tmp_path / "no-llm", tmp_path / "no", tmp_path / "cache"
    )
    kwargs = {"ingested": ingested, "out": tmp_path / "pivot.parquet", "setup": setup}
    with pytest.raises(ConfigError, match=r"^other.yaml:input.pivot_en: expected true or false"):
        pivot_task(TASKS["qc"], pivot_en="yes", source="other.yaml", **kwargs)
    rows = read_splits(ingested, TASKS["qc"])  # no test file: the task has none yet
    assert list(dict.fromkeys(rows["split"])) == ["train", "dev"] and len(rows) == 36 + 3
    (ingested / "dev.parquet").unlink()
    with pytest.raises(DataError, match=r"dev.parquet not found: run ingest@qc first"):
        pivot_task(TASKS["qc"], pivot_en=True, **kwargs)
    assert not (tmp_path / "cache").exists()  # failed before any cache was opened


def _invoke(module: str, args: list[str]):
    return CliRunner().invoke(_stage_main(module), args, catch_exceptions=False)


def test_pivot_off_writes_an_empty_table_without_a_model(ingested: Path, tmp_path: Path) -> None:
    params = _params(tmp_path / "params.yaml", input={"pivot_en": False})
    out, metrics = tmp_path / "pivot.parquet", tmp_path / "pivot.json"
    result = _invoke(
        "pivot",
        [
            "--task", "qc", "--ingested", str(ingested), "--llm", str(tmp_path / "no-llm"),
            "--embedder", str(tmp_path / "no-embedder"), "--out", str(out),
            "--metrics", str(metrics), "--cache-dir", str(tmp_path / "cache"),
            "--params", str(params),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 0 and table.schema.names == PIVOT_SCHEMA.names
    assert json.loads(metrics.read_text())["enabled"] is False
    assert not (tmp_path / "cache").exists()  # nothing was translated or embedded


# ------------------------------------------------------------------ stage


def _translate_args(ingested: Path, llm: Path, embedder: Path, out_dir: Path, params: Path):
    return [
        "--task", "qc", "--ingested", str(ingested),
        "--languages", str(ingested.parent / "languages.json"),
        "--llm", str(llm), "--embedder", str(embedder),
        "--out", str(out_dir / "qc.parquet"), "--metrics", str(out_dir / "metrics.json"),
        "--cache-dir", str(out_dir / "cache"), "--params", str(params),
    ]  # fmt: skip


def test_missing_languages_json_fails_naming_the_file(ingested: Path, tmp_path: Path) -> None:
    (ingested.parent / "languages.json").unlink()
    params = _params(tmp_path / "params.yaml")
    args = _translate_args(ingested, tmp_path / "llm", tmp_path / "emb", tmp_path / "o", params)
    result = CliRunner().invoke(_stage_main("translate"), args)
    assert result.exit_code == 1
    assert f"{ingested.parent / 'languages.json'} not found" in result.output
    assert "stats stage" in result.output


def _stage_main(module: str):
    return importlib.import_module(f"stages.{module}").main


def test_nothing_missing_writes_an_empty_table_without_a_model(
    ingested: Path, tmp_path: Path
) -> None:
    (ingested.parent / "languages.json").write_text('{"missing_from_train": []}')
    params = _params(tmp_path / "params.yaml")
    out_dir = tmp_path / "o"
    args = _translate_args(ingested, tmp_path / "no-llm", tmp_path / "no-emb", out_dir, params)
    result = _invoke("translate", args)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out_dir / "qc.parquet")
    assert table.num_rows == 0 and table.schema.names == TRANSLATED_SCHEMA.names
    assert json.loads((out_dir / "metrics.json").read_text())["total"]["sampled"] == 0


def test_open_translation_builds_the_translator_on_first_use(
    tiny_embedder_dir: Path, tmp_path: Path
) -> None:
    config = TranslatorParams(device="cpu")
    setup = TranslationSetup(config, tmp_path / "no-llm", tiny_embedder_dir, tmp_path / "cache")
    with open_translation(setup, embed_batch_size=8) as tools:
        # Opening needs no LLM folder: a stage with nothing to translate never loads one.
        assert (tools.embedder.batch_size, tools.embedder.device) == (8, "cpu")
        tools.cache.put_many({"key": "value"})
        with pytest.raises(ConfigError, match="expected a causal LM folder"):
            _ = tools.translator
    with TranslationCache(tmp_path / "cache") as cache:
        assert cache.get_many(["key"]) == {"key": "value"}  # closed, committed


def test_explicit_languages_are_spelled_as_the_data_spells_them(
    ingested: Path, tiny_embedder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # translate.languages: [vi]; dev spells Vietnamese "vn": rows are tr:vn:<id>, as with auto.
    languages = ingested.parent / "languages.json"
    by_split = {"train": ["en", "fr"], "dev": ["de", "en", "vn"]}
    languages.write_text(json.dumps({"by_split": by_split, "missing_from_train": []}))
    monkeypatch.setattr(translators, "make_translator", lambda *args, **kwargs: FakeTranslator())
    out = tmp_path / "qc.parquet"
    setup = TranslationSetup(
        TranslatorParams(min_similarity=-1.0), tmp_path / "unused", tiny_embedder_dir,
        tmp_path / "cache",
    )  # fmt: skip
    report = translate_task(
        TASKS["qc"], ingested=ingested, languages=languages, out=out, setup=setup,
        params=TranslateParams(languages=("vi",), rows_per_language=3),
    )  # fmt: skip
    rows = pd.read_parquet(out)
    assert report["targets"] == ["vn"] and report["languages"]["vn"]["sampled"] == 3
    assert len(rows) == 3 and rows["id"].str.startswith("tr:vn:").all()
    assert set(rows["lang"]) == {"vi"} and (rows["query"] == "vi " + rows["source_query"]).all()


def _cache_entries(path: Path) -> int:
    if not path.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM translations").fetchone()[0])
    except sqlite3.OperationalError:  # the table is being created
        return 0


def test_causal_lm_translator_on_the_tiny_lm(tiny_lm_dir: Path) -> None:
    translator = CausalLMTranslator(tiny_lm_dir, max_new_tokens=5, dtype="float32")
    texts = ["red shoes", "phone", "wool socks winter"]
    translator.translate(["warm up"], source="en", target="de")  # loads the model
    calls: list[tuple[int, ...]] = []
    generate = translator.model.generate

    def spy(**kwargs):
        calls.append(tuple(kwargs["input_ids"].shape))
        return generate(**kwargs)

    translator.model.generate = spy
    batched = translator.translate(texts, source="en", target="de")
    assert len(batched) == 3 and all("\n" not in t for t in batched)
    # One text per generate call: in bf16 a batch's padding and shape change some
    # texts' greedy output, so a text's translation would depend on its batch mates.
    assert [shape[0] for shape in calls] == [1, 1, 1]
    alone = [translator.translate([t], source="en", target="de")[0] for t in texts]
    assert batched == alone
    assert translator.id.endswith(":batch=1")
    # The folder's content, not its name: models/base/llm and models/base/translator
    # holding the same model share their cached translations.
    assert translator.id.startswith("causal-lm:sha256:")
    assert "float32" in translator.id and "max_new_tokens=5" in translator.id


def test_translate_stage_resumes_after_sigkill(
    ingested: Path, tiny_lm_dir: Path, tiny_embedder_dir: Path, tmp_path: Path
) -> None:
    params = _params(tmp_path / "params.yaml")
    killed_dir, fresh_dir = tmp_path / "run", tmp_path / "fresh"
    args = _translate_args(ingested, tiny_lm_dir, tiny_embedder_dir, killed_dir, params)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "RELEVANCE_CACHE_DIR": str(tmp_path / "unused"),
        "OMP_NUM_THREADS": "1",  # a tiny model on a busy 2-core machine: threads only contend
    }
    proc = subprocess.Popen(
        [sys.executable, "stages/translate.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    db = killed_dir / "cache" / "translations.sqlite"
    deadline = time.monotonic() + 120
    try:
        while _cache_entries(db) < 1:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no translation was cached within 120 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    before = _cache_entries(db)
    assert not (killed_dir / "qc.parquet").exists()

    resumed = CliRunner().invoke(_stage_main("translate"), args)
    assert resumed.exit_code == 0, resumed.output
    fresh = CliRunner().invoke(
        _stage_main("translate"),
        _translate_args(ingested, tiny_lm_dir, tiny_embedder_dir, fresh_dir, params),
    )
    assert fresh.exit_code == 0, fresh.output

    metrics = json.loads((killed_dir / "metrics.run.json").read_text())  # run statistics
    total = _cache_entries(fresh_dir / "cache" / "translations.sqlite")
    assert 1 <= before < total, "the run was not interrupted mid-way"
    assert metrics["cache"]["hits"] >= before
    assert metrics["cache"]["hits"] + metrics["cache"]["misses"] == total
    fresh_metrics = json.loads((fresh_dir / "metrics.run.json").read_text())
    assert (fresh_metrics["cache"]["hits"], fresh_metrics["cache"]["misses"]) == (0, total)
    fresh_metrics = json.loads((fresh_dir / "metrics.json").read_text())  # the results
    # Same seed, same translations: the same bytes, resumed or not.
    assert (killed_dir / "qc.parquet").read_bytes() == (fresh_dir / "qc.parquet").read_bytes()

    # Counts reconcile: per language and in total, sampled = kept + dropped by reason.
    rows = pd.read_parquet(fresh_dir / "qc.parquet")
    assert set(fresh_metrics["languages"]) == {"de", "vn"}
    for language, counts in fresh_metrics["languages"].items():
        assert counts["sampled"] == 12
        assert counts["sampled"] == counts["kept"] + counts["dropped"]
        assert counts["dropped"] == sum(counts["dropped_by_reason"].values())
        assert counts["kept"] == int((rows["language"] == language).sum())
    totals = fresh_metrics["total"]
    assert totals["sampled"] == 24 == totals["kept"] + totals["dropped"]
    assert totals["kept"] == len(rows)
    assert fresh_metrics["translator"].startswith("causal-lm:")


def test_pivot_stage_on_translates_every_non_english_query(
    ingested: Path, tiny_lm_dir: Path, tiny_embedder_dir: Path, tmp_path: Path
) -> None:
    params = _params(tmp_path / "params.yaml", input={"pivot_en": True})
    out, metrics = tmp_path / "pivot.parquet", tmp_path / "pivot.json"
    args = [
        "--task", "qc", "--ingested", str(ingested), "--llm", str(tiny_lm_dir),
        "--embedder", str(tiny_embedder_dir), "--out", str(out), "--metrics", str(metrics),
        "--cache-dir", str(tmp_path / "cache"), "--params", str(params),
    ]  # fmt: skip
    result = CliRunner().invoke(_stage_main("pivot"), args)
    assert result.exit_code == 0, result.output
    rows = pd.read_parquet(out)
    assert list(rows.columns) == PIVOT_SCHEMA.names
    assert len(rows) == 36 + 3  # train + dev (no test file)
    english = rows[rows["language"] == "en"]
    assert (english["query_en"] == english["query"]).all() and english["reason"].isna().all()
    foreign = rows[rows["language"] != "en"]
    # Every foreign query either has a pivot or the gate's reason, never both.
    assert (foreign["query_en"].isna() == foreign["reason"].notna()).all()
    report = json.loads(metrics.read_text())
    assert report["enabled"] is True
    total = report["total"]
    assert total["rows"] == total["english"] + total["translated"] + total["failed"] == 39
    assert total["failed"] == sum(total["failed_by_reason"].values())
    run = json.loads(run_stats_path(metrics).read_text())  # beside the metrics
    assert run["cache"]["misses"] == foreign["query"].nunique()
