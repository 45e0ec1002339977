"""The RQ worker classes of a worker host: ``inline`` (the default) or ``forking``.

``forking`` is RQ's Worker: a work horse forked per job, which the worker watches and beats
for. ``inline`` is RQ's SimpleWorker (the job runs in the worker's main thread: no fork, no
second Redis connection, ~8 ms less CPU per job) made safe for recordings: a heartbeat thread
(recorder/cluster/job_heartbeat.py) beats for the job as the forking worker does for its
horse, so a host killed mid-clip has its job found abandoned within the same bound. The RQ
job timeout (SIGALRM in the main thread), SIGTERM's warm shutdown and ffmpeg's death signal
(spawned from the main thread) hold in both. ``inline`` also leaves out RQ's round trips that
do nothing for our jobs (no dependents, no callbacks, no repeats; a heartbeat right after
another): 13 a job instead of 23, with what RQ stores unchanged (tests/test_cluster_worker.py).
Imported only with the [cluster] extra.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from rq.executions import Execution
from rq.job import JobStatus
from rq.utils import now
from rq.worker import SimpleWorker, Worker, WorkerStatus

from recorder.cluster import link, task_job
from recorder.cluster.job_heartbeat import JobHeartbeat
from recorder.cluster.outage import OUTAGE
from shared.clock import SYSTEM_CLOCK

# A worker's lone heartbeat this soon after one that set as long a TTL extends nothing: RQ sends
# up to four in a row between two jobs (after the job, with the suspension check, before and
# after the dequeue), each a round trip (~0.1-0.3 ms of CPU for a worker among hundreds of ffmpeg).
BEAT_REPEAT_SECONDS = 1.0
# RQ's line for each failed try to reach Redis again, an ERROR each (1, 2, 4 ... s apart): said
# once as the coordinator says it (recorder/cluster/outage.py), and once when Redis is back.
RQ_RECONNECT_LINE = "Worker %s: could not connect to Redis instance"
# RQ's pause before its next try doubles up to this (RQ's own: 60 s, so a worker whose Redis
# came back took its next job up to a minute late).
RECONNECT_MAX_SECONDS = 5.0
# RQ's pause after its pubsub thread (stop and kill requests) lost Redis, before it tries again.
PUBSUB_RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class WorkerTimers:
    """How often a worker does maintenance and beats, and how long a missed beat is forgiven."""

    maintenance_seconds: int
    heartbeat_seconds: int
    grace_seconds: int


def worker_class(kind: str, timers: WorkerTimers, jobs: int = 1) -> type:
    """The worker class of ``kind`` (``inline`` or ``forking``, recorder/worker.py) with ``timers``;
    an inline worker records up to ``jobs`` tasks at once (recorder/cluster/batch_worker.py)."""
    timed = _timed(Worker if kind == "forking" else SimpleWorker, timers)
    if kind == "forking":
        return timed
    inline = _inline(timed, timers)
    if jobs == 1:
        return inline
    from recorder.cluster.batch_worker import batch_worker
    return batch_worker(inline, timers, jobs)


def _timed(base: type, timers: WorkerTimers) -> type:
    class TimedWorker(base):
        """RQ's worker with our heartbeats, their grace and our maintenance interval."""

        max_connection_wait_time = RECONNECT_MAX_SECONDS

        def __init__(self, *positional, **named) -> None:
            named.setdefault("maintenance_interval", timers.maintenance_seconds)
            named.setdefault("job_monitoring_interval", timers.heartbeat_seconds)
            # An idle worker blocks on the queue for worker_ttl - 15 s and only then does its
            # maintenance: without this a dead host's job waited 405 s for its retry.
            named.setdefault("worker_ttl", timers.maintenance_seconds + 15)
            # RQ logs a job's description, its argument's text: the camera's URL, password too.
            named.setdefault("log_job_description", False)
            super().__init__(*positional, **named)
            self.log = _OutageLog(self.log)

        def run_maintenance_tasks(self) -> None:
            # Redis lost during it left RQ's loop: the worker quit with a traceback.
            try:
                super().run_maintenance_tasks()
            except RedisConnectionError as exc:  # the dequeue next waits for Redis
                OUTAGE.failed(exc)

        def _pubsub_exception_handler(self, exc, pubsub, pubsub_thread) -> None:
            # RQ's logs an ERROR every 2 s while Redis is away.
            if not isinstance(exc, RedisConnectionError):
                super()._pubsub_exception_handler(exc, pubsub, pubsub_thread)
                return
            OUTAGE.failed(exc)
            SYSTEM_CLOCK.sleep(PUBSUB_RETRY_SECONDS)

        def work(self, *positional, **named) -> bool:
            # RQ's pool starts each worker with its scheduler: a process polling Redis every
            # second for jobs due at a time or retried after an interval. Ours are neither (one
            # retry, at once; the cap's waiting jobs are promoted by the worker freeing a slot),
            # and it logged a traceback a second through a Redis outage.
            named["with_scheduler"] = False
            return super().work(*positional, **named)

        _last_beat: tuple[float, int] | None = None  # when, and the TTL it set

        def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
            # RQ sends a worker's heartbeat as three commands, three round trips, several times
            # a job: one here, and none when one as long went less than BEAT_REPEAT_SECONDS ago
            # (one queued on a pipeline counts as gone; should that pipeline fail, a lone beat is
            # left out for at most that long, of a TTL of minutes).
            ttl, at = timeout or self.worker_ttl + 60, SYSTEM_CLOCK.monotonic()
            last = self._last_beat
            if (pipeline is None and last and at - last[0] < BEAT_REPEAT_SECONDS
                    and ttl <= last[1] and not OUTAGE.down):  # after an outage: Redis back?
                return
            self._last_beat = (at, ttl)
            if pipeline is not None:
                super().heartbeat(timeout, pipeline)
                return
            with self.connection.pipeline(transaction=False) as batch:
                super().heartbeat(timeout, batch)
                batch.execute()
            OUTAGE.answered()  # the first beat after an outage says Redis is back

        def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
            # RQ adds a fixed 60 s (SimpleWorker: the whole job timeout + 60 s): a host that
            # died would be noticed only that late.
            beat = min(job.timeout - working_time, self.job_monitoring_interval) \
                if job.timeout and job.timeout > 0 else self.job_monitoring_interval
            return int(beat) + timers.grace_seconds

    return TimedWorker


