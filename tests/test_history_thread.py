"""The history's writer thread: the loop hands batches over and never waits for SQLite's locks."""
from __future__ import annotations

import sqlite3
import threading

from recorder.history_store import HistoryStore
from recorder.history_writer import HistoryWriter
from shared.history_schema import connect_writer
from tests.test_history_writer import FAIL, WALL, db, events, rows, settings, task  # noqa: F401


def test_a_write_held_by_a_lock_does_not_hold_the_flush(db) -> None:
    connect_writer(db).close()
    writer = HistoryWriter(HistoryStore(db), background=True)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock (as a checkpoint may)
    writer.record(task(FAIL, WALL))
    writer.flush(settings(), 10.0, WALL)  # returns while the thread waits for the lock
    assert rows(db, "SELECT count(*) FROM outcomes") == [(0,)]
    blocker.execute("COMMIT")
    blocker.close()
    assert writer.thread is not None and writer.thread.wait()
    assert rows(db, "SELECT count(*) FROM outcomes") == [(1,)]
    writer.close()


def test_batches_handed_over_are_all_written_and_close_writes_the_last(db) -> None:
    writer = HistoryWriter(HistoryStore(db), background=True)
    for i in range(3):
        writer.record(task(FAIL, WALL + 60 * i))
        writer.flush(settings(), 10.0 + i, WALL + 60 * i)
    writer.record(task(FAIL, WALL + 180))
    writer.flush(settings(), 13.5, WALL + 180, force=True)  # the shutdown's: waits for it
    writer.close()
    assert rows(db, "SELECT count(*) FROM outcomes") == [(4,)]
    assert events(db) == ["camera.offline"]
    assert not writer.thread._thread.is_alive()


def test_a_commit_that_queued_events_wakes_the_sender(db) -> None:
    woken = threading.Event()
    writer = HistoryWriter(HistoryStore(db), background=True)
    writer.on_events(woken.set)
    writer.record(task(FAIL, WALL))
    writer.flush(settings(), 10.0, WALL, force=True)
    assert not woken.is_set()  # one failure: degraded, no event
    writer.record(task(FAIL, WALL + 60))
    writer.flush(settings(), 11.0, WALL + 60, force=True)
    assert woken.is_set()
    writer.close()
