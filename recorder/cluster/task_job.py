"""What a worker runs for one task: the very Recording of single-box mode, reported through Redis.

A task may be attempted twice (RQ retries a job whose worker died, and a worker cut off from
Redis may look dead while it still records). The attempt that ends first claims the task in
Redis; only it publishes a clip and an outcome, and it removes the other attempts' work files.
"""
from __future__ import annotations

import json
import logging
import os
import select
from collections.abc import Callable
from typing import TypeVar

from redis import Redis
from redis.exceptions import RedisError
from rq import get_current_job

from recorder.clip_files import discard
from recorder.cluster.camera_facts import FIELD as FACTS_FIELD
from recorder.cluster.camera_facts import facts_of
from recorder.cluster.link import OUTCOME_TTL_SECONDS, RETRIES, task_key
from recorder.ffmpeg_command import SourceCodecs
from recorder.ffmpeg_preload import LibraryPreload
from recorder.pipe_watcher import PipeWatcher
from recorder.planner import PlannedTask
from recorder.processes import ProcessHandle, ProcessRunner
from recorder.recording import Recording
from recorder.wakeup import READ_BATCH_SECONDS
from shared import task_status as st
from shared.clip_names import attempt_work_names
from shared.clock import SYSTEM_CLOCK
from shared.global_settings import GlobalSettings

log = logging.getLogger(__name__)
# How often a recording's live record goes to Redis once its media flows (the worker's
# --progress-seconds); before that, each second, so its connection shows soon. Each wake-up of
# a worker costs ~0.5-1 ms of CPU (a process's caches gone cold among hundreds of ffmpeg), the
# most of its CPU per job; a watchdog due sooner wakes it sooner (Recording.watch_due).
PROGRESS_SECONDS = 5.0
CONNECTING_PROGRESS_SECONDS = 1.0
# A wake-up that read this much (a camera making ffmpeg warn at each packet) brings the next
# one back to each second: a pipe holds 64 KiB, but only 8 KiB once a user has ~500 of them.
BUSY_PIPES_BYTES = 4096
# A watchdog is due once its time is *past*: the wake-up comes this much after it.
WATCH_LATE_SECONDS = 0.01
REDIS_TRIES_SECONDS = 120.0  # Redis restarting: the claim and the outcome wait this long
T = TypeVar("T")
# The ffmpeg library preload checked once by the worker pool (recorder/worker.py), as the
# single-box recorder does at its start: None, ffmpeg loads its libraries in its own order.
PRELOAD: LibraryPreload | None = None


def payload(planned: PlannedTask, stream: dict, cycle_dir: str, display_dir: str,
            global_config: dict, queue: str, source: SourceCodecs | None) -> dict:
    """The job's argument: all a worker needs, none of it local to the coordinator."""
    return {"planned": [planned.task_id, planned.stream_index, planned.offset, planned.duration],
            "stream": stream, "cycle_dir": cycle_dir, "display_dir": display_dir,
            "global_config": global_config, "queue": queue,
            "source": [source.video, source.audio] if source else None}


class AttemptRecording(Recording):
    """A Recording whose clip is published only when ``claim()`` says this attempt won."""

    def __init__(self, *args, claim: Callable[[], bool], **named) -> None:
        super().__init__(*args, **named)
        self._claim = claim
        self.won: bool | None = None  # None: not asked yet

    @property
    def reads_lag_seconds(self) -> float:
        """The job's loop reads ffmpeg's pipes each PROGRESS_SECONDS while the media flows."""
        return PROGRESS_SECONDS

    def _keep_clip(self, trusted: bool) -> bool:
        self.won = self._claim() and not os.path.exists(self.final_path)
        if not self.won:  # the other attempt's clip (and outcome) stand
            discard(self.work_path)
            return False
        return super()._keep_clip(trusted)


def run_task(spec: dict) -> int:
    """Record one stream; the outcome goes to Redis (the first attempt to end wins)."""
    job = get_current_job()
    # job.begun: sent with the job's start by the inline worker
    attempt = TaskAttempt(spec, job.connection, job.id, getattr(job, "begun", None))
    if attempt.superseded:
        return -1  # a retry of a task another attempt has ended: never a second clip
    try:
        attempt.start()
        _follow(attempt.recording, attempt.publish, attempt.exit_watch)
    except BaseException:  # the job timeout, a cold shutdown: ffmpeg must not outlive the job
        attempt.abandon()
        raise
    finally:  # an inline worker records job after job: its descriptors go with the job
        attempt.close()
    return attempt.finish()