class _OutageLog:
    """RQ's worker logger, less its line per failed try to reach Redis: :data:`OUTAGE` says
    once that the connection is lost, and once that it is back."""

    def __init__(self, logger) -> None:
        self._logger = logger

    def error(self, message: str, *args, **named) -> None:
        if message.startswith(RQ_RECONNECT_LINE) and len(args) > 1 \
                and isinstance(args[1], RedisError):
            OUTAGE.failed(args[1])
            return
        self._logger.error(message, *args, **named)

    def __getattr__(self, name: str):
        return getattr(self._logger, name)


def _inline(timed: type, timers: WorkerTimers) -> type:
    class InlineWorker(timed):
        """SimpleWorker whose running job keeps its heartbeat (and so is not taken for abandoned)."""

        _beat: JobHeartbeat | None = None
        _idle_stored = False  # the running job's success stored the state "idle"

        def execute_job(self, job, queue) -> None:
            # SimpleWorker's, with the job's preparation in one round trip, not two, and its
            # state "idle" stored with a job's success. Only stored there: until the job is
            # done with, the worker must be busy to itself, or a SIGTERM (a warm shutdown) would
            # stop the job's bookkeeping midway (RQ's StopRequested), failing a finished job.
            execution = self._prepare(job, queue)
            limit = job.timeout + timers.grace_seconds if job.timeout and job.timeout > 0 else None
            self._beat = JobHeartbeat(lambda: self.maintain_heartbeats(job, execution),
                                      self.job_monitoring_interval, limit, _kill_this_worker)
            self._idle_stored = False
            try:
                self._beat.start()
                self.perform_job(job, queue, execution)
            finally:
                self._beat.stop()
            if self._idle_stored:  # by the success's transaction
                self._state = WorkerStatus.IDLE
            else:
                self.set_state(WorkerStatus.IDLE)

        def _prepare(self, job, queue) -> Execution:
            """RQ's prepare_execution and prepare_job_execution (the job's execution, the
            worker busy, both beating, the job started) as one transaction; a task's, with the
            task's own first commands (task_job.run_task's attempt number)."""
            key = _task_key(job)
            with self.connection.pipeline() as pipeline:
                ttl = self.get_heartbeat_ttl(job)
                execution = Execution.create(job, ttl, pipeline=pipeline, worker_name=self.name)
                self.executions[execution.id] = execution
                self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
                self.heartbeat(ttl, pipeline=pipeline)
                job.heartbeat(now(), ttl, pipeline=pipeline)
                job.prepare_for_execution(self.name, pipeline=pipeline)
                pipeline.persist(job.key)
                if len(self.queues) == 1:
                    pipeline.lrem(queue.intermediate_queue_key, 1, job.id)
                queued = len(pipeline)
                if key is not None:
                    task_job.queue_begin(pipeline, key)
                answers = pipeline.execute()
            if key is not None:
                job.begun = task_job.begun(answers[queued:])
            return execution

        def set_state(self, state: str, pipeline=None) -> None:
            # The dequeue after a job sets "idle" once more, alone: not when it is already.
            if pipeline is None and state == WorkerStatus.IDLE == self.get_state():
                return
            super().set_state(state, pipeline)

        def prepare_job_execution(self, job, remove_from_intermediate_queue: bool = False) -> None:
            """Done by :meth:`_prepare`, in the same round trip as the execution's start."""

        def idle_after(self, job) -> bool:
            """Whether the worker is idle once ``job`` is done (a batch worker's other jobs may
            still run)."""
            return True

        def stop_beat(self, job) -> None:
            """No beat for ``job`` from now on."""
            if self._beat is not None:
                self._beat.stop()

        def handle_execution_ended(self, job, queue, heartbeat_ttl: int) -> None:
            # The job returned or raised: no beat may revive its execution while RQ removes it.
            self.stop_beat(job)
            if job.success_callback or job.failure_callback:
                super().handle_execution_ended(job, queue, heartbeat_ttl)
            else:  # RQ's beat gives a callback its time; ours have none: one round trip less
                job.ended_at = now()

        def handle_job_success(self, job, queue, started_job_registry, execution) -> None:
            # RQ's, less its WATCH on the job's dependents and their reading (two round trips
            # that find none: link.py enqueues no job depending on another, and none repeats),
            # with the worker's next state ("idle") and heartbeat, and the release of the job's
            # gateway slot (RQ's two round trips after it), in the same transaction.
            if job.repeats_left:
                super().handle_job_success(job, queue, started_job_registry, execution)
                return
            with self.connection.pipeline() as pipeline:
                self.increment_successful_job_count(pipeline=pipeline)
                self.increment_total_working_time(job.ended_at - job.started_at, pipeline)
                result_ttl = job.get_result_ttl(self.default_result_ttl)
                if result_ttl != 0:
                    job._handle_success(result_ttl, pipeline=pipeline, worker_name=self.name,
                                        execution_id=execution.id,
                                        execution_started_at=execution.created_at,
                                        execution_ended_at=job.ended_at)
                job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
                job._status = JobStatus.FINISHED
                self.cleanup_execution(job, pipeline=pipeline, execution=execution)
                idle = self.idle_after(job)
                if idle:
                    pipeline.hset(self.key, "state", WorkerStatus.IDLE)
                    self.heartbeat(pipeline=pipeline)
                released = link.release_slot(pipeline, job)
                answers = pipeline.execute(raise_on_error=False)
            if released:  # the release's answer is the last
                answers, release = answers[:-1], answers[-1]
                if isinstance(release, Exception):  # as RQ's _release_slot_safely: the success
                    # stands (a held slot is freed by the maintenance's clean-up)
                    self.log.error("Worker %s: failed to release rate limit slot of job %s: %s",
                                   self.name, job.id, release)
            errors = [answer for answer in answers if isinstance(answer, Exception)]
            if errors:
                raise errors[0]
            self._idle_stored = idle
            self.log.info("Successfully completed job %s in %ss on worker %s", job.id,
                          job.ended_at - job.started_at, self.name)

    return InlineWorker


def _task_key(job) -> str | None:
    """The Redis key of the task ``job`` records (None: not a task's job, or a job whose
    argument is not a task's: run_task will not run, or will say why)."""
    try:  # func_name and args decode the job's data: a job that cannot be decoded fails at its
        # run (RQ's perform_job), as any other, and the worker goes on
        if job.func_name != link.RUN_TASK:
            return None
        return link.task_key(job.args[0]["queue"], job.id)
    except Exception:  # noqa: BLE001
        return None


def _kill_this_worker() -> None:
    """A job stuck past its timeout: the worker dies (its ffmpeg with it, by the death signal),
    the pool starts a new one, and RQ retries the job as abandoned."""
    os.kill(os.getpid(), signal.SIGKILL)
