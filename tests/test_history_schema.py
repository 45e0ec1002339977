"""The history database: created and migrated by the writer, opened read-only by readers."""
from __future__ import annotations

import os
import sqlite3
from types import SimpleNamespace

import pytest

from shared import history_schema

from shared.history_schema import (SCHEMA_VERSION, HistoryUnavailable, connect_reader,
                                   connect_writer)


def test_the_writer_creates_the_schema_in_wal_mode_and_readers_cannot_write(tmp_path) -> None:
    path = str(tmp_path / "state" / "history.sqlite3")
    with pytest.raises(HistoryUnavailable):
        connect_reader(path)  # a reader never creates it
    writer = connect_writer(path)
    assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert writer.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    writer.execute("INSERT INTO outcomes (camera, cycle, ended, status) VALUES ('a', 'c', 1, 4)")
    reader = connect_reader(path)
    assert reader.execute("SELECT camera, status FROM outcomes").fetchall() == [("a", 4)]
    with pytest.raises(sqlite3.OperationalError):
        reader.execute("DELETE FROM outcomes")
    connect_writer(path).close()  # opening again migrates nothing and keeps the rows
    assert reader.execute("SELECT count(*) FROM outcomes").fetchone()[0] == 1


def test_a_newer_schema_is_refused_by_both_sides(tmp_path) -> None:
    path = str(tmp_path / "history.sqlite3")
    connect_writer(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(HistoryUnavailable):
        connect_writer(path)
    with pytest.raises(HistoryUnavailable):
        connect_reader(path)


def test_a_file_that_is_not_a_database_is_reported(tmp_path) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        connect_writer(str(path))
    with pytest.raises(HistoryUnavailable):
        connect_reader(str(path))


class _Hooked(sqlite3.Connection):
    """A connection that runs a hook once just before a given statement (another opener's
    work, at the worst moment)."""

    hooks: dict = {}

    def execute(self, sql, *args):
        hook = self.hooks.pop(sql, None)
        if hook is not None:
            hook()
        return super().execute(sql, *args)


@pytest.fixture
def hooked(monkeypatch) -> dict:
    """Hooks for connect_writer's own connection: {statement: what runs just before it}."""
    _Hooked.hooks = {}
    proxy = SimpleNamespace(**{name: getattr(sqlite3, name) for name in dir(sqlite3)
                               if not name.startswith("__")})
    proxy.connect = lambda *args, **named: sqlite3.connect(*args, factory=_Hooked, **named)
    monkeypatch.setattr(history_schema, "sqlite3", proxy)
    return _Hooked.hooks


def test_an_opener_that_finds_the_schema_made_meanwhile_makes_it_no_second_time(
        tmp_path, hooked) -> None:
    # The history writer and the alert sender open a new file at once: the other one migrates
    # it between this one's look at the version and its write lock.
    path = str(tmp_path / "history.sqlite3")
    hooked["BEGIN IMMEDIATE"] = lambda: connect_writer(path).close()
    writer = connect_writer(path)
    assert not hooked  # the other opener did migrate it first
    assert writer.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_an_opener_that_finds_another_switching_to_wal_tries_again(
        tmp_path, hooked, monkeypatch) -> None:
    path = str(tmp_path / "history.sqlite3")
    other = sqlite3.connect(path, isolation_level=None)
    hooked["PRAGMA journal_mode=WAL"] = lambda: other.execute("BEGIN IMMEDIATE")
    slept = []

    class Clock:  # the other opener is done by the time this one has waited
        def monotonic(self) -> float:
            return float(len(slept))

        def sleep(self, seconds: float) -> None:
            slept.append(seconds)
            if other.in_transaction:
                other.execute("COMMIT")

    monkeypatch.setattr(history_schema, "SYSTEM_CLOCK", Clock())
    writer = connect_writer(path)
    assert slept == [history_schema.WAL_RETRY_SECONDS]
    assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Held past the busy timeout, it still fails, with SQLite's own error.
    again = str(tmp_path / "again.sqlite3")
    other = sqlite3.connect(again, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(history_schema, "SYSTEM_CLOCK", SimpleNamespace(
        monotonic=lambda: 1000.0 + 10 * len(slept), sleep=slept.append))
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        connect_writer(again)


@pytest.mark.parametrize(("last", "offline_since", "state"), [
    (None, None, "unknown"), (4, None, "online"), (5, None, "degraded"), (7, 90.0, "offline"),
    (9, 90.0, "offline")])
def test_the_state_of_a_camera(last, offline_since, state) -> None:
    from shared.camera_state import camera_state
    assert camera_state(last, offline_since) == state


def test_a_new_history_is_not_for_others_to_read(tmp_path) -> None:
    # Its outbox holds every receiver's URL, tokens included (it was made 0644).
    import stat
    path = str(tmp_path / "state" / "history.sqlite3")
    conn = connect_writer(path)
    conn.execute("INSERT INTO outbox (event, created, target, body, attempts, next_attempt)"
                 " VALUES ('x', 0, 'webhook http://127.0.0.1/?token=t', '{}', 0, 0)")
    for name in os.listdir(tmp_path / "state"):  # the -wal and -shm files too
        mode = stat.S_IMODE(os.stat(tmp_path / "state" / name).st_mode)
        assert mode & 0o007 == 0, (name, oct(mode))
    conn.close()


def test_a_history_made_before_that_rule_loses_its_read_for_others(tmp_path) -> None:
    import stat
    path = str(tmp_path / "history.sqlite3")
    connect_writer(path).close()
    for name in os.listdir(tmp_path):
        os.chmod(tmp_path / name, 0o644)  # as every install made it until 2026-12-03
    connect_writer(path).close()
    assert all(stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o640
               for name in os.listdir(tmp_path))


def test_a_history_of_the_first_schema_keeps_its_open_outages_followed(tmp_path) -> None:
    # Version 2 adds cameras.offline_alerted; an outage open at the upgrade had its alert.
    path = str(tmp_path / "history.sqlite3")
    old = sqlite3.connect(path, isolation_level=None)
    for statement in history_schema._statements(history_schema.MIGRATIONS[0]):
        old.execute(statement)
    old.execute("PRAGMA user_version = 1")
    old.execute("INSERT INTO cameras (id, last_status, consecutive_failures, failing_since,"
                " offline_since) VALUES ('gate', 5, 3, 10.0, 10.0), ('yard', 4, 0, NULL, NULL)")
    old.close()
    writer = connect_writer(path)
    assert writer.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert writer.execute("SELECT id, offline_alerted FROM cameras ORDER BY id").fetchall() \
        == [("gate", 1), ("yard", 0)]
    assert connect_reader(path).execute("SELECT count(*) FROM cameras").fetchone()[0] == 2
