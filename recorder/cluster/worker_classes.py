"""The RQ worker classes of a worker host: ``inline`` (the default) or ``forking``.

``forking`` is RQ's Worker: a work horse forked per job, which the worker watches and beats
for. ``inline`` is RQ's SimpleWorker (the job runs in the worker's main thread: no fork, no
second Redis connection, ~8 ms less CPU per job) made safe for recordings: a heartbeat thread
(recorder/cluster/job_heartbeat.py) beats for the job as the forking worker does for its
horse, so a host killed mid-clip has its job found abandoned within the same bound. The RQ
job timeout (SIGALRM in the main thread), SIGTERM's warm shutdown and ffmpeg's death signal
(spawned from the main thread) hold in both. Imported only with the [cluster] extra.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from rq.worker import SimpleWorker, Worker, WorkerStatus

from recorder.cluster.job_heartbeat import JobHeartbeat


@dataclass(frozen=True)
class WorkerTimers:
    """How often a worker does maintenance and beats, and how long a missed beat is forgiven."""

    maintenance_seconds: int
    heartbeat_seconds: int
    grace_seconds: int


def worker_class(kind: str, timers: WorkerTimers) -> type:
    """The worker class of ``kind`` (``inline`` or ``forking``, recorder/worker.py) with ``timers``."""
    timed = _timed(Worker if kind == "forking" else SimpleWorker, timers)
    return timed if kind == "forking" else _inline(timed, timers)


def _timed(base: type, timers: WorkerTimers) -> type:
    class TimedWorker(base):
        """RQ's worker with our heartbeats, their grace and our maintenance interval."""

        def __init__(self, *positional, **named) -> None:
            named.setdefault("maintenance_interval", timers.maintenance_seconds)
            named.setdefault("job_monitoring_interval", timers.heartbeat_seconds)
            # An idle worker blocks on the queue for worker_ttl - 15 s and only then does its
            # maintenance: without this a dead host's job waited 405 s for its retry.
            named.setdefault("worker_ttl", timers.maintenance_seconds + 15)
            # RQ logs a job's description, its argument's text: the camera's URL, password too.
            named.setdefault("log_job_description", False)
            super().__init__(*positional, **named)

        def work(self, *positional, **named) -> bool:
            # RQ's pool starts each worker with its scheduler: a process polling Redis every
            # second for jobs due at a time or retried after an interval. Ours are neither (one
            # retry, at once; the cap's waiting jobs are promoted by the worker freeing a slot),
            # and it logged a traceback a second through a Redis outage.
            named["with_scheduler"] = False
            return super().work(*positional, **named)

        def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
            # RQ sends a worker's heartbeat as three commands, three round trips, at least
            # three times a job (around each dequeue, after each job): one here. A round
            # trip costs a worker among hundreds of ffmpeg ~0.1-0.3 ms of CPU.
            if pipeline is not None:
                super().heartbeat(timeout, pipeline)
                return
            with self.connection.pipeline(transaction=False) as batch:
                super().heartbeat(timeout, batch)
                batch.execute()

        def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
            # RQ adds a fixed 60 s (SimpleWorker: the whole job timeout + 60 s): a host that
            # died would be noticed only that late.
            beat = min(job.timeout - working_time, self.job_monitoring_interval) \
                if job.timeout and job.timeout > 0 else self.job_monitoring_interval
            return int(beat) + timers.grace_seconds

    return TimedWorker


def _inline(timed: type, timers: WorkerTimers) -> type:
    class InlineWorker(timed):
        """SimpleWorker whose running job keeps its heartbeat (and so is not taken for abandoned)."""

        _beat: JobHeartbeat | None = None

        def execute_job(self, job, queue) -> None:
            execution = self.prepare_execution(job)
            limit = job.timeout + timers.grace_seconds if job.timeout and job.timeout > 0 else None
            self._beat = JobHeartbeat(lambda: self.maintain_heartbeats(job, execution),
                                      self.job_monitoring_interval, limit, _kill_this_worker)
            try:
                self._beat.start()
                self.perform_job(job, queue, execution)
            finally:
                self._beat.stop()
            self.set_state(WorkerStatus.IDLE)

        def handle_execution_ended(self, job, queue, heartbeat_ttl: int) -> None:
            # The job returned or raised: no beat may revive its execution while RQ removes it.
            if self._beat is not None:
                self._beat.stop()
            super().handle_execution_ended(job, queue, heartbeat_ttl)

    return InlineWorker


def _kill_this_worker() -> None:
    """A job stuck past its timeout: the worker dies (its ffmpeg with it, by the death signal),
    the pool starts a new one, and RQ retries the job as abandoned."""
    os.kill(os.getpid(), signal.SIGKILL)
