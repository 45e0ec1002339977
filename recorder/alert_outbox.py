"""The alert outbox as the sender sees it: what is due, in order per target, and what became of it.

Rows are written by the history writer (one per event and receiver); the sender
only closes them (``delivered``), reschedules them (``attempts``, ``next_attempt``,
``last_error``) or deletes those whose receiver left the config. A row the
receiver refused for ``GIVE_UP_SECONDS`` is closed too: ``delivered`` holds the
time it was given up and ``last_error`` starts with ``GAVE_UP``.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 600.0
GIVE_UP_SECONDS = 24 * 3600.0
GAVE_UP = "gave up: "
# Bounds a stored error message (a receiver may answer with a page of HTML).
ERROR_CHARS = 300


@dataclass(frozen=True)
class OutboxRow:
    """One undelivered alert for one receiver."""

    id: int
    event: str
    created: float
    target: str
    body: str
    attempts: int
    next_attempt: float


def heads(conn: sqlite3.Connection) -> list[OutboxRow]:
    """The oldest open row of every target: the only one of its target that may be sent."""
    rows = conn.execute(
        "SELECT id, event, created, target, body, attempts, next_attempt FROM outbox"
        " WHERE id IN (SELECT min(id) FROM outbox WHERE delivered IS NULL GROUP BY target)"
        " ORDER BY id").fetchall()
    return [OutboxRow(*row) for row in rows]


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure: 5 s, doubling, at most 10 min."""
    return min(FIRST_RETRY_SECONDS * 2 ** min(max(attempts - 1, 0), 20), MAX_RETRY_SECONDS)


def mark_delivered(conn: sqlite3.Connection, row: OutboxRow, wall: float) -> None:
    """Close ``row``: its receiver took it."""
    conn.execute("UPDATE outbox SET delivered = ?, attempts = attempts + 1, last_error = ''"
                 " WHERE id = ?", (wall, row.id))


def mark_failed(conn: sqlite3.Connection, row: OutboxRow, wall: float,
                error: str) -> float | None:
    """Reschedule ``row`` with backoff, or close it once it is a day old.

    :returns: when it is due again; None when it was given up.
    """
    attempts = row.attempts + 1
    if wall - row.created >= GIVE_UP_SECONDS:
        conn.execute("UPDATE outbox SET delivered = ?, attempts = ?, last_error = ? WHERE id = ?",
                     (wall, attempts, (GAVE_UP + error)[:ERROR_CHARS], row.id))
        return None
    due = wall + retry_delay(attempts)
    conn.execute("UPDATE outbox SET attempts = ?, next_attempt = ?, last_error = ? WHERE id = ?",
                 (attempts, due, error[:ERROR_CHARS], row.id))
    return due


def drop(conn: sqlite3.Connection, row: OutboxRow) -> None:
    """Delete ``row``: its receiver is no longer configured."""
    conn.execute("DELETE FROM outbox WHERE id = ?", (row.id,))


def insert(conn: sqlite3.Connection, event: str, target: str, body: str, wall: float) -> None:
    """Queue one event for one receiver, due now (inside the caller's transaction)."""
    conn.execute("INSERT INTO outbox (event, created, target, body, attempts, next_attempt)"
                 " VALUES (?, ?, ?, ?, 0, ?)", (event, wall, target, body, wall))


def next_open(conn: sqlite3.Connection, target: str) -> OutboxRow | None:
    """The oldest open row of ``target``, or None."""
    row = conn.execute(
        "SELECT id, event, created, target, body, attempts, next_attempt FROM outbox"
        " WHERE delivered IS NULL AND target = ? ORDER BY id LIMIT 1", (target,)).fetchone()
    return OutboxRow(*row) if row else None
