"""History retention: rows older than ``history_retention_days`` go, a small batch per loop step."""
from __future__ import annotations

import sqlite3

# Outcome and outbox rows deleted per transaction, and cameras whose buckets are
# pruned: a step's write stays a few ms even when a lowered retention leaves
# millions of rows to remove (the rest goes in the next steps).
BATCH_ROWS = 2000
BATCH_CAMERAS = 100
# How often retention looks for old rows at all.
INTERVAL_SECONDS = 3600.0
DAY = 86400.0

_BY_TIME = (
    "DELETE FROM outcomes WHERE id IN (SELECT id FROM outcomes WHERE ended < ? LIMIT ?)",
    # Undelivered ones too: older than a day, the sender has given them up.
    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE created < ? LIMIT ?)",
)
# The bucket tables are keyed (camera, bucket): pruned camera by camera, each an index range.
_BY_CAMERA = ("DELETE FROM hourly WHERE camera = ? AND bucket < ?",
              "DELETE FROM daily WHERE camera = ? AND bucket < ?")


def prune_batch(conn: sqlite3.Connection, cutoff: float, after: str | None,
                limit: int = BATCH_ROWS) -> tuple[bool, str | None]:
    """Delete a batch of rows from before ``cutoff``; buckets of the cameras after ``after``.

    Returns (more rows may be left, the camera to go on after; None: all cameras done).
    """
    full = False
    for statement in _BY_TIME:
        full = conn.execute(statement, (cutoff, limit)).rowcount >= limit or full
    if after is None:
        return full, None
    cameras = [cam for (cam,) in conn.execute(
        "SELECT id FROM cameras WHERE id > ? ORDER BY id LIMIT ?", (after, BATCH_CAMERAS))]
    for camera in cameras:
        for statement in _BY_CAMERA:
            conn.execute(statement, (camera, cutoff))
    last = cameras[-1] if len(cameras) == BATCH_CAMERAS else None
    return full, last


class RetentionSchedule:
    """When to prune: once an hour, then batch after batch until nothing is left."""

    def __init__(self) -> None:
        self.due_at = 0.0   # monotonic; the first step after start prunes
        self.cutoff: float | None = None  # set while a pass is under way
        self.after: str | None = ""       # the camera the bucket pruning goes on after

    def cutoff_now(self, days: int, now: float, wall: float) -> float | None:
        """The cutoff to prune below in this step, or None (not due, or retention off)."""
        if self.cutoff is None and (days <= 0 or now < self.due_at):
            return None
        if self.cutoff is None:
            self.cutoff, self.after = wall - days * DAY, ""
        return self.cutoff

    def due(self, now: float) -> bool:
        """Whether :meth:`cutoff_now` may give a cutoff at ``now`` (a pass under way or due)."""
        return self.cutoff is not None or now >= self.due_at

    def batch_done(self, more: bool, after: str | None, now: float) -> None:
        """After a batch: go on next step while rows may be left, else wait for the next hour."""
        self.after = after
        if not more and after is None:
            self.cutoff, self.due_at = None, now + INTERVAL_SECONDS
