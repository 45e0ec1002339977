"""The recorder's history sink: finished tasks and events of one loop step, written in one transaction."""
from __future__ import annotations

import logging
import sqlite3

from recorder.finished_task import FinishedTask
from recorder.history_events import config_error_body, cycle_body, disk_low_body, enqueue
from recorder.history_outcomes import CameraStates, write_outcomes
from recorder.history_retention import RetentionSchedule, prune_batch
from recorder.history_store import HistoryStore
from shared.camera_state import DEFAULT_OFFLINE_AFTER_FAILURES
from shared.errors import ConfigError
from shared.global_settings import GlobalSettings

log = logging.getLogger(__name__)
# While the database cannot be written, what waits for it is bounded (a day of
# a 1,000-camera patrol at one task a minute each is more than this).
MAX_PENDING = 100_000
# Outcomes wait at most this long to be written with the ones after them: each
# commit writes every page it touched (about six per task), so one commit per
# second instead of one per finished task halves the writer's CPU at a few tasks
# a second (bench/history_writes.py). An event reaches the outbox that much later.
FLUSH_SECONDS = 1.0


class HistoryWriter:
    """Collects what a step finished (:meth:`record`, the ``note_*`` methods), writes it in :meth:`flush`."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self.retention = RetentionSchedule()
        self.states = CameraStates()
        self._opened = 0  # the store's connection the states were read through
        self._tasks: list[FinishedTask] = []
        self._events: list[dict] = []  # bodies of events about the recorder and its cycles
        self._disk_low = False
        self._config_error = ""  # the message of the error last reported
        self._written_at = float("-inf")  # monotonic time of the last write
        self.dropped = 0

    def record(self, task: FinishedTask) -> None:
        """A task's verdict is in: it goes into the next write."""
        self._tasks.append(task)
        if len(self._tasks) > MAX_PENDING:  # the database has been failing for long
            del self._tasks[0]
            self.dropped += 1

    def cycle_finished(self, number: int, folder: str, counts: dict, wall: float) -> None:
        """A cycle ended: ``cycle.finished`` with its counts (after its tasks, same write)."""
        self._events.append(cycle_body(number, folder, counts, wall))

    def note_disk(self, holding: bool, free_mb: int, floor_mb: int, wall: float) -> None:
        """The space gate's state now: ``recorder.disk_low`` once when it starts holding."""
        if holding and not self._disk_low:
            self._events.append(disk_low_body(free_mb, floor_mb, wall))
        self._disk_low = holding

    def note_config_error(self, error: ConfigError | None, wall: float) -> None:
        """The config watch's error now: ``recorder.config_error`` once per new error."""
        message = error.message if error is not None else ""
        if error is not None and message != self._config_error:
            self._events.append(config_error_body(error.to_dict(), message, wall))
        self._config_error = message

    def flush(self, settings: GlobalSettings | None, now: float, wall: float,
              force: bool = False) -> None:
        """Write what is pending in one transaction (and a retention batch when one is due).

        Called every loop step; writes at most every FLUSH_SECONDS unless ``force``.
        """
        if not force and now - self._written_at < FLUSH_SECONDS:
            return
        cutoff = (self.retention.cutoff_now(settings.history_retention_days, now, wall)
                  if settings is not None else None)
        if not (self._tasks or self._events or cutoff is not None):
            return
        self._written_at = now
        tasks, events, pruned = self._tasks, self._events, []

        def work(conn: sqlite3.Connection) -> None:
            offline_after = (settings.offline_after_failures if settings
                             else DEFAULT_OFFLINE_AFTER_FAILURES)
            alerts = settings.alerts if settings else {}
            if self._opened != self.store.opened:  # a new file: what was cached is not in it
                self.states.reset()
                self._opened = self.store.opened
            write_outcomes(conn, self.states, tasks, offline_after, alerts, wall)
            for body in events:
                enqueue(conn, body, alerts, wall)
            if cutoff is not None:
                pruned.append(prune_batch(conn, cutoff, self.retention.after))

        written = self.store.write(work, now, wall)
        self.states.settle(written)
        if written:
            self._tasks, self._events = [], []
            if pruned:
                self.retention.batch_done(*pruned[0], now)
        if self.dropped:
            log.error("history: %d outcomes dropped while the database could not be written",
                      self.dropped)
            self.dropped = 0

    def close(self) -> None:
        """Close the database (at shutdown, after the last flush)."""
        self.store.close()
