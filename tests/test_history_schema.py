"""The history database: created and migrated by the writer, opened read-only by readers."""
from __future__ import annotations

import sqlite3

import pytest

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


@pytest.mark.parametrize(("last", "failures", "state"), [
    (None, 0, "unknown"), (4, 0, "online"), (5, 1, "degraded"), (7, 2, "offline"),
    (9, 5, "offline")])
def test_the_state_of_a_camera(last, failures, state) -> None:
    from shared.camera_state import camera_state
    assert camera_state(last, failures, offline_after=2) == state
