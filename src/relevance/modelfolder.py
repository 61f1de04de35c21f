"""Model folders: safetensors-only checks, the hub-access gate and a version-free normal form.

Three rules every model folder the pipeline reads or writes follows:

- **Safetensors only.** Pickle formats (``.bin``, ``.pt``, ...) can run code when loaded,
  so a folder whose weights exist only in those formats is refused with a
  :class:`ConfigError` before any library opens it (:func:`check_safetensors`), and
  loaders pass ``use_safetensors=True``.
- **No hub id without permission.** A model reference that is not a local folder is a hub
  id, and is fetched only when ``models.allow_download`` is true (:func:`check_hub_access`);
  otherwise the run stops before any library tries the network.
- **Stable bytes.** DVC hashes every model folder. transformers, peft and
  sentence-transformers record their own versions in the JSON files and model cards they
  write, so identical weights saved under another library version would hash differently
  and rerun the whole graph. :func:`normalise_model_folder` removes those records and
  rewrites every JSON file in one deterministic layout; call it after every save.

A leaf module (it imports only :mod:`relevance.errors`), so both the ``models`` stage and
the training, scoring, translation and embedding code can use it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from relevance.errors import ConfigError, where

logger = logging.getLogger(__name__)

SAFE_WEIGHT_SUFFIX = ".safetensors"
PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")

# A hub repository id: "<name>" or "<org>/<name>".
HUB_REPO_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]*/)?[A-Za-z0-9][A-Za-z0-9_.-]*$")

# Top-level keys in which a library records its own (or its dependencies') versions:
# transformers in config.json and generation_config.json, peft in adapter_config.json,
# sentence-transformers in config_sentence_transformers.json. None of them is read back
# for loading (an absent key is what older files have). Only top-level keys are removed:
# deeper down, e.g. in a tokenizer vocabulary, the same string may be real data.
VERSION_KEYS = ("transformers_version", "peft_version", "__version__")

# peft's and sentence-transformers' model cards end with a "Framework versions" list.
_FRAMEWORK_HEADING = re.compile(r"^(#{1,6})\s*framework versions\s*$", re.IGNORECASE)
_HEADING = re.compile(r"^(#{1,6})\s")
MODEL_CARD = "README.md"


# ------------------------------------------------------------------ safetensors


def check_safetensors(folder: Path, *, label: str) -> None:
    """Refuse ``folder`` unless it is a folder holding ``*.safetensors`` weights.

    ``label`` names what the folder is for (e.g. ``"params.yaml:translator.model"``) and
    starts the message. Hidden entries (``.git``, the hub's ``.cache``) are ignored.
    Raises :class:`ConfigError` naming the folder and the pickle files it found.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{label}: expected a model folder at {where(folder)}, found none")
    files = [
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    if any(p.suffix == SAFE_WEIGHT_SUFFIX for p in files):
        return
    pickles = sorted(p.name for p in files if p.suffix in PICKLE_WEIGHT_SUFFIXES)
    found = f"only pickle weights ({', '.join(pickles)})" if pickles else "no weights"
    raise ConfigError(
        f"{label}: {where(folder)} has {found}; expected *.safetensors (pickle formats "
        "can run code when loaded; convert them with safetensors first)"
    )


# ------------------------------------------------------------------- hub access


def check_hub_access(reference: str | Path, *, param: str, allow_download: bool) -> bool:
    """Whether ``reference`` is a local folder; refuse a hub id unless downloads are allowed.

    ``param`` names the setting the reference came from (``params.yaml:translator.model``).
    A local folder is checked with :func:`check_safetensors` and gives True. Anything else
    is taken for a hub id: a :class:`ConfigError` unless ``allow_download`` (then False,
    and the caller's loader fetches it, safetensors only); also one when it cannot be a
    hub id (``org/name``) either. Raised before any library is asked to load it, so no
    download is attempted.
    """
    text = str(reference)
    if text and Path(text).is_dir():
        check_safetensors(Path(text), label=param)
        return True
    if not allow_download:
        raise ConfigError(
            f"{param} = {text!r} is not a local folder (none at {Path(text).absolute()}); "
            "if it is a hub id, set models.allow_download: true to fetch it from the hub"
        )
    if not HUB_REPO_ID.match(text):
        raise ConfigError(
            f"{param} = {text!r}: expected a local model folder or a hub id like "
            "'<org>/<name>'; it is neither (no such folder)"
        )
    return False


# ------------------------------------------------------------------- normal form


def _json_bytes(data: object) -> bytes:
    """Sorted keys, two-space indent, UTF-8, final newline: what transformers itself
    writes for configs, applied to every JSON file whatever wrote it."""
    try:
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (valid as a JSON escape, not as UTF-8) stays escaped.
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("ascii")


def _without_framework_versions(card: str) -> str:
    """A model card without its "Framework versions" section (heading to next heading of
    the same or a higher level, or the end). A card without one is returned as it is."""
    if not any(_FRAMEWORK_HEADING.match(line.strip()) for line in card.splitlines()):
        return card
    kept: list[str] = []
    skip_level = 0  # the level of the section being dropped; 0 = keeping
    for line in card.splitlines():
        heading = _HEADING.match(line)
        if skip_level and heading and len(heading.group(1)) <= skip_level:
            skip_level = 0
        framework = _FRAMEWORK_HEADING.match(line.strip())
        if framework:
            skip_level = len(framework.group(1))
        if not skip_level:
            kept.append(line)
    return "\n".join(kept).rstrip() + "\n"


def _replace_bytes(path: Path, content: bytes) -> None:
    """Write ``content`` through a temporary file and a rename, keeping the file's mode,
    so an interrupted run never leaves a half-written config in a model folder."""
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        shutil.copymode(path, temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def normalise_model_folder(folder: Path) -> list[str]:
    """Remove library versions from a model folder and give its JSON files one layout.

    Every ``*.json`` file loses the top-level :data:`VERSION_KEYS` and is rewritten with
    sorted keys and two-space indentation (see :func:`_json_bytes`); every ``README.md``
    model card loses its "Framework versions" section. Weights and other files are not
    touched. Idempotent, and the result loads with transformers, peft and
    sentence-transformers as before. Returns the files it changed (relative POSIX paths).

    Raises :class:`ConfigError` for a missing folder or a ``*.json`` file that is not
    valid UTF-8 JSON (a library could not load it either).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{where(folder)}: expected a model folder to normalise, found none")
    changed: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".json":
            old = path.read_bytes()
            try:
                data = json.loads(old)
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise ConfigError(
                    f"{where(path)}: expected a UTF-8 JSON file in a model folder: {err}"
                ) from None
            if isinstance(data, dict):
                for key in VERSION_KEYS:
                    data.pop(key, None)
            new = _json_bytes(data)
        elif path.name == MODEL_CARD:
            old = path.read_bytes()
            text = old.decode("utf-8", errors="surrogateescape")
            new = _without_framework_versions(text).encode("utf-8", errors="surrogateescape")
        else:
            continue
        if new != old:
            _replace_bytes(path, new)
            changed.append(path.relative_to(folder).as_posix())
    if changed:
        logger.info("normalised %s: %s", folder, ", ".join(changed))
    return changed


def folder_revision(folder: Path) -> str:
    """A content revision of a model folder: sha256 over its files' names and bytes.

    Two folders with the same files have the same revision wherever they live, so a
    cache entry made with ``models/base/llm`` in one clone is valid in another.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: expected a model folder, found none")
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


# --------------------------------------------------------- families and roles

# Bidirectional encoders with a sequence-classification class in transformers.
ENCODER_MODEL_TYPES = frozenset(
    {"bert", "roberta", "xlm-roberta", "deberta", "deberta-v2", "electra", "distilbert",
     "camembert", "mpnet", "modernbert", "xlm"}
)  # fmt: skip


def model_family(folder: str | Path) -> str:
    """``"causal_lm"`` or ``"encoder"``, from the ``architectures`` of ``folder``'s
    config.json (a sentence-transformers folder keeps it at its top level too).

    Any ``*ForCausalLM`` / ``*LMHeadModel`` is a causal LM; an encoder is a model type of
    :data:`ENCODER_MODEL_TYPES` saved as ``*Model``, ``*ForMaskedLM`` or
    ``*ForSequenceClassification`` (a decoder saved as ``*Model``, e.g. ``Qwen2Model``,
    is not one). Anything else is a ConfigError naming the file.
    """
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{folder}: no config.json, so its model family is unknown")
    config = json.loads(path.read_text())
    names = config.get("architectures") or []
    if any(n.endswith(("ForCausalLM", "LMHeadModel")) for n in names):
        return "causal_lm"
    encoder_like = ("Model", "ForMaskedLM", "ForSequenceClassification")
    if (
        config.get("model_type") in ENCODER_MODEL_TYPES
        and names
        and all(n.endswith(encoder_like) for n in names)
        and not config.get("is_decoder", False)
    ):
        return "encoder"
    raise ConfigError(
        f"{path}: model type {config.get('model_type')!r}, architectures {names}: neither "
        "a causal LM (*ForCausalLM) nor an encoder of the types "
        f"{sorted(ENCODER_MODEL_TYPES)} (*Model, *ForMaskedLM, *ForSequenceClassification)"
    )


# The only file of the models stage's translator folder when models.translator is the
# llm itself.
SAME_AS_LLM_MARKER = "SAME_AS_LLM"


def translator_folder(translator_dir: Path, llm_dir: Path) -> Path:
    """The LLM that translates: ``translator_dir`` (the models stage's
    ``models.translator`` folder), or ``llm_dir`` where that holds only the
    :data:`SAME_AS_LLM_MARKER`."""
    if (Path(translator_dir) / SAME_AS_LLM_MARKER).is_file():
        return Path(llm_dir)
    return Path(translator_dir)
