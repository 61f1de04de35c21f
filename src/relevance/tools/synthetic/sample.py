"""The synthetic sample as files: the row stream of every task and split
(:func:`iter_rows`) and the competition-format files (:func:`write_sample`)."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from relevance.errors import ConfigError
from relevance.schema import SPLITS
from relevance.tools.synthetic.catalogue import SPLIT_LANGUAGES, TASK_FIELDS
from relevance.tools.synthetic.config import RESERVOIR, SEEN_LIMIT, SampleConfig
from relevance.tools.synthetic.generator import make_pair, pick

log = logging.getLogger(__name__)


def _plan(
    n: int, languages: tuple[str, ...], positive_rate: float, rng: random.Random
) -> list[tuple[str, int]]:
    """(language, label) per row: an even split over languages, an exact positive
    quota within each language (so every language has the same positive share), shuffled.
    """
    base, extra = divmod(n, len(languages))
    plan: list[tuple[str, int]] = []
    for k, language in enumerate(languages):
        rows = base + (k < extra)
        positives = round(rows * positive_rate)
        plan += [(language, 1)] * positives + [(language, 0)] * (rows - positives)
    rng.shuffle(plan)
    return plan


def iter_rows(
    task: str, split: str, *, config: SampleConfig
) -> Iterator[tuple[dict[str, Any], int]]:
    """Yield ``(record, label)`` for every row of ``{split}_{task}.txt``.

    ``record`` is the competition JSON object, keys in the competition's order, with
    ``label`` only in train (int or, at ``string_label_rate``, a string). ``label`` is the
    row's int label (what the dev labels file holds; for train, after label noise).
    The stream depends only on ``(config.seed, task, split)`` and the config, so changing
    one file's size leaves the other files unchanged.
    """
    if task not in TASK_FIELDS or split not in SPLITS:
        raise ConfigError(
            f"sample: expected task in {sorted(TASK_FIELDS)} and split in {SPLITS}, "
            f"got {task!r}, {split!r}"
        )
    # A string seed is hashed with SHA-512 by random.seed: stable across runs and
    # platforms, unlike hash().
    rng = random.Random(f"{config.seed}:{task}:{split}")
    n = config.size(task, split)
    plan = _plan(n, SPLIT_LANGUAGES[task, split], config.positive_rate, rng)
    train = split == "train"
    candidate_field = TASK_FIELDS[task]
    n_duplicates = round(n * config.duplicate_rate) if train and n > 1 else 0
    duplicate_rows = set(rng.sample(range(1, n), n_duplicates))
    reservoir: list[tuple[str, str, str, int]] = []
    seen: set[tuple[str, str]] = set()  # membership only: its order never matters
    fresh = 0
    for index, (language, label) in enumerate(plan):
        if index in duplicate_rows and reservoir:
            language, query, candidate, label = pick(rng, reservoir)
            if rng.random() < config.duplicate_conflict_share:
                label = 1 - label
        else:
            lang = "vi" if language == "vn" else language
            query, candidate = make_pair(task, lang, label == 1, config, rng)
            if len(seen) < SEEN_LIMIT:
                # A small catalogue repeats short queries: draw once more when the pair
                # was already written, so small files repeat mostly the deliberate rows.
                if (query, candidate) in seen:
                    query, candidate = make_pair(task, lang, label == 1, config, rng)
                seen.add((query, candidate))
            if train and rng.random() < config.label_noise:
                label = 1 - label
            if train and task == "QI" and rng.random() < config.missing_title_rate:
                candidate = None
            elif train:
                fresh += 1
                if len(reservoir) < RESERVOIR:
                    reservoir.append((language, query, candidate, label))
                else:
                    slot = int(rng.random() * fresh)
                    if slot < RESERVOIR:
                        reservoir[slot] = (language, query, candidate, label)
        record: dict[str, Any] = {
            "id": index + 1,
            "task": task,
            "language": language,
            "origin_query": query,
            candidate_field: candidate,
        }
        if train:
            record["label"] = str(label) if rng.random() < config.string_label_rate else label
        yield record, label


def sample_files() -> list[str]:
    """Names of the files ``write_sample`` writes."""
    names = [f"{split}_{task}.txt" for task in TASK_FIELDS for split in SPLITS]
    return names + [f"dev_labels_{task}.txt" for task in TASK_FIELDS]


def _write_split(out: Path, task: str, split: str, config: SampleConfig) -> dict[str, int]:
    """Write one split file (and its dev labels file); return rows per file name."""
    name = f"{split}_{task}.txt"
    # One encoder for all rows: json.dumps with non-default options builds a new one per
    # call. Same bytes, a few seconds less at competition size.
    encode = json.JSONEncoder(ensure_ascii=False).encode
    dev_labels: list[str] = []
    rows = 0
    with (out / name).open("w", encoding="utf-8", newline="\n") as handle:
        for record, label in iter_rows(task, split, config=config):
            handle.write(encode(record) + "\n")
            rows += 1
            if split == "dev":
                dev_labels.append(encode({"id": record["id"], "label": label}) + "\n")
    counts = {name: rows}
    if split == "dev":
        labels_name = f"dev_labels_{task}.txt"
        with (out / labels_name).open("w", encoding="utf-8", newline="\n") as handle:
            handle.writelines(dev_labels)
        counts[labels_name] = len(dev_labels)
    return counts


def write_sample(
    out_dir: Path | str, config: SampleConfig | None = None, *, workers: int = 1
) -> dict[str, int]:
    """Write ``{train,dev,test}_{QC,QI}.txt`` and ``dev_labels_{QC,QI}.txt`` into
    ``out_dir`` (created if needed; other files there are left alone). Returns the row
    count per file name, in ``sample_files()`` order.

    UTF-8, one ``json.dumps(..., ensure_ascii=False)`` object per line, "\\n" line ends.
    The same config gives byte-identical files, whatever ``workers`` is: each file is
    generated from its own seed, so ``workers`` > 1 writes files in parallel processes.

    Time for competition size (300k QC + 340k QI train rows, defaults elsewhere) on this
    2-core machine: 16 s of CPU, 26 s wall with ``workers=1`` while other jobs kept the
    load at 3.7; ``workers=2`` puts QC and QI train on separate cores, which pays off
    only on an otherwise idle machine. Memory stays near 100 MB at any size.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"sample workers: expected an integer >= 1, got {workers!r}")
    config = config or SampleConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Largest files first, so parallel workers finish together.
    jobs = sorted(
        ((task, split) for task in TASK_FIELDS for split in SPLITS),
        key=lambda job: -config.size(*job),
    )
    started = time.perf_counter()
    written: dict[str, int] = {}
    if workers == 1:
        for task, split in jobs:
            written.update(_write_split(out, task, split, config))
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            futures = [pool.submit(_write_split, out, task, split, config) for task, split in jobs]
            for future in futures:
                written.update(future.result())
    seconds = time.perf_counter() - started
    counts = {name: written[name] for name in sample_files()}
    for name, rows in counts.items():
        log.info("wrote %s: %d rows", out / name, rows)
    rows = sum(config.size(task, split) for task in TASK_FIELDS for split in SPLITS)
    log.info("sample: %d rows in %.1f s (%.0f rows/s)", rows, seconds, rows / max(seconds, 1e-9))
    return counts
