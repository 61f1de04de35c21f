"""The SQLite key-value cache: a damaged file is set aside and rebuilt, a busy one is not."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from relevance import kvstore as cache_module
from relevance.errors import ConfigError
from relevance.kvstore import KeyValueStore

PAGE = 4096  # SQLite's default page size


def _real_cache(path: Path, entries: int = 2000) -> bytes:
    """A cache file with ``entries`` rows, closed (WAL checkpointed into it); its bytes."""
    with KeyValueStore(path, table="embeddings") as store:
        store.put_many({f"k{i}": bytes([i % 256]) * 200 for i in range(entries)})
    assert not path.with_name(path.name + "-wal").exists()
    return path.read_bytes()


def _moved_aside(path: Path) -> list[Path]:
    """The moved-aside copies of the database file (without their -wal/-shm siblings)."""
    found = path.parent.glob(f"{path.name}.damaged-*")
    return sorted(p for p in found if not p.name.endswith(("-wal", "-shm")))


def _works(store: KeyValueStore) -> None:
    assert store.get_many(["k1"]) == {}
    store.put_many({"k1": b"v1", "k2": b"v2"})
    assert store.get_many(["k1", "k2", "k3"]) == {"k1": b"v1", "k2": b"v2"}
    assert len(store) == 2


def test_the_cache_stores_and_reads_entries(tmp_path) -> None:
    with KeyValueStore(tmp_path / "c.sqlite", table="embeddings") as store:
        _works(store)
    with KeyValueStore(tmp_path / "c.sqlite", table="embeddings") as store:
        assert store.get_many(["k2"]) == {"k2": b"v2"}
    assert _moved_aside(tmp_path / "c.sqlite") == []


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda real: b"not a database at all " * 300, id="garbage"),
        pytest.param(lambda real: real[:100], id="truncated-to-100-bytes"),
        pytest.param(lambda real: real[: 3 * PAGE], id="truncated-to-3-pages"),
    ],
)
def test_a_damaged_file_is_moved_aside_on_open(tmp_path, caplog, damage) -> None:
    path = tmp_path / "embeddings.sqlite"
    broken = damage(_real_cache(path))
    path.write_bytes(broken)
    with caplog.at_level(logging.WARNING, logger="relevance.kvstore"):
        store = KeyValueStore(path, table="embeddings")
    with store:
        _works(store)
    [aside] = _moved_aside(path)
    assert aside.read_bytes() == broken
    assert str(path) in caplog.text and str(aside) in caplog.text
    assert "derived data only" in caplog.text
    # The rebuilt cache is a sound database that later opens quietly.
    caplog.clear()
    with (
        caplog.at_level(logging.WARNING, logger="relevance.kvstore"),
        KeyValueStore(path, table="embeddings") as again,
    ):
        assert again.get_many(["k1"]) == {"k1": b"v1"}
    assert caplog.text == "" and _moved_aside(path) == [aside]


def test_damage_that_shows_only_on_a_read_is_moved_aside_then(tmp_path, caplog) -> None:
    """Page 1 (the schema) intact, the table and index pages garbage: the file opens,
    and only the first lookup meets the damage."""
    path = tmp_path / "embeddings.sqlite"
    real = _real_cache(path)
    path.write_bytes(real[:PAGE] + b"\xab" * (len(real) - PAGE))
    store = KeyValueStore(path, table="embeddings")
    assert _moved_aside(path) == []  # the damage has not shown yet
    with caplog.at_level(logging.WARNING, logger="relevance.kvstore"):
        assert store.get_many(["k5"]) == {}  # derived data: a miss, computed again
    [aside] = _moved_aside(path)
    assert str(aside) in caplog.text
    with store:
        _works(store)


def test_a_write_lock_is_not_damage_and_the_file_stays(tmp_path) -> None:
    """A busy cache (another process mid-write) must fail as busy, never be moved."""
    path = tmp_path / "embeddings.sqlite"
    real = _real_cache(path, entries=10)
    with KeyValueStore(path, table="embeddings", timeout=0.1) as store:
        other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # holds the write lock (WAL: readers go on)
        try:
            assert store.get_many(["k3"]) == {"k3": bytes([3]) * 200}
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                store.put_many({"new": b"x"})
        finally:
            other.execute("ROLLBACK")
            other.close()
    assert _moved_aside(path) == [] and path.read_bytes() == real


def test_an_exclusively_locked_file_is_not_moved_on_open(tmp_path) -> None:
    """A rollback-journal database under an exclusive lock: switching it to WAL on open
    reports "database is locked", which is not damage."""
    path = tmp_path / "embeddings.sqlite"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE embeddings (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
    other.execute("INSERT INTO embeddings VALUES ('k', x'00')")
    before = path.read_bytes()
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            KeyValueStore(path, table="embeddings", timeout=0.1)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert _moved_aside(path) == [] and path.read_bytes() == before


def test_a_damaged_file_that_cannot_be_moved_is_a_config_error(tmp_path, monkeypatch) -> None:
    path = tmp_path / "embeddings.sqlite"
    path.write_bytes(b"garbage " * 100)

    def refuse(self: Path, target: Path) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(cache_module.Path, "rename", refuse)
    with pytest.raises(ConfigError, match="damaged") as caught:
        KeyValueStore(path, table="embeddings")
    message = str(caught.value)
    assert str(path) in message and "delete it" in message and "derived data only" in message
    assert path.read_bytes() == b"garbage " * 100


def test_a_file_another_process_already_replaced_is_kept(tmp_path, caplog) -> None:
    """Two processes meet the same damage: the second must not move aside the fresh
    cache the first just built in its place."""
    path = tmp_path / "embeddings.sqlite"
    real = _real_cache(path)
    path.write_bytes(real[:PAGE] + b"\xab" * (len(real) - PAGE))
    slow = KeyValueStore(path, table="embeddings")  # opened the damaged file
    with KeyValueStore(path, table="embeddings") as fast:
        assert fast.get_many(["k1"]) == {}  # meets the damage first: moves it, rebuilds
        fast.put_many({"kept": b"yes"})
    [aside] = _moved_aside(path)
    with caplog.at_level(logging.WARNING, logger="relevance.kvstore"), slow:
        # The slow store's connection still reads the damaged (moved) file; it then
        # switches to the fresh cache instead of moving that one aside too.
        assert slow.get_many(["kept"]) == {"kept": b"yes"}
    assert "another process has meanwhile moved it aside" in caplog.text
    assert _moved_aside(path) == [aside]
