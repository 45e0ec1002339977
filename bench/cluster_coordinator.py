"""Cluster mode's coordinator per job: its CPU, its Redis commands by kind, redis-server's CPU.

The recorder daemon runs as the coordinator of one cycle (N streams at once, 10 s clips), in a
child process of its own (``--coordinator``: the daemon with its job function swapped for
:func:`fake_task` and its Redis client counting what it sends). One worker pool
(``python -m recorder.worker``, production timers) runs the jobs; a job is a fake that sleeps
the clip and talks to Redis as recorder/cluster/task_job.py does (an ``HSET`` of its record
each second, the claim, the outcome), so what the coordinator reads is what it reads in
production, without ffmpeg or cameras. Counted from the coordinator's start (its
modules, rq and redis imported) to its cycle's end time (the cycle starts at once): the
coordinator's CPU and the commands its client sent, by kind;
redis-server's CPU and every client's commands by kind (``INFO commandstats``, the idle pool's
rate subtracted).

    flock /work/wt/bench.lock env PYTHONPATH=$PWD python -m bench.cluster_coordinator
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from bench.common import REPO, Row, print_table, proc_cpu, save, wait_for
from shared.status_file import read_status

STREAMS, CLIP, GATEWAYS = 64, 10, 4
IDLE_SECONDS = 5.0
FAKE = "bench.cluster_coordinator.fake_task"
PRODUCTION_TIMERS = {"maintenance_seconds": 30, "heartbeat_seconds": 30, "grace_seconds": 60}


def fake_task(spec: dict) -> int:
    """A worker's fake recording: task_job's Redis traffic, a sleep instead of ffmpeg."""
    from rq import get_current_job

    from recorder.cluster.link import OUTCOME_TTL_SECONDS, task_key
    from shared import task_status as st
    job = get_current_job()
    connection, key = job.connection, task_key(spec["queue"], job.id)
    if connection.hexists(key, "winner"):
        return -1
    attempt = connection.hincrby(key, "attempts", 1)
    task_id, index, _, duration = spec["planned"]
    record = {"task_id": task_id, "stream_index": index, "rtsp_url": spec["stream"]["rtsp_url"],
              "output_file": None, "duration_seconds": duration, "status": st.RECORDING,
              "start_time": time.strftime("%Y-%m-%d %H:%M:%S"), "end_time": "",
              "progress": 0.0, "bytes_received": 0, "frames_received": 0, "error_message": ""}
    for second in range(duration):
        time.sleep(1.0)
        record.update(progress=second + 1.0, bytes_received=125_000 * (second + 1),
                      frames_received=25 * (second + 1))
        connection.hset(key, "record", json.dumps(record))
    pipe = connection.pipeline()
    pipe.hsetnx(key, "winner", attempt)
    pipe.hget(key, "winner")
    pipe.execute()
    record.update(status=st.COMPLETED, output_file=spec["stream"]["output_filename"],
                  end_time=time.strftime("%Y-%m-%d %H:%M:%S"), run_seconds=duration + 0.5)
    pipe = connection.pipeline()
    pipe.hsetnx(key, "outcome", json.dumps(record))
    pipe.hset(key, "record", json.dumps(record))
    pipe.expire(key, OUTCOME_TTL_SECONDS)
    pipe.execute()
    return st.COMPLETED


def _count_commands(counts: collections.Counter) -> None:
    """Make every Redis client of this process count the commands it sends, by name."""
    from redis.connection import Connection

    def name(args: tuple) -> str:
        first = args[0]
        return (first.decode() if isinstance(first, bytes) else str(first)).split()[0].upper()

    send_command, pack_commands = Connection.send_command, Connection.pack_commands

    def counted_command(self, *args, **options):
        counts[name(args)] += 1
        return send_command(self, *args, **options)

    def counted_commands(self, commands):
        commands = list(commands)  # each the arguments of one command
        counts.update(name(args) for args in commands)
        return pack_commands(self, commands)

    Connection.send_command, Connection.pack_commands = counted_command, counted_commands


def coordinator(config: str, counts_path: str, profile: str | None) -> int:
    """The recorder daemon with the fake job; SIGUSR1 writes its counts to ``counts_path``."""
    from recorder import __main__ as recorder_main
    from recorder.cluster import lead, remote_task  # noqa: F401 - rq, redis: imported before the count
    remote_task.JOB_FUNCTION = FAKE
    counts: collections.Counter = collections.Counter()
    _count_commands(counts)

    def dump(path: str) -> None:
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump({"commands": counts, "cpu": time.process_time()}, handle)
        os.replace(path + ".tmp", path)
    signal.signal(signal.SIGUSR1, lambda _signum, _frame: dump(counts_path))
    dump(counts_path + ".start")  # before the daemon's first Redis command
    argv = ["--config", config, "--log-level", "WARNING"]
    if not profile:
        return recorder_main.main(argv)
    import cProfile
    profiler = cProfile.Profile(time.process_time)  # CPU, not the waits
    try:
        return profiler.runcall(recorder_main.main, argv)
    finally:
        profiler.dump_stats(profile)


def _snapshot(proc: subprocess.Popen, path: str) -> dict:
    """The coordinator's counts and CPU of the moment (asked for with SIGUSR1)."""
    if os.path.exists(path):
        os.unlink(path)
    proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: os.path.exists(path), 10, "the coordinator's counts")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _commandstats(connection) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): value["calls"]
            for name, value in connection.info("commandstats").items()}


