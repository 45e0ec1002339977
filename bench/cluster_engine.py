"""Cluster mode's engine overhead: CPU per job of RQ + Redis for a job that does nothing.

Enqueues N no-op jobs the way the coordinator does (unique id, gateway RateLimit, Retry, TTL),
runs them with RQ's forking Worker in burst mode, and counts the CPU of this process, its
children (the work horses) and redis-server. A recording's own CPU (ffmpeg) is the same in
both modes, so this overhead per job is what cluster mode adds.
"""
from __future__ import annotations

import os
import resource
import sys
import tempfile
import time

JOBS = 300


def _cpu_self_and_children() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(jobs: int = JOBS) -> dict:
    """CPU ms per job: enqueue (coordinator), run (worker + horse), Redis."""
    from rq import Queue, Retry
    from rq.rate_limit import RateLimit
    from rq.worker import Worker

    from recorder.cluster.link import connect
    from shared.cluster_config import ClusterSettings
    from testkit.cluster import RedisServer
    with tempfile.TemporaryDirectory() as folder, RedisServer(folder) as redis:
        connection = connect(ClusterSettings(redis.url))
        queue = Queue("bench", connection=connection)
        cpu0, redis0, wall0 = _cpu_self_and_children(), _cpu_of(redis.proc.pid), time.monotonic()
        for i in range(jobs):
            queue.enqueue("os.getpid", job_id=f"bench-{i}", job_timeout=60, ttl=600,
                          retry=Retry(max=1), rate_limit=RateLimit(f"gw:h{i % 5}:554", 20))
        cpu1 = _cpu_self_and_children()
        Worker([queue], connection=connection).work(burst=True, logging_level="WARNING")
        cpu2, redis2 = _cpu_self_and_children(), _cpu_of(redis.proc.pid)
        wall = time.monotonic() - wall0
    return {"jobs": jobs, "enqueue_ms_per_job": round(1000 * (cpu1 - cpu0) / jobs, 2),
            "worker_ms_per_job": round(1000 * (cpu2 - cpu1) / jobs, 2),
            "redis_ms_per_job": round(1000 * (redis2 - redis0) / jobs, 2),
            "jobs_per_second": round(jobs / wall, 1)}


if __name__ == "__main__":
    result = run(int(sys.argv[1]) if len(sys.argv) > 1 else JOBS)
    print(result)
