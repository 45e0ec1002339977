"""A worker host's pool: RQ's WorkerPool, woken by a worker's exit instead of every second.

RQ 3.0's pool checks its workers once a second, and waits up to 0.1 s on each live one
(``Process.join(0.1)``): a pool of N slots is woken about ten times a second, each pass
takes up to 0.1 x N s, and a dead worker is noticed (and replaced) only that late. Ours asks
each worker without waiting, then sleeps until one of them exits (their pidfds), at most
IDLE_CHECK_SECONDS: an idle pool wakes about once a minute, and a dead worker is still
replaced within a second (RQ's one-second pause after each check).

A worker that cannot reach Redis (a wrong URL or password, Redis down or full) dies at its
start, or at its first failed command: RQ's pool would start another each second, each
printing its traceback. Ours starts workers only when Redis takes a write (:class:`RedisGate`),
says once why not, and tries again every GATE_RETRY_SECONDS.
Imported only with the [cluster] extra.
"""
from __future__ import annotations

import logging
import os
import select

from redis import Redis
from redis.exceptions import RedisError
from rq.worker_pool import WorkerPool

from recorder.cluster.link import PREFIX
from recorder.cluster.outage import failure_reason
from shared.clock import SYSTEM_CLOCK

log = logging.getLogger(__name__)

# The longest a pool sleeps between two checks of its workers when none exits.
IDLE_CHECK_SECONDS = 60.0
# How soon a pool that found Redis not taking writes tries again.
GATE_RETRY_SECONDS = 5.0


class RedisGate:
    """Whether Redis takes a worker's writes now; logs only the changes (and why)."""

    def __init__(self, connection: Redis, queue: str) -> None:
        self.connection = connection
        self.probe_key = f"{PREFIX}:{queue}:pool-probe"
        self.closed_because: str | None = None  # the last failure's reason; None: open

    def open(self) -> bool:
        """True when a write was taken (so a worker can register, take and run jobs): a PING
        passes on a Redis full to its ``maxmemory``, where every worker would die."""
        try:
            self.connection.set(self.probe_key, b"1", px=10_000)
        except RedisError as exc:
            reason = failure_reason(exc)
            if reason != self.closed_because:
                log.error("Redis does not take the workers' writes (%s): worker processes start "
                          "when it does; trying every %.0f s", reason, GATE_RETRY_SECONDS)
            self.closed_because = reason
            return False
        finally:
            # No socket of the pool's is left to the workers it forks next.
            self.connection.connection_pool.disconnect()
        if self.closed_because is not None:
            log.warning("Redis takes writes again: starting the worker processes")
            self.closed_because = None
        return True


class PromptWorkerPool(WorkerPool):
    """The pool with a check that asks each worker without waiting, then waits for an exit.

    With a batch worker class (``jobs`` > 1, recorder/cluster/batch_worker.py) ``slots`` tasks
    at once are shared out among ceil(slots / jobs) workers: each one forked with ``jobs`` set
    to its share, so that the host never records more than ``slots``.
    """

    def __init__(self, *positional, slots: int | None = None, **named) -> None:
        super().__init__(*positional, **named)
        self._slots = slots
        self._shares: dict[str, int] = {}  # a live worker's name: the jobs it may record at once
        self.gate = RedisGate(self.connection, self._queue_names[0])
        self._logging_level = "INFO"  # start()'s, for the workers started later

    def start(self, burst: bool = False, logging_level: str = "INFO") -> None:
        self._logging_level = logging_level
        super().start(burst, logging_level)

    def start_workers(self, *positional, **named) -> None:
        """RQ's, when Redis takes writes; else :meth:`check_workers` starts them once it does."""
        if self.gate.open():
            super().start_workers(*positional, **named)

    def start_worker(self, *positional, **named) -> None:
        jobs = getattr(self.worker_class, "jobs", None)
        if jobs is None:
            super().start_worker(*positional, **named)
            return
        if self._slots is None:
            raise ValueError("a pool of batch workers needs the host's slots")
        live = {name: self._shares[name] for name in self.worker_dict if name in self._shares}
        share = max(1, min(jobs, self._slots - sum(live.values())))
        self.worker_class.jobs = share  # read by the worker forked now
        try:
            super().start_worker(*positional, **named)
        finally:
            self.worker_class.jobs = jobs
        self._shares = {**live, **{name: share for name in self.worker_dict if name not in live}}

    def reap_workers(self) -> None:
        for data in list(self.worker_dict.values()):
            if not data.process.is_alive():  # reaps it, if it ended
                self.handle_dead_worker(data)

    def check_workers(self, respawn: bool = True) -> None:
        """RQ's check (dead workers reaped, the missing ones started), the missing ones started
        only when Redis takes writes; then :meth:`await_an_exit`."""
        self.reap_workers()
        if self.status == self.Status.STOPPED:
            return
        missing = self.num_workers - len(self.worker_dict)
        if respawn and missing > 0 and not self.gate.open():
            if self.worker_dict:
                self.await_an_exit(GATE_RETRY_SECONDS)
            else:
                self._pause(GATE_RETRY_SECONDS)
            return
        for _ in range(missing if respawn else 0):
            self.start_worker(burst=self._burst, _sleep=self._sleep,
                              logging_level=self._logging_level)
        self.await_an_exit(IDLE_CHECK_SECONDS)

    def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when a SIGTERM stops the pool meanwhile."""
        deadline = SYSTEM_CLOCK.monotonic() + seconds
        while self.status != self.Status.STOPPED and SYSTEM_CLOCK.monotonic() < deadline:
            SYSTEM_CLOCK.sleep(min(0.2, max(0.0, deadline - SYSTEM_CLOCK.monotonic())))

    def await_an_exit(self, seconds: float) -> None:
        """Sleep until a worker exits, at most ``seconds``; at once when one cannot be watched
        (gone already, or a kernel without pidfds: RQ's pace of one check a second).

        A SIGTERM meanwhile stops the workers (RQ's handler): their exits end the wait.
        """
        watched: list[int] = []
        exits = select.poll()  # not select(): no limit on the descriptors' numbers (1024)
        try:
            for data in list(self.worker_dict.values()):
                watched.append(os.pidfd_open(data.pid))
                exits.register(watched[-1], select.POLLIN)
            if watched:
                exits.poll(seconds * 1000)
        except OSError:
            return
        finally:
            for descriptor in watched:
                os.close(descriptor)
