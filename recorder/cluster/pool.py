"""A worker host's pool: RQ's WorkerPool, woken by a worker's exit instead of every second.

RQ 3.0's pool checks its workers once a second, and waits up to 0.1 s on each live one
(``Process.join(0.1)``): a pool of N slots is woken about ten times a second, each pass
takes up to 0.1 x N s, and a dead worker is noticed (and replaced) only that late. Ours asks
each worker without waiting, then sleeps until one of them exits (their pidfds), at most
IDLE_CHECK_SECONDS: an idle pool wakes about once a minute, and a dead worker is still
replaced within a second (RQ's one-second pause after each check).
Imported only with the [cluster] extra.
"""
from __future__ import annotations

import os
import select

from rq.worker_pool import WorkerPool

# The longest a pool sleeps between two checks of its workers when none exits.
IDLE_CHECK_SECONDS = 60.0


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
        super().check_workers(respawn)
        if self.status != self.Status.STOPPED:
            self.await_an_exit(IDLE_CHECK_SECONDS)

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
