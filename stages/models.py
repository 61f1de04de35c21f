"""DVC stage models: materialise the base LLM and embedder as local folders.

Every downstream result depends on these folders' DVC hashes; metrics/models.json
records each model's source, version and the sha256 of every file.
"""

from __future__ import annotations

import _venv_check  # noqa: F401  (first: a clear error outside the project's venv)

from pathlib import Path

import click

from relevance.model.base_models import ModelsParams
from relevance.params import load_section
from relevance.stage import (
    HELP_OPTIONS,
    force_offline_unless_allowed,
    setup_logging,
    user_errors,
    write_metrics,
)


@click.command(context_settings=HELP_OPTIONS)
@click.option(
    "--llm-out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for the causal LLM (transformers, safetensors).",
)
@click.option(
    "--embedder-out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for the embedder (sentence-transformers).",
)
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="Metrics JSON.")
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="Params file."
)
@user_errors
def main(llm_out: Path, embedder_out: Path, metrics: Path, params_path: str) -> None:
    """Convert or copy the configured base models (offline unless downloads are allowed)."""
    setup_logging()
    params = load_section(ModelsParams, "models", params_path)
    # Nothing below may reach a model hub unless allowed (the same switch as every stage).
    force_offline_unless_allowed(params.allow_download, source=params_path)
    from relevance.model.base_models import materialize  # after the offline switch

    result = {}
    for name, spec, out in (
        ("llm", params.llm, llm_out),
        ("embedder", params.embedder, embedder_out),
    ):
        info = materialize(
            spec,
            out_dir=out,
            allow_download=params.allow_download,
            origin=f"params.yaml models.{name}",
        )
        entry = info.to_dict()
        entry.pop("path")
        entry["bytes"] = info.total_bytes
        result[name] = entry
        click.echo(f"models: {name} <- {info.source} ({info.total_bytes / 1e6:.0f} MB) in {out}")
    write_metrics(metrics, result)


if __name__ == "__main__":
    main()
