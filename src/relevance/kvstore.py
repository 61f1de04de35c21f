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
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from relevance.errors import ConfigError

CACHE_ENV = "RELEVANCE_CACHE_DIR"

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# SQLite's primary result codes for a file that is not (or no longer) a sound database.
# Extended codes (SQLITE_CORRUPT_INDEX, ...) keep the primary code in the low byte.
_DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


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


def _is_damage(err: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says the file itself is damaged (not a database, malformed).

    An OperationalError (``database is locked``, disk full, no permission) is never
    damage: a busy or unwritable cache must not be moved aside.
    """
    if isinstance(err, sqlite3.OperationalError) or type(err) is not sqlite3.DatabaseError:
        return False
    code = getattr(err, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _DAMAGE_CODES
    text = str(err).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


class KeyValueStore:
    """A persistent ``key -> bytes`` table in one SQLite file.

    Several processes may share the file (WAL journal, generous lock timeout): queued
    experiments running side by side read and write the same cache.

    A damaged file (SQLite: "file is not a database", "database disk image is
    malformed"), found on open or on a later read or write, is moved aside to
    ``<name>.damaged-<UTC time>`` and an empty cache takes its place: it held derived
    values only, which the stages compute again.
    """

    def __init__(self, path: Path, *, table: str, timeout: float = 120) -> None:
        if not table.isidentifier():
            raise ConfigError(f"cache table name must be an identifier, got {table!r}")
        self.path = Path(path)
        self.table = table
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._connect()
        self._recovering(self._create_table)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.timeout)
        # Which file this connection opened: another process that met the same damage
        # may already have moved it aside and built a fresh one, which must stay.
        try:
            self._identity: tuple[int, int] | None = _identity(self.path)
        except FileNotFoundError:
            self._identity = None
        return db

    def _create_table(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (key TEXT PRIMARY KEY, value BLOB NOT NULL)"
        )
        self._db.commit()

    def _recovering(self, operation: Callable[[], _T]) -> _T:
        """Run ``operation``; if SQLite finds the file damaged, set the file aside, start
        an empty cache and run it once more (a second failure propagates)."""
        try:
            return operation()
        except sqlite3.DatabaseError as err:
            if not _is_damage(err):
                raise
            self._set_aside(err)
        self._db = self._connect()
        self._create_table()
        return operation()

    def _set_aside(self, err: sqlite3.DatabaseError) -> None:
        self._db.close()
        try:
            current: tuple[int, int] | None = _identity(self.path)
        except FileNotFoundError:
            current = None
        if current is None or current != self._identity:
            logger.warning(
                "cache %s was damaged (%s) and another process has meanwhile moved it aside "
                "or replaced it: using the file now at that path",
                self.path,
                err,
            )
            return
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        count = 1
        while target.exists():  # several damages within one second keep every copy
            target = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{count}")
            count += 1
        try:
            # The -wal/-shm siblings keep SQLite's naming, so the moved copy opens whole.
            for suffix in ("-wal", "-shm", ""):
                sibling = self.path.with_name(self.path.name + suffix)
                if sibling.exists():
                    sibling.rename(target.with_name(target.name + suffix))
        except OSError as move_err:
            raise ConfigError(
                f"cache {self.path} is damaged ({err}) and could not be moved aside to "
                f"{target} ({move_err}): it holds derived data only, delete it (and its "
                "-wal/-shm files) and run again"
            ) from move_err
        logger.warning(
            "cache %s is damaged (%s): moved it aside to %s and started an empty cache; it "
            "held derived data only (translations/embeddings are computed again and refill "
            "it), so %s can be deleted",
            self.path,
            err,
            target,
            target,
        )

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The stored values of those ``keys`` that are present."""
        return self._recovering(lambda: self._get_many(keys))

    def _get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
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

        def put() -> None:
            with self._db:
                self._db.executemany(
                    f"INSERT OR REPLACE INTO {self.table} (key, value) VALUES (?, ?)", pairs
                )

        self._recovering(put)

    def __len__(self) -> int:
        return self._recovering(
            lambda: int(self._db.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0])
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> KeyValueStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _identity(path: Path) -> tuple[int, int]:
    """(device, inode) of a file: tells one file from another put in its place."""
    stat = path.stat()
    return stat.st_dev, stat.st_ino
