"""Model folders: version-free bytes after every save, safetensors-only loads and the
models.allow_download gate (no test touches the network: every gate fails first)."""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from click.testing import CliRunner

from relevance.errors import ConfigError
from relevance.modelfolder import (
    VERSION_KEYS,
    check_hub_access,
    check_safetensors,
    normalise_model_folder,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HUB_ID = "ByteDance-Seed/Seed-X-PPO-7B"


def _md5s(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.md5(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# Where each library records its version, by file name.
_RECORDS = {
    "config.json": ("transformers_version", "4.99.0"),
    "generation_config.json": ("transformers_version", "4.99.0"),
    "adapter_config.json": ("peft_version", "0.99.0@0123abc"),
    "config_sentence_transformers.json": (
        "__version__",
        {"sentence_transformers": "9.9.9", "transformers": "4.99.0", "pytorch": "9.0"},
    ),
}


def _other_versions(folder: Path) -> None:
    """Make ``folder`` what other transformers / peft / sentence-transformers releases
    would have written: other (or newly added) version records, JSON in another layout
    (4-space indent, keys unsorted) and another framework list in the model card."""
    for path in folder.rglob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and path.parent == folder and path.name in _RECORDS:
            key, value = _RECORDS[path.name]
            data[key] = value
        if isinstance(data, dict):
            data = dict(reversed(list(data.items())))
        path.write_text(json.dumps(data, indent=4))
    for card in folder.rglob("README.md"):
        text = card.read_text(encoding="utf-8")
        if "framework versions" in text.lower():
            text = text.replace("PEFT 0.", "PEFT 9.").replace("Transformers: ", "Transformers: 9")
        else:
            text += "\n\n### Framework versions\n\n- PEFT 9.9.9\n- Transformers: 4.99.0"
        card.write_text(text)


@pytest.fixture(scope="module")
def saved_folders(tiny_lm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folders as the libraries save them: the tiny LM, a sentence-transformers embedder
    and a peft LoRA adapter (each with its library's version records)."""
    from peft import LoraConfig, get_peft_model
    from tiny_lm import build_tiny_embedder
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("saved")
    lm = root / "llm"
    shutil.copytree(tiny_lm_dir, lm)
    embedder = build_tiny_embedder(root / "embedder")
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_lm_dir)
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    get_peft_model(base, lora).save_pretrained(root / "adapter")
    return {"llm": lm, "embedder": embedder, "adapter": root / "adapter"}


def test_saved_folders_carry_library_versions_before_normalising(saved_folders) -> None:
    """The premise: without normalising, these folders' bytes follow the library versions."""
    llm, adapter = saved_folders["llm"], saved_folders["adapter"]
    assert '"transformers_version"' in (llm / "config.json").read_text()
    assert '"transformers_version"' in (llm / "generation_config.json").read_text()
    assert '"peft_version"' in (adapter / "adapter_config.json").read_text()
    assert "PEFT 0." in (adapter / "README.md").read_text()
    st_config = saved_folders["embedder"] / "config_sentence_transformers.json"
    assert '"__version__"' in st_config.read_text()


@pytest.mark.parametrize("name", ["llm", "embedder", "adapter"])
def test_another_library_version_normalises_to_the_same_bytes(
    saved_folders, tmp_path: Path, name: str
) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    shutil.copytree(saved_folders[name], ours)
    normalise_model_folder(ours)
    before = _md5s(ours)
    # The same weights saved by other library versions (and, separately, the already
    # normalised folder edited to another version): identical bytes after normalising.
    shutil.copytree(saved_folders[name], theirs)
    _other_versions(theirs)
    normalise_model_folder(theirs)
    assert _md5s(theirs) == before
    _other_versions(ours)
    normalise_model_folder(ours)
    assert _md5s(ours) == before
    assert normalise_model_folder(ours) == []  # idempotent
    for path in ours.rglob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            assert not set(VERSION_KEYS) & set(data), path
    for card in ours.rglob("README.md"):
        assert "framework versions" not in card.read_text().lower()


def test_normalised_folders_still_load_and_compute_the_same(saved_folders, tmp_path: Path) -> None:
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    copies = {}
    for name, folder in saved_folders.items():
        copies[name] = tmp_path / name
        shutil.copytree(folder, copies[name])
        assert normalise_model_folder(copies[name])  # something was rewritten

    text = "rote Laufschuhe für Herren 赤いランニングシューズ: yes"
    tokenizer, reloaded_tok = (
        AutoTokenizer.from_pretrained(d) for d in (saved_folders["llm"], copies["llm"])
    )
    assert reloaded_tok(text).input_ids == tokenizer(text).input_ids
    batch = tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        models = [
            AutoModelForCausalLM.from_pretrained(d, use_safetensors=True).eval()
            for d in (saved_folders["llm"], copies["llm"])
        ]
        torch.testing.assert_close(models[1](**batch).logits, models[0](**batch).logits)
        assert models[1].config.transformers_version is None
        with_adapter = [
            PeftModel.from_pretrained(m, d)
            for m, d in zip(models, (saved_folders["adapter"], copies["adapter"]), strict=True)
        ]
        torch.testing.assert_close(with_adapter[1](**batch).logits, with_adapter[0](**batch).logits)

    encoders = [
        SentenceTransformer(
            str(d), device="cpu", local_files_only=True, model_kwargs={"use_safetensors": True}
        )
        for d in (saved_folders["embedder"], copies["embedder"])
    ]
    torch.testing.assert_close(
        torch.from_numpy(encoders[1].encode(["wool socks", "lamp"])),
        torch.from_numpy(encoders[0].encode(["wool socks", "lamp"])),
    )


def test_normalise_keeps_other_files_and_cards_without_a_version_list(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "modules.json").write_text('[{"idx": 0, "b": 1, "a": 2}]')
    (folder / "weights.bin").write_bytes(b"transformers_version")
    (folder / "README.md").write_text("# My model\r\nNo versions here.")
    card = "# Card\n\n## Use\n\ntext\n\n### Framework versions\n\n- PEFT 0.21.2\n\n## After\n\nkept"
    (folder / "sub").mkdir()
    (folder / "sub" / "README.md").write_text(card)
    assert normalise_model_folder(folder) == ["modules.json", "sub/README.md"]
    assert (folder / "modules.json").read_text() == (
        '[\n  {\n    "a": 2,\n    "b": 1,\n    "idx": 0\n  }\n]\n'
    )
    assert (folder / "weights.bin").read_bytes() == b"transformers_version"
    assert (folder / "README.md").read_bytes() == b"# My model\r\nNo versions here."
    assert (folder / "sub" / "README.md").read_text() == (
        "# Card\n\n## Use\n\ntext\n\n## After\n\nkept\n"
    )


def test_normalise_rejects_a_missing_folder_and_broken_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a model folder to normalise"):
        normalise_model_folder(tmp_path / "nope")
    (tmp_path / "config.json").write_text('{"model_type": ')
    with pytest.raises(ConfigError, match=r"config\.json: expected a UTF-8 JSON file"):
        normalise_model_folder(tmp_path)


def test_models_copy_is_normalised_before_its_manifest(tiny_lm_dir: Path, tmp_path: Path) -> None:
    """metrics/models.json records the sha256 of the files as they are kept."""
    from relevance.model.base_models import file_manifest, materialize_from_path

    info = materialize_from_path(src=tiny_lm_dir, out_dir=tmp_path / "llm")
    assert "transformers_version" not in (tmp_path / "llm" / "config.json").read_text()
    assert info.files == file_manifest(tmp_path / "llm")
    other = tmp_path / "other"
    shutil.copytree(tiny_lm_dir, other)
    _other_versions(other)
    assert materialize_from_path(src=other, out_dir=tmp_path / "llm2").files == info.files


# ------------------------------------------------------------ safetensors only


def _pickle_only(source: Path, folder: Path) -> Path:
    """``source`` with its safetensors weights replaced by a pickled state dict."""
    from safetensors.torch import load_file

    shutil.copytree(source, folder)
    for weights in list(folder.rglob("*.safetensors")):
        name = "adapter_model.bin" if weights.stem == "adapter_model" else "pytorch_model.bin"
        torch.save(load_file(str(weights)), weights.with_name(name))
        weights.unlink()
    return folder


@pytest.fixture(scope="module")
def pickled(saved_folders, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pickled")
    return {name: _pickle_only(folder, root / name) for name, folder in saved_folders.items()}


def test_check_safetensors_names_the_folder_and_what_it_found(pickled, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        check_safetensors(pickled["llm"], label="translator model")
    message = str(caught.value)
    assert message.startswith("translator model: ")
    assert str(pickled["llm"]) in message
    assert "only pickle weights (pytorch_model.bin)" in message
    assert "expected *.safetensors" in message
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="has no weights"):
        check_safetensors(tmp_path / "empty", label="x")
    with pytest.raises(ConfigError, match=r"expected a model folder at .*, found none"):
        check_safetensors(tmp_path / "nope", label="x")


@pytest.fixture
def no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any from_pretrained that is reached is a test failure: the checks come first."""
    import peft
    import transformers

    def reached(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a loader was reached with {args}")

    for name in (
        "AutoConfig", "AutoTokenizer", "AutoModelForCausalLM", "AutoModelForSeq2SeqLM",
        "AutoModelForSequenceClassification",
    ):  # fmt: skip
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", reached)
    monkeypatch.setattr(peft.PeftModel, "from_pretrained", reached)
    monkeypatch.setattr(peft.PeftConfig, "from_pretrained", reached)


def test_every_loader_refuses_pickle_only_folders(
    pickled, saved_folders, tiny_lm_dir: Path, tmp_path: Path, no_loading
) -> None:
    from tiny_lm import toy_rows

    from relevance.augment.embedding import Embedder
    from relevance.augment.translators import CausalLMTranslator, Seq2SeqTranslator
    from relevance.model.heads import load_head_model
    from relevance.model.scoring import HFScorer, VllmScorer
    from relevance.model.train import TrainParams, train_lora
    from relevance.schema import TASKS

    bad_llm = str(pickled["llm"])
    for build in (
        lambda: CausalLMTranslator(pickled["llm"]),
        lambda: Seq2SeqTranslator(pickled["llm"]),
        lambda: load_head_model(pickled["llm"], head="yes_no", dtype=torch.float32),
        lambda: HFScorer(pickled["llm"]),
        lambda: VllmScorer(pickled["llm"]),
        lambda: train_lora(
            model_dir=pickled["llm"], task=TASKS["qc"], rows=toy_rows(8),
            config=TrainParams(), out_dir=tmp_path / "run", progress=False,
        ),
    ):  # fmt: skip
        with pytest.raises(ConfigError, match=r"only pickle weights \(pytorch_model\.bin\)") as e:
            build()
        assert bad_llm in str(e.value)
    with pytest.raises(ConfigError, match=r"^embedder: .* has only pickle weights") as e:
        Embedder(pickled["embedder"])
    assert str(pickled["embedder"]) in str(e.value)
    bad_adapter = str(pickled["adapter"])
    for build in (
        lambda: HFScorer(tiny_lm_dir, adapter_dir=pickled["adapter"]),
        lambda: VllmScorer(tiny_lm_dir, adapter_dir=pickled["adapter"]),
    ):
        with pytest.raises(ConfigError, match=r"only pickle weights \(adapter_model\.bin\)") as e:
            build()
        assert bad_adapter in str(e.value)


def test_training_refuses_a_pickle_only_init_adapter(
    pickled, tiny_lm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The base model's tokenizer loads first (a local safetensors folder); the adapter is
    refused before peft opens it."""
    import peft
    from tiny_lm import toy_rows

    from relevance.model.train import TrainParams, train_lora
    from relevance.schema import TASKS

    def reached(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("peft was asked to load the adapter")

    monkeypatch.setattr(peft.PeftModel, "from_pretrained", reached)
    monkeypatch.setattr(peft.PeftConfig, "from_pretrained", reached)
    with pytest.raises(ConfigError, match=r"only pickle weights \(adapter_model\.bin\)") as e:
        train_lora(
            model_dir=tiny_lm_dir, task=TASKS["qc"], rows=toy_rows(8), config=TrainParams(),
            out_dir=tmp_path / "run", progress=False, init_adapter=pickled["adapter"],
        )  # fmt: skip
    assert str(e.value).startswith(f"init_adapter: {pickled['adapter']} has")


# ------------------------------------------------------------------ hub access


def test_check_hub_access(tiny_lm_dir: Path, tmp_path: Path) -> None:
    assert check_hub_access(tiny_lm_dir, param="p", allow_download=False) is True
    assert check_hub_access(HUB_ID, param="p", allow_download=True) is False
    with pytest.raises(ConfigError) as caught:
        check_hub_access(HUB_ID, param="params.yaml:translator.model", allow_download=False)
    assert str(caught.value).startswith(
        f"params.yaml:translator.model = '{HUB_ID}' is not a local folder"
    )
    assert "set models.allow_download: true to fetch it from the hub" in str(caught.value)
    with pytest.raises(ConfigError, match="neither"):
        check_hub_access(str(tmp_path / "a" / "b"), param="p", allow_download=True)


class _FakeVllm:
    """Stands in for the vllm module: records the engine arguments, loads nothing."""

    def __init__(self) -> None:
        self.engines: list[dict[str, Any]] = []
        fake = self

        class LLM:
            def __init__(self, **kwargs: Any) -> None:
                fake.engines.append(kwargs)

            def generate(self, prompts: list[str], *args: Any, **kwargs: Any) -> list[Any]:
                out = type("Out", (), {"text": "x"})
                return [type("R", (), {"outputs": [out]}) for _ in prompts]

        self.LLM = LLM
        self.SamplingParams = lambda **kwargs: kwargs


def test_translator_hub_ids_need_allow_download_for_every_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_loading
) -> None:
    from relevance.augment import translators
    from relevance.augment.translators import TranslatorParams, make_translator

    def no_vllm() -> None:
        raise AssertionError("vllm was imported before the gate")

    monkeypatch.setattr(translators, "_import_vllm", no_vllm)
    for backend in ("causal-lm", "seq2seq", "vllm"):
        config = TranslatorParams(backend=backend, model=HUB_ID)
        with pytest.raises(ConfigError) as caught:
            make_translator(config, llm_dir=tmp_path)
        message = str(caught.value)
        assert message.startswith(
            f"params.yaml:translator.model = '{HUB_ID}' is not a local folder"
        )
        assert "models.allow_download: true" in message
        if backend != "vllm":  # local folders only, whatever allow_download says
            with pytest.raises(ConfigError, match="loads local folders only"):
                make_translator(config, llm_dir=tmp_path, allow_download=True)

    # Allowed: the hub id reaches vLLM, which is told to read safetensors only.
    fake = _FakeVllm()
    monkeypatch.setattr(translators, "_import_vllm", lambda: fake)
    translator = make_translator(
        TranslatorParams(backend="vllm", model=HUB_ID), llm_dir=tmp_path, allow_download=True
    )
    assert fake.engines == []  # the engine starts on the first translate call
    assert translator.translate(["red shoes"], source="en", target="de") == ["x"]
    assert fake.engines[0]["model"] == HUB_ID
    assert fake.engines[0]["load_format"] == "safetensors"


def test_scoring_hub_ids_need_allow_download(
    tiny_lm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_loading
) -> None:
    from relevance.model import scoring
    from relevance.model.predict import PredictParams, scorer_for
    from relevance.model.scoring import make_scorer

    def no_vllm() -> None:
        raise AssertionError("vllm was imported before the gate")

    monkeypatch.setattr(scoring, "_import_vllm", no_vllm)
    for backend in ("hf", "vllm"):
        with pytest.raises(ConfigError, match=r"^scoring model = .* is not a local folder"):
            make_scorer(backend, HUB_ID)
        # A trained adapter on a base model given as a hub id.
        trained = tmp_path / backend
        shutil.copytree(tiny_lm_dir, trained / "adapter")
        params = PredictParams(backend=backend)
        with pytest.raises(ConfigError, match=r"set models\.allow_download: true"):
            scorer_for(trained, base_model=Path(HUB_ID), params=params)

    # Allowed: the hub id goes to vLLM (here a stand-in), safetensors only.
    fake = _FakeVllm()
    monkeypatch.setattr(scoring, "_import_vllm", lambda: fake)
    monkeypatch.setattr(scoring, "resolve_label_tokens", lambda tokenizer: None)
    monkeypatch.setattr(scoring, "vllm_sampling_kwargs", lambda labels: {})
    import transformers

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda name: name)
    make_scorer("vllm", HUB_ID, allow_download=True)
    assert fake.engines[0]["model"] == HUB_ID
    assert fake.engines[0]["load_format"] == "safetensors"


# ------------------------------------------------------------- offline switch

STAGES = ["models", "translate", "negatives", "pivot", "selfval", "tapt", "train", "cv", "predict"]


@pytest.fixture
def online_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shell that asks for hub access (restored after the test)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def test_force_offline_overrides_an_inherited_hf_hub_offline_0(online_shell) -> None:
    import os

    import huggingface_hub.constants

    from relevance.stage import force_offline_unless_allowed

    assert force_offline_unless_allowed(True) is True
    assert os.environ["HF_HUB_OFFLINE"] == "0" and not huggingface_hub.constants.HF_HUB_OFFLINE
    assert force_offline_unless_allowed(False) is False
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True
    assert huggingface_hub.constants.is_offline_mode()
    with pytest.raises(ConfigError, match=r"^p\.yaml:models\.allow_download: expected true or"):
        force_offline_unless_allowed("no", source="p.yaml")


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("allow", [False, True])
def test_stages_apply_allow_download_first(
    stage: str, allow: bool, tmp_path: Path, online_shell
) -> None:
    """Every stage that may load a model switches hub access off (unless allowed) before
    it reads anything else; here each then fails on its missing inputs."""
    import os

    import huggingface_hub.constants

    params = tmp_path / "params.yaml"
    missing = f"path:{tmp_path / 'none'}"
    models = {"llm": missing, "embedder": missing, "allow_download": allow}
    params.write_text(yaml.safe_dump({"models": models}))
    main = importlib.import_module(f"stages.{stage}").main
    args = []
    for option in main.params:
        if option.required:
            value = "qc" if option.name in ("task", "task_name") else str(tmp_path / option.name)
            args += [option.opts[0], value]
    result = CliRunner().invoke(main, [*args, "--params", str(params)])
    assert result.exit_code != 0  # nothing to work on
    assert isinstance(result.exception, SystemExit), result.exception
    expected = "0" if allow else "1"
    assert os.environ["HF_HUB_OFFLINE"] == expected, result.output
    assert os.environ["TRANSFORMERS_OFFLINE"] == expected
    assert huggingface_hub.constants.HF_HUB_OFFLINE is (not allow)
