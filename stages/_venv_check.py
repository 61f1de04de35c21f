"""Imported first by every stage script, before any third-party import.

Stage commands in dvc.yaml call `python`. Run from a shell where that is not the
project's interpreter (`.venv/bin/dvc repro` without activating the venv), a stage would
die on its first import with a bare ModuleNotFoundError; this says what happened and
what to do instead.
"""

import importlib.util
import sys

_NEEDED = ("click", "pandas", "relevance")

_missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
if _missing:
    sys.exit(
        f"error: {sys.executable} runs this stage, but the project is not installed for it "
        f"({', '.join(_missing)} not found). Stage commands call `python`: activate the "
        "project's venv first (`source .venv/bin/activate`), or run `make repro`, which "
        "does. DVC removed this stage's outputs before starting it; to get back the "
        "committed metrics and reports: `git checkout -- metrics reports && dvc checkout`."
    )
