"""Print the `uv pip install` options that give uv the package sources pip is configured
with. uv reads neither pip.conf nor PIP_* variables: without these options it would miss
a local wheel folder or a company mirror, and on such a machine pick another torch build
than pip does.

`make install` runs it with the venv's pip. It reads `pip config list`, where an option
set by a PIP_* variable shows as `:env:.<name>`, one in a config file's [install] section
as `install.<name>` and one in its [global] section as `global.<name>`; for `pip install`
that order is also their precedence. One line of shell words comes out, empty when pip
has no such settings.
"""

from __future__ import annotations

import ast
import shlex
import subprocess
import sys

# pip option -> the uv option that means the same. pip splits a list option's value from
# a config file or variable on whitespace.
LIST_OPTIONS = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
}
FLAG_OPTIONS = {"no-index": "--no-index"}
PRECEDENCE = (":env:", "install", "global")  # the first that sets an option wins
TRUE_WORDS = {"1", "true", "yes", "on"}


def parse_config_list(text: str) -> dict[str, str]:
    """The value ``pip install`` uses for each option in ``pip config list``'s output."""
    by_section: dict[str, dict[str, str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        section, dot, name = key.rpartition(".")
        if not sep or not dot:
            raise ValueError(
                f"pip config list, line {number}: expected section.name='value', got {line!r}"
            )
        by_section.setdefault(section, {})[name] = ast.literal_eval(value)
    chosen: dict[str, str] = {}
    for section in reversed(PRECEDENCE):
        chosen.update(by_section.get(section, {}))
    return chosen


def uv_options(config: dict[str, str]) -> list[str]:
    """uv's options for the package sources in ``config`` (:func:`parse_config_list`)."""
    options: list[str] = []
    for name, flag in LIST_OPTIONS.items():
        for value in config.get(name, "").split():
            options += [flag, value]
    for name, flag in FLAG_OPTIONS.items():
        if config.get(name, "").strip().lower() in TRUE_WORDS:
            options.append(flag)
    if options:
        # pip takes the best match across all its sources; uv by default stops at the
        # first index that has a package.
        options += ["--index-strategy", "unsafe-best-match"]
    return options


def main() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    print(shlex.join(uv_options(parse_config_list(listed))))


if __name__ == "__main__":
    main()
