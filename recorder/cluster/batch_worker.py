"""A worker that records several tasks at once with one loop (``--jobs-per-worker K``, K > 1).

RQ runs one job per worker process, so a host with N slots runs N Python processes, each
waking on its own among the ffmpeg processes, its caches cold each time (the most of a worker's
CPU per job, docs/SCALING.md). The single-box recorder runs all its recordings in one loop;
this worker does the same for up to ``capacity`` jobs: it takes a task's job, starts its
recording (recorder/cluster/task_job.py ``TaskAttempt``) and goes back for the next while a
slot is free; one wait (the recordings' ffmpeg exits, their next steps) serves them all.

What each job gets is the inline worker's (recorder/cluster/worker_classes.py): the same
preparation and success transactions, a heartbeat thread of its own (a host killed mid-clip
has every job of it found abandoned and retried, once), RQ's failure handling and retry. What
differs, because the jobs share one thread:
- a job's RQ timeout is enforced by the loop (no SIGALRM), its heartbeat thread still giving
  the worker up past timeout + grace should the loop be stuck;
- a warm shutdown (SIGTERM) lets every running job finish; a cold one, or an error RQ's loop
  leaves on, fails each running job (RQ retries it at once);
- while the jobs run, a Redis error between two jobs (heartbeat, maintenance, the look for a
  job) is logged, not let out: RQ's loop would leave on it, ending every recording;
- the jobs' own Redis calls give up on a silent Redis after QUICK_TIMEOUT_SECONDS, the live
  records and the look for a job pause REDIS_BACKOFF_SECONDS after a failure, and while one
  job's claim or outcome waits for Redis (up to 120 s) the others' pipes are read, so that no
  ffmpeg blocks on a full one (their watchdogs wait), and that job ends at its RQ timeout.
A job that is not a task's (none are enqueued by the coordinator) runs inline, alone.
Imported only with the [cluster] extra.
"""
from __future__ import annotations

import select
import sys
from dataclasses import dataclass

import redis.exceptions
from redis import ConnectionPool, Redis
from rq.timeouts import JobTimeoutException
from rq.utils import now
from rq.worker import WorkerStatus

from recorder.cluster.job_heartbeat import JobHeartbeat
from recorder.cluster.task_job import Backoff, TaskAttempt
from recorder.wakeup import READ_BATCH_SECONDS
from shared.clock import SYSTEM_CLOCK
from shared.counts import counted

# While it records and a slot is free, the worker looks for a job this often (a job waiting in
# the queue starts at most this late; one request of no cost to Redis each time).
DEQUEUE_POLL_SECONDS = 1.0
# While jobs run, every Redis call of the worker (the jobs' live records, claims and outcomes,
# RQ's bookkeeping of their starts and ends, the look for a job, the heartbeats, the
# maintenance) gives up on a silent Redis this soon, not after RQ's maintenance + 10 s: one call
# holds every recording's steps. A claim or an outcome is tried again; the best-effort calls
# wait REDIS_BACKOFF_SECONDS after a failure. Only the blocking wait for a job, with nothing
# recording, uses RQ's own client.
QUICK_TIMEOUT_SECONDS = 2.0
REDIS_BACKOFF_SECONDS = 5.0


@dataclass
class _Running:
    """A job this worker records, and when its loop steps it next."""

    job: object
    queue: object
    execution: object
    beat: JobHeartbeat
    deadline: float  # monotonic: its RQ timeout
    attempt: TaskAttempt | None = None
    due: float = 0.0  # monotonic
    ending: bool = False  # RQ's end of the job has begun (a success or a failure)