class TaskAttempt:
    """One attempt at a task, in steps: :func:`run_task` follows one to its end, a batch worker
    (recorder/cluster/batch_worker.py) several at once with one loop."""

    def __init__(self, spec: dict, connection: Redis, job_id: str,
                 begun: tuple[bool, int] | None = None,
                 pause: Callable[[float], None] | None = None,
                 backoff: Backoff | None = None) -> None:
        """``pause(seconds)``: how the claim and the outcome wait between two tries while Redis
        is away (a batch worker keeps its other recordings' pipes read meanwhile); ``backoff``:
        the live record is not sent while it is closed (shared by a batch worker's jobs)."""
        self.spec, self.job_id = spec, job_id
        self._pause = pause or SYSTEM_CLOCK.sleep
        self.connection, self.key = connection, task_key(spec["queue"], job_id)
        ended, self.attempt = begun if begun is not None else _begin(connection, self.key)
        self.recording: AttemptRecording | None = None
        self.exit_watch: _ExitWatch | None = None
        self.busy = False  # the last step read BUSY_PIPES_BYTES or more
        if not ended:
            self.claim = _Claim(connection, self.key, self.attempt, self._pause)
            self.recording = _recording(spec, self.attempt, self.claim)
            self.publish = _publisher(self.recording, connection, self.key, backoff)

    @property
    def superseded(self) -> bool:
        """Another attempt had ended the task before this one began: nothing to record."""
        return self.recording is None

    def start(self) -> None:
        """Spawn ffmpeg (and watch for its exit)."""
        self.recording.start(SYSTEM_CLOCK.monotonic(), SYSTEM_CLOCK.wall())
        self.exit_watch = _ExitWatch(getattr(self.recording, "proc", None))

    def wait_seconds(self, now: float) -> float:
        """Seconds until this attempt's next step (see :func:`_follow`)."""
        return _next_wait(self.recording, self.exit_watch.exited, now, self.busy)

    def step(self) -> None:
        """Read ffmpeg's pipes, tick, publish the live record."""
        self.busy = _step(self.recording, self.publish)

    def abandon(self) -> None:
        """The job ends without an outcome (its timeout, a shutdown): see :func:`_abandon`."""
        if self.recording is not None:
            _abandon(self.recording)

    def close(self) -> None:
        """Release the attempt's descriptors (its pipes' epoll, its exit watch)."""
        if self.recording is not None:
            self.recording.watcher.close()
        if self.exit_watch is not None:
            self.exit_watch.close()

    def finish(self) -> int:
        """The recording has its verdict: claim the task and store the outcome if this attempt
        won; the job's return value (the status, or -1 for a lost claim)."""
        recording, claim = self.recording, self.claim
        if recording.won is None:  # ended before ffmpeg ran (it could not spawn): no clip to claim
            recording.won = claim()
        if not recording.won:
            log.warning("job %s attempt %d: another attempt ended first; its outcome stands",
                        self.job_id, self.attempt)
            return -1
        # Stored first: the live record's last word was "recording" (a finished one is not sent).
        outcome = {**recording.as_dict(), FACTS_FIELD: facts_of(recording)}
        _with_retries(lambda: _store_outcome(self.connection, self.key, outcome), self.key,
                      self._pause)
        remove_attempt_files(self.spec["cycle_dir"], self.spec["stream"]["output_filename"],
                             claim.attempts, keep=self.attempt)
        return recording.status


def _follow(recording: Recording, publish: Callable[[], None], exit_watch: _ExitWatch) -> None:
    """Tick ``recording`` to its verdict; ``publish`` (the live record) after each tick.

    One recording per process needs no 0.2 s batches (the daemon's, shared by all its
    tasks): the loop wakes at ffmpeg's exit (its pidfd), when a watchdog is due, and to
    publish: each CONNECTING_PROGRESS_SECONDS until the media flows, then each
    PROGRESS_SECONDS (ffmpeg's pipes hold what it writes meanwhile; each second again while it
    writes much); after the exit, in the daemon's batches until the pipes have drained:
    ~5 wake-ups per 10 s clip.
    """
    busy = False
    while not recording.finished:
        exit_watch.wait(_next_wait(recording, exit_watch.exited, SYSTEM_CLOCK.monotonic(),
                                   busy))
        busy = _step(recording, publish)


