"""Errors the pipeline raises for bad input or configuration.

Every message says what was expected, what came, and where (file:line when there is
one). Stage scripts turn these into ``click.ClickException`` (exit code 1).
"""

from __future__ import annotations


class RelevanceError(Exception):
    """Base class: an error a user can fix (input data, params, paths)."""


class DataError(RelevanceError):
    """Input data does not follow the data contract."""


class ConfigError(RelevanceError):
    """params.yaml or a command-line option is invalid."""


def where(path: object, line: int | None = None) -> str:
    """``file:line`` (or just ``file``) for error messages."""
    return f"{path}:{line}" if line is not None else f"{path}"
