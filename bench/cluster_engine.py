"""Cluster mode's engine overhead: CPU per job of RQ + Redis for a job that does nothing.

Enqueues N no-op jobs the way the coordinator does (unique id, gateway RateLimit, Retry, TTL),
runs them in burst mode with RQ's forking Worker, RQ's SimpleWorker and our inline worker
(SimpleWorker + the job's heartbeat thread, recorder/cluster/worker_classes.py, production
timers), and counts the CPU of this process, its children (the work horses) and redis-server. A recording's own CPU (ffmpeg) is the same in
both modes, so this overhead per job is what cluster mode adds.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time

from bench.common import Row, print_table, save

JOBS = 300


def _cpu_self_and_children() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


KINDS = ("Worker", "SimpleWorker", "inline")


def _worker_class(kind: str) -> type:
    from rq.worker import SimpleWorker, Worker

    from recorder.cluster.worker_classes import WorkerTimers, worker_class
    return {"Worker": Worker, "SimpleWorker": SimpleWorker}.get(kind) or \
        worker_class("inline", WorkerTimers(30, 30, 60))


def run(jobs: int = JOBS, kind: str = "Worker") -> dict:
    """CPU ms per job: enqueue (coordinator), run (worker + horse), Redis.

    ``kind``: one of KINDS (SimpleWorker and inline run the job in the worker itself).
    The recording code is imported first, as recorder/worker.py does: a horse forks from that.
    """
    from rq import Queue, Retry
    from rq.rate_limit import RateLimit
    import recorder.cluster.task_job  # noqa: F401 - the worker's size when it forks

    from recorder.cluster.link import connect, gateway_limit
    from shared.cluster_config import ClusterSettings
    from testkit.cluster import RedisServer
    with tempfile.TemporaryDirectory() as folder, RedisServer(folder) as redis:
        connection = connect(ClusterSettings(redis.url))
        queue = Queue("bench", connection=connection)
        cpu0, redis0, wall0 = _cpu_self_and_children(), _cpu_of(redis.proc.pid), time.monotonic()
        for i in range(jobs):
            queue.enqueue("os.getpid", job_id=f"bench-{i}", job_timeout=60, ttl=600,
                          retry=Retry(max=1),
                          rate_limit=RateLimit(gateway_limit(f"h{i % 5}:554"), 20))
        cpu1 = _cpu_self_and_children()
        _worker_class(kind)([queue], connection=connection).work(burst=True,
                                                                 logging_level="WARNING")
        cpu2, redis2 = _cpu_self_and_children(), _cpu_of(redis.proc.pid)
        wall = time.monotonic() - wall0
    return {"worker": kind, "jobs": jobs, "enqueue_ms_per_job": round(1000 * (cpu1 - cpu0) / jobs, 2),
            "worker_ms_per_job": round(1000 * (cpu2 - cpu1) / jobs, 2),
            "redis_ms_per_job": round(1000 * (redis2 - redis0) / jobs, 2),
            "jobs_per_second": round(jobs / wall, 1)}


def main(argv: list[str] | None = None) -> list[Row]:
    """The workers in turns, each twice; the rows of the result table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 jobs per run")
    parser.add_argument("--jobs", type=int)
    args = parser.parse_args(argv)
    jobs = args.jobs or (100 if args.quick else JOBS)
    runs = [run(jobs, kind) for kind in (*KINDS, *KINDS[::-1])]
    for result in runs:
        print(result, flush=True)
    mean = {name: {key: statistics.mean(r[key] for r in runs if r["worker"] == name)
                   for key in ("enqueue_ms_per_job", "worker_ms_per_job", "redis_ms_per_job",
                               "jobs_per_second")} for name in KINDS}
    total = {name: sum(v for k, v in m.items() if k.endswith("ms_per_job"))
             for name, m in mean.items()}
    rows = [Row(f"cluster engine: CPU per no-op job, forking Worker ({jobs} jobs)",
                total["Worker"], None, "ms", "(informative)", True),
            Row(f"cluster engine: CPU per no-op job, SimpleWorker vs. forking Worker ({jobs} jobs)",
                total["SimpleWorker"], total["Worker"], "ms", "(informative)", True),
            Row(f"cluster engine: CPU per no-op job, inline worker vs. forking Worker ({jobs} jobs)",
                total["inline"], total["Worker"], "ms", "(informative)", True)]
    print_table(rows)
    save("cluster_engine", rows, {"runs": runs, "mean": mean})
    return rows


if __name__ == "__main__":
    main()
