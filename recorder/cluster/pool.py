"""A worker host's pool: RQ's WorkerPool, whose check of its workers no longer waits on each.

RQ 3.0's pool checks its workers once a second, but waits up to 0.1 s on each live one
(``Process.join(0.1)``): a pool of N slots is woken about ten times a second, each pass
takes up to 0.1 x N s, and a dead worker is noticed (and replaced) only that late.
Imported only with the [cluster] extra.
"""
from __future__ import annotations

from rq.worker_pool import WorkerPool


class PromptWorkerPool(WorkerPool):
    """The pool with a check that asks each worker without waiting: one wake-up a second."""

    def reap_workers(self) -> None:
        for data in list(self.worker_dict.values()):
            if not data.process.is_alive():  # reaps it, if it ended
                self.handle_dead_worker(data)
