"""The project's command line: ``relevance <command>`` (installed as a console script).

Commands are thin: options in, a library call, a one-line summary out. Library errors
(:class:`relevance.errors.RelevanceError`) become a Click error: message, exit code 1.
"""

from __future__ import annotations

from pathlib import Path

import click

from relevance.schema import TASKS
from relevance.stage import setup_logging, user_errors


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Tools around the relevance DVC pipeline."""
    setup_logging()


@main.command("pr-report")
@click.option(
    "--base",
    default="main",
    show_default=True,
    help="Git revision to compare the workspace with (a branch such as main or origin/main).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("reports/pr.md"),
    show_default=True,
    help="Markdown report to write.",
)
@click.option(
    "--png-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports/pr"),
    show_default=True,
    help="Folder for one PNG per threshold curve (base and workspace overlaid).",
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Run in this git + DVC repository, as `git -C` does: git and dvc run there, and "
    "relative --out and --png-dir paths are inside it.",
)
@click.option(
    "--artifacts-url",
    default=None,
    help="Link the PNGs to this URL (e.g. a CI run page holding them) instead of embedding "
    "them by relative path; for reports posted away from the files, such as PR comments.",
)
@user_errors
def pr_report(base: str, out: Path, png_dir: Path, repo: Path, artifacts_url: str | None) -> None:
    """A PR report against BASE: the F1 result first (mean F1; per task F1, AUC,
    precision, recall, all-positive F1: base -> workspace), F1 per language, then
    `dvc metrics diff` and `dvc params diff` (folded) and threshold curve PNGs.

    Fails (exit 1, with how to fix it) when BASE is not in the clone, when DVC cannot load
    some metrics (DVC itself exits 0 then), or when git or dvc fails.
    """
    from relevance.tools.prreport import build_report  # pandas and matplotlib: load on use

    out, png_dir = (p if p.is_absolute() else repo / p for p in (out, png_dir))
    report = build_report(base, repo=repo, out=out, png_dir=png_dir, artifacts_url=artifacts_url)
    click.echo(f"wrote {out} ({len(report.curves)} threshold curve PNGs in {png_dir})")


@main.command("score")
@click.argument(
    "input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="A trained model folder (train@<task>'s models/<task>: adapter/ or merged/).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Scored rows: .parquet, .csv or .jsonl (id, language, lang, query, candidate, "
    "p_yes, prediction; label when the input has one).",
)
@click.option(
    "--base-model",
    type=click.Path(path_type=Path),
    default=Path("models/base/llm"),
    show_default=True,
    help="The base model an adapter/ applies to (the models stage's).",
)
@click.option("--threshold", type=float, default=None, help="[default: threshold.<task>]")
@click.option(
    "--params",
    "params_path",
    default="params.yaml",
    show_default=True,
    help="Params file: predict (backend, batch, device), input, ingest, threshold; "
    "translator with input.pivot_en.",
)
@click.option(
    "--translator",
    "translator_dir",
    type=click.Path(path_type=Path),
    default=Path("models/base/translator"),
    show_default=True,
    help="With input.pivot_en: the models stage's translator folder (its marker stands "
    "for --base-model).",
)
@click.option(
    "--embedder",
    "embedder_dir",
    type=click.Path(path_type=Path),
    default=Path("models/base/embedder"),
    show_default=True,
    help="With input.pivot_en: the embedder of the translation quality gate.",
)
@user_errors
def score(
    input_path: Path,
    model_dir: Path,
    out: Path,
    base_model: Path,
    threshold: float | None,
    params_path: str,
    translator_dir: Path,
    embedder_dir: Path,
) -> None:
    """Score INPUT (JSON lines, CSV, TSV or Parquet rows of the competition's fields;
    `task` may be left out) with a trained model: p(yes) from the prompt version and head
    the model folder records, prediction = p(yes) >= threshold. Records that fail
    validation go to <out>.quarantine.jsonl with their reason and file:line. With
    input.pivot_en the queries are translated into English first, as the pivot stage
    does (the same translator, quality gate and translation cache)."""
    from relevance.params import load_key
    from relevance.tools.score import score_file  # torch and transformers: load on use

    translation = None
    if load_key("input", "pivot_en", params_path):
        from relevance.augment.translators import translation_setup

        translation = translation_setup(
            params_path, llm=base_model, translator=translator_dir, embedder=embedder_dir,
            cache_dir=None, allow_download=load_key("models", "allow_download", params_path),
        )  # fmt: skip
    quarantine = out.with_name(f"{out.stem}.quarantine.jsonl")
    report = score_file(
        input_path, model_dir=model_dir, base_model=base_model, out=out,
        params_path=params_path, threshold=threshold, quarantine_out=quarantine,
        translation=translation,
    )  # fmt: skip
    if report.pivot is not None:
        click.echo(
            f"input.pivot_en: {report.pivot['pivoted']} queries read with their English, "
            f"{report.pivot['no_pivot']} kept their text (the translation failed the gate)"
        )
    click.echo(
        f"score ({report.task.name}): {report.scored} of {report.records} records scored, "
        f"{report.predicted_positive} predicted relevant at threshold {report.threshold}, "
        f"{report.pairs_per_second:.1f} pairs/s -> {out}"
    )
    if report.quarantined:
        click.echo(f"{len(report.quarantined)} records quarantined -> {quarantine}", err=True)


@main.group("ablation")
def ablation() -> None:
    """The paper's Table 2 (and the winning team's options) as DVC experiments."""


def _dvc(*args: str) -> str:
    import shutil
    import subprocess
    import sys

    dvc = Path(sys.executable).with_name("dvc")
    command = [str(dvc) if dvc.exists() else (shutil.which("dvc") or "dvc"), *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise click.ClickException(
            f"{' '.join(command)} failed (exit {result.returncode}):\n{result.stderr.strip()}"
        )
    return result.stdout


@ablation.command("queue")
@click.option("--only", multiple=True, help="Queue only these configurations (repeatable).")
@click.option(
    "--seed",
    "seeds",
    type=int,
    multiple=True,
    help="Training seeds (repeatable; default: 13 and 14): one experiment per seed.",
)
@click.option(
    "--set",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="A -S override for every experiment (repeatable), e.g. 'tasks=[qc]'.",
)
@click.option("--jobs", default=1, show_default=True, help="Queue workers (each uses the CPUs).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the queue.")
@user_errors
def ablation_queue(
    only: tuple[str, ...], seeds: tuple[int, ...], extra: tuple[str, ...], jobs: int, wait: bool
) -> None:
    """Queue one experiment per configuration and seed (`dvc exp run --queue -n
    NAME-seedN -S ... -S train.<task>.seed=N`), then run the queue and wait for it.
    Queued experiments start from the last commit."""
    import time

    from relevance.params import load_tasks
    from relevance.tools.ablation import (
        CONFIGS,
        SEEDS,
        experiment_name,
        seed_overrides,
        set_arguments,
    )

    unknown = sorted(set(only) - set(CONFIGS))
    if unknown:
        raise click.ClickException(f"unknown configuration(s) {unknown}; known: {list(CONFIGS)}")
    tasks = load_tasks()
    # Finished tasks of earlier runs stay in `dvc queue status` (their experiments stay
    # in `dvc exp show`); cleared so the failure check below sees this run only.
    _dvc("queue", "remove", "--success", "--failed")
    for name, overrides in CONFIGS.items():
        if only and name not in only:
            continue
        for seed in seeds or SEEDS:
            arguments = set_arguments({**overrides, **seed_overrides(seed, tasks)})
            arguments += [arg for setting in extra for arg in ("-S", setting)]
            _dvc("exp", "run", "--queue", "-n", experiment_name(name, seed), *arguments)
            click.echo(f"queued {experiment_name(name, seed)}: {' '.join(arguments)}")
    _dvc("queue", "start", "--jobs", str(jobs))
    while wait:
        status = _dvc("queue", "status")
        if not any(word in status for word in ("Queued", "Running")):
            break
        if "Running" not in status and "0 active, 0 idle" in status:
            # DVC's worker can exit with tasks still queued (treeverse/dvc#10562).
            click.echo("the queue worker stopped with experiments queued: restarting it")
            _dvc("queue", "start", "--jobs", str(jobs))
        time.sleep(30)
    if wait and "Failed" in status:
        raise click.ClickException(f"some experiments failed (`dvc queue logs <name>`):\n{status}")


@ablation.command("table")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("reports/ablation.md"),
    show_default=True,
    help="Markdown table to write.",
)
@click.option(
    "--task",
    "only_tasks",
    type=click.Choice(sorted(TASKS)),
    multiple=True,
    help="Tasks to tabulate (default: params.yaml's tasks); e.g. qc after --set 'tasks=[qc]'.",
)
@user_errors
def ablation_table(out: Path, only_tasks: tuple[str, ...]) -> None:
    """Write the ablation table from `dvc exp show --json` (F1 per task and language,
    deltas against original SFT)."""
    import json

    from relevance.params import load_tasks
    from relevance.tools.ablation import ablation_markdown, collect

    tasks = only_tasks or load_tasks()
    commit, results = collect(json.loads(_dvc("exp", "show", "--json", "--all-commits")), tasks)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(ablation_markdown(results, tasks, commit=commit), encoding="utf-8")
    click.echo(f"wrote {out} ({len(results)} experiments, commit {commit})")


if __name__ == "__main__":
    main()
