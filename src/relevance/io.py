"""Reading records from competition-format files, with their line numbers.

JSON lines (``.txt``, ``.jsonl``, ``.json``), CSV, TSV and Parquet carry the same
columns. Every reader yields one :class:`RawRecord` per record, with the line (or, for
Parquet, row) number it came from, so each error can say ``file:line``. Records that
cannot even be parsed come back with ``error`` set instead of being dropped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from relevance.errors import DataError

JSON_SUFFIXES = {".txt", ".jsonl", ".json", ".ndjson"}
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
FORMATS = sorted(JSON_SUFFIXES | set(CSV_SUFFIXES) | {".parquet"})


@dataclass(frozen=True)
class RawRecord:
    line: int  # 1-based line number (Parquet: 1-based row number)
    fields: dict[str, Any] | None  # None when the record could not be parsed
    raw: str  # the text of the record, for the quarantine file
    error: str | None = None  # reason when fields is None
    detail: str = ""


@dataclass
class ReadCounts:
    """What a reader skipped that is not a record (reported, never silent)."""

    blank_lines: int = 0


def _has_surrogates(text: str) -> bool:
    # Bytes that are not UTF-8 decode to lone surrogates under "surrogateescape".
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _read_json_lines(path: Path, counts: ReadCounts) -> Iterator[RawRecord]:
    with path.open("rb") as handle:
        for line_no, data in enumerate(handle, start=1):
            raw = data.decode("utf-8", errors="replace").rstrip("\r\n")
            if not data.strip():
                counts.blank_lines += 1
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield RawRecord(
                    line_no, None, raw, "invalid_utf8", f"byte {exc.start}: {exc.reason}"
                )
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RawRecord(line_no, None, raw, "malformed_json", exc.msg)
                continue
            if not isinstance(value, dict):
                detail = f"expected a JSON object, got {type(value).__name__}"
                yield RawRecord(line_no, None, raw, "malformed_json", detail)
                continue
            yield RawRecord(line_no, value, raw)


def _read_delimited(path: Path, delimiter: str, counts: ReadCounts) -> Iterator[RawRecord]:
    with path.open("r", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        if _has_surrogates(delimiter.join(header)):
            raise DataError(f"{path}:1: header is not valid UTF-8")
        header = [h.strip() for h in header]
        for values in reader:
            line_no = reader.line_num
            raw = delimiter.join(values)
            if not any(v.strip() for v in values):
                counts.blank_lines += 1
                continue
            shown = raw.encode("utf-8", errors="surrogateescape").decode("utf-8", "replace")
            if _has_surrogates(raw):
                yield RawRecord(line_no, None, shown, "invalid_utf8", "bytes that are not UTF-8")
                continue
            if len(values) != len(header):
                detail = f"expected {len(header)} fields ({', '.join(header)}), got {len(values)}"
                yield RawRecord(line_no, None, shown, "malformed_row", detail)
                continue
            yield RawRecord(line_no, dict(zip(header, values, strict=True)), shown)


def _read_parquet(path: Path) -> Iterator[RawRecord]:
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(f"{path}: not a readable Parquet file: {exc}") from exc
    for row_no, row in enumerate(table.to_pylist(), start=1):
        yield RawRecord(row_no, row, json.dumps(row, ensure_ascii=False, default=str))


def read_records(path: Path, counts: ReadCounts | None = None) -> Iterator[RawRecord]:
    """Yield every record of ``path`` in file order; format chosen by suffix."""
    counts = counts if counts is not None else ReadCounts()
    suffix = path.suffix.lower()
    if suffix in JSON_SUFFIXES:
        return _read_json_lines(path, counts)
    if suffix in CSV_SUFFIXES:
        return _read_delimited(path, CSV_SUFFIXES[suffix], counts)
    if suffix == ".parquet":
        return _read_parquet(path)
    raise DataError(f"{path}: unknown file type {suffix!r}; expected one of {', '.join(FORMATS)}")
