"""What a worker runs for one task: the very Recording of single-box mode, reported through Redis."""
from __future__ import annotations

import json
import logging
import os
import time

from redis.exceptions import RedisError
from rq import get_current_job

from recorder.cluster.link import OUTCOME_TTL_SECONDS, task_key
from recorder.ffmpeg_command import SourceCodecs
from recorder.pipe_watcher import PipeWatcher
from recorder.planner import PlannedTask
from recorder.processes import ProcessRunner
from recorder.recording import Recording
from shared.clip_names import work_name
from shared.clock import SYSTEM_CLOCK
from shared.global_settings import GlobalSettings

log = logging.getLogger(__name__)
PROGRESS_SECONDS = 1.0  # how often the live record goes to Redis
READ_SECONDS = 0.25
OUTCOME_TRIES_SECONDS = 120.0  # Redis restarting: the outcome waits for it this long


def payload(planned: PlannedTask, stream: dict, cycle_dir: str, display_dir: str,
            global_config: dict, queue: str, source: SourceCodecs | None) -> dict:
    """The job's argument: all a worker needs, none of it local to the coordinator."""
    return {"planned": [planned.task_id, planned.stream_index, planned.offset, planned.duration],
            "stream": stream, "cycle_dir": cycle_dir, "display_dir": display_dir,
            "global_config": global_config, "queue": queue,
            "source": [source.video, source.audio] if source else None}


def run_task(spec: dict) -> int:
    """Record one stream; the outcome goes to Redis (the first attempt's to end wins)."""
    job = get_current_job()
    connection, key = job.connection, task_key(spec["queue"], job.id)
    if connection.hexists(key, "outcome"):
        return -1  # a retry of a task whose outcome is in: never a second clip
    attempt = connection.hincrby(key, "attempts", 1)
    recording = _recording(spec, attempt)
    recording.start(SYSTEM_CLOCK.monotonic(), SYSTEM_CLOCK.wall())
    last = 0.0
    while not recording.finished:
        recording.watcher.wait(READ_SECONDS)
        now = SYSTEM_CLOCK.monotonic()
        recording.tick(now, SYSTEM_CLOCK.wall())
        if now - last >= PROGRESS_SECONDS:
            last = now
            _try(lambda: connection.hset(key, "record", json.dumps(recording.as_dict())))
    _report_outcome(connection, key, recording.as_dict())
    return recording.status


def _recording(spec: dict, attempt: int) -> Recording:
    task_id, index, offset, duration = spec["planned"]
    stream, source = spec["stream"], spec["source"]
    recording = Recording(
        PlannedTask(task_id, index, offset, duration), stream, spec["cycle_dir"],
        spec["display_dir"], GlobalSettings.from_config(spec["global_config"]), ProcessRunner(),
        SourceCodecs(*source) if source else None, PipeWatcher())
    if attempt > 1:  # a retry records into a fresh file: the dead attempt's may be half-written
        name = f"{stream['output_filename']}.try{attempt}"
        recording.work_path = os.path.join(spec["cycle_dir"], work_name(name))
    return recording


def _report_outcome(connection, key: str, record: dict) -> None:
    deadline = time.monotonic() + OUTCOME_TRIES_SECONDS
    while True:
        try:
            pipe = connection.pipeline()
            pipe.hsetnx(key, "outcome", json.dumps(record))
            pipe.hset(key, "record", json.dumps(record))
            pipe.expire(key, OUTCOME_TTL_SECONDS)
            pipe.execute()
            return
        except RedisError as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("outcome of %s not stored yet (%s); trying again", key, exc)
            time.sleep(1.0)


def _try(action) -> None:
    try:
        action()
    except RedisError as exc:  # progress is best effort: the outcome is what counts
        log.warning("progress not stored: %s", exc)
