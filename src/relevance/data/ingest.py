"""Validate, clean and convert the competition files into Parquet.

Every record either lands in its split's Parquet file or in the quarantine file with
its file, line and reason: ``rows_in == rows_out + quarantined`` for every split, and
the stage fails when a split's bad share exceeds ``max_bad_fraction``.

Dev and test records must all be answered (the competition scores every id), so there
ingest is lenient where the model can still score a record: a missing or empty
candidate becomes ``""`` and an unreadable label becomes unknown; such rows keep the
defect in the ``defect`` column and are counted per reason. A dev/test record that is
quarantined all the same keeps its id, and the submission answers it with
``predict.fallback_label``; one whose id cannot be read stops the stage, since no
submission could answer it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from relevance.clean import clean_text
from relevance.data.io import DEFAULT_MAX_RECORD_BYTES, RawRecord, ReadCounts, read_records
from relevance.errors import ConfigError, DataError
from relevance.languages import iso_language
from relevance.schema import Task, category_levels
from relevance.tables import INGESTED_SCHEMA, QUARANTINE_SCHEMA, write_arrow

log = logging.getLogger(__name__)

# Language codes look like "en", "vn", "pt-br", "zh_Hant".
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")
# Labels as pandas writes them once a label column held a NaN ("1.0"), besides "1".
_LABEL_TEXT = re.compile(r"^\s*([01])(\.0+)?\s*$")
# How many bad rows an error message names before "... and N more".
_SHOWN_BAD_ROWS = 5


@dataclasses.dataclass(frozen=True)
class DataParams:
    """Where the competition files are.

    File names are patterns: ``{TASK}`` becomes ``QC``/``QI`` and ``{task}`` ``qc``/``qi``.
    ``.txt``/``.jsonl`` are JSON lines; ``.csv``, ``.tsv`` and ``.parquet`` carry the same
    columns. ``train`` and ``dev`` must exist; ``test`` and ``dev_labels`` are read when
    present (the competition ships no dev labels; the bundled sample keeps them apart).
    """

    dir: str = "data/sample"
    train: str = "train_{TASK}.txt"
    dev: str = "dev_{TASK}.txt"
    test: str = "test_{TASK}.txt"
    dev_labels: str = "dev_labels_{TASK}.txt"


@dataclasses.dataclass(frozen=True)
class IngestParams:
    """Validation of the input files."""

    # A split whose share of quarantined rows exceeds this fails the stage. The real
    # data has ~0.1% bad rows (QI train: 453 missing titles in 340k), so 1% is a
    # generous bound that still catches a wrong file or a wrong format.
    max_bad_fraction: float = 0.01
    # A record (line) longer than this is quarantined as too_long without being read
    # whole. Real queries and titles stay under 2 KB; 64 KiB is far above them and
    # keeps a broken file (a missing line break, a binary blob) from filling memory.
    max_record_bytes: int = 65536

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_bad_fraction <= 1.0:
            raise ConfigError(f"max_bad_fraction must be in [0, 1], got {self.max_bad_fraction}")
        if self.max_record_bytes < 1024:
            raise ConfigError(
                f"max_record_bytes must be at least 1024, got {self.max_record_bytes}"
            )


class BadRecord(Exception):
    """A record that breaks the data contract: goes to quarantine."""

    def __init__(self, reason: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.field = field  # the field at fault, where there is one


def resolve_file(pattern: str, task: Task) -> str:
    """``train_{TASK}.txt`` -> ``train_QC.txt``."""
    return pattern.replace("{TASK}", task.code).replace("{task}", task.name)


def parse_label(value: Any) -> int:
    """0/1 as int or float, or the strings "0"/"1" (the real data has both) and
    "0.0"/"1.0" (what pandas writes once a label column held a NaN)."""
    if isinstance(value, bool):
        raise BadRecord("bad_label", f"expected 0 or 1, got {value!r}", field="label")
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, float) and value in (0.0, 1.0):
        return int(value)
    if isinstance(value, str) and (match := _LABEL_TEXT.match(value)):
        return int(match.group(1))
    raise BadRecord("bad_label", f"expected 0 or 1, got {value!r}", field="label")


def parse_id(value: Any) -> int:
    if isinstance(value, bool):
        raise BadRecord("bad_id", f"expected an integer id, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise BadRecord("bad_id", f"expected an integer id, got {value!r}")


def _required_text(fields: dict[str, Any], name: str) -> str:
    if name not in fields or fields[name] is None:
        raise BadRecord("missing_field", f"{name!r} is missing", field=name)
    value = fields[name]
    if not isinstance(value, str):
        raise BadRecord("wrong_type", f"{name!r} must be a string, got {value!r}", field=name)
    if not value.strip():
        raise BadRecord("empty_field", f"{name!r} is empty", field=name)
    return value


def validate_record(
    fields: dict[str, Any], *, task: Task, label_required: bool, answerable: bool = False
) -> dict[str, Any]:
    """One clean row from one raw record, or :class:`BadRecord`.

    Training rows need a label; dev/test rows may carry one (a user's own held-out
    file) or not (the competition's). The language code is lower-cased (``DE`` and
    ``de`` are one language everywhere downstream); ``language_raw`` keeps it as given,
    for the submission.

    ``answerable`` (dev/test): a record the model can still score is kept with its
    defect noted in ``defect`` instead of being quarantined: a missing or empty
    candidate (an empty title is a valid input) and an unreadable label (the row
    becomes unlabelled). Every other fault still raises :class:`BadRecord`.
    """
    defects: list[str] = []
    if fields.get("id") is None:
        raise BadRecord("missing_field", "'id' is missing", field="id")
    row_id = parse_id(fields["id"])
    task_code = _required_text(fields, "task")
    if task_code.strip() != task.code:
        raise BadRecord("wrong_task", f"expected task {task.code!r}, got {task_code!r}")
    language_raw = _required_text(fields, "language")
    language = language_raw.strip().lower()
    if not _LANGUAGE.match(language):
        raise BadRecord("bad_language", f"expected a language code like 'en', got {language_raw!r}")
    query_raw = _required_text(fields, "origin_query")
    candidate_raw = fields.get(task.candidate_field)
    try:
        _required_text(fields, task.candidate_field)
        candidate = clean_text(candidate_raw)
        levels = category_levels(candidate) if task.name == "qc" else None
        if levels == []:
            raise BadRecord(
                "empty_field",
                f"{task.candidate_field!r} has no category level",
                field=task.candidate_field,
            )
    except BadRecord as bad:
        if not (answerable and bad.reason in ("missing_field", "empty_field")):
            raise
        defects.append(bad.reason)
        candidate, levels = "", ([] if task.name == "qc" else None)
    label_value = fields.get("label")
    if label_value is None or (isinstance(label_value, str) and not label_value.strip()):
        if label_required:
            raise BadRecord(
                "missing_field", "'label' is missing (training rows need 0 or 1)", field="label"
            )
        label = None
    else:
        try:
            label = parse_label(label_value)
        except BadRecord:
            if not answerable:
                raise
            defects.append("bad_label")
            label = None
    return {
        "id": row_id,
        "task": task.code,
        "language": language,
        "language_raw": language_raw,
        "lang": iso_language(language),
        "query": clean_text(query_raw),
        "candidate": candidate,
        "label": label,
        "query_raw": query_raw,
        "candidate_raw": candidate_raw,
        "category_levels": levels,
        "defect": ",".join(defects) or None,
    }


@dataclass
class SplitResult:
    """One split after validation."""

    split: str
    path: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    rows_in: int = 0
    blank_lines: int = 0
    byte_order_mark: bool = False

    @property
    def reasons(self) -> dict[str, int]:
        return dict(sorted(Counter(q["reason"] for q in self.quarantine).items()))

    @property
    def defects(self) -> dict[str, int]:
        """Kept rows with a defect (dev/test), per defect."""
        found = Counter(d for row in self.rows if row["defect"] for d in row["defect"].split(","))
        return dict(sorted(found.items()))

    def unanswerable(self) -> list[dict[str, Any]]:
        """Quarantined records no submission can answer: their id cannot be read."""
        return [q for q in self.quarantine if q["id"] is None]

    def bad_fraction(self) -> float:
        return len(self.quarantine) / self.rows_in if self.rows_in else 0.0

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=INGESTED_SCHEMA)


def read_split(
    path: Path,
    *,
    task: Task,
    split: str,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    defaults: dict[str, Any] | None = None,
) -> SplitResult:
    """Validate every record of one split file.

    Dev and test records are validated as answerable (see :func:`validate_record`).
    ``defaults``: values of fields a record may leave out (``relevance score`` reads
    files without the competition's ``task`` field).
    """
    result = SplitResult(split=split, path=path)
    counts = ReadCounts()
    seen_ids: dict[int, int] = {}
    for record in read_records(path, counts, max_record_bytes=max_record_bytes):
        result.rows_in += 1
        try:
            if record.fields is None:
                raise BadRecord(record.error or "malformed", record.detail)
            row = validate_record(
                {**(defaults or {}), **record.fields},
                task=task,
                label_required=split == "train",
                answerable=split != "train",
            )
            first = seen_ids.get(row["id"])
            if first is not None:
                raise BadRecord("duplicate_id", f"id {row['id']} already used at line {first}")
        except BadRecord as bad:
            result.quarantine.append(
                _quarantine_row(split, path, record, bad, candidate_field=task.candidate_field)
            )
            continue
        seen_ids[row["id"]] = record.line
        row["source_file"] = str(path)
        row["source_line"] = record.line
        result.rows.append(row)
    result.blank_lines = counts.blank_lines
    result.byte_order_mark = counts.byte_order_mark
    return result


@dataclass
class LabelFileResult:
    """A separate labels file (``id``, ``label`` per record) applied to a split."""

    path: Path
    rows_in: int = 0
    applied: int = 0
    blank_lines: int = 0
    quarantine: list[dict[str, Any]] = field(default_factory=list)


def apply_label_file(result: SplitResult, labels_path: Path) -> LabelFileResult:
    """Attach labels kept in a separate file to the rows of ``result`` (in place).

    Bad label records and labels for ids the split does not have are quarantined (split
    ``<split>_labels``), so ``rows_in == applied + quarantined`` for the labels file. A
    label that contradicts one already in the split file is an error: there is no safe
    way to pick one.
    """
    by_id = {row["id"]: row for row in result.rows}
    counts = ReadCounts()
    out = LabelFileResult(path=labels_path)
    seen: dict[int, int] = {}
    for record in read_records(labels_path, counts):
        out.rows_in += 1
        try:
            if record.fields is None:
                raise BadRecord(record.error or "malformed", record.detail)
            if record.fields.get("id") is None:
                raise BadRecord("missing_field", "'id' is missing")
            row_id = parse_id(record.fields["id"])
            if record.fields.get("label") is None:
                raise BadRecord("missing_field", "'label' is missing")
            label = parse_label(record.fields["label"])
            if row_id in seen:
                raise BadRecord(
                    "duplicate_id", f"id {row_id} already labelled at line {seen[row_id]}"
                )
            row = by_id.get(row_id)
            if row is None:
                raise BadRecord("unknown_id", f"id {row_id} is not in {result.path}")
        except BadRecord as bad:
            out.quarantine.append(
                _quarantine_row(f"{result.split}_labels", labels_path, record, bad)
            )
            continue
        seen[row_id] = record.line
        if row["label"] is not None and row["label"] != label:
            raise DataError(
                f"{labels_path}:{record.line}: label {label} for id {row_id} contradicts label "
                f"{row['label']} at {row['source_file']}:{row['source_line']}"
            )
        row["label"] = label
        out.applied += 1
    out.blank_lines = counts.blank_lines
    return out


def _quarantine_row(
    split: str, path: Path, record: RawRecord, bad: BadRecord, *, candidate_field: str = ""
) -> dict[str, Any]:
    """A quarantine entry; for dev/test it keeps what a submission needs to answer the
    record: its id (read from the record's leading bytes when it did not parse) and the
    given fields that are text."""
    fields = record.fields or {}
    try:
        row_id = parse_id(fields["id"]) if fields.get("id") is not None else record.id_hint
    except BadRecord:
        row_id = None

    def text(name: str) -> str | None:
        value = fields.get(name)
        return value if isinstance(value, str) else None

    return {
        "split": split,
        "source_file": str(path),
        "source_line": record.line,
        "reason": bad.reason,
        "detail": bad.detail,
        "raw": record.raw,
        "id": row_id,
        "language_raw": text("language"),
        "query_raw": text("origin_query"),
        "candidate_raw": text(candidate_field),
    }


def check_bad_fraction(result: SplitResult, max_bad_fraction: float) -> None:
    """Fail when a split has too many bad rows, naming the first ones."""
    if result.rows_in == 0:
        raise DataError(f"{result.path}: no records (expected one JSON object per line)")
    if not result.rows:
        raise DataError(
            f"{result.path}: all {result.rows_in} records are bad; first: "
            + _describe(result.quarantine)
        )
    fraction = result.bad_fraction()
    if fraction > max_bad_fraction:
        raise DataError(
            f"{result.path}: {len(result.quarantine)} of {result.rows_in} records are bad "
            f"({fraction:.2%} > ingest.max_bad_fraction {max_bad_fraction:.2%}); first: "
            + _describe(result.quarantine)
        )


def _describe(quarantine: list[dict[str, Any]]) -> str:
    shown = [
        f"{q['source_file']}:{q['source_line']}: {q['reason']} ({q['detail']})"
        for q in quarantine[:_SHOWN_BAD_ROWS]
    ]
    more = len(quarantine) - len(shown)
    return "; ".join(shown) + (f"; ... and {more} more" if more > 0 else "")


def check_answerable(result: SplitResult) -> None:
    """Dev/test: every record must be answerable in a submission, so a quarantined
    record whose id cannot be read is an error (the competition scores every id)."""
    lost = result.unanswerable()
    if lost:
        raise DataError(
            f"{result.path}: {len(lost)} record(s) whose id cannot be read, so no submission "
            f"could answer them; fix these lines: {_describe(lost)}"
        )
    answered = [q for q in result.quarantine if q["reason"] != "duplicate_id"]
    if answered:
        log.warning(
            "%s: %d quarantined record(s) will be answered with predict.fallback_label, "
            "not scored: %s",
            result.path,
            len(answered),
            _describe(answered),
        )
    if result.defects:
        log.warning(
            "%s: %d record(s) kept with a defect and scored as they are %s",
            result.path,
            sum(row["defect"] is not None for row in result.rows),
            result.defects,
        )


def ingest_task(
    *,
    data_dir: Path,
    task: Task,
    data: DataParams,
    max_bad_fraction: float,
    out_dir: Path,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> dict[str, Any]:
    """Ingest the train/dev/test files of one task into ``out_dir``.

    Writes ``<split>.parquet`` for every split present and ``quarantine.parquet``
    (possibly empty). Returns the metrics: per split rows in/out/quarantined by reason,
    dev/test rows kept with a defect, labels, and duplicate/conflicting pairs.
    """
    # Imported here: stats needs DuckDB, which the rest of ingestion does not.
    from relevance.data.stats import connect, pair_counts

    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: data directory not found (params data.dir)")
    patterns = {"train": data.train, "dev": data.dev, "test": data.test}
    results: dict[str, SplitResult] = {}
    quarantine: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    for split, pattern in patterns.items():
        path = data_dir / resolve_file(pattern, task)
        if not path.is_file():
            if split == "test":
                log.info("%s: no test file (%s); skipping the test split", task.code, path)
                continue
            raise DataError(
                f"{path}: {split} file not found (params.yaml data.{split} = {pattern!r} "
                f"in data.dir {str(data_dir)!r})"
            )
        result = read_split(path, task=task, split=split, max_record_bytes=max_record_bytes)
        check_bad_fraction(result, max_bad_fraction)
        if split != "train":
            check_answerable(result)
        results[split] = result
        quarantine += result.quarantine
        entry: dict[str, Any] = {
            "rows_in": result.rows_in,
            "rows_out": len(result.rows),
            "quarantined": len(result.quarantine),
            "quarantined_by_reason": result.reasons,
            "blank_lines": result.blank_lines,
            "byte_order_mark": result.byte_order_mark,
        }
        if split != "train":
            entry["kept_with_defect"] = result.defects
        if split == "dev" and data.dev_labels:
            labels_path = data_dir / resolve_file(data.dev_labels, task)
            if labels_path.is_file():
                labels = apply_label_file(result, labels_path)
                quarantine += labels.quarantine
                entry["label_file"] = {
                    "rows_in": labels.rows_in,
                    "applied": labels.applied,
                    "quarantined": len(labels.quarantine),
                    "blank_lines": labels.blank_lines,
                }
            else:
                log.info(
                    "%s: no dev labels file (%s); dev stays unlabelled", task.code, labels_path
                )
        entry["labelled"] = sum(row["label"] is not None for row in result.rows)
        entry["positive"] = sum(row["label"] == 1 for row in result.rows)
        metrics[split] = entry
        log.info(
            "%s %s: %d records in, %d out, %d quarantined %s",
            task.code,
            split,
            result.rows_in,
            len(result.rows),
            len(result.quarantine),
            result.reasons,
        )

    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.parquet"):
        stale.unlink()
    split_files = {}
    for split, result in results.items():
        split_files[split] = out_dir / f"{split}.parquet"
        write_arrow(result.table(), split_files[split])
    write_arrow(
        pa.Table.from_pylist(quarantine, schema=QUARANTINE_SCHEMA), out_dir / "quarantine.parquet"
    )

    con = connect(split_files)
    try:
        for split, pairs in pair_counts(con).items():
            metrics[split]["pairs"] = pairs
    finally:
        con.close()
    metrics["total"] = {
        key: sum(metrics[s][key] for s in results) for key in ("rows_in", "rows_out", "quarantined")
    }
    return metrics
