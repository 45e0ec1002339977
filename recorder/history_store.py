"""The recorder's connection to the history database: opened lazily, replaced when bad, never fatal."""
from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable

from shared.history_schema import HistoryUnavailable, connect_writer
from shared.timefmt import cycle_name

log = logging.getLogger(__name__)
# After a failure (disk full, a lock held too long) the next try waits this long,
# so a broken disk costs one log line and one attempt per interval, not per step.
RETRY_SECONDS = 30.0
# SQLite's codes for a file that is not (or no longer) a sound database.
_CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def _is_corrupt(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorname", "") in _CORRUPT


class HistoryStore:
    """Runs each write in one ``BEGIN IMMEDIATE … COMMIT``; a failure is logged, never raised."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None
        self._inode: tuple[int, int] | None = None
        self._retry_at = 0.0
        self.failing = False  # the last attempt failed (logged once per run of failures)
        self.opened = 0  # connections made so far: a new one may be a new file

    def write(self, work: Callable[[sqlite3.Connection], None], now: float, wall: float) -> bool:
        """Run ``work`` in one transaction; False when it could not (the caller keeps its batch).

        ``now`` (monotonic) paces retries, ``wall`` names a corrupt file moved aside.
        """
        if now < self._retry_at:
            return False
        try:
            conn = self._connection(wall)
            conn.execute("BEGIN IMMEDIATE")
            try:
                work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, HistoryUnavailable, OSError) as exc:
            self._failed(exc, now, wall)
            return False
        if self.failing:
            log.info("history: writing again to %s", self.path)
        self.failing = False
        return True

    def _connection(self, wall: float) -> sqlite3.Connection:
        if self.conn is not None and self._same_file():
            return self.conn
        if self.conn is not None:
            log.warning("history: %s was removed or replaced; starting a new one", self.path)
            self.close()
        try:
            self.conn = connect_writer(self.path)
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                raise
            self._move_aside(exc, wall)
            self.conn = connect_writer(self.path)
        stat = os.stat(self.path)
        self._inode = (stat.st_dev, stat.st_ino)
        self.opened += 1
        return self.conn

    def _same_file(self) -> bool:
        # A file deleted (or moved) under a running recorder would take every
        # later outcome with it: a stat per batch notices.
        try:
            stat = os.stat(self.path)
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino) == self._inode

    def _move_aside(self, exc: Exception, wall: float) -> None:
        aside = f"{self.path}.corrupt-{cycle_name(wall)}"
        log.error("history: %s is not a usable database (%s); moved aside as %s, starting a "
                  "new one", self.path, exc, os.path.basename(aside))
        for suffix in ("", "-wal", "-shm"):  # a stale journal must not meet the new file
            if os.path.exists(self.path + suffix):
                os.replace(self.path + suffix, aside + suffix)

    def _failed(self, exc: Exception, now: float, wall: float) -> None:
        if isinstance(exc, sqlite3.Error) and _is_corrupt(exc) and self.conn is not None:
            # Found bad while in use: moved aside, the next attempt starts anew.
            self.close()
            try:
                self._move_aside(exc, wall)
            except OSError as move_error:
                log.error("history: cannot move %s aside: %s", self.path, move_error)
            self._retry_at = now
        else:
            self._retry_at = now + RETRY_SECONDS
        if not self.failing:
            log.error("history: write to %s failed, recording goes on (retry in %.0f s): %s",
                      self.path, self._retry_at - now, exc)
        self.failing = True

    def close(self) -> None:
        """Close the connection (at shutdown, or before replacing the file)."""
        if self.conn is not None:
            try:
                self.conn.close()
            except sqlite3.Error:
                pass
        self.conn, self._inode = None, None
