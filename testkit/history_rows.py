"""Fill a history database the way the recorder's writer does (shared/history_schema.py's docstring).

For tests and benchmarks of the readers: one outcome at a time, with the ``cameras``
row and the hourly/daily buckets updated in the same transaction.
"""
from __future__ import annotations

import sqlite3
import time

from shared.camera_state import DEFAULT_OFFLINE_AFTER_FAILURES, is_failure
from shared.task_status import CANCELLED, COMPLETED

OUTCOME_SQL = (
    "INSERT INTO outcomes (camera, cycle, kind, planned_start, started, ended, status, error, "
    "connect_seconds, bytes, frames, clip_seconds, codec, resolution, clip, quality) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
BUCKET_SQL = ("INSERT INTO {table} (camera, bucket, total, ok) VALUES (?, ?, ?, ?) "
              "ON CONFLICT (camera, bucket) DO UPDATE SET total = total + excluded.total, "
              "ok = ok + excluded.ok")


def local_hour(epoch: float) -> float:
    """Epoch second of the start of ``epoch``'s local hour."""
    parts = time.localtime(epoch)
    return epoch - parts.tm_min * 60 - parts.tm_sec - (epoch % 1)


def local_day(epoch: float) -> float:
    """Epoch second of the start of ``epoch``'s local day."""
    parts = time.localtime(epoch)
    return time.mktime((parts.tm_year, parts.tm_mon, parts.tm_mday, 0, 0, 0, 0, 0, -1))


def outcome_row(camera: str, ended: float, status: int, *, cycle: str = "20250101_000000",
                error: str = "", size: int = 0, clip_seconds: float | None = None,
                clip: str | None = None, kind: str = "cycle", quality: str | None = None) -> tuple:
    """The values of OUTCOME_SQL for one finished task (10 s clip, started 12 s before the end)."""
    ok = status == COMPLETED
    return (camera, cycle, kind, ended - 13, ended - 12, ended, status, error,
            0.4 if ok else None, size, 250 if ok else 0, clip_seconds, "h264" if ok else None,
            "1280x720" if ok else None, clip, quality)


def record(conn: sqlite3.Connection, camera: str, ended: float, status: int, *, name: str = "",
           url: str = "", offline_after: int = DEFAULT_OFFLINE_AFTER_FAILURES, **fields) -> None:
    """Write one finished task as the writer does: outcome, cameras row, buckets, one transaction."""
    row = outcome_row(camera, ended, status, **fields)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(OUTCOME_SQL, row)
    if status != CANCELLED:  # 已取消 counts neither way
        _update_camera(conn, camera, name, url, row, offline_after)
        for table, bucket in (("hourly", local_hour(ended)), ("daily", local_day(ended))):
            conn.execute(BUCKET_SQL.format(table=table), (camera, bucket, 1, int(status == COMPLETED)))
    conn.execute("COMMIT")


def _update_camera(conn: sqlite3.Connection, camera: str, name: str, url: str, row: tuple,
                   offline_after: int) -> None:
    ended, status, error, clip = row[5], row[6], row[7], row[14]
    old = conn.execute("SELECT consecutive_failures, failing_since, offline_since, last_ok_at, "
                       "last_clip FROM cameras WHERE id = ?", (camera,)).fetchone()
    failures, failing_since, offline_since, last_ok, last_clip = old or (0, None, None, None, None)
    if is_failure(status):
        failures += 1
        failing_since = failing_since or ended
        if failures >= offline_after:
            offline_since = offline_since or ended
    else:
        failures, failing_since, offline_since, last_ok = 0, None, None, ended
    conn.execute(
        "INSERT OR REPLACE INTO cameras (id, name, url, last_status, last_error, last_ended, "
        "last_ok_at, consecutive_failures, failing_since, offline_since, last_clip) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (camera, name, url, status, error, ended, last_ok, failures, failing_since,
         offline_since, clip or last_clip))


def add_outbox(conn: sqlite3.Connection, event: str, created: float, *, delivered: float | None = None,
               target: str = "webhook http://127.0.0.1:9/hook", body: str = "{}") -> None:
    """One outbox row (contract 3's shape)."""
    conn.execute("INSERT INTO outbox (event, created, target, body, attempts, next_attempt, "
                 "delivered) VALUES (?, ?, ?, ?, 0, ?, ?)",
                 (event, created, target, body, created, delivered))
