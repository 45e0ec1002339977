"""The coordinator's and the workers' common ground in Redis: keys, job ids, the job spec."""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.rate_limit import (ACQUIRE_AND_ENQUEUE_SCRIPT, RELEASE_AND_ENQUEUE_SCRIPT, RateLimit,
                           RateLimitRegistry)
from rq.utils import current_timestamp, now, utcformat

from shared.cluster_config import ClusterSettings
from shared.gateways import gateway_key
from shared.global_settings import GlobalSettings
from shared.redis_client import redis_client

log = logging.getLogger(__name__)
PREFIX = "rtsp-patrol"
# A job may overrun duration + connection + read timeout by this much (ffmpeg finishing
# its file, the remux of an H.265 clip) before RQ's own timeout kills its work horse.
JOB_MARGIN_SECONDS = 30
# A killed worker's job is run once more (into a fresh file); a camera's own failure is
# a verdict, never an exception, so it is never retried.
RETRIES = 1
# A task's hash (its record, outcome, winner) lives this long while its cycle is unreported:
# a coordinator restarted within a day still reads the outcomes of the cycle it left.
OUTCOME_TTL_SECONDS = 24 * 3600
# What a job leaves in Redis once it is no longer read: RQ's job, result and registry entries
# this long after the job ended, and the task's hash this long after its cycle's report (a late
# retry still finds its winner: retire). Kept a day, ~9.4 KB a job filled Redis with every job
# of the day: ~13.5 GB at 10,000 cameras every 10 minutes (docs/SCALING.md, "Redis memory").
FINISHED_TTL_SECONDS = 600
# Tasks per round trip when a whole cycle's are read or retired (two commands each at most).
BATCH = 1000
# The per-gateway cap when the config sets none: RQ's RateLimit needs a number.
UNCAPPED = 1_000_000
# RQ's states of a job no worker has taken yet: what cancel_queued cancels.
WAITING = (JobStatus.QUEUED, JobStatus.RATE_LIMITED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
_TO_RUN = {status.value for status in (*WAITING, JobStatus.STARTED)}  # as Redis holds them
_JOB_ID_RE = re.compile(r"[^A-Za-z0-9_-]")
RUN_TASK = "recorder.cluster.task_job.run_task"  # what a worker runs for one task


def connect(cluster: ClusterSettings) -> Redis:
    """A Redis client that gives up on a dead server quickly (the loop tries again)."""
    return redis_client(cluster.redis_url, 5, health_check_interval=10)


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
    # Attempts the task may have had before (a job enqueued again after Redis forgot it): its
    # attempts are numbered from here on, so that a new one never records into the file of
    # one still running (attempt 1 of a wiped counter would reuse the first one's name).
    attempts_before: int = 0


def job_spec(queue: str, cycle_name: str, stream_index: int, stream: dict, duration: int,
             settings: GlobalSettings, seconds_left: float) -> JobSpec:
    """The spec of a task enqueued ``seconds_left`` before its window ends."""
    timeout = (duration + settings.connection_timeout_seconds + settings.read_timeout_seconds
               + JOB_MARGIN_SECONDS)
    return JobSpec(job_id(queue, cycle_name, stream_index), gateway_key(stream["rtsp_url"]),
                   settings.max_concurrent_per_host or UNCAPPED, timeout,
                   max(1, int(seconds_left)))


def gateway_limit(gateway: str) -> str:
    """The name of a gateway's RQ RateLimit (its cap): the same for every queue of a Redis, as
    the gateway is one, so that clusters patrolling one gateway (an estate split among several
    coordinators) never pull more from it at once than its cap. Each enqueue writes its config's
    cap there; one that differs from what another cluster wrote is logged (:func:`_note_cap`)."""
    return f"gw:{gateway}"


def gateway_slots_key(connection: Redis, gateway: str) -> str:
    """The Redis sorted set of a gateway's jobs holding a slot now (RQ's ``allowed`` set)."""
    return RateLimitRegistry(gateway_limit(gateway), connection).allowed_key


def enqueue(connection: Redis, queue: str, spec: JobSpec, payload: dict,
            function: str = RUN_TASK) -> None:
    """Put the task on the queue, behind its gateway's RateLimit (``function``: a bench's fake)."""
    enqueue_many(connection, queue, [(spec, payload)], function)


def enqueue_many(connection: Redis, queue: str, jobs: list[tuple[JobSpec, dict]],
                 function: str = RUN_TASK) -> None:
    """Put the tasks on the queue in one transaction, each behind its gateway's RateLimit.

    RQ's ``Queue.enqueue`` of a rate-limited job takes three round trips and refuses a
    pipeline, its ``enqueue_many`` takes no rate limit, and its pipelined promotion costs
    one more round trip (redis-py's script check). So this does, on one transaction, what
    RQ 3.0's ``Queue._enqueue_rate_limited_job`` does for each job (register the gateway's
    cap, save the job as rate_limited with its TTL, add it to the gateway's waiting set),
    then RQ's promotion script once per gateway, sent whole (``EVAL``: never missing after
    a Redis restart), which fills each gateway's free slots oldest first as RQ's would.
    """
    rq_queue = Queue(queue, connection=connection)
    pipe = connection.pipeline()
    pipe.sadd(rq_queue.redis_queues_keys, rq_queue.key)
    gateways: dict[str, tuple[RateLimitRegistry, int]] = {}
    for spec, payload in jobs:
        job = rq_queue.create_job(
            # description: RQ's default is the call's text, the camera's URL and password.
            function, args=(payload,), job_id=spec.job_id, description=f"task {spec.job_id}",
            timeout=spec.timeout, ttl=spec.ttl,
            result_ttl=FINISHED_TTL_SECONDS, failure_ttl=FINISHED_TTL_SECONDS,
            status=JobStatus.RATE_LIMITED, retry=Retry(max=RETRIES),
            rate_limit=RateLimit(gateway_limit(spec.gateway), spec.per_host))
        job.redis_server_version = rq_queue.get_redis_server_version()
        registry, _ = gateways.setdefault(job.rate_limit_key, (
            RateLimitRegistry(job.rate_limit_key, connection), spec.per_host))
        job.save(pipeline=pipe)
        job.cleanup(ttl=job.ttl, pipeline=pipe)
        registry.add_to_rate_limited(job.id, pipe)
        if spec.attempts_before:
            pipe.hincrby(task_key(queue, spec.job_id), "attempts", spec.attempts_before)
            pipe.expire(task_key(queue, spec.job_id), OUTCOME_TTL_SECONDS)
    caps_before = []  # (limit, this config's cap, where Redis's answer to its HGET will be)
    for registry, cap in gateways.values():
        caps_before.append((registry.key, cap, len(pipe.command_stack)))
        pipe.hget(registry.config_key, "concurrency")
        _promote(pipe, registry, cap)
    answers = pipe.execute()
    for limit, cap, at in caps_before:
        _note_cap(limit, cap, answers[at])


# The cap this process last wrote for each gateway, and the differences already logged.
_CAPS_WRITTEN: dict[str, int] = {}
_CAPS_APART_LOGGED: set[tuple[str, int, int]] = set()


def _note_cap(limit: str, ours: int, stored: bytes | None) -> None:
    """Log once (per gateway and pair of values) that another cluster on this Redis wrote
    another cap for a gateway this one's config caps too: they share it, the last enqueue's
    value holding. A cap this process wrote itself (its config edited since) is no news."""
    theirs = int(stored) if stored and stored.isdigit() else None
    mine_before = _CAPS_WRITTEN.get(limit)
    _CAPS_WRITTEN[limit] = ours
    if theirs is None or theirs in (ours, mine_before):
        return
    if (limit, ours, theirs) not in _CAPS_APART_LOGGED:
        _CAPS_APART_LOGGED.add((limit, ours, theirs))
        shown = {UNCAPPED: "none"}
        log.warning("gateway %s: another cluster on this Redis gave it the cap %s, this config "
                    "%s; clusters share a gateway's cap, the last to enqueue setting it: give "
                    "them the same max_concurrent_per_host", limit.removeprefix("gw:"),
                    shown.get(theirs, theirs), shown.get(ours, ours))


def _promote(pipe, registry: RateLimitRegistry, cap: int) -> None:
    """RQ's registration of a gateway's cap and its promotion of the gateway's waiting jobs
    into its free slots, queued on ``pipe``."""
    registry.register(cap, pipe)
    pipe.eval(ACQUIRE_AND_ENQUEUE_SCRIPT, 2, registry.allowed_key, registry.rate_limited_key,
              cap, current_timestamp(), utcformat(now()), Queue.redis_queue_namespace_prefix,
              Job.redis_job_namespace_prefix)


# RQ's release of a finished job's gateway slot (and promotion of the gateway's next waiting
# jobs), with the gateway's cap read inside the script instead of in a round trip before it
# (rate_limit.release_slot's HGET). KEYS[3]: the gateway's config hash.
RELEASE_SLOT_SCRIPT = ("ARGV[1] = redis.call('HGET', KEYS[3], 'concurrency') or '0'\n"
                       + RELEASE_AND_ENQUEUE_SCRIPT)


def release_slot(pipe, job: Job) -> bool:
    """RQ's ``release_slot`` of a job that ended (not queued again), queued on ``pipe``: a
    worker's success transaction frees the slot with the job's end, in the same round trip.
    False: the job holds no slot (nothing queued)."""
    if not job.has_rate_limit:
        return False
    registry = RateLimitRegistry.from_job(job)
    pipe.eval(RELEASE_SLOT_SCRIPT, 3, registry.allowed_key, registry.rate_limited_key,
              registry.config_key, 0, current_timestamp(), utcformat(now()),
              Queue.redis_queue_namespace_prefix, Job.redis_job_namespace_prefix, job.id)
    return True


def read_task(connection: Redis, queue: str, job: str) -> tuple[dict | None, dict | None, str]:
    """A job's last record, its outcome (None: none yet) and RQ's status of it."""
    return read_tasks(connection, queue, [job])[job]


def read_tasks(connection: Redis, queue: str, jobs: list[str], status_of: set[str] | None = None,
               decode_record: Callable[[str, bytes | None], dict | None] | None = None
               ) -> dict[str, tuple[dict | None, dict | None, str | None]]:
    """:func:`read_task` of each of ``jobs``, all in one round trip (one snapshot: a
    transaction, so no outcome lands between a job's two reads); RQ's status only of the
    jobs in ``status_of`` (None: of all), None for the others. ``decode_record(job, raw)``
    decodes each record (default: JSON, anew)."""
    decode = decode_record or (lambda job, raw: _json(raw))
    asked = [status_of is None or job in status_of for job in jobs]
    pipe = connection.pipeline()
    for job, ask in zip(jobs, asked):
        pipe.hmget(task_key(queue, job), "record", "outcome")
        if ask:
            pipe.hget(Job.key_for(job), "status")
    answers = iter(pipe.execute())
    readings = {}
    for job, ask in zip(jobs, asked):
        record, outcome = next(answers)
        status = next(answers) if ask else None
        readings[job] = (decode(job, record), _json(outcome),
                         None if not ask else status.decode() if status else "")
    return readings


def _json(raw: bytes | None) -> dict | None:
    return json.loads(raw) if raw else None


def cancel_queued(connection: Redis, job: str) -> bool:
    """Cancel a job no worker has taken yet; False when one has (or it is gone)."""
    try:
        fetched = Job.fetch(job, connection=connection)
    except Exception:  # noqa: BLE001 - NoSuchJobError and a broken hash alike: nothing to cancel
        return False
    if fetched.get_status() not in WAITING:
        return False
    fetched.cancel()
    return True


def retire(connection: Redis, queue: str, jobs: list[str]) -> None:
    """The task hashes of ``jobs``, whose cycle is reported, go FINISHED_TTL_SECONDS from now,
    but of those RQ still has to run (a retry of an attempt that stored its outcome and died
    before RQ's success: it must find the winner, however long it waits); two round trips a
    BATCH."""
    for start in range(0, len(jobs), BATCH):
        batch = jobs[start:start + BATCH]
        pipe = connection.pipeline(transaction=False)
        for job in batch:
            pipe.hget(Job.key_for(job), "status")
        states = pipe.execute()
        pipe = connection.pipeline(transaction=False)
        for job, state in zip(batch, states):
            if (state or b"").decode() not in _TO_RUN:
                pipe.expire(task_key(queue, job), FINISHED_TTL_SECONDS)
        pipe.execute()


def job_timeouts(connection: Redis, jobs: list[str]) -> dict[str, int | None]:
    """The timeout RQ holds for each of ``jobs`` (None: no job, or none set), in one round trip."""
    pipe = connection.pipeline(transaction=False)
    for job in jobs:
        pipe.hget(Job.key_for(job), "timeout")
    return {job: int(raw) if raw and raw.isdigit() else None
            for job, raw in zip(jobs, pipe.execute())}