def _diff(after: dict, before: dict) -> dict[str, float]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def run(streams: int, clip: int, profile: str | None = None) -> dict:
    """One cycle of ``streams`` fake jobs; the coordinator's and Redis's figures per job."""
    from redis import Redis
    from rq import Worker

    from bench.cluster_media import write_config
    from testkit.cluster import RedisServer, WorkerPoolProcess
    folder = tempfile.mkdtemp(prefix="bench-coordinator-")
    urls = [f"rtsp://127.0.0.1:{5540 + i % GATEWAYS}/cam{i}" for i in range(streams)]
    try:
        with RedisServer(folder) as redis:
            config = write_config(folder, urls, clip, redis.url)
            connection = Redis.from_url(redis.url)
            with WorkerPoolProcess(config, streams, **PRODUCTION_TIMERS) as pool:
                wait_for(lambda: Worker.count(connection=connection) >= streams, 180,
                         "the worker pool")
                return _cycle(folder, config, connection, redis, pool, streams, profile)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _cycle(folder: str, config: str, connection, redis, pool, streams: int,
           profile: str | None) -> dict:
    idle0, t_idle = _commandstats(connection), time.monotonic()
    time.sleep(IDLE_SECONDS)  # what the idle pool sends per second
    idle = _diff(_commandstats(connection), idle0)
    idle_seconds = time.monotonic() - t_idle
    status_path = os.path.join(folder, ".patrol-state", "status.json")
    counts_path = os.path.join(folder, "counts.json")
    argv = [sys.executable, "-m", "bench.cluster_coordinator", "--coordinator", config,
            counts_path] + (["--profile", profile] if profile else [])
    redis0, stats0, wall0 = proc_cpu(redis.proc.pid).total, _commandstats(connection), \
        time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(counts_path + ".start"), 60, "the coordinator")
        with open(counts_path + ".start", encoding="utf-8") as handle:
            own0 = json.load(handle)
        wait_for(lambda: read_status(status_path)["end_time"], 300, "the cycle's end",
                 interval=0.2)
        own1, redis1, stats1 = _snapshot(proc, counts_path), proc_cpu(redis.proc.pid).total, \
            _commandstats(connection)
        wall = time.monotonic() - wall0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    tasks = read_status(status_path)["tasks"]
    mine = _diff(own1["commands"], own0["commands"])
    everyone = _diff(stats1, stats0)
    # commandstats counts the commands run inside Lua scripts too; minus the idle pool's rate.
    jobs = {k: v - idle.get(k, 0) * wall / idle_seconds for k, v in everyone.items()}
    return {"streams": streams, "completed": sum(t["status"] == 4 for t in tasks),
            "wall_s": round(wall, 1),
            "coordinator_cpu_ms_per_job": round(1000 * (own1["cpu"] - own0["cpu"]) / streams, 2),
            "redis_cpu_ms_per_job": round(1000 * (redis1 - redis0) / streams, 2),
            "coordinator_commands_per_job": round(sum(mine.values()) / streams, 1),
            "coordinator_commands_by_kind": {k: round(v / streams, 1) for k, v in
                                             sorted(mine.items(), key=lambda x: -x[1])},
            "all_commands_per_job": round(sum(jobs.values()) / streams, 1),
            "all_commands_by_kind": {k: round(v / streams, 1) for k, v in
                                     sorted(jobs.items(), key=lambda x: -x[1]) if v >= 0.05 * streams}}


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the benchmark (or, with ``--coordinator``, be its coordinator); the result rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=STREAMS)
    parser.add_argument("--clip", type=int, default=CLIP, help="clip seconds")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", help="cProfile the coordinator into this file")
    parser.add_argument("--coordinator", nargs=2, metavar=("CONFIG", "COUNTS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.coordinator:
        sys.exit(coordinator(*args.coordinator, args.profile))
    runs = []
    for _ in range(args.rounds):
        runs.append(run(args.streams, args.clip, args.profile))
        print(json.dumps(runs[-1], indent=1), flush=True)

    def mean(key: str) -> float:
        return sum(r[key] for r in runs) / len(runs)
    case = f"{args.streams} streams, {args.clip} s clips"
    rows = [Row(f"cluster coordinator: CPU per job, {case}", mean("coordinator_cpu_ms_per_job"),
                None, "ms", "(informative)", True),
            Row(f"cluster coordinator: Redis commands per job, {case}",
                mean("coordinator_commands_per_job"), None, "cmds", "(informative)", True),
            Row(f"cluster: all Redis commands per job (coordinator + pool), {case}",
                mean("all_commands_per_job"), None, "cmds", "(informative)", True),
            Row(f"cluster: redis-server CPU per job, {case}", mean("redis_cpu_ms_per_job"),
                None, "ms", "(informative)", True)]
    print_table(rows)
    save("cluster_coordinator", rows, {"runs": runs})
    return rows


if __name__ == "__main__":
    main()
