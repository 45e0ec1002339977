"""The history database on a really full disk (a small tmpfs): the writer logs, keeps its batch
and writes it once when there is space again; the writer never raises to the recording loop."""
from __future__ import annotations

import errno
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder.finished_task import FinishedTask
from recorder.history_store import RETRY_SECONDS, HistoryStore
from recorder.history_writer import HistoryWriter
from shared import task_status as st
from shared.history_schema import connect_writer
from tests.helpers import mounted_tmpfs

pytestmark = pytest.mark.integration
WALL = 1_760_000_000.0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """tmp_path/state as a 1 MB tmpfs of its own, unmounted afterwards."""
    with mounted_tmpfs(tmp_path / "state", 1024 * 1024) as mount_point:
        yield mount_point


def fill(folder: Path) -> Path:
    """Take every free byte of ``folder``'s file system (a ballast file); returns it."""
    path = folder / "ballast.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\xff" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return path


def task(i: int) -> FinishedTask:
    return FinishedTask(camera=f"cam{i:03d}", name="", url=f"rtsp://127.0.0.1:5/cam{i}",
                        alerts=True, cycle="20251009_120000", ended=WALL + i,
                        status=st.COMPLETED, error="x" * 200)


def test_a_full_disk_keeps_the_batch_and_writes_it_once_space_is_back(small_disk, caplog) -> None:
    db = str(small_disk / "history.sqlite3")
    connect_writer(db).close()  # the database exists, with its schema (an installed recorder)
    ballast = fill(small_disk)
    writer = HistoryWriter(HistoryStore(db), background=True)  # as the recorder runs it
    for i in range(200):
        writer.record(task(i))
    with caplog.at_level(logging.ERROR, logger="recorder.history_store"):
        writer.flush(None, 10.0, WALL + 300, force=True)  # returns: the loop goes on
    assert "history: write to" in caplog.text and "failed, recording goes on" in caplog.text

    ballast.unlink()
    assert count(db) == 0  # (read once there is space: a reader needs its -shm file too)
    writer.flush(None, 10.0 + RETRY_SECONDS, WALL + 330, force=True)
    writer.close()
    assert count(db) == 200
    assert len({camera for (camera,) in rows(db, "SELECT camera FROM outcomes")}) == 200


def rows(db: str, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def count(db: str) -> int:
    return rows(db, "SELECT count(*) FROM outcomes")[0][0]
