"""What every stage script shares: the command decorator, common options, inputs that
must exist, the hub switch, metrics output.

Stage scripts in ``stages/`` stay thin: options in, library call, outputs out::

    from relevance import stage

    @stage.command
    @stage.task_option
    @stage.path_option("--train", "Ingested training rows (Parquet).")
    @stage.metrics_option
    def main(task: Task, params_path: str, **paths: Path) -> dict[str, Any]:
        ...
        return split_task(task, params=params, **paths)  # train=...; metrics to --metrics

Path options are named as the library function's keywords, so a script passes them on
as ``**paths``; its signature names only the paths the body itself uses (evaluate's
plot files, stats' report).

:func:`command` makes the Click command (``-h``/``--help``, ``--params``, logging set
up, the body's metrics written where the stage declares :data:`metrics_option`) and
turns errors a user can fix (:class:`relevance.errors.RelevanceError`) into
``click.ClickException``: the message on stderr and exit code 1, never a traceback and
never exit 0.

Only what every stage needs lives here: dvc.yaml lists this module as a dependency of
every stage, so anything added reruns the whole graph.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from relevance.errors import ConfigError, DataError, RelevanceError
from relevance.params import load_key
from relevance.schema import Task, get_task

F = TypeVar("F", bound=Callable[..., Any])

# Every stage script: `python stages/<name>.py -h` as well as --help.
HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}


def setup_logging() -> None:
    level = os.environ.get("RELEVANCE_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def force_offline_unless_allowed(allow_download: object, *, source: str = "params.yaml") -> bool:
    """Apply ``models.allow_download`` to this process; return it.

    Stages pass ``load_key("models", "allow_download", params_path)`` (literally, so the
    dvc.yaml params contract sees the read). Unless it is true, hub access is switched
    off by assignment, not ``setdefault``: an ``HF_HUB_OFFLINE=0`` inherited from the
    shell must not re-enable downloads the params file forbids. huggingface_hub reads
    the variable once, at import, into ``huggingface_hub.constants.HF_HUB_OFFLINE``
    (which transformers consults), so that constant is set too when the module is
    already imported. ``source`` (the params file) starts the error of a non-boolean.
    """
    if not isinstance(allow_download, bool):
        raise ConfigError(
            f"{source}:models.allow_download: expected true or false, got {allow_download!r}"
        )
    if allow_download:
        return True
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    return False


def hub_access(params_path: str) -> bool:
    """``models.allow_download`` of the params file, applied to this process (see
    :func:`force_offline_unless_allowed`): every stage that loads a model calls it."""
    return force_offline_unless_allowed(
        load_key("models", "allow_download", params_path), source=params_path
    )


def user_errors(func: F) -> F:
    """Turn library errors into a clean Click failure (message, exit code 1)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RelevanceError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def write_json(path: Path, data: Any) -> None:
    """Pretty, key-sorted JSON (stable bytes, so DVC sees no change when nothing changed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )


# Figures of one run rather than of its result: wall-clock seconds, throughput, cache
# hits and misses (a warm cache hits, a fresh clone's misses), where a run resumed. They
# differ from run to run, so they go beside the metrics file, to `<name>.run.json`, which
# git and DVC ignore: the committed metrics (and dvc.lock) change only when results do.
_RUN_KEY = re.compile(
    r"(seconds|per_second|seconds_per_step)$|^(hits|misses|hit_rate|resumed_from|resumed_from_step)$"
)


def split_run_stats(data: Any) -> tuple[Any, Any]:
    """``(results, run statistics)`` of a metrics mapping, nested alike (lists too); keys
    of run statistics are those :data:`_RUN_KEY` matches (``None`` when there are none)."""
    if isinstance(data, list):
        pairs = [split_run_stats(item) for item in data]
        stats = [run for _, run in pairs]
        return [kept for kept, _ in pairs], (stats if any(stats) else None)
    if not isinstance(data, dict):
        return data, None
    results, run = {}, {}
    for key, value in data.items():
        if _RUN_KEY.search(str(key)):
            run[key] = value
            continue
        kept, stats = split_run_stats(value)
        results[key] = kept
        if stats:
            run[key] = stats
    return results, (run or None)


def run_stats_path(metrics: Path) -> Path:
    """Where :func:`write_metrics` puts a metrics file's run statistics."""
    return metrics.with_name(f"{metrics.stem}.run.json")


def write_metrics(path: Path, data: Any) -> None:
    """A stage's metrics file, without the run statistics (see :data:`_RUN_KEY`), which
    go to :func:`run_stats_path`."""
    results, run = split_run_stats(data)
    write_json(path, results)
    write_json(run_stats_path(path), run or {})


