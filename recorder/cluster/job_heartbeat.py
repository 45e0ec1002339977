"""A running job's heartbeat on a thread of its own, for a worker that runs its jobs in itself.

RQ's forking worker beats for its work horse while it waits on it; a worker that runs the job
in its own main thread (recorder/cluster/worker_classes.py) cannot, so this thread does. It
beats every ``interval`` seconds until stopped; a job still running ``limit`` seconds after its
start (its RQ timeout + the grace: the death penalty did not end it, the main thread is stuck)
gets ``give_up()`` instead, as RQ's forking worker kills a horse that outlives its timeout.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from redis.exceptions import RedisError

from shared.clock import SYSTEM_CLOCK

log = logging.getLogger(__name__)


class JobHeartbeat:
    """Calls ``beat()`` every ``interval`` seconds from a daemon thread between start and stop."""

    def __init__(self, beat: Callable[[], None], interval: float, limit: float | None,
                 give_up: Callable[[], None]) -> None:
        self._beat, self._interval, self._limit, self._give_up = beat, interval, limit, give_up
        self._stopped = threading.Event()
        self._lock = threading.Lock()  # stop() returns only after a beat in flight has ended
        self._thread: threading.Thread | None = None

    def start(self) -> JobHeartbeat:
        """Beat from now on (the first beat after one interval: RQ's preparation beat just now)."""
        self._thread = threading.Thread(target=self._run, name="job-heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """No beat after this returns (called again: nothing more happens)."""
        with self._lock:
            self._stopped.set()

    def _run(self) -> None:
        started = SYSTEM_CLOCK.monotonic()
        while not self._stopped.wait(self._interval):
            with self._lock:
                if self._stopped.is_set():
                    return
                if self._limit is not None and SYSTEM_CLOCK.monotonic() - started > self._limit:
                    log.error("job still running %.0f s after its start, past its timeout: "
                              "giving the worker up", self._limit)
                    self._give_up()
                    return
                try:
                    self._beat()
                except RedisError as exc:  # Redis restarting: the next beat tries again
                    log.warning("job heartbeat not sent: %s", exc)
