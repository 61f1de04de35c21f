"""What makes a LoRA run the same run, and what it leaves on disk.

A training stage keeps its checkpoints in a folder that outlives the process (DVC does
not cache it), so an interrupted ``dvc repro`` picks up where it stopped. That is only
safe when the checkpoint belongs to *this* run, so every run writes its identity
(:func:`run_identity`: fingerprints of the token ids and labels, the base model, the
training code and the init adapter, and the settings) beside its checkpoints, and
:func:`resume_point` resumes only a checkpoint whose identity matches. A checkpoint the
process was killed while saving is set aside, never resumed. A run whose last
checkpoint is its final step is not trained again: its weights are reloaded.

The fingerprints decide resumption only: changing how they are computed makes an old
checkpoint start over once, never changes a result. Folder contents are hashed by
:func:`relevance.modelfolder.folder_revision`, the project's one folder hasher.

The finished model (``adapter/``, ``merged/``) is saved with byte-stable files
(:func:`save_model_folders`) so that training again on the same inputs gives the same
DVC hash, and :func:`publish_model` moves it from the checkpoint folder to the stage's
DVC output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from relevance.errors import ConfigError
from relevance.launch import barrier, is_main_process, launched
from relevance.model.heads import read_prompt_meta, write_prompt_meta
from relevance.model.prompt import DEFAULT_TEMPLATE, PROMPT_VERSIONS
from relevance.modelfolder import check_safetensors, folder_revision, normalise_model_folder
from relevance.schema import Task

logger = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"
MERGED_DIR = "merged"
SUMMARY_FILE = "train_summary.json"
RUN_FILE = "train_run.json"  # what a checkpoint in out_dir was trained with (for resume)
# The Trainer pickles its TrainingArguments beside every model it saves.
TRAINING_ARGS_FILE = "training_args.bin"
# Figures of one run rather than of its model (wall clock, where it resumed): in the
# returned summary and the stage's metrics, never in the model folder, so that training
# again on the same inputs (bitwise the same weights on CPU) gives the same DVC hash and
# the stages downstream of the model are skipped.
RUN_KEYS = ("seconds", "train_seconds", "resumed_from", "resumed_from_step")

# Identity keys a checkpoint must share with the run that resumes it.
_IDENTITY_KEYS = (
    "task",
    "prompt_version",
    "data_fingerprint",
    "model_dir",
    "model_fingerprint",
    "code_fingerprint",
    "init_adapter_fingerprint",
)
# Settings that may change between an interrupted run and its resumption: they say how
# long to train and what to keep, not what a step computes.
_RESUMABLE_CHANGES = {
    "max_steps",
    "epochs",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "merge",
}
# peft task type of each head.
_PEFT_TASK = {"yes_no": "CAUSAL_LM", "seq_cls": "SEQ_CLS"}
# Files a checkpoint's weights may be saved as (a peft adapter, or a whole model).
_CHECKPOINT_WEIGHTS = (
    "adapter_model.safetensors",
    "adapter_model.bin",
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
)
# Prefix of a set-aside incomplete checkpoint: the Trainer's ^checkpoint-(\d+)$ pattern
# (resume, rotation) no longer matches it.
INCOMPLETE_PREFIX = "incomplete-"


@dataclass(frozen=True)
class TrainResult:
    """Where training wrote its outputs, and what happened (``summary``, JSON-able)."""

    out_dir: Path
    adapter_dir: Path | None  # None: a fully fine-tuned model (an encoder), merged_dir only
    merged_dir: Path | None
    summary: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ identity


def data_fingerprint(input_ids: Sequence[Sequence[int]], labels: np.ndarray) -> str:
    """sha256 over the token ids and labels a run trains on (what the model sees, so any
    change to rows, prompt or tokenizer shows)."""
    digest = hashlib.sha256()
    for ids in input_ids:
        digest.update(np.asarray(ids, dtype=np.int64).tobytes())
        digest.update(b"|")
    digest.update(labels.astype(np.int8).tobytes())
    return digest.hexdigest()[:16]


def model_fingerprint(model_dir: Path) -> str:
    """The base model folder's content revision: a checkpoint is only resumed on the very
    same base weights, and an init adapter only continued on them (a folder of the same
    name holding another model, ``models.llm`` changed, must start over)."""
    return folder_revision(model_dir)


def check_init_adapter(
    init_adapter: Path, *, config: Mapping[str, Any], model_fingerprint: str
) -> None:
    """ConfigError unless ``init_adapter`` is a LoRA adapter this run can continue from.

    Same rank and alpha (the weights mean something else under another scale), same head
    (peft task type and prompt meta), same base weights (meta ``base_model_fingerprint``,
    written by :func:`save_model_folders`) and, when ``config["target_modules"]`` names
    modules, the same modules. An adapter without our meta can only be checked by its
    shapes, at load. ``config`` is the run's settings as :meth:`TrainParams.to_dict`
    gives them.
    """
    config_file = init_adapter / "adapter_config.json"
    if not config_file.is_file() or not any(init_adapter.glob("adapter_model.*")):
        raise ConfigError(
            f"init_adapter {init_adapter}: expected a peft adapter folder (adapter_config.json "
            "and adapter_model.safetensors), e.g. the adapter/ of a tapt@<task> run"
        )
    # peft would fall back to a pickled adapter_model.bin, which can run code when loaded.
    check_safetensors(init_adapter, label="init_adapter")
    saved = json.loads(config_file.read_text())
    rank, alpha, head = config["lora_rank"], config["lora_alpha"], config["head"]
    diffs = []
    if saved.get("peft_type") != "LORA":
        diffs.append(f"peft_type {saved.get('peft_type')!r}, expected 'LORA'")
    if saved.get("r") != rank:
        diffs.append(f"rank {saved.get('r')!r}, this run's lora_rank is {rank}")
    if saved.get("lora_alpha") != alpha:
        diffs.append(f"lora_alpha {saved.get('lora_alpha')!r}, this run's lora_alpha is {alpha}")
    if saved.get("task_type") != _PEFT_TASK[head]:
        diffs.append(
            f"peft task_type {saved.get('task_type')!r}, head {head!r} needs {_PEFT_TASK[head]!r}"
        )
    if not isinstance(config["target_modules"], str):
        modules = saved.get("target_modules")
        if not isinstance(modules, list) or set(modules) != set(config["target_modules"]):
            diffs.append(
                f"target_modules {modules!r}, this run's are {list(config['target_modules'])}"
            )
    meta = read_prompt_meta(init_adapter)
    if meta is None:
        logger.warning(
            "init_adapter %s has no prompt meta: its base model is checked by shapes only",
            init_adapter,
        )
    else:
        if meta.get("head", "yes_no") != head:
            diffs.append(f"head {meta.get('head', 'yes_no')!r}, this run's head is {head!r}")
        version = PROMPT_VERSIONS[config.get("prompt", DEFAULT_TEMPLATE)]
        if meta.get("prompt_version") != version:
            diffs.append(
                f"prompt version {meta.get('prompt_version')!r}, this run's is {version!r}"
            )
        base = meta.get("base_model_fingerprint")
        if base is None:
            logger.warning(
                "init_adapter %s does not record its base model: checked by shapes only",
                init_adapter,
            )
        elif base != model_fingerprint:
            diffs.append(
                f"base_model_fingerprint {base}, this run's base model is {model_fingerprint} "
                "(trained on other base weights)"
            )
    if diffs:
        raise ConfigError(f"init_adapter {init_adapter} does not fit this run: " + "; ".join(diffs))


def run_identity(
    *,
    task: Task,
    config: Mapping[str, Any],
    input_ids: Sequence[Sequence[int]],
    labels: np.ndarray,
    model_dir: Path,
    init_adapter: Path | None,
    code_fingerprint: str,
) -> dict[str, Any]:
    """What a run is: the record :func:`resume_point` compares with a checkpoint's.

    Checks ``init_adapter`` against the run first (:func:`check_init_adapter`), before
    anything loads it.
    """
    model = model_fingerprint(model_dir)
    if init_adapter is not None:
        check_init_adapter(init_adapter, config=config, model_fingerprint=model)
    return {
        "task": task.name,
        "prompt_version": PROMPT_VERSIONS[config.get("prompt", DEFAULT_TEMPLATE)],
        "data_fingerprint": data_fingerprint(input_ids, labels),
        "model_dir": model_dir.name,
        "model_fingerprint": model,
        "code_fingerprint": code_fingerprint,
        "init_adapter_fingerprint": (
            folder_revision(init_adapter) if init_adapter is not None else None
        ),
        "config": dict(config),
    }


# -------------------------------------------------------------------- resume


def _checkpoint_defect(checkpoint: Path) -> str | None:
    """Why ``checkpoint`` cannot be resumed from, or None when it is complete.

    The Trainer saves a checkpoint's weights, then optimizer, scheduler and RNG state,
    and ``trainer_state.json`` last: a whole, parsable state file after a weights file
    means the save finished.
    """
    state_file = checkpoint / "trainer_state.json"
    if not state_file.is_file():
        return "it has no trainer_state.json, which the Trainer writes last"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"its trainer_state.json does not parse as JSON ({err})"
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        return "its trainer_state.json has no integer global_step"
    if not any((checkpoint / name).is_file() for name in _CHECKPOINT_WEIGHTS):
        return f"it has no weights file (expected one of {', '.join(_CHECKPOINT_WEIGHTS)})"
    return None


def _set_aside(path: Path, defect: str, then: str) -> None:
    """Rename an incomplete checkpoint so neither we nor the Trainer resume it."""
    aside = path.with_name(INCOMPLETE_PREFIX + path.name)
    try:
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside)  # an earlier run's leftover of the same step
        elif aside.exists() or aside.is_symlink():
            aside.unlink()
        path.rename(aside)
    except OSError as err:
        raise ConfigError(
            f"{path} is an incomplete checkpoint ({defect}) and could not be set aside "
            f"as {aside} ({err}): delete it, then run again"
        ) from err
    logger.warning(
        "%s is incomplete (%s; the process was probably stopped while saving it): "
        "set it aside as %s, %s",
        path,
        defect,
        aside.name,
        then,
    )


def last_complete_checkpoint(out_dir: Path) -> str | None:
    """The newest complete ``checkpoint-N`` in ``out_dir``; newer incomplete ones (a
    process killed mid-save) are set aside as ``incomplete-checkpoint-N``."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    if not out_dir.is_dir():
        return None
    prefix = f"{PREFIX_CHECKPOINT_DIR}-"
    numbered: list[tuple[int, Path]] = []
    for path in out_dir.iterdir():
        step = path.name.removeprefix(prefix)
        # The folders the Trainer itself would resume from: ^checkpoint-(\d+)$.
        if path.name.startswith(prefix) and step.isascii() and step.isdecimal() and path.is_dir():
            numbered.append((int(step), path))
    incomplete: list[tuple[Path, str]] = []
    last: Path | None = None
    for _, path in sorted(numbered, reverse=True):
        defect = _checkpoint_defect(path)
        if defect is None:
            last = path
            break
        incomplete.append((path, defect))
    then = f"resuming from {last.name}" if last else "no complete checkpoint left: starting over"
    for path, defect in incomplete:
        if is_main_process():
            _set_aside(path, defect, then)
        else:
            logger.warning("%s is incomplete (%s): skipping it, %s", path, defect, then)
    return str(last) if last is not None else None


