"""DVC stage models: materialise the base LLM (the backbone), the embedder and the
translating LLM (when not the base LLM) as local folders.

Every downstream result depends on these folders' DVC hashes; metrics/models.json
records each model's source, version and the sha256 of every file.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path
from typing import Any

import click

from relevance import stage
from relevance.model.base_models import ModelsParams, materialize_models
from relevance.params import load_section


@stage.command
@stage.path_option("--llm-out", "Folder for the causal LLM (transformers, safetensors).")
@stage.path_option("--embedder-out", "Folder for the embedder (sentence-transformers).")
@stage.path_option(
    "--translator-out", "Folder for the translating LLM (a marker when it is the llm)."
)
@stage.metrics_option
def main(params_path: str, **paths: Path) -> dict[str, Any]:
    """Convert or copy the configured base models (offline unless downloads are allowed)."""
    # Nothing below may reach a model hub unless allowed (the same switch as every stage).
    stage.hub_access(params_path)
    params = load_section(ModelsParams, "models", params_path)
    result = materialize_models(params, source=params_path, **paths)
    click.echo(
        "models: "
        + ", ".join(
            f"{name} <- {entry['source']} ({entry['bytes'] / 1e6:.0f} MB)"
            for name, entry in result.items()
        )
    )
    return result


if __name__ == "__main__":
    main()
