"""Content-keyed persistent caches (translations, embeddings).

A cache entry is keyed by a hash of everything that determines its value (the text, the
model's content revision, the prompt version, ...), never by where or when it was made.
So a re-run, another branch or a queued DVC experiment that meets the same text reuses
the entry, and a changed model or prompt simply misses.

The caches live outside the repository (``$RELEVANCE_CACHE_DIR``, else
``$XDG_CACHE_HOME/relevance``, else ``~/.cache/relevance``) so that every workspace,
branch and ``dvc exp run --queue`` temporary copy shares one. They hold derived values
only: deleting them costs time, never correctness.

SQLite gives atomic commits: entries are written per batch, so a stage killed mid-way
keeps every finished batch and resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from relevance.errors import ConfigError

CACHE_ENV = "RELEVANCE_CACHE_DIR"


def default_cache_dir() -> Path:
    """Where caches live unless a stage is told otherwise (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "relevance"


def content_key(*parts: str) -> str:
    """sha256 over the parts, separated by NUL (so ("ab", "c") != ("a", "bc"))."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def folder_revision(folder: Path) -> str:
    """A content revision of a model folder: sha256 over its files' names and bytes.

    Two folders with the same files have the same revision wherever they live, so a
    cache entry made with ``models/base/llm`` in one clone is valid in another.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: expected a model folder, found none")
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


class KeyValueStore:
    """A persistent ``key -> bytes`` table in one SQLite file.

    Several processes may share the file (WAL journal, generous lock timeout): queued
    experiments running side by side read and write the same cache.
    """

    def __init__(self, path: Path, *, table: str) -> None:
        if not table.isidentifier():
            raise ConfigError(f"cache table name must be an identifier, got {table!r}")
        self.path = Path(path)
        self.table = table
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=120)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, value BLOB NOT NULL)"
        )
        self._db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The stored values of those ``keys`` that are present."""
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, value FROM {self.table} WHERE key IN ({marks})", chunk
            )
            found.update((key, bytes(value)) for key, value in rows)
        return found

    def put_many(self, items: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> None:
        """Store entries and commit (one transaction: all or nothing)."""
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        with self._db:
            self._db.executemany(
                f"INSERT OR REPLACE INTO {self.table} (key, value) VALUES (?, ?)", pairs
            )

    def __len__(self) -> int:
        return int(self._db.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> KeyValueStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
