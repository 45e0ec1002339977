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
from recorder.cluster.link import OUTCOME_TTL_SECONDS, RETRIES, task_key
from recorder.ffmpeg_command import SourceCodecs
from recorder.ffmpeg_preload import LibraryPreload
from recorder.pipe_watcher import PipeWatcher
from recorder.planner import PlannedTask
from recorder.processes import ProcessHandle, ProcessRunner
from recorder.recording import Recording
from recorder.wakeup import READ_BATCH_SECONDS
from shared.clip_names import attempt_work_names
from shared.clock import SYSTEM_CLOCK
from shared.global_settings import GlobalSettings

log = logging.getLogger(__name__)
PROGRESS_SECONDS = 1.0  # how often the live record goes to Redis
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

    def _keep_clip(self, trusted: bool) -> bool:
        self.won = self._claim() and not os.path.exists(self.final_path)
        if not self.won:  # the other attempt's clip (and outcome) stand
            discard(self.work_path)
            return False
        return super()._keep_clip(trusted)


def run_task(spec: dict) -> int:
    """Record one stream; the outcome goes to Redis (the first attempt to end wins)."""
    job = get_current_job()
    connection, key = job.connection, task_key(spec["queue"], job.id)
    if connection.hexists(key, "winner"):
        return -1  # a retry of a task another attempt has ended: never a second clip
    attempt = connection.hincrby(key, "attempts", 1)
    recording = _recording(spec, attempt, lambda: _claim(connection, key, attempt))
    try:
        recording.start(SYSTEM_CLOCK.monotonic(), SYSTEM_CLOCK.wall())
        _follow(recording, lambda: _try(
            lambda: connection.hset(key, "record", json.dumps(recording.as_dict()))))
    except BaseException:  # the job timeout, a cold shutdown: ffmpeg must not outlive the job
        _abandon(recording)
        raise
    finally:  # an inline worker records job after job: its epoll descriptors go with the job
        recording.watcher.close()
    if recording.won is None:  # ended before ffmpeg ran (it could not spawn): no clip to claim
        recording.won = _claim(connection, key, attempt)
    if not recording.won:
        log.warning("job %s attempt %d: another attempt ended first; its outcome stands",
                    job.id, attempt)
        return -1
    remove_attempt_files(spec["cycle_dir"], spec["stream"]["output_filename"],
                         _attempts(connection, key, attempt), keep=attempt)
    _with_retries(lambda: _store_outcome(connection, key, recording.as_dict()), key)
    return recording.status


def _follow(recording: Recording, publish: Callable[[], None]) -> None:
    """Tick ``recording`` to its verdict; ``publish`` (the live record) once a tick.

    One recording per process needs no 0.2 s batches (the daemon's, shared by all its
    tasks): the loop wakes once every PROGRESS_SECONDS to read ffmpeg's pipes, tick the
    watchdogs (all whole seconds) and publish, and at once when ffmpeg exits (its pidfd),
    then in the daemon's batches until the pipes have drained: ~12 wake-ups per 10 s clip.
    """
    with _ExitWatch(getattr(recording, "proc", None)) as exit_watch:
        while not recording.finished:
            exit_watch.wait(READ_BATCH_SECONDS if exit_watch.exited else PROGRESS_SECONDS)
            recording.watcher.wait(0.0)
            recording.tick(SYSTEM_CLOCK.monotonic(), SYSTEM_CLOCK.wall())
            publish()


class _ExitWatch:
    """Waits that end early when a process exits (a pidfd); plain sleeps without one."""

    def __init__(self, proc) -> None:
        self.exited, self._fd = False, None
        try:  # a real process only (a test's fake has a made-up pid)
            self._fd = os.pidfd_open(proc.pid) if isinstance(proc, ProcessHandle) else None
        except OSError:  # an old kernel, or already reaped: plain sleeps
            self._fd = None

    def wait(self, seconds: float) -> None:
        """Up to ``seconds``; less when the process exits meanwhile."""
        if self._fd is None or self.exited:
            SYSTEM_CLOCK.sleep(seconds)
        else:
            self.exited = bool(select.select([self._fd], [], [], seconds)[0])

    def __enter__(self) -> _ExitWatch:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._fd is not None:
            os.close(self._fd)


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


def _claim(connection: Redis, key: str, attempt: int) -> bool:
    """True when this attempt is the task's winner (the first to claim it, or already it)."""
    def claim() -> bool:
        pipe = connection.pipeline()
        pipe.hsetnx(key, "winner", attempt)
        pipe.hget(key, "winner")
        return int(pipe.execute()[1]) == attempt
    return _with_retries(claim, key)


def _attempts(connection: Redis, key: str, attempt: int) -> int:
    try:
        return int(connection.hget(key, "attempts") or attempt)
    except RedisError:
        return attempt


def _store_outcome(connection: Redis, key: str, record: dict) -> None:
    pipe = connection.pipeline()
    pipe.hsetnx(key, "outcome", json.dumps(record))
    pipe.hset(key, "record", json.dumps(record))
    pipe.expire(key, OUTCOME_TTL_SECONDS)
    pipe.execute()


def _with_retries(action: Callable[[], T], key: str) -> T:
    """``action()``, tried again while Redis is away (restarting) for up to REDIS_TRIES_SECONDS."""
    deadline = SYSTEM_CLOCK.monotonic() + REDIS_TRIES_SECONDS
    while True:
        try:
            return action()
        except RedisError as exc:
            if SYSTEM_CLOCK.monotonic() > deadline:
                raise
            log.warning("%s: Redis not answering (%s); trying again", key, exc)
            SYSTEM_CLOCK.sleep(1.0)


def _try(action: Callable[[], object]) -> None:
    try:
        action()
    except RedisError as exc:  # progress is best effort: the outcome is what counts
        log.warning("progress not stored: %s", exc)
