"""Reading records from competition-format files, with their line numbers.

JSON lines (``.txt``, ``.jsonl``, ``.json``), CSV, TSV and Parquet carry the same
columns. Every reader yields one :class:`RawRecord` per record, with the line (or, for
Parquet, row) number it came from, so each error can say ``file:line``. Records that
cannot even be parsed come back with ``error`` set instead of being dropped.

What real files bring, and how it is met:

- a UTF-8 byte-order mark (Excel and many Windows tools write one) is skipped;
- a line longer than ``max_record_bytes`` comes back as ``too_long`` without being read
  whole into memory (a 200 MB line must not cost 2 GB), with the id when the line starts
  with it, as the competition files do.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow.parquet as pq

from relevance.errors import DataError

JSON_SUFFIXES = {".txt", ".jsonl", ".json", ".ndjson"}
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
FORMATS = sorted(JSON_SUFFIXES | set(CSV_SUFFIXES) | {".parquet"})

UTF8_BOM = b"\xef\xbb\xbf"
# Far above any real query or title (the longest real QI title is ~1 KB), far below what
# would strain memory.
DEFAULT_MAX_RECORD_BYTES = 64 * 1024
# How much of a record the quarantine file keeps when the record is too long.
_SHOWN_BYTES = 1024
# An id at the very start of a JSON record: {"id": 123, ... or {"id": "123", ...
_LEADING_JSON_ID = re.compile(r'^\s*\{\s*"id"\s*:\s*"?\s*(-?\d{1,18})\s*"?\s*[,}]')


@dataclass(frozen=True)
class RawRecord:
    line: int  # 1-based line number (Parquet: 1-based row number)
    fields: dict[str, Any] | None  # None when the record could not be parsed
    raw: str  # the text of the record (cut short when too long), for the quarantine file
    error: str | None = None  # reason when fields is None
    detail: str = ""
    # The record's id when it could be read from a record that does not parse (its
    # leading bytes), so a dev/test record can still be answered in a submission.
    id_hint: int | None = None


@dataclass
class ReadCounts:
    """What a reader skipped that is not a record (reported, never silent)."""

    blank_lines: int = 0
    byte_order_mark: bool = False


def _has_surrogates(text: str) -> bool:
    # Bytes that are not UTF-8 decode to lone surrogates under "surrogateescape".
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def leading_json_id(text: str) -> int | None:
    """The id of a JSON record whose first key is ``id`` (the competition's layout)."""
    match = _LEADING_JSON_ID.match(text)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class _Line:
    number: int
    data: bytes  # without the line break; the first _SHOWN_BYTES only when too long
    too_long: int = 0  # the line's length in bytes when over the limit, else 0


def _lines(handle: BinaryIO, max_bytes: int, counts: ReadCounts) -> Iterator[_Line]:
    """Physical lines of a binary file, each read with a bounded buffer.

    A line over ``max_bytes`` is measured in chunks and skipped, so memory stays
    bounded by the limit whatever the file holds.
    """
    number = 0
    while True:
        chunk = handle.readline(max_bytes + 2)
        if not chunk:
            return
        number += 1
        cut_short = not chunk.endswith(b"\n") and len(chunk) == max_bytes + 2
        if number == 1 and chunk.startswith(UTF8_BOM):
            chunk = chunk[len(UTF8_BOM) :]
            counts.byte_order_mark = True
        if cut_short:
            size, head = len(chunk), chunk[:_SHOWN_BYTES]
            while not chunk.endswith(b"\n"):
                chunk = handle.readline(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
            yield _Line(number, head, too_long=size - chunk.endswith(b"\n"))
            continue
        data = chunk.rstrip(b"\r\n") if chunk.endswith(b"\n") else chunk
        if len(data) > max_bytes:
            yield _Line(number, data[:_SHOWN_BYTES], too_long=len(data))
        else:
            yield _Line(number, data)


def _too_long(line: _Line, max_bytes: int, id_hint: int | None) -> RawRecord:
    shown = line.data.decode("utf-8", errors="replace") + f"... ({line.too_long:,} bytes)"
    detail = f"{line.too_long:,} bytes; ingest.max_record_bytes is {max_bytes:,}"
    return RawRecord(line.number, None, shown, "too_long", detail, id_hint)


def _read_json_lines(path: Path, counts: ReadCounts, max_bytes: int) -> Iterator[RawRecord]:
    with path.open("rb") as handle:
        for line in _lines(handle, max_bytes, counts):
            raw = line.data.decode("utf-8", errors="replace")
            if line.too_long:
                yield _too_long(line, max_bytes, leading_json_id(raw))
                continue
            if not line.data.strip():
                counts.blank_lines += 1
                continue
            try:
                text = line.data.decode("utf-8")
            except UnicodeDecodeError as exc:
                detail = f"byte {exc.start}: {exc.reason}"
                yield RawRecord(
                    line.number, None, raw, "invalid_utf8", detail, leading_json_id(raw)
                )
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RawRecord(
                    line.number, None, raw, "malformed_json", exc.msg, leading_json_id(raw)
                )
                continue
            if not isinstance(value, dict):
                detail = f"expected a JSON object, got {type(value).__name__}"
                yield RawRecord(line.number, None, raw, "malformed_json", detail)
                continue
            yield RawRecord(line.number, value, raw)


# Stands in for a line over the limit in the text handed to the csv module, which then
# parses it as a one-field row; never valid data (U+FFFF is a Unicode noncharacter).
_TOO_LONG_MARK = "\uffff too_long \uffff"


def _read_delimited(
    path: Path, delimiter: str, counts: ReadCounts, max_bytes: int
) -> Iterator[RawRecord]:
    long_lines: dict[int, _Line] = {}

    def text_lines(handle: BinaryIO) -> Iterator[str]:
        for line in _lines(handle, max_bytes, counts):
            if line.too_long:
                long_lines[line.number] = line
                yield _TOO_LONG_MARK + "\n"
            else:
                yield line.data.decode("utf-8", errors="surrogateescape") + "\n"

    # A record may span lines (quoted line breaks): bound the fields too.
    csv.field_size_limit(max(max_bytes, 131072))
    with path.open("rb") as handle:
        reader = csv.reader(text_lines(handle), delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"{path}:1: header is not readable: {exc}") from None
        if header == [_TOO_LONG_MARK]:
            raise DataError(f"{path}:1: header is longer than {max_bytes:,} bytes")
        if _has_surrogates(delimiter.join(header)):
            raise DataError(f"{path}:1: header is not valid UTF-8")
        header = [h.strip() for h in header]
        repeated = sorted({h for h in header if header.count(h) > 1})
        if repeated:
            raise DataError(f"{path}:1: header names {', '.join(map(repr, repeated))} twice")
        id_column = header.index("id") if "id" in header else None
        while True:
            start = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RawRecord(start, None, "", "malformed_row", str(exc))
                continue
            line_no = reader.line_num
            if values == [_TOO_LONG_MARK]:
                line = long_lines.pop(line_no)
                head = line.data.decode("utf-8", errors="replace").split(delimiter)
                id_hint = None
                if id_column is not None and len(head) > id_column + 1:
                    candidate = head[id_column].strip().strip('"')
                    id_hint = int(candidate) if candidate.lstrip("-").isdigit() else None
                yield _too_long(line, max_bytes, id_hint)
                continue
            raw = delimiter.join(values)
            if not any(v.strip() for v in values):
                counts.blank_lines += 1
                continue
            shown = raw.encode("utf-8", errors="surrogateescape").decode("utf-8", "replace")
            if _has_surrogates(raw):
                yield RawRecord(line_no, None, shown, "invalid_utf8", "bytes that are not UTF-8")
                continue
            if len(raw.encode("utf-8")) > max_bytes:
                detail = (
                    f"{len(raw.encode('utf-8')):,} bytes; ingest.max_record_bytes is {max_bytes:,}"
                )
                yield RawRecord(line_no, None, shown[:_SHOWN_BYTES], "too_long", detail)
                continue
            if len(values) != len(header):
                detail = f"expected {len(header)} fields ({', '.join(header)}), got {len(values)}"
                yield RawRecord(line_no, None, shown, "malformed_row", detail)
                continue
            yield RawRecord(line_no, dict(zip(header, values, strict=True)), shown)


def _read_parquet(path: Path, max_bytes: int) -> Iterator[RawRecord]:
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(f"{path}: not a readable Parquet file: {exc}") from exc
    # Column names written by a tool that kept a byte-order mark.
    names = [name.removeprefix("\ufeff").strip() for name in table.column_names]
    table = table.rename_columns(names)
    for row_no, row in enumerate(table.to_pylist(), start=1):
        raw = json.dumps(row, ensure_ascii=False, default=str)
        size = len(raw.encode("utf-8"))
        if size > max_bytes:
            detail = f"{size:,} bytes; ingest.max_record_bytes is {max_bytes:,}"
            yield RawRecord(row_no, None, raw[:_SHOWN_BYTES], "too_long", detail)
            continue
        yield RawRecord(row_no, row, raw)


def _check_text_file(path: Path) -> None:
    """A readable file that is not UTF-16 (what "Unicode text" means in some editors):
    every line of it would otherwise be quarantined as invalid UTF-8."""
    try:
        with path.open("rb") as handle:
            start = handle.read(2)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if start in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"{path}: is UTF-16 text; expected UTF-8 (save it as UTF-8)")


def read_records(
    path: Path,
    counts: ReadCounts | None = None,
    *,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[RawRecord]:
    """Yield every record of ``path`` in file order; format chosen by suffix.

    Records over ``max_record_bytes`` (UTF-8 bytes of the line, or of the Parquet row
    as JSON) come back as ``too_long`` errors.
    """
    counts = counts if counts is not None else ReadCounts()
    if max_record_bytes < 1:
        raise DataError(f"max_record_bytes must be >= 1, got {max_record_bytes}")
    suffix = path.suffix.lower()
    if suffix != ".parquet":
        _check_text_file(path)
    if suffix in JSON_SUFFIXES:
        return _read_json_lines(path, counts, max_record_bytes)
    if suffix in CSV_SUFFIXES:
        return _read_delimited(path, CSV_SUFFIXES[suffix], counts, max_record_bytes)
    if suffix == ".parquet":
        return _read_parquet(path, max_record_bytes)
    raise DataError(f"{path}: unknown file type {suffix!r}; expected one of {', '.join(FORMATS)}")
