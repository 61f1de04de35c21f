"""What every stage script shares: logging set-up, error handling, JSON output.

Stage scripts in ``stages/`` stay thin: options in, library call, outputs out. Errors a
user can fix (:class:`relevance.errors.RelevanceError`) become ``click.ClickException``:
the message on stderr and exit code 1, never a traceback and never exit 0.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from relevance.errors import RelevanceError

F = TypeVar("F", bound=Callable[..., Any])


def setup_logging() -> None:
    level = os.environ.get("RELEVANCE_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


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
