"""The history's writer thread: the loop hands a step's batch over and never waits for SQLite."""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from recorder.finished_task import FinishedTask
from recorder.history_batch import BatchWriter
from shared.global_settings import GlobalSettings

log = logging.getLogger(__name__)
# How long the recorder's shutdown waits for the last write (a lock held by a reader
# is given up after BUSY_TIMEOUT_MS): what is still pending then is lost, as on kill -9.
CLOSE_WAIT_SECONDS = 10.0

Handover = tuple[list[FinishedTask], list[dict], "GlobalSettings | None", float, float,
                 list[Callable[[], None]]]


class WriterThread:
    """Runs :meth:`BatchWriter.write` on a thread of its own, one handover after another.

    A commit, a WAL checkpoint (with its fsync) or a lock wait holds this thread,
    never the recording loop. Handovers that queue up while a write runs go into
    the next transaction together.
    """

    def __init__(self, batches: BatchWriter) -> None:
        self.batches = batches
        self.cpu_seconds = 0.0  # the thread's own CPU, once it ended (for bench/)
        self._queue: deque[Handover] = deque()
        self._handed = self._written = 0
        self._changed = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
        self._thread.start()

    def write(self, tasks: list[FinishedTask], events: list[dict],
              settings: GlobalSettings | None, now: float, wall: float,
              after: list[Callable[[], None]] | None = None) -> None:
        """Hand a batch over (returns at once); the thread writes it with what it still holds
        (``after``: see :meth:`BatchWriter.write`)."""
        with self._changed:
            self._queue.append((tasks, events, settings, now, wall, after or []))
            self._handed += 1
            self._changed.notify_all()

    def wait(self, timeout: float = CLOSE_WAIT_SECONDS) -> bool:
        """Wait until everything handed over was tried; False on timeout."""
        with self._changed:
            handed = self._handed
            return self._changed.wait_for(lambda: self._written >= handed, timeout)

    def close(self, timeout: float = CLOSE_WAIT_SECONDS) -> None:
        """Try what is queued, then end the thread."""
        if not self.wait(timeout):
            log.error("history: the last write did not finish within %.0f s; its batch is lost",
                      timeout)
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queue or self._closing)
                if not self._queue:
                    break
                handed, taken = self._handed, list(self._queue)
                self._queue.clear()
            self._write_all(taken)
            with self._changed:
                self._written = handed
                self._changed.notify_all()
        self.cpu_seconds = time.thread_time()

    def _write_all(self, taken: list[Handover]) -> None:
        tasks = [task for handover in taken for task in handover[0]]
        events = [body for handover in taken for body in handover[1]]
        after = [call for handover in taken for call in handover[5]]
        _, _, settings, now, wall, _ = taken[-1]
        try:
            self.batches.write(tasks, events, settings, now, wall, after)
        except Exception:  # noqa: BLE001 - a bug here must not end the history for the run
            log.exception("history: write failed unexpectedly; its batch is kept for the next")