def _step(recording: Recording, publish: Callable[[], None]) -> bool:
    """One step of a job's loop: read ffmpeg's pipes, tick, publish; whether it read much."""
    before = recording.bytes_read
    recording.watcher.wait(0.0)
    busy = recording.bytes_read - before >= BUSY_PIPES_BYTES
    recording.tick(SYSTEM_CLOCK.monotonic(), SYSTEM_CLOCK.wall())
    publish()
    return busy


def _next_wait(recording: Recording, exited: bool, now: float, busy: bool = False) -> float:
    """Seconds until the job's loop wakes next (see :func:`_follow`); ``busy``: the last wake-up
    read BUSY_PIPES_BYTES or more."""
    if exited:
        return READ_BATCH_SECONDS
    period = (PROGRESS_SECONDS if recording.status == st.RECORDING and not busy
              else CONNECTING_PROGRESS_SECONDS)
    due = recording.watch_due(now) - now + WATCH_LATE_SECONDS
    return max(READ_BATCH_SECONDS, min(period, due))


class _ExitWatch:
    """Waits that end early when a process exits (a pidfd); plain sleeps without one."""

    def __init__(self, proc) -> None:
        self.exited, self._fd = False, None
        try:  # a real process only (a test's fake has a made-up pid)
            self._fd = os.pidfd_open(proc.pid) if isinstance(proc, ProcessHandle) else None
        except OSError:  # an old kernel, or already reaped: plain sleeps
            self._fd = None

    @property
    def descriptor(self) -> int | None:
        """The pidfd to wait on (None: none, or the exit seen already)."""
        return None if self.exited else self._fd

    def wait(self, seconds: float) -> None:
        """Up to ``seconds``; less when the process exits meanwhile."""
        if self.descriptor is None:
            SYSTEM_CLOCK.sleep(seconds)
        else:
            self.exited = bool(select.select([self._fd], [], [], seconds)[0])

    def close(self) -> None:
        """Close the pidfd (again: nothing)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> _ExitWatch:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _abandon(recording: Recording) -> None:
    """Kill the job's ffmpeg and drop its work file: no clip and no claim (RQ retries the job).

    A forked work horse took its ffmpeg with it when it died (the death signal); an inline
    worker lives on, so the job's ffmpeg and pipes are ended here.
    """
    proc = getattr(recording, "proc", None)
    if proc is None or recording.finished:
        return
    recording.kill_process()
    for pipe in (proc.stdout, proc.stderr):
        recording.watcher.unwatch(pipe)
        pipe.close()
    discard(recording.work_path)
    if recording.picture:  # its thumbnail and figures, half written
        recording.picture.abandon()


def _recording(spec: dict, attempt: int, claim: Callable[[], bool]) -> AttemptRecording:
    task_id, index, offset, duration = spec["planned"]
    stream, source = spec["stream"], spec["source"]
    return AttemptRecording(
        PlannedTask(task_id, index, offset, duration), stream, spec["cycle_dir"],
        spec["display_dir"], GlobalSettings.from_config(spec["global_config"]), ProcessRunner(PRELOAD),
        SourceCodecs(*source) if source else None, PipeWatcher(), attempt=attempt, claim=claim)


def remove_attempt_files(cycle_dir: str, clip_name: str, attempts: int, keep: int = 0) -> None:
    """Remove the work files (clip, thumbnail, figures) of attempts 1..``attempts`` but ``keep``
    (a dead attempt's leftovers)."""
    for attempt in range(1, max(attempts, RETRIES + 1) + 1):
        if attempt != keep:
            for name in attempt_work_names(clip_name, attempt):
                discard(os.path.join(cycle_dir, name))


def _begin(connection: Redis, key: str) -> tuple[bool, int]:
    """Whether another attempt has ended the task already, and this attempt's number (one round
    trip: each one costs a worker among hundreds of ffmpeg ~0.1-0.3 ms of CPU)."""
    pipe = connection.pipeline()
    queue_begin(pipe, key)
    return begun(pipe.execute())


def queue_begin(pipe, key: str) -> None:
    """:func:`_begin`'s commands, queued on ``pipe`` (the inline worker queues them on the job's
    start, worker_classes.py, and gives run_task :func:`begun` of their answers as
    ``job.begun``: one round trip a job less)."""
    pipe.hexists(key, "winner")
    pipe.hincrby(key, "attempts", 1)
    pipe.expire(key, OUTCOME_TTL_SECONDS)  # an attempt storing no outcome leaves no key for good


def begun(answers: list) -> tuple[bool, int]:
    """:func:`_begin`'s answer from the answers to :func:`queue_begin`'s commands."""
    ended, attempt, _ = answers
    return bool(ended), int(attempt)


class _Claim:
    """Asks Redis whether this attempt is the task's winner (the first to claim it, or already
    it), learning in the same round trip how many attempts the task has had."""

    def __init__(self, connection: Redis, key: str, attempt: int,
                 pause: Callable[[float], None] | None = None) -> None:
        self.connection, self.key, self.attempt = connection, key, attempt
        self.attempts = attempt
        self._pause = pause

    def __call__(self) -> bool:
        def claim() -> bool:
            pipe = self.connection.pipeline()
            pipe.hsetnx(self.key, "winner", self.attempt)
            pipe.hget(self.key, "winner")
            pipe.hget(self.key, "attempts")
            pipe.expire(self.key, OUTCOME_TTL_SECONDS)  # made anew if it expired meanwhile
            _, winner, attempts, _ = pipe.execute()
            self.attempts = int(attempts or self.attempt)
            return int(winner) == self.attempt
        return _with_retries(claim, self.key, self._pause)


def _store_outcome(connection: Redis, key: str, record: dict) -> None:
    encoded = json.dumps(record)
    pipe = connection.pipeline()
    pipe.hsetnx(key, "outcome", encoded)
    pipe.hset(key, "record", encoded)
    pipe.expire(key, OUTCOME_TTL_SECONDS)
    pipe.execute()


def _with_retries(action: Callable[[], T], key: str,
                  pause: Callable[[float], None] | None = None) -> T:
    """``action()``, tried again while Redis is away (restarting) for up to REDIS_TRIES_SECONDS,
    ``pause(1.0)`` between two tries (default: a sleep)."""
    deadline = SYSTEM_CLOCK.monotonic() + REDIS_TRIES_SECONDS
    while True:
        try:
            return action()
        except RedisError as exc:
            if SYSTEM_CLOCK.monotonic() > deadline:
                raise
            log.warning("%s: Redis not answering (%s); trying again", key, exc)
            (pause or SYSTEM_CLOCK.sleep)(1.0)


def _publisher(recording: Recording, connection: Redis, key: str,
               backoff: Backoff | None = None) -> Callable[[], None]:
    """Stores the recording's live record when it changed (as_dict rebuilds it only then) and
    while it runs (not while ``backoff`` is closed; a failure closes it)."""
    published: list[dict] = []

    def publish() -> None:
        if recording.finished or (backoff is not None and not backoff.open()):
            return  # the outcome, stored with its record once claimed, says the rest
        record = recording.as_dict()
        if published and published[0] is record:
            return
        if _try(lambda: connection.hset(key, "record", json.dumps(record))):
            published[:] = [record]
        elif backoff is not None:
            backoff.failed()
    return publish


class Backoff:
    """Best-effort Redis calls of a loop of many jobs, left out for ``seconds`` after one failed:
    a Redis that hangs would cost each of them its timeout, one after another."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self._until = seconds, float("-inf")

    def open(self) -> bool:
        """Whether such calls may be tried now."""
        return SYSTEM_CLOCK.monotonic() >= self._until

    def failed(self) -> None:
        """One failed: none for ``seconds``."""
        self._until = SYSTEM_CLOCK.monotonic() + self.seconds


def _try(action: Callable[[], object]) -> bool:
    """``action()``; False when Redis did not answer (logged: progress is best effort, the
    outcome is what counts)."""
    try:
        action()
    except RedisError as exc:
        log.warning("progress not stored: %s", exc)
        return False
    return True