def check_resume(out_dir: Path, run: Mapping[str, Any], *, restart_on_mismatch: bool) -> str | None:
    """The last complete checkpoint in ``out_dir`` to resume from, if it belongs to this
    run (see :func:`last_complete_checkpoint` for incomplete ones).

    Checkpoints of another run (other data, task, prompt or settings) are an error, or,
    with ``restart_on_mismatch``, deleted so the run starts over.
    """
    last = last_complete_checkpoint(out_dir)
    if last is None:
        return None
    run_file = out_dir / RUN_FILE
    diffs = []
    if not run_file.is_file():
        diffs.append(f"no {RUN_FILE} says what it was trained with")
    else:
        before = json.loads(run_file.read_text())
        for key in _IDENTITY_KEYS:
            if before.get(key) != run[key]:
                diffs.append(f"{key}: {before.get(key)!r} -> {run[key]!r}")
        for key, value in run["config"].items():
            if key not in _RESUMABLE_CHANGES and before.get("config", {}).get(key) != value:
                diffs.append(f"config.{key}: {before.get('config', {}).get(key)!r} -> {value!r}")
    if not diffs:
        return last
    if not restart_on_mismatch:
        raise ConfigError(
            f"{last} was trained with other settings than this run ({'; '.join(diffs)}): "
            f"delete {out_dir} to start over, or restore the settings to resume"
        )
    logger.warning("%s belongs to another run (%s): starting over", last, "; ".join(diffs))
    if is_main_process():
        # Set-aside incomplete checkpoints of that run go too: nothing resumes them.
        for old in [
            *out_dir.glob("checkpoint-*"),
            *out_dir.glob(INCOMPLETE_PREFIX + "checkpoint-*"),
        ]:
            if old.is_dir():
                shutil.rmtree(old)
    return None


