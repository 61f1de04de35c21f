"""Benchmark: the encoder cross-encoder on the real QC data, one training language held
out as if missing (issue 16's real-data benchmark, the encoder row).

    python scripts/bench_encoder.py --data ../shared/data/cikm-qc-real [--holdout ja]
        [--epochs 2] [--train-rows 0] [--fill 0] [--method full] [--lr 5e-5]
        [--lora-rank 16] [--freeze-layers 0] [--batch-size 32]
        [--pivot none|append|replace] [--negatives 0]
        [--folds 0 | --seeds 1] [--selfval]
        [--eval-file F [--eval-labels L]]
        [--out encoder.json]

Trains ``relevance.model.encoder`` (the models stage's multilingual-e5-small; full
fine-tuning at lr 5e-5 by default, or ``--method lora``; word embeddings frozen, batch
32 (``--batch-size``), max length 96, e5 prefixes; ``--freeze-layers N`` also freezes the
embedding block and the bottom N layers) on the labelled rows of every language but
``--holdout``, less a 10% validation split on which the threshold is tuned; scores the
held-out language. Reports on the held-out rows: ROC AUC, F1 at the tuned threshold and
at 0.5, the all-positive F1 and a char TF-IDF + logistic regression trained on the same
rows, training minutes and scoring pairs/s; and the AUC on the validation rows
(languages seen in training), the ceiling transfer is measured against.
``--train-rows`` caps the training rows (0: all), for a quick run.

``--eval-file F [--eval-labels L]``: labelled rows in the competition's format (e.g.
rows in languages absent from training, or a dev file with its ``id,label`` file, as the
pipeline's ``data.dev_labels``), read through the pipeline's ingest checks and scored
too: the same figures, plus AUC per language, under ``eval`` in the output (as in
``bench_distill.py``), with how many of its (query, category) pairs are also training
rows. ``--holdout none`` then trains on every language of ``--data``.

``--fill N``: translation augmentation filling the held-out language, as the pipeline's
translate stage does it: up to N English training rows, their queries translated into it
by the pipeline's translator (params.yaml ``translator``, the base LLM, with its quality
gate and translation cache); those that pass the gate join the training rows.

``--pivot append|replace``: the pipeline's ``input.pivot_en`` with that
``input.pivot_mode``: every non-English query of the training, validation and held-out
rows is translated into English by the pipeline's pivot code (translator, quality gate,
translation cache) and, where the gate passed, the model reads ``"{query} - {English}"``
(append) or the English alone (replace), at training and at scoring alike; ``--eval-file``
rows too.

``--negatives N``: the paper's semantic hard negatives, by the pipeline's own mining
(``mine_hard_negatives`` with params.yaml's ``negatives`` window, 20..50, and guards): N
positive training rows of any training language each give one row with their query and a
candidate ranked in that window by similarity to theirs, label 0. The pipeline translates
such a query into a missing language; here it stays as the model reads it (after
``--pivot``), so the rows are harder negatives in the training languages themselves.

``--folds K`` (K >= 2): the pipeline's fold ensemble (``cv.folds: K``, ``cv.ensemble:
true``) instead of one model: the training rows split into K folds by the split stage's
own grouped folds (``split`` params: QC rows grouped by category branch), one model
trained on each K-1 of them, and p(yes) the mean of the K models (soft voting, as
predict's ensemble). Training minutes are the K models' sum; each member's AUC is
reported too. ``--seeds N`` (N >= 2): the same soft voting over N models trained on all
the training rows, with training seeds ``--seed`` .. ``--seed``+N-1 (the split stays
``--seed``'s).

``--selfval``: the paper's self-validation before the final training, as
``selfval@qc`` and ``filter@qc`` do it with params.yaml's ``selfval`` settings
(``oof``: the split stage's grouped folds, ``selfval.folds`` filter models each trained
with the same encoder recipe on the other folds and scoring theirs; confident-learning
flags capped at ``max_flag_fraction``, ``min_confidence``): the flagged rows leave the
training rows. The filter models' minutes count in the training minutes.

Needs the models stage's folders (`dvc repro models`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
NO_HOLDOUT = "none"  # --holdout none: train on every language


def holdout_split(
    data: Path, holdout: str, *, seed: int, train_rows: int, fill: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The labelled QC rows of ``data`` as (train, valid, held): ``held`` every row of the
    ``holdout`` language (none with ``holdout="none"``); the others shuffled with
    ``seed``, capped at ``train_rows`` (0: all), 10% of them ``valid`` (to tune
    thresholds) and the rest ``train``, plus, with ``fill``, up to that many English
    ``train`` rows with their queries translated into the held-out language (the ones the
    quality gate keeps; they keep their English rows' ids)."""
    rows = labelled_rows(data / "train_QC.txt", split="train")
    holdout = holdout.strip().lower()
    languages = sorted(set(rows["lang"]))
    if holdout == NO_HOLDOUT:
        if fill:
            raise click.BadParameter(
                f"--fill {fill} translates into the held-out language: got --holdout none",
                param_hint="--fill",
            )
    elif holdout not in languages:
        raise click.BadParameter(
            f"expected one of {languages} (the languages of {data / 'train_QC.txt'}) or "
            f"{NO_HOLDOUT!r}, got {holdout!r}",
            param_hint="--holdout",
        )
    held = rows[rows["lang"] == holdout].reset_index(drop=True)
    seen = rows[rows["lang"] != holdout].sample(frac=1.0, random_state=seed)
    if train_rows:
        seen = seen.head(train_rows)
    n_val = max(1, len(seen) // 10)
    valid = seen.iloc[:n_val].reset_index(drop=True)
    train = seen.iloc[n_val:].reset_index(drop=True)
    if fill:
        filled = translated_rows(train, holdout, fill, seed).assign(lang=holdout)
        train = pd.concat([train, filled], ignore_index=True)
    return train, valid, held


def labelled_rows(path: Path, labels: Path | None = None, *, split: str = "dev") -> pd.DataFrame:
    """The QC rows of a competition-format file with their labels (in the file, or in
    ``labels``: ``id,label`` records), read by the pipeline's ingest as ``split`` (train:
    a label in the file is required). Every record must be readable and labelled: the
    figures are on all of them or the run stops."""
    from relevance.data.ingest import apply_label_file, read_split
    from relevance.schema import TASKS

    result = read_split(path, task=TASKS["qc"], split=split)
    if not result.rows and not result.quarantine:
        raise click.ClickException(f"{path}: no records: expected labelled QC rows")
    bad = result.quarantine + (apply_label_file(result, labels).quarantine if labels else [])
    if bad:
        where = "; ".join(
            f"{q['source_file']}:{q['source_line']}: {q['reason']} ({q['detail']})" for q in bad[:3]
        )
        raise click.ClickException(f"{len(bad)} unreadable records, e.g. {where}")
    # Dev rows the pipeline would still answer (a missing category, ...): not scorable.
    defective = [row for row in result.rows if row["defect"] and row["defect"] != "bad_label"]
    if defective:
        first = defective[0]
        raise click.ClickException(
            f"{len(defective)} rows of {path} are incomplete (first: {first['source_file']}:"
            f"{first['source_line']}, id {first['id']}, {first['defect']}): expected a query, "
            "a category path and a language in every row"
        )
    unlabelled = [row for row in result.rows if row["label"] is None]
    if unlabelled:
        first = unlabelled[0]
        why = f", {first['defect']}" if first["defect"] else ""
        raise click.ClickException(
            f"{len(unlabelled)} of {len(result.rows)} rows of {path} have no label (first: "
            f"{first['source_file']}:{first['source_line']}, id {first['id']}{why}): expected "
            "a 'label' field of 0 or 1, or an --eval-labels file with id,label"
        )
    frame = pd.DataFrame(result.rows)
    # The raw text, as holdout_split reads the training rows.
    return frame.assign(query=frame["query_raw"], candidate=frame["candidate_raw"])[
        ["id", "language", "lang", "query", "candidate", "label"]
    ]


def eval_rows(path: Path | None, labels: Path | None) -> pd.DataFrame | None:
    """``--eval-file``'s rows (None without one); ``--eval-labels`` needs the file."""
    if path is None:
        if labels is not None:
            raise click.UsageError(f"--eval-labels {labels} needs --eval-file (the rows)")
        return None
    return labelled_rows(path, labels)


def eval_summary(path: Path, rows: pd.DataFrame, train: pd.DataFrame) -> dict[str, object]:
    """What the eval rows are: file, counts per language, the all-positive F1, and how
    many of their (query, category) pairs are training rows too (scored as if unseen)."""
    from relevance.evaluate.metrics import score_rows

    labels = rows["label"].to_numpy()
    trained = set(zip(train["query"], train["candidate"], strict=True))
    shared = sum(pair in trained for pair in zip(rows["query"], rows["candidate"], strict=True))
    return {
        "file": str(path),
        "rows": len(rows),
        "rows_by_language": rows["lang"].value_counts().sort_index().to_dict(),
        "pairs_also_in_training": shared,
        "all_positive_f1": score_rows(labels, np.ones(len(labels)), 0.5)["f1"],
    }


def scores_on(rows: pd.DataFrame, p_yes: np.ndarray, threshold: float) -> dict[str, object]:
    """AUC, F1 at ``threshold`` and AUC per language on ``rows``."""
    from relevance.evaluate.metrics import auc, score_rows

    labels = rows["label"].to_numpy()
    scores = score_rows(labels, p_yes, threshold)
    by_language = {
        lang: auc(labels[index], p_yes[index])
        for lang, index in sorted(rows.groupby("lang").indices.items())
    }
    return {
        "auc": scores["auc"], "threshold": threshold, "f1": scores["f1"],
        "auc_by_language": by_language,
    }  # fmt: skip


def eval_options(command):
    """``--eval-file`` and ``--eval-labels`` (this script's and bench_distill.py's)."""
    path = click.Path(exists=True, dir_okay=False, path_type=Path)
    command = click.option(
        "--eval-labels", type=path, default=None, help="id,label records for --eval-file."
    )(command)
    return click.option(
        "--eval-file", type=path, default=None,
        help="Labelled rows also scored (competition format).",
    )(command)  # fmt: skip


def timed_score(scorer, task, rows: pd.DataFrame, label: str) -> tuple[np.ndarray, float]:
    """p(yes) of ``rows`` and the pairs scored per second."""
    start = time.perf_counter()
    p_yes = scorer.score(task, rows, label=label)
    return p_yes, len(rows) / (time.perf_counter() - start)


def model_figures(
    scorer, task, name: str, *, valid: pd.DataFrame, held: pd.DataFrame, holdout: str,
    extra: pd.DataFrame | None, extra_name: str = "eval rows",
) -> tuple[dict[str, object], dict[str, object] | None, np.ndarray]:  # fmt: skip
    """A trained model's figures: the threshold tuned on ``valid`` and the AUC there (the
    languages it trained on); on ``held`` (when not empty) AUC, F1 at the tuned threshold
    and at 0.5; pairs/s on the first of ``held``/``extra`` scored. Returns them, its
    :func:`scores_on` ``extra`` (None without), and its p(yes) on that first set."""
    from relevance.evaluate.metrics import best_threshold, score_rows, threshold_sweep

    p_valid, _ = timed_score(scorer, task, valid, f"{name}: validation")
    labels = valid["label"].to_numpy()
    tuned = best_threshold(threshold_sweep(labels, p_valid))["threshold"]
    figures: dict[str, object] = {
        "validation_auc": score_rows(labels, p_valid, tuned)["auc"],
        "tuned_threshold": tuned,
    }
    first, on_extra, rates = None, None, []
    if not held.empty:
        first, rate = timed_score(scorer, task, held, f"{name}: {holdout}")
        labels = held["label"].to_numpy()
        at_tuned = score_rows(labels, first, tuned)
        figures.update(
            auc=at_tuned["auc"], f1_at_tuned=at_tuned["f1"],
            **{"f1_at_0.5": score_rows(labels, first, 0.5)["f1"]},
        )  # fmt: skip
        rates.append(rate)
    if extra is not None:
        p_extra, rate = timed_score(scorer, task, extra, f"{name}: {extra_name}")
        on_extra = scores_on(extra, p_extra, tuned)
        first = p_extra if first is None else first
        rates.append(rate)
    figures["pairs_per_s"] = round(rates[0], 1)
    return figures, on_extra, first


def baseline_figures(
    train: pd.DataFrame, held: pd.DataFrame, extra: pd.DataFrame | None
) -> tuple[dict[str, object], dict[str, object] | None]:
    """On ``held`` (when not empty): the all-positive F1 and the TF-IDF AUC; on
    ``extra``: the TF-IDF's :func:`scores_on` at 0.5. One TF-IDF fit on ``train``."""
    from relevance.evaluate.baseline import tfidf_baseline
    from relevance.evaluate.metrics import score_rows

    scored = [rows for rows in (held, extra) if rows is not None and not rows.empty]
    p_tfidf = iter(tfidf_baseline(train, scored))
    on_held: dict[str, object] = {}
    if not held.empty:
        labels = held["label"].to_numpy()
        on_held = {
            "all_positive_f1": score_rows(labels, np.ones(len(labels)), 0.5)["f1"],
            "tfidf_auc": score_rows(labels, next(p_tfidf), 0.5)["auc"],
        }
    return on_held, scores_on(extra, next(p_tfidf), 0.5) if extra is not None else None


class MeanScorer:
    """Soft voting over several scorers, as predict's fold ensemble: the mean p(yes)."""

    def __init__(self, scorers: list) -> None:
        self.scorers = scorers

    def score(self, task, rows: pd.DataFrame, label: str = "") -> np.ndarray:
        from relevance.model.predict import average_p_yes

        return average_p_yes(
            [s.score(task, rows, label=f"{label} [{k}]") for k, s in enumerate(self.scorers)]
        )


def fold_members(train: pd.DataFrame, folds: int, seed: int) -> list[pd.DataFrame]:
    """The training rows of each of ``folds`` fold models: all rows but one fold, the
    folds the split stage draws (grouped by category branch, stratified by language x
    label) with ``params.yaml``'s ``split`` settings and ``seed``."""
    from relevance.data.split import SplitParams, assign_folds
    from relevance.params import load_section

    config = load_section(SplitParams, "split", ROOT / "params.yaml")
    fold = assign_folds(
        train, task="qc", config=dataclasses.replace(config, folds=folds, seed=seed)
    )
    return [train[fold != k].reset_index(drop=True) for k in range(folds)]


def selfval_kept(
    train: pd.DataFrame, *, seed: int, train_model, score_model
) -> tuple[pd.DataFrame, dict[str, object]]:
    """``train`` less the rows self-validation flags (``--selfval``), and what it did.

    As ``selfval@qc`` with params.yaml's ``selfval`` (``oof`` mode only: a bench of the
    default), the split stage's folds drawn with ``seed``: ``train_model(rows, k)`` trains
    filter model ``k`` and returns its folder, ``score_model(folder, rows)`` its p(yes);
    :func:`relevance.folds.selfval.find_label_issues` flags."""
    from relevance.data.split import SplitParams, assign_folds
    from relevance.evaluate.metrics import auc
    from relevance.folds.plan import oof_plan
    from relevance.folds.selfval import SelfValParams, find_label_issues
    from relevance.params import load_section

    params = load_section(SelfValParams, "selfval", ROOT / "params.yaml")
    if params.mode != "oof":
        raise click.UsageError(f"--selfval benches the oof mode; params.yaml has {params.mode!r}")
    split = load_section(SplitParams, "split", ROOT / "params.yaml")
    split_folds = assign_folds(train, task="qc", config=dataclasses.replace(split, seed=seed))
    p_yes = np.full(len(train), np.nan)
    for k, (fit, scored) in enumerate(
        oof_plan(split_folds, mode="oof", folds=params.folds, key="selfval.folds")
    ):
        folder = train_model(train.iloc[fit].reset_index(drop=True), k)
        p_yes[scored] = score_model(folder, train.iloc[scored].reset_index(drop=True))
    flags = find_label_issues(
        labels=train["label"].to_numpy(), p_yes=p_yes,
        max_flag_fraction=params.max_flag_fraction, min_confidence=params.min_confidence,
    )  # fmt: skip
    flagged = flags["flagged"].to_numpy()
    summary = {
        "filter_models": params.folds,
        "oof_auc": round(auc(train["label"].to_numpy(), p_yes), 6),
        "candidates": int(flags["candidate"].sum()),
        "flagged": int(flagged.sum()),
        "flagged_by_reason": flags.loc[flagged, "reason"].value_counts().to_dict(),
        "flagged_by_language": train.loc[flagged, "lang"].value_counts().to_dict(),
    }
    click.echo(f"self-validation: {summary}")
    return train[~flagged].reset_index(drop=True), summary


def translation_setup():
    """The pipeline's translation set-up: params.yaml ``translator``, the models stage's
    folders, the translation and embedding caches (``RELEVANCE_CACHE_DIR``)."""
    from relevance.augment.translators import TranslationSetup, TranslatorParams
    from relevance.params import load_section

    params = load_section(TranslatorParams, "translator", ROOT / "params.yaml")
    return TranslationSetup(params, ROOT / "models/base/llm", ROOT / "models/base/embedder")


def hard_negative_rows(train: pd.DataFrame, count: int, seed: int) -> pd.DataFrame:
    """``count`` semantic hard negatives of ``train`` (``--negatives``), fewer where the
    guards empty a window: ``train``'s columns, label 0, ids after ``train``'s, the
    language of the positive each came from."""
    from relevance.augment.negatives import NegativesParams, mine_hard_negatives
    from relevance.augment.translators import open_translation
    from relevance.params import load_section

    params = load_section(NegativesParams, "negatives", ROOT / "params.yaml")
    config = dataclasses.replace(params, source_languages=(), rows_per_language=count, seed=seed)
    # The mining's one target is a language no row has, so every training language is a
    # source; nothing is translated into it.
    with open_translation(translation_setup()) as tools:
        mined = mine_hard_negatives(
            train, task="qc", targets=[("none", "none")], config=config,
            embed=tools.embedder.encode,
        )  # fmt: skip
    click.echo(f"hard negatives: {mined.totals()}")
    language = mined.rows["source_language"].to_numpy()
    lang_of = dict(zip(train["language"], train["lang"], strict=True))
    return pd.DataFrame(
        {
            "id": int(train["id"].max()) + 1 + np.arange(len(mined.rows)),
            "language": language,
            "lang": [lang_of[name] for name in language],
            "query": mined.rows["query"].to_numpy(),
            "candidate": mined.rows["candidate"].to_numpy(),
            "label": 0,
        }
    )


def pivoted(frames: dict[str, pd.DataFrame], mode: str) -> dict[str, pd.DataFrame]:
    """``frames`` (named row sets, ids unique within each) as the pipeline's
    ``input.pivot_en`` with ``input.pivot_mode: mode`` has the model read them: the
    English pivot of every non-English query from
    :func:`relevance.augment.pivot.pivot_rows`, applied by
    :func:`relevance.model.inputs.prepare_rows`."""
    from relevance.augment.pivot import pivot_rows
    from relevance.augment.translators import open_translation
    from relevance.model.inputs import InputParams, prepare_rows

    rows = pd.concat([rows.assign(split=name) for name, rows in frames.items()])
    setup = translation_setup()
    with open_translation(setup) as tools:
        pivot = pivot_rows(
            rows[["id", "split", "language", "lang", "query"]], **tools.parts(),
            config=setup.params,
        )  # fmt: skip
    click.echo(f"pivot: {pivot.report['total']}")
    inputs = InputParams(pivot_en=True, pivot_mode=mode)
    return {
        name: prepare_rows(rows, params=inputs, pivot=pivot.rows, split=name)[0]
        for name, rows in frames.items()
    }


def translated_rows(train: pd.DataFrame, target: str, count: int, seed: int) -> pd.DataFrame:
    """``count`` English rows of ``train`` with their queries translated into ``target``
    and gated, by the pipeline's own translation code; the rows that passed."""
    from relevance.augment.translate import build_translated_rows
    from relevance.augment.translators import open_translation

    english = train[train["language"] == "en"]
    samples = english.sample(n=min(count, len(english)), random_state=seed).assign(
        lang="en", target=target
    )
    setup = translation_setup()
    with open_translation(setup) as tools:
        built = build_translated_rows(
            samples, translator=tools.translator, cache=tools.cache, embedder=tools.embedder,
            config=setup.params,
        )  # fmt: skip
    rows = built.rows
    click.echo(f"translated into {target}: {len(rows)} of {len(samples)} rows kept")
    return rows.assign(language=target)[["id", "language", "query", "candidate", "label"]]


@click.command()
@click.option(
    "--data", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True
)
@click.option("--holdout", default="ja", show_default=True, help="A language, or 'none'.")
@click.option("--epochs", default=2.0, show_default=True)
@click.option("--train-rows", default=0, show_default=True, help="0: every training row.")
@click.option("--fill", default=0, show_default=True, help="Translated English rows added.")
@click.option("--seed", default=13, show_default=True)
@click.option("--method", type=click.Choice(["full", "lora"]), default="full", show_default=True)
@click.option("--lr", default=5e-5, show_default=True, help="Learning rate.")
@click.option("--lora-rank", default=16, show_default=True)
@click.option(
    "--freeze-layers", default=0, show_default=True,
    help="Also freeze the embedding block and the bottom N layers (full fine-tuning).",
)  # fmt: skip
@click.option("--batch-size", default=32, show_default=True, help="Rows per optimizer step.")
@click.option(
    "--pivot", type=click.Choice(["none", "append", "replace"]), default="none",
    show_default=True, help="The English pivot (input.pivot_en, input.pivot_mode).",
)  # fmt: skip
@click.option(
    "--negatives", default=0, show_default=True,
    help="Semantic hard negatives mined from the training rows (ranks 20..50).",
)  # fmt: skip
@click.option(
    "--folds", default=0, show_default=True,
    help="K >= 2: a fold ensemble of K models (cv.folds, cv.ensemble); 0: one model.",
)  # fmt: skip
@click.option(
    "--seeds", "member_seeds", default=1, show_default=True,
    help="N >= 2: a seed ensemble of N models on all the training rows.",
)  # fmt: skip
@click.option(
    "--selfval", is_flag=True,
    help="Self-validation (params.yaml selfval) removes flagged rows before training.",
)  # fmt: skip
@eval_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def main(
    data: Path,
    holdout: str,
    epochs: float,
    train_rows: int,
    fill: int,
    seed: int,
    method: str,
    lr: float,
    lora_rank: int,
    freeze_layers: int,
    batch_size: int,
    pivot: str,
    negatives: int,
    folds: int,
    member_seeds: int,
    selfval: bool,
    eval_file: Path | None,
    eval_labels: Path | None,
    out: Path | None,
) -> None:
    from relevance.errors import ConfigError
    from relevance.model.encoder import EncoderScorer, EncoderTrainParams, train_encoder
    from relevance.schema import TASKS

    if folds == 1 or folds < 0:
        raise click.BadParameter(
            f"expected 0 (one model) or >= 2, got {folds}", param_hint="--folds"
        )
    if negatives < 0:
        raise click.BadParameter(f"expected >= 0 rows, got {negatives}", param_hint="--negatives")
    if member_seeds < 1 or (member_seeds > 1 and folds):
        raise click.BadParameter(
            f"expected >= 1, and 1 with --folds, got {member_seeds}", param_hint="--seeds"
        )
    try:  # before any data is read or translated: a bad option stops at once
        config = EncoderTrainParams(
            method=method, learning_rate=lr, epochs=epochs, per_device_batch_size=batch_size,
            max_length=96, freeze_word_embeddings=True, freeze_layers=freeze_layers,
            prefixes=True, seed=seed, lora_rank=lora_rank, lora_alpha=2 * lora_rank,
        )  # fmt: skip
    except ConfigError as err:
        raise click.UsageError(str(err)) from err
    train, valid, held = holdout_split(data, holdout, seed=seed, train_rows=train_rows, fill=fill)
    extra = eval_rows(eval_file, eval_labels)
    if held.empty and extra is None:
        raise click.UsageError("--holdout none scores nothing without --eval-file")
    unpivoted = {"train": train, "eval": extra}  # what eval_summary compares
    if pivot != "none":
        if fill:
            raise click.UsageError(
                "--pivot: not with --fill (translated rows keep their English rows' ids)"
            )
        frames = {"train": train, "valid": valid, "held": held}
        if extra is not None:
            frames["eval"] = extra
        frames = pivoted(frames, pivot)
        train, valid, held = frames["train"], frames["valid"], frames["held"]
        extra = frames.get("eval")
    mined = hard_negative_rows(train, negatives, seed) if negatives else train.iloc[:0]
    train = pd.concat([train, mined], ignore_index=True)
    model_dir = ROOT / "data" / "bench" / f"encoder-{holdout}-{method}-pivot-{pivot}"
    seconds, steps = 0.0, 0

    def trained(rows: pd.DataFrame, out_dir: Path, member_config=config) -> Path:
        """Train one model into ``out_dir``; its time and steps count in the totals."""
        nonlocal seconds, steps
        result = train_encoder(
            model_dir=ROOT / "models" / "base" / "embedder", task=TASKS["qc"], rows=rows,
            config=member_config, out_dir=out_dir,
        )  # fmt: skip
        seconds += result.summary["seconds"]
        steps += result.summary["steps"]
        return out_dir

    selfval_summary = None
    if selfval:

        def score_filter(folder: Path, rows: pd.DataFrame) -> np.ndarray:
            scorer = EncoderScorer(folder, batch_size=64)
            return scorer.score(TASKS["qc"], rows, label=f"selfval {folder.name}")

        train, selfval_summary = selfval_kept(
            train, seed=seed, score_model=score_filter,
            train_model=lambda rows, k: trained(rows, model_dir / f"selfval-{k}"),
        )  # fmt: skip
    if folds:
        members = fold_members(train, folds, seed)
        member_dirs = [model_dir / f"fold-{k}" for k in range(folds)]
    elif member_seeds > 1:
        members = [train] * member_seeds
        member_dirs = [model_dir / f"seed-{seed + k}" for k in range(member_seeds)]
    else:
        members, member_dirs = [train], [model_dir]
    for k, (rows, out_dir) in enumerate(zip(members, member_dirs, strict=True)):
        trained(rows, out_dir, config if folds else dataclasses.replace(config, seed=seed + k))
    scorers = [EncoderScorer(d, batch_size=64) for d in member_dirs]
    scorer = MeanScorer(scorers) if len(scorers) > 1 else scorers[0]
    figures, on_extra, _ = model_figures(
        scorer, TASKS["qc"], "encoder", valid=valid,
        held=held, holdout=holdout, extra=extra, extra_name=eval_file.name if eval_file else "",
    )  # fmt: skip
    if len(scorers) > 1 and not held.empty:
        from relevance.evaluate.metrics import auc

        figures["member_auc"] = [
            round(auc(held["label"].to_numpy(), s.score(TASKS["qc"], held, label=f"member {k}")), 6)
            for k, s in enumerate(scorers)
        ]
    on_held, tfidf_extra = baseline_figures(train, held, extra)
    report: dict[str, object] = {
        "holdout": holdout,
        "train_rows": len(train),
        "translated_rows": {"sampled": fill, "kept": int((train["lang"] == holdout).sum())},
        "validation_rows": len(valid),
        "holdout_rows": len(held),
        "epochs": epochs,
        "method": method,
        "learning_rate": lr,
        "lora_rank": lora_rank if method == "lora" else None,
        "freeze_layers": freeze_layers,
        "batch_size": batch_size,
        "pivot": pivot,
        "hard_negatives": {"asked": negatives, "mined": len(mined)},
        "folds": folds,
        "seeds": member_seeds,
        "selfval": selfval_summary,
        "member_train_rows": [len(rows) for rows in members],
        **on_held,
        "encoder": {
            **figures,
            "train_minutes": round(seconds / 60, 1),
            "steps": steps,
        },
    }
    if extra is not None:
        report["eval"] = {
            **eval_summary(eval_file, unpivoted["eval"], unpivoted["train"]),
            "encoder": on_extra,
            "tfidf": tfidf_extra,
        }
    text = json.dumps(report, indent=2)
    click.echo(text)
    if out is not None:
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
