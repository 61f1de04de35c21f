"""DVC stage check_params: stop the run on a params.yaml key that no stage reads.

Runs first (models and ingest@<task> depend on its output) whenever params.yaml
changes. Its output is the same for every valid params file, so it never makes another
stage rerun.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click

from relevance import stage
from relevance.check_params import check_params_file


@stage.command
@stage.path_option(
    "--out", "Marker written when every key is known (the first stages depend on it)."
)
def main(out: Path, params_path: str) -> None:
    """Check that every key of the params file is one some stage reads."""
    checked = check_params_file(params_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("every params key is read by some stage\n", encoding="utf-8")
    click.echo(f"check_params: {checked} keys of {params_path}, all known")


if __name__ == "__main__":
    main()
