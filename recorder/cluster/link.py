"""The coordinator's and the workers' common ground in Redis: keys, job ids, the job spec."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from redis import Redis
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.rate_limit import RateLimit

from shared.cluster_config import ClusterSettings
from shared.gateways import gateway_key
from shared.global_settings import GlobalSettings

PREFIX = "rtsp-patrol"
# A job may overrun duration + connection + read timeout by this much (ffmpeg finishing
# its file, the remux of an H.265 clip) before RQ's own timeout kills its work horse.
JOB_MARGIN_SECONDS = 30
# A killed worker's job is run once more (into a fresh file); a camera's own failure is
# a verdict, never an exception, so it is never retried.
RETRIES = 1
# Outcomes outlive the cycle this long (the coordinator reads them at its end).
OUTCOME_TTL_SECONDS = 24 * 3600
# The per-gateway cap when the config sets none: RQ's RateLimit needs a number.
UNCAPPED = 1_000_000
_JOB_ID_RE = re.compile(r"[^A-Za-z0-9_-]")
RUN_TASK = "recorder.cluster.task_job.run_task"  # what a worker runs for one task


def connect(cluster: ClusterSettings) -> Redis:
    """A Redis client that gives up on a dead server quickly (the loop tries again)."""
    return Redis.from_url(cluster.redis_url, socket_timeout=5, socket_connect_timeout=5,
                          health_check_interval=10)


_CONNECTIONS: dict[str, Redis] = {}  # one client per Redis URL for the process's life


def shared_connection(cluster: ClusterSettings) -> Redis:
    """The process's client of ``cluster``'s Redis (it reconnects by itself after an outage)."""
    return _CONNECTIONS.get(cluster.redis_url) or _CONNECTIONS.setdefault(
        cluster.redis_url, connect(cluster))


def job_id(queue: str, cycle_name: str, stream_index: int) -> str:
    """The job of one stream in one cycle: unique, so a second enqueue is never a second job."""
    return _JOB_ID_RE.sub("_", f"{queue}-{cycle_name}-{stream_index}")


def task_key(queue: str, job: str) -> str:
    """The hash holding a job's live ``record``, its ``outcome`` (first wins) and ``attempts``."""
    return f"{PREFIX}:{queue}:task:{job}"


@dataclass(frozen=True)
class JobSpec:
    """How one task is enqueued: its id, gateway cap, timeout and time to live."""

    job_id: str
    gateway: str
    per_host: int
    timeout: int
    ttl: int


def job_spec(queue: str, cycle_name: str, stream_index: int, stream: dict, duration: int,
             settings: GlobalSettings, seconds_left: float) -> JobSpec:
    """The spec of a task enqueued ``seconds_left`` before its window ends."""
    timeout = (duration + settings.connection_timeout_seconds + settings.read_timeout_seconds
               + JOB_MARGIN_SECONDS)
    return JobSpec(job_id(queue, cycle_name, stream_index), gateway_key(stream["rtsp_url"]),
                   settings.max_concurrent_per_host or UNCAPPED, timeout,
                   max(1, int(seconds_left)))


def enqueue(connection: Redis, queue: str, spec: JobSpec, payload: dict,
            function: str = RUN_TASK) -> None:
    """Put the task on the queue, behind its gateway's RateLimit (``function``: a bench's fake)."""
    Queue(queue, connection=connection).enqueue(
        function, payload, job_id=spec.job_id,
        job_timeout=spec.timeout, ttl=spec.ttl, result_ttl=OUTCOME_TTL_SECONDS,
        failure_ttl=OUTCOME_TTL_SECONDS, retry=Retry(max=RETRIES),
        rate_limit=RateLimit(f"gw:{spec.gateway}", spec.per_host))


def read_task(connection: Redis, queue: str, job: str) -> tuple[dict | None, dict | None, str]:
    """A job's last record, its outcome (None: none yet) and RQ's status of it."""
    pipe = connection.pipeline()
    pipe.hmget(task_key(queue, job), "record", "outcome")
    pipe.hget(Job.key_for(job), "status")
    (record, outcome), status = pipe.execute()
    return (_json(record), _json(outcome), status.decode() if status else "")


def _json(raw: bytes | None) -> dict | None:
    return json.loads(raw) if raw else None


def cancel_queued(connection: Redis, job: str) -> bool:
    """Cancel a job no worker has taken yet; False when one has (or it is gone)."""
    try:
        fetched = Job.fetch(job, connection=connection)
    except Exception:  # noqa: BLE001 - NoSuchJobError and a broken hash alike: nothing to cancel
        return False
    if fetched.get_status() not in (JobStatus.QUEUED, JobStatus.RATE_LIMITED,
                                     JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return False
    fetched.cancel()
    return True
