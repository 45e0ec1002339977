"""The history's writing side: what the loop handed over, written in one transaction, kept when it fails."""
from __future__ import annotations

import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable

from recorder.finished_task import FinishedTask
from recorder.history_events import enqueue
from recorder.history_outcomes import CameraStates, withdraw_alerts, write_outcomes
from recorder.history_retention import RetentionSchedule, prune_batch
from recorder.history_store import HistoryStore
from shared.camera_state import DEFAULT_OFFLINE_AFTER_FAILURES
from shared.counts import counted
from shared.global_settings import GlobalSettings

log = logging.getLogger(__name__)
# While the database cannot be written, what waits for it is bounded (a day of
# a 1,000-camera patrol at one task a minute each is more than this).
MAX_PENDING = 100_000


class BatchWriter:
    """Outcomes and event bodies pending a write; :meth:`write` commits all of them or none."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self.retention = RetentionSchedule()
        self.states = CameraStates()
        self._opened = 0  # the store's connection the states were read through
        self._tasks: list[FinishedTask] = []
        self._events: list[dict] = []  # bodies of events about the recorder and its cycles
        self._after: list[Callable[[], None]] = []  # to be called once those are committed
        # What waited for a batch now committed (or with nothing left to write): called by the
        # loop (HistoryWriter.run_committed), not by the writer's thread.
        self.committed: deque[Callable[[], None]] = deque()
        self.on_events: Callable[[], None] = lambda: None  # after a commit that queued events
        # The cameras whose alerts are on in the config now (set by the loop; None: no valid
        # config yet), and the set the outages in the database were last checked against.
        self.alerting: frozenset[str] | None = None
        self._followed: frozenset[str] | None = None

    def write(self, tasks: list[FinishedTask], events: list[dict],
              settings: GlobalSettings | None, now: float, wall: float,
              after: Iterable[Callable[[], None]] = ()) -> None:
        """Add ``tasks`` and ``events`` to what is pending and try to write it all now;
        ``after`` goes to :attr:`committed` once they are in the database.

        A failed write keeps everything for the next call (the store paces retries).
        """
        self._keep(tasks, events)
        self._after.extend(after)
        cutoff = (self.retention.cutoff_now(settings.history_retention_days, now, wall)
                  if settings is not None else None)
        alerting = self.alerting
        withdraw = self._must_withdraw(alerting)
        if not (self._tasks or self._events or cutoff is not None or withdraw):
            self._committed()  # nothing of theirs left to write
            return
        pending, queued, pruned = self._tasks, self._events, []

        def work(conn: sqlite3.Connection) -> None:
            offline_after = (settings.offline_after_failures if settings
                             else DEFAULT_OFFLINE_AFTER_FAILURES)
            alerts = settings.alerts if settings else {}
            if self._opened != self.store.opened:  # a new file: what was cached is not in it
                self.states.reset()
                self._opened = self.store.opened
            raised = write_outcomes(conn, self.states, pending, offline_after, alerts, wall)
            if withdraw:  # after the outcomes drawn under the config before
                withdraw_alerts(conn, self.states, alerting)
            raised += sum(enqueue(conn, body, alerts, wall) for body in queued)
            if cutoff is not None:
                pruned.append(prune_batch(conn, cutoff, self.retention.after))
            queued_rows.append(raised)

        queued_rows: list[int] = []
        written = False
        try:
            written = self.store.write(work, now, wall)
        finally:
            self.states.settle(written)
        if written:
            self._tasks, self._events = [], []
            self._committed()
            if withdraw:
                self._followed = alerting
            if pruned:
                self.retention.batch_done(*pruned[0], now)
            if queued_rows[0]:
                self.on_events()

    def _committed(self) -> None:
        self.committed.extend(self._after)
        self._after = []

    def has_work(self, now: float) -> bool:
        """Whether a write at ``now`` would do anything without new outcomes or events."""
        return (bool(self._tasks or self._events) or self.retention.due(now)
                or self._must_withdraw(self.alerting))

    def _must_withdraw(self, alerting: frozenset[str] | None) -> bool:
        """Whether the cameras whose alerts are on changed since the outages were checked."""
        return alerting is not None and alerting != self._followed

    def _keep(self, tasks: list[FinishedTask], events: list[dict]) -> None:
        self._tasks.extend(tasks)
        self._events.extend(events)
        dropped = len(self._tasks) - MAX_PENDING
        if dropped > 0:  # the database has been failing for long: the oldest go
            del self._tasks[:dropped]
            log.error("history: %s dropped while the database could not be written",
                      counted(dropped, "outcome"))