@dataclass(frozen=True)
class Resume:
    """Where a run starts. ``checkpoint``: the folder to resume from (None: a fresh run),
    at global ``step``. ``finished``: the summary of the earlier run when that run had
    exactly these settings and this checkpoint is its last step, so nothing is left to
    train."""

    checkpoint: str | None = None
    step: int = 0
    finished: dict[str, Any] | None = None


def _earlier_summary(out_dir: Path, config: Mapping[str, Any], step: int) -> dict[str, Any] | None:
    """The summary of the earlier run in ``out_dir`` whose last checkpoint is ``step``.

    Only when it had exactly this run's settings (its checkpoints already passed
    :func:`check_resume` for data, model and code); else None. A run writes its
    summary after its last checkpoint, so a crash in between leaves none.
    """
    path = out_dir / SUMMARY_FILE
    if not path.is_file():
        return None
    earlier = json.loads(path.read_text())
    if earlier.get("config") != dict(config) or earlier.get("steps") != step:
        return None
    return earlier


def resume_point(out_dir: Path, run: Mapping[str, Any], *, restart_on_mismatch: bool) -> Resume:
    """Check ``out_dir``'s checkpoints against ``run`` (:func:`check_resume`), record
    ``run`` there for the next attempt, and say where this run starts.

    In a launched group rank 0 decides first (it alone deletes another run's checkpoints
    and records this run) and the other ranks read the folder it left: deciding at the
    same time, a rank could pick a checkpoint rank 0 is deleting, and a group whose
    ranks train different step counts hangs."""

    def decide() -> Resume:
        return _resume_point(out_dir, run, restart_on_mismatch=restart_on_mismatch)

    if not launched():
        return decide()
    resume = decide() if is_main_process() else None
    barrier()
    return resume if resume is not None else decide()