# ------------------------------------------------------------------ the command


# What a body returns when its work ran in processes it launched (relevance.launch):
# their rank 0 wrote the outputs and the metrics, so nothing is left to write.
LAUNCHED = object()


def _main_process() -> bool:
    """Not one of a launched group's other ranks (torchrun/accelerate set RANK)."""
    return int(os.environ.get("RANK", "0")) == 0


def command(func: Callable[..., Any]) -> click.Command:
    """A DVC stage's command: ``-h``/``--help``, a ``--params`` option (passed on as
    ``params_path``), logging set up before the body runs, and user errors as a clean
    exit 1 (:func:`user_errors`).

    A stage that declares :data:`metrics_option` returns its metrics and the command
    writes them to ``--metrics`` (:func:`write_metrics`) after the body: the body never
    sees the path, and a run that fails leaves no metrics file behind. Under a launcher
    only rank 0 writes them; a body that launched its own processes returns
    :data:`LAUNCHED`."""

    @functools.wraps(func)
    def body(*args: Any, **kwargs: Any) -> Any:
        setup_logging()
        metrics = kwargs.pop("metrics", None)
        result = func(*args, **kwargs)
        if metrics is not None and result is not LAUNCHED and _main_process():
            if result is None:
                raise TypeError(f"{func.__module__}: declares --metrics but returned none")
            write_metrics(metrics, result)
        return result

    params = click.option(
        "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
    )
    return click.command(context_settings=HELP_OPTIONS)(params(user_errors(body)))


def _task(ctx: click.Context, param: click.Parameter, value: str) -> Task:
    try:
        return get_task(value)
    except ConfigError as err:
        raise click.BadParameter(str(err)) from None


task_option = click.option("--task", "task", required=True, callback=_task, help="Task: qc or qi.")


def path_option(name: str, help: str, *, dest: str | None = None, required: bool = True) -> Any:
    """An option that takes a path (given by dvc.yaml), passed on as a :class:`Path`."""
    names = (name, dest) if dest else (name,)
    return click.option(*names, type=click.Path(path_type=Path), required=required, help=help)


metrics_option = path_option(
    "--metrics", "Metrics JSON (run statistics go beside it, to <name>.run.json)."
)
cache_dir_option = path_option(
    "--cache-dir",
    "Translation/embedding caches [default: $RELEVANCE_CACHE_DIR or ~/.cache/relevance].",
    required=False,
)


def options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Several option decorators as one, applied in the order given (top first)."""

    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def translation_inputs(build: Callable[..., Any]) -> Callable[[F], F]:
    """What translate, negatives and pivot read besides their own inputs: the rows
    (``--ingested``, passed on), the translator (``models.translator``, by default the
    base LLM, unless translator.model names one), the embedder of the similarity gate and
    the shared caches. The body gets ``setup=build(params_path, llm=..., translator=...,
    embedder=..., cache_dir=..., allow_download=...)``
    in place of the three folders, hub access applied first (:func:`hub_access`).

    ``build`` is ``relevance.augment.translators.translation_setup``, passed in by the
    script rather than imported here: every stage depends on this module, so an import
    here would make every stage depend on the translators too (tests/test_contract.py
    follows imports, nested ones included, and counts the name in a script as reading
    the ``translator`` section and ``models.allow_download``)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(
            llm: Path,
            translator: Path | None,
            embedder: Path,
            cache_dir: Path | None,
            **kwargs: Any,
        ) -> Any:
            params_path = kwargs["params_path"]
            allow_download = hub_access(params_path)
            setup = build(
                params_path,
                llm=llm,
                translator=translator if translator is not None else llm,
                embedder=embedder,
                cache_dir=cache_dir,
                allow_download=allow_download,
            )
            return func(setup=setup, **kwargs)

        return options(
            path_option("--ingested", "ingest@<task> output folder."),
            path_option("--llm", "Base LLM folder (models stage)."),
            path_option(
                "--translator",
                "Translating LLM folder (models stage; a marker or absent: the --llm).",
                required=False,
            ),
            path_option(
                "--embedder", "Sentence-transformers folder (models stage): the similarity gate."
            ),
            cache_dir_option,
        )(wrapper)  # type: ignore[return-value]

    return decorate


def require_input(path: Path, *, made_by: str) -> Path:
    """``path``, which an earlier stage writes; a clear error when it is missing."""
    if not Path(path).exists():
        raise DataError(f"{path} not found: run {made_by} first")
    return Path(path)
