"""The coordinator's Redis round trips of one cycle, batched: one per step, not one per task.

Each task's ``tick`` calls :meth:`Exchange.step` first; the first call of a step (the cycle
passes one ``now`` to every task of a step) enqueues every task started since, in one
transaction, and, every POLL_SECONDS, reads every enqueued task's record and outcome (and
RQ's status where it can matter) in one more. At 128 tasks that is 2 round trips a step
instead of 128 enqueues of 3 round trips each and 256 reads a second.
"""
from __future__ import annotations

import json
from collections.abc import Container
from typing import Protocol

from redis import Redis
from redis.exceptions import RedisError

from recorder.cluster import link
from recorder.cluster.outage import OUTAGE

POLL_SECONDS = 0.5
# A job a worker records (its record is in) changes RQ status only when it fails for good:
# that is read every this many polls (2 s), a job without a record's status at each.
STATUS_EVERY_POLLS = 4
# link.read_tasks's: record, outcome, RQ's status (None: not read this poll).
Reading = tuple["dict | None", "dict | None", "str | None"]


class Enqueueable(Protocol):
    """What the exchange needs of a task (remote_task.RemoteRecording)."""

    job: str
    finished: bool

    def job_of(self, now: float) -> tuple[link.JobSpec, dict]: ...

    def enqueued(self, spec: link.JobSpec) -> None: ...


class Exchange:
    """One cycle's batched enqueues and reads."""

    def __init__(self, connection: Redis, queue: str, function: str = link.RUN_TASK) -> None:
        self.connection, self.queue, self.function = connection, queue, function
        self._starting: list[Enqueueable] = []
        self._enqueued: dict[str, Enqueueable] = {}
        self._step_at: float | None = None
        self._polled_at = float("-inf")
        self._polls = 0
        self._recording: set[str] = set()  # jobs whose last reading had a worker's record
        self._readings: dict[str, Reading] = {}
        self._records = RecordMemo()

    def want(self, task: Enqueueable) -> None:
        """Enqueue ``task`` at the next step (a task started again is enqueued once)."""
        if task not in self._starting:
            self._starting.append(task)

    def step(self, now: float) -> None:
        """Once per step: enqueue the tasks started, and read all when a poll is due."""
        if now == self._step_at:
            return
        self._step_at, self._readings = now, {}
        self._enqueue(now)
        if now - self._polled_at >= POLL_SECONDS:
            self._poll(now)

    def reading(self, job: str) -> Reading | None:
        """What this step's poll read of ``job``; None: no poll this step (or Redis away)."""
        return self._readings.get(job)

    def _enqueue(self, now: float) -> None:
        starting = [task for task in self._starting if not task.finished]
        self._starting = []
        if not starting:
            return
        jobs = [task.job_of(now) for task in starting]
        try:
            link.enqueue_many(self.connection, self.queue, jobs, self.function)
        except RedisError as exc:  # each task asks again at its next poll (remote_task.tick)
            OUTAGE.failed(exc)
            return
        OUTAGE.answered()
        for task, (spec, _) in zip(starting, jobs):
            self._enqueued[task.job] = task
            task.enqueued(spec)

    def _poll(self, now: float) -> None:
        self._polled_at = now
        self._enqueued = {job: t for job, t in self._enqueued.items() if not t.finished}
        self._records.keep(self._enqueued)
        if not self._enqueued:
            return
        self._polls += 1
        status_of = None if self._polls % STATUS_EVERY_POLLS == 0 else \
            set(self._enqueued) - self._recording
        try:
            self._readings = link.read_tasks(self.connection, self.queue, list(self._enqueued),
                                             status_of, self._records.decode)
        except RedisError as exc:  # Redis restarting: the next poll asks again
            OUTAGE.failed(exc)
            return
        OUTAGE.answered()
        self._recording = {job for job, reading in self._readings.items() if reading[0]}


class RecordMemo:
    """Each job's record as last read: the same dict again while its bytes stay the same.

    A poll reads every record each POLL_SECONDS; a worker sends its record each few seconds
    (--progress-seconds, 5 s): most reads find it unchanged, and then neither its JSON is
    decoded nor the task's dict rebuilt (RemoteRecording.as_dict keeps it while the record
    is the same object). ~10-30 us of CPU per task and poll.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[bytes, dict]] = {}

    def decode(self, job: str, raw: bytes | None) -> dict | None:
        """``raw`` decoded, or the dict decoded from the same bytes at the last poll."""
        if not raw:
            self._last.pop(job, None)
            return None
        last = self._last.get(job)
        if last is not None and last[0] == raw:
            return last[1]
        record = json.loads(raw)
        self._last[job] = (raw, record)
        return record

    def keep(self, jobs: Container[str]) -> None:
        """Forget the records of jobs no longer followed."""
        if any(job not in jobs for job in self._last):
            self._last = {job: last for job, last in self._last.items() if job in jobs}