def _resume_point(out_dir: Path, run: Mapping[str, Any], *, restart_on_mismatch: bool) -> Resume:
    checkpoint = check_resume(out_dir, run, restart_on_mismatch=restart_on_mismatch)
    out_dir.mkdir(parents=True, exist_ok=True)
    if is_main_process():
        (out_dir / RUN_FILE).write_text(json.dumps(run, indent=2) + "\n")
    if checkpoint is None:
        return Resume()
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    step = int(state.get("global_step", 0))
    logger.info("resuming from %s (step %d)", checkpoint, step)
    # Read before this run overwrites it.
    earlier = _earlier_summary(out_dir, run["config"], step)
    finished = earlier if earlier is not None and earlier.get("max_steps") == step else None
    return Resume(checkpoint=checkpoint, step=step, finished=finished)


# ------------------------------------------------------------------- outputs


def write_summary(path: Path, summary: Mapping[str, Any]) -> None:
    """Write a run's summary beside its model, without the per-run :data:`RUN_KEYS`."""
    stable = {key: value for key, value in summary.items() if key not in RUN_KEYS}
    path.write_text(json.dumps(stable, indent=2) + "\n")


def sort_target_modules(adapter_dir: Path) -> None:
    """Rewrite ``adapter_config.json`` with ``target_modules`` sorted.

    peft keeps the modules as a set and saves ``list(set)``, whose order follows the
    process's string-hash seed: two identical runs would write different files (and
    DVC would see a different model). Same JSON layout as peft writes.
    """
    path = adapter_dir / "adapter_config.json"
    config = json.loads(path.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
        path.write_text(json.dumps(config, indent=2, sort_keys=True))


def save_model_folders(
    trainer: Any, tokenizer: Any, *, out_dir: Path, merge: bool, meta: Mapping[str, Any]
) -> tuple[Path, Path | None]:
    """Save the trained adapter (and, with ``merge``, the merged model) into ``out_dir``
    with byte-stable files and the prompt meta they expect; return both folders.

    ``meta``: the keyword arguments of :func:`relevance.model.heads.write_prompt_meta`.
    """
    adapter_dir = out_dir / ADAPTER_DIR
    trainer.save_model(str(adapter_dir))
    merged_dir = out_dir / MERGED_DIR if merge else None
    if not trainer.is_world_process_zero():
        return adapter_dir, merged_dir
    sort_target_modules(adapter_dir)
    # Nothing loads it, it is a pickle, and its bytes follow the transformers version
    # (the class's fields), so it would change the adapter's DVC hash on an upgrade.
    (adapter_dir / TRAINING_ARGS_FILE).unlink(missing_ok=True)
    write_prompt_meta(adapter_dir, **meta)
    # Library versions out (peft_version, the model card's framework list): the same
    # weights must hash the same under another peft or transformers release.
    normalise_model_folder(adapter_dir)
    if merged_dir is not None:
        # Merged in the dtype the weights trained in (fp32 on CPU): a scorer then loads
        # them with dtype=bf16 directly, the fast path (DESIGN.md). A seq_cls model
        # merges to a *ForSequenceClassification with its trained score head.
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(str(merged_dir))
        tokenizer.save_pretrained(str(merged_dir))
        write_prompt_meta(merged_dir, **meta)
        normalise_model_folder(merged_dir)
    return adapter_dir, merged_dir


def publish_model(result: TrainResult, out_dir: str | Path) -> dict[str, Any]:
    """Move the finished ``adapter/`` (and ``merged/``) of a run into ``out_dir``.

    For a DVC stage that keeps resumable checkpoints in one (persistent) folder and
    hands the model on in another (hashed) one. A move, not a copy: a merged 14B model
    is 28 GB. ``out_dir`` also gets ``train_summary.json`` and the prompt meta stays in
    the moved folders. Replaces what ``out_dir`` held under those names, and removes a
    ``merged/`` left there by an earlier run when this one has none. Afterwards
    ``result.adapter_dir``/``merged_dir`` no longer exist.

    Returns:
        the run's summary (with ``adapter_dir``/``merged_dir`` pointing into ``out_dir``).
    """
    out_dir = Path(out_dir)
    summary = dict(result.summary)
    if not is_main_process():
        return summary
    out_dir.mkdir(parents=True, exist_ok=True)
    published = {ADAPTER_DIR: result.adapter_dir, MERGED_DIR: result.merged_dir}
    moves = [(source, out_dir / name) for name, source in published.items() if source is not None]
    if not moves:
        raise ConfigError(f"{result.out_dir}: the run has no adapter/ or merged/ to publish")
    for name, source in published.items():
        stale = out_dir / name
        if source is None and stale.exists():
            # The scorer prefers merged/ over adapter/: an earlier run's folder must not
            # outlive the model it was made with.
            shutil.rmtree(stale)
            logger.info("removed %s, left by an earlier run", stale)
    for source, target in moves:
        if not source.is_dir():
            raise ConfigError(f"{source} not found: nothing to publish (was it moved already?)")
        if target.resolve() == source.resolve():
            continue
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(source), str(target))
    for _, target in moves:
        # Idempotent; also covers a run's folders written before normalising existed.
        normalise_model_folder(target)
    for name, source in published.items():
        summary[f"{name}_dir"] = str(out_dir / name) if source is not None else None
    write_summary(out_dir / SUMMARY_FILE, summary)
    logger.info("published %s to %s", ", ".join(t.name for _, t in moves), out_dir)
    return summary