def batch_worker(inline: type, timers, capacity: int) -> type:
    """``inline`` (the inline worker class) recording up to ``capacity`` tasks at once."""
    from recorder.cluster.worker_classes import _kill_this_worker, _task_key

    class BatchWorker(inline):
        """The inline worker, its task jobs stepped together in one loop."""

        jobs = capacity  # the pool sets each worker's share before it forks it (pool.py)

        # -- which Redis client ---------------------------------------------------------------

        @property
        def connection(self):
            """RQ's client (its timeout above its blocking wait for a job) while nothing records,
            the quick one while jobs run."""
            if getattr(self, "_running", None) and getattr(self, "_quick", None) is not None:
                return self._quick
            return self._rq_connection

        @connection.setter
        def connection(self, value) -> None:
            self._rq_connection = value

        def __init__(self, *positional, **named) -> None:
            super().__init__(*positional, **named)
            # by execution: a job taken for abandoned and retried may come back to this worker
            # while its first attempt still records here
            self._running: dict[str, _Running] = {}
            self._ending: _Running | None = None  # the job RQ's end-of-job hooks are about
            self._stepping: _Running | None = None  # the job whose step runs
            self._draining = False  # a warm shutdown: no new job; leave once all have ended
            self._backoff = Backoff(REDIS_BACKOFF_SECONDS)
            pool = self._rq_connection.connection_pool
            self._quick = Redis(connection_pool=ConnectionPool(
                connection_class=pool.connection_class,
                **{**pool.connection_kwargs, "socket_timeout": QUICK_TIMEOUT_SECONDS,
                   "socket_connect_timeout": QUICK_TIMEOUT_SECONDS}))

        # -- RQ's work loop, with jobs recording --------------------------------------------

        def _shutdown(self) -> None:
            # RQ's warm shutdown: with jobs recording, take no more and leave when they have
            # ended (RQ's own flag would leave its loop at once, killing them by the death
            # signal; nor may a StopRequested be raised in the middle of the loop).
            if self._running or self.get_state() == WorkerStatus.BUSY:
                self._draining = True
                self._guarded("store the shutdown's date", self.set_shutdown_requested_date)
                self.log.info("Worker %s: warm shutdown: %s still recording", self.name,
                              counted(len(self._running), "job"))
            else:
                super()._shutdown()

        def check_for_suspension(self, burst: bool) -> None:
            # RQ's check sleeps while suspended: never with jobs running, nor while draining
            # (it would wait for a resume to leave)
            if not self._running and not self._draining:
                super().check_for_suspension(burst)

        def heartbeat(self, timeout=None, pipeline=None) -> None:
            if pipeline is not None or not self._running:
                super().heartbeat(timeout, pipeline)
                return
            self._guarded("send a heartbeat", lambda: super(BatchWorker, self).heartbeat(timeout))

        def run_maintenance_tasks(self) -> None:
            if not self._running:
                super().run_maintenance_tasks()
                return
            self._guarded("do its maintenance",
                          lambda: super(BatchWorker, self).run_maintenance_tasks())

        def _guarded(self, what: str, action) -> None:
            """``action()``; with jobs recording, a Redis error is logged, not let out (RQ's
            loop would leave on it, taking every recording with it)."""
            try:
                action()
            except redis.exceptions.RedisError as exc:
                self._backoff.failed()  # no maintenance nor look for a job for a while
                self.log.warning("Worker %s: could not %s: %s", self.name, what, exc)

        def teardown(self) -> None:
            # Left with jobs recording (a cold shutdown, an error RQ's loop leaves on and logs):
            # each one ends now, its ffmpeg killed, and goes through RQ's failure (and its
            # retry). A job whose end had begun is only let go: its success may be stored.
            reason = sys.exc_info() if sys.exc_info()[0] else (
                RuntimeError, RuntimeError("the worker left with this job recording"), None)
            try:
                for running in list(self._running.values()):
                    try:
                        if running.ending:
                            running.beat.stop()
                            self._close(running)
                            self._running.pop(running.execution.id, None)
                        else:
                            self._abandon(running, reason)
                    except Exception:  # noqa: BLE001 - the others still end
                        self.log.exception("Worker %s: job %s not ended cleanly", self.name,
                                           running.job.id)
            finally:
                super().teardown()

        # -- taking jobs --------------------------------------------------------------------

        def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
            """RQ's blocking dequeue while nothing records; else the loop, until a job is
            taken for a free slot (None: a warm shutdown has let every running job end)."""
            while True:
                if not self._running:
                    if self._draining:
                        return None
                    return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
                taken = self._record_until_a_job_comes()
                if taken is not None:
                    return taken

        def execute_job(self, job, queue) -> None:
            if _task_key(job) is None:  # not a task's job: RQ's way, alone (the others wait)
                super().execute_job(job, queue)
                if self._running:
                    self.set_state(WorkerStatus.BUSY)
                return
            known = set(self.executions)
            try:
                execution = self._prepare(job, queue)
            except redis.exceptions.RedisError as exc:
                if not self._running:
                    raise
                # Left in RQ's intermediate queue: its maintenance fails it there (a retry, if
                # it has one left) once it has seen it twice.
                for execution_id in set(self.executions) - known:
                    self.executions.pop(execution_id, None)
                self._backoff.failed()
                self.log.warning("Worker %s: could not start job %s: %s", self.name, job.id, exc)
                return
            timeout = job.timeout if job.timeout and job.timeout > 0 else \
                self.queue_class.DEFAULT_TIMEOUT
            beat = JobHeartbeat(lambda: self.maintain_heartbeats(job, execution),
                                self.job_monitoring_interval, timeout + timers.grace_seconds,
                                _kill_this_worker)
            job.started_at = now()
            running = _Running(job, queue, execution, beat, SYSTEM_CLOCK.monotonic() + timeout)
            self._running[execution.id] = running
            try:
                beat.start()
                running.attempt = TaskAttempt(job.args[0], self._quick, job.id,
                                              getattr(job, "begun", None), self._read_pipes,
                                              self._backoff)
                if running.attempt.superseded:  # another attempt ended the task: no clip
                    self._succeed(running, -1)
                    return
                running.attempt.start()
                at = SYSTEM_CLOCK.monotonic()
                running.due = at + running.attempt.wait_seconds(at)
            except Exception:  # noqa: BLE001 - as RQ's perform_job: the job fails (or retries)
                self._abandon(running, sys.exc_info())

        # -- the loop -------------------------------------------------------------------------

        def _record_until_a_job_comes(self):
            """Step the running jobs until a free slot gets a job (returned) or none runs."""
            while self._running:
                at = SYSTEM_CLOCK.monotonic()
                for running in list(self._running.values()):
                    if min(running.due, running.deadline) <= at:
                        self._advance(running)
                if not self._running:
                    return None
                if self.should_run_maintenance_tasks and self._backoff.open():
                    self.run_maintenance_tasks()  # a dead host's jobs are found meanwhile
                free = len(self._running) < self.jobs and not self._draining
                if free and self._backoff.open():
                    taken = self._dequeue_now()
                    if taken is not None:
                        return taken
                wait = min(min(r.due, r.deadline) for r in self._running.values()) - \
                    SYSTEM_CLOCK.monotonic()
                self._wait_for_exits(max(0.0, min(wait, DEQUEUE_POLL_SECONDS) if free else wait))
            return None

        def _advance(self, running: _Running) -> None:
            """One step of ``running``; its end (success or failure) once it has its verdict."""
            attempt, self._stepping = running.attempt, running
            try:
                attempt.step()
                if not attempt.recording.finished:
                    at = SYSTEM_CLOCK.monotonic()
                    if at >= running.deadline:
                        raise JobTimeoutException(_past_timeout(running))
                    running.due = at + attempt.wait_seconds(at)
                    return
                attempt.close()
                value = attempt.finish()
            except Exception:  # noqa: BLE001 - the job fails (RQ retries it once)
                self._abandon(running, sys.exc_info())
                return
            finally:
                self._stepping = None
            self._succeed(running, value)

        def _wait_for_exits(self, seconds: float) -> None:
            """Up to ``seconds``; a recording whose ffmpeg exits meanwhile is due at once."""
            watched = {}
            exits = select.poll()  # no limit on the descriptors' numbers (select's 1024)
            for running in self._running.values():
                fd = running.attempt.exit_watch.descriptor
                if fd is not None:
                    watched[fd] = running
                    exits.register(fd, select.POLLIN)
            if not watched:
                SYSTEM_CLOCK.sleep(seconds)
                return
            for fd, _ in exits.poll(seconds * 1000):
                watched[fd].attempt.exit_watch.exited = True
                watched[fd].due = 0.0

        def _read_pipes(self, seconds: float) -> None:
            """A wait of a claim or an outcome while Redis is away: the other recordings' pipes
            are read meanwhile, so that their ffmpeg never blocks on a full one; the waiting job
            ends at its RQ timeout (before its heartbeat thread would give the worker up, and
            every recording with it)."""
            until = SYSTEM_CLOCK.monotonic() + seconds
            while True:
                stepping = self._stepping
                if stepping is not None and SYSTEM_CLOCK.monotonic() >= stepping.deadline:
                    raise JobTimeoutException(_past_timeout(stepping) + ", waiting for Redis")
                for running in list(self._running.values()):
                    recording = running.attempt and running.attempt.recording
                    if recording is None or recording.finished:  # (its pipes closed)
                        continue
                    try:
                        recording.watcher.wait(0.0)
                    except Exception:  # noqa: BLE001 - that job's own next step meets it
                        self.log.exception("Worker %s: job %s: its pipes not read",
                                           self.name, running.job.id)
                left = until - SYSTEM_CLOCK.monotonic()
                if left <= 0:
                    return
                SYSTEM_CLOCK.sleep(min(left, READ_BATCH_SECONDS))

        def _dequeue_now(self):
            """A job waiting in the queues, taken without blocking (None: none, or Redis away
            or answering amiss: the recordings go on, the next look comes soon)."""
            try:
                taken = self.queue_class.dequeue_any(
                    self._ordered_queues, None, connection=self.connection,
                    job_class=self.job_class, serializer=self.serializer,
                    death_penalty_class=self.death_penalty_class)
            except Exception as exc:  # noqa: BLE001 - never let the recordings down for it
                self._backoff.failed()
                self.log.warning("Worker %s: could not look for a job: %s", self.name, exc)
                return None
            if taken is not None:
                job, queue = taken
                self.reorder_queues(reference_queue=queue)
                job.redis_server_version = self.get_redis_server_version()
                self.log.info("Worker %s: %s: %s", self.name, queue.name, job.id)
            return taken

        # -- a job's end ----------------------------------------------------------------------

        def _abandon(self, running: _Running, exc_info) -> None:
            """``running`` ends without an outcome: its ffmpeg and work files go, RQ fails (or
            retries) the job."""
            try:
                if running.attempt is not None:
                    running.attempt.abandon()
            except Exception:  # noqa: BLE001 - the job still ends, and the others go on
                self.log.exception("Worker %s: job %s not stopped cleanly", self.name,
                                   running.job.id)
            finally:
                self._close(running)
                self._fail(running, exc_info)

        @staticmethod
        def _close(running: _Running) -> None:
            if running.attempt is not None:
                running.attempt.close()

        def _succeed(self, running: _Running, value) -> None:
            running.ending = True
            self._ending, self._idle_stored = running, False
            try:
                self._finalize_success(running.job, running.queue, running.execution, value)
            except Exception:  # noqa: BLE001 - as RQ's perform_job
                self._fail(running, sys.exc_info())
                return
            finally:
                self._ending = None
            self._done(running)

        def _fail(self, running: _Running, exc_info) -> None:
            running.ending = True
            running.beat.stop()
            self._ending, self._idle_stored = running, False
            try:
                self._finalize_failure(running.job, running.queue, running.execution, exc_info)
            except Exception:  # noqa: BLE001 - RQ's loop would leave on it, with the others
                self.log.exception("Worker %s: failure of job %s not stored", self.name,
                                   running.job.id)
            finally:
                self._ending = None
                self._done(running)

        def _done(self, running: _Running) -> None:
            if self._running.pop(running.execution.id, None) is None or self._running:
                return
            if self._idle_stored:  # by the last job's success transaction
                self._state = WorkerStatus.IDLE
            else:
                self._guarded("store its state", lambda: self.set_state(WorkerStatus.IDLE))

        def idle_after(self, job) -> bool:
            ending = self._ending
            if ending is None:  # a job run RQ's way
                return not self._running
            return list(self._running) == [ending.execution.id]

        def stop_beat(self, job) -> None:
            if self._ending is None:  # a job run RQ's way
                super().stop_beat(job)
            else:
                self._ending.beat.stop()

    BatchWorker.__name__ = BatchWorker.__qualname__ = "BatchWorker"
    return BatchWorker


def _past_timeout(running: _Running) -> str:
    """Why the loop ended ``running`` (not RQ's words: its death penalty did not)."""
    return f"job ran past its timeout of {running.job.timeout} s: ended by the worker's loop"
