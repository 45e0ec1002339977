"""Reading the camera history: SQL over shared/history_schema.py's tables, read-only.

Every answer reads a bounded number of rows per camera: the ``cameras`` row, at most
24 hourly and 30 daily buckets, and index seeks into ``outcomes`` (camera, ended).
"""
from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from shared import task_status as st
from shared.history_schema import HistoryUnavailable, connect_reader

log = logging.getLogger(__name__)

HOUR = 3600
DAY = 24 * HOUR
# (field, bucket table, span): uptime over 24 h from hourly buckets, 7 and 30 days from daily.
UPTIME_WINDOWS = (("uptime_24h", "hourly", DAY), ("uptime_7d", "daily", 7 * DAY),
                  ("uptime_30d", "daily", 30 * DAY))
OUTCOME_COLUMNS = ("id", "camera", "cycle", "kind", "planned_start", "started", "ended",
                   "status", "error", "connect_seconds", "bytes", "frames", "clip_seconds",
                   "codec", "resolution", "clip", "quality")


@dataclass(frozen=True)
class CameraRow:
    """A camera's row of the ``cameras`` table, with its uptimes (None: no task in the window)."""

    id: str
    name: str
    url: str
    last_status: int | None
    last_error: str
    last_ended: float | None
    last_ok_at: float | None
    consecutive_failures: int
    failing_since: float | None
    offline_since: float | None
    last_clip: str | None
    uptime: dict[str, float | None]


_CAMERA_COLUMNS = ("id, name, url, last_status, last_error, last_ended, last_ok_at, "
                   "consecutive_failures, failing_since, offline_since, last_clip")


@contextmanager
def open_history(path: str) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection inside one read transaction (one snapshot); None when there is no history."""
    try:
        conn = connect_reader(path)
    except HistoryUnavailable as exc:
        if os.path.exists(path):
            log.warning("history unavailable: %s: %s", path, exc)
        yield None
        return
    try:
        conn.execute("BEGIN")  # WAL: every query below sees the same commit
        yield conn
    finally:
        conn.close()


def camera_rows(conn: sqlite3.Connection, now: float, only: str | None = None) -> dict[str, CameraRow]:
    """Every camera ever recorded (or just ``only``), by id."""
    where, params = ("WHERE id = ?", (only,)) if only is not None else ("", ())
    uptimes = {field: _uptimes(conn, table, now - span, only)
               for field, table, span in UPTIME_WINDOWS}
    rows = {}
    for values in conn.execute(f"SELECT {_CAMERA_COLUMNS} FROM cameras {where}", params):
        uptime = {field: found.get(values[0]) for field, found in uptimes.items()}
        rows[values[0]] = CameraRow(*values, uptime=uptime)
    return rows


def _uptimes(conn: sqlite3.Connection, table: str, after: float,
             only: str | None) -> dict[str, float]:
    """Share of 已完成 among the tasks of buckets starting after ``after``, per camera."""
    # Driven by the cameras table so each camera is an index seek on (camera, bucket).
    where, params = ("WHERE c.id = ?", (after, only)) if only is not None else ("", (after,))
    rows = conn.execute(
        f"SELECT c.id, SUM(b.total), SUM(b.ok) FROM cameras AS c JOIN {table} AS b "
        f"ON b.camera = c.id AND b.bucket > ? {where} GROUP BY c.id", params)
    return {camera: round(ok / total, 4) for camera, total, ok in rows if total}


def outcomes(conn: sqlite3.Connection, camera: str, *, since: float | None = None,
             until: float | None = None, limit: int = 100, offset: int = 0) -> list[dict]:
    """One camera's outcomes, newest first: ``since`` ≤ ended < ``until``, raw column values."""
    clauses, params = ["camera = ?"], [camera]
    if since is not None:
        clauses.append("ended >= ?")
        params.append(since)
    if until is not None:
        clauses.append("ended < ?")
        params.append(until)
    rows = conn.execute(
        f"SELECT {', '.join(OUTCOME_COLUMNS)} FROM outcomes WHERE {' AND '.join(clauses)} "
        "ORDER BY ended DESC, id DESC LIMIT ? OFFSET ?", (*params, limit, offset))
    return [dict(zip(OUTCOME_COLUMNS, row)) for row in rows]


def recent_statuses(conn: sqlite3.Connection, camera: str, limit: int) -> list[tuple[int, float]]:
    """``(status, ended)`` of a camera's newest ``limit`` outcomes, oldest first (an index seek)."""
    return [(status, ended) for status, ended, _ in recent_outcomes(conn, camera, limit)]


def recent_outcomes(conn: sqlite3.Connection, camera: str,
                    limit: int) -> list[tuple[int, float, str | None]]:
    """``(status, ended, quality)`` of a camera's newest ``limit`` outcomes, oldest first (the
    same index seek as :func:`recent_statuses`; ``quality`` as stored, JSON text or None)."""
    rows = conn.execute("SELECT status, ended, quality FROM outcomes WHERE camera = ? "
                        "ORDER BY ended DESC, id DESC LIMIT ?", (camera, limit)).fetchall()
    rows.reverse()
    return rows


# At most this many outcome rows are read per live update.
CHANGE_WINDOW = 5000


def changed_since(conn: sqlite3.Connection, after: int, limit: int) -> tuple[list[str], int]:
    """Cameras with outcomes newer than row id ``after`` (at most ``limit``), and the id covered."""
    # A range of row ids (never the camera index, which would scan the whole table), and a
    # bounded one: a page that slept for a day catches up over a few updates.
    rows = conn.execute(
        "SELECT camera, MAX(id) AS newest FROM (SELECT id, camera FROM outcomes NOT INDEXED "
        "WHERE id > ? ORDER BY id LIMIT ?) GROUP BY camera ORDER BY newest LIMIT ?",
        (after, CHANGE_WINDOW, limit)).fetchall()
    return [camera for camera, _ in rows], rows[-1][1] if rows else after


def state_inputs(conn: sqlite3.Connection) -> dict[str, tuple[int | None, float | None]]:
    """``(last_status, offline_since)`` of every camera: what its state is computed from."""
    return {camera: (status, since) for camera, status, since in conn.execute(
        "SELECT id, last_status, offline_since FROM cameras")}


def latest_id(conn: sqlite3.Connection) -> int:
    """The newest outcome's row id (0 for none): where live updates start from."""
    return conn.execute("SELECT MAX(id) FROM outcomes").fetchone()[0] or 0


def last_clips(conn: sqlite3.Connection) -> dict[str, tuple[int, float | None]]:
    """Bytes and clip seconds of each camera's last 已完成 task (an index seek at ``last_ok_at``)."""
    rows = conn.execute(
        "SELECT c.id, o.bytes, o.clip_seconds FROM cameras AS c JOIN outcomes AS o ON o.id = "
        "(SELECT id FROM outcomes WHERE camera = c.id AND ended <= c.last_ok_at AND status = ? "
        "ORDER BY ended DESC LIMIT 1) WHERE c.last_ok_at IS NOT NULL", (st.COMPLETED,))
    return {camera: (size, seconds) for camera, size, seconds in rows}


def outbox_depth(conn: sqlite3.Connection) -> int:
    """How many alert events wait for delivery."""
    return conn.execute("SELECT COUNT(*) FROM outbox WHERE delivered IS NULL").fetchone()[0]
