"""Cluster mode on one box, real media: N streams through Redis + worker pool vs. single-box mode.

Each size runs both modes in the same run, taking turns (single first, then cluster first).
Both record the test camera's 720p 1 Mb/s streams (keyframe every 1 s, ``hd1s/<n>``) with the
same config; cluster mode adds a private redis-server on a free loopback port and one worker
pool (``python -m recorder.worker --worker inline|forking``) with a slot per stream. Counted
over the cycle: the daemon and its ffmpeg children; in cluster mode also the pool, its workers,
their work horses (forking) and their ffmpeg, and redis-server.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from bench.common import REPO, Row, print_table, proc_cpu, save, wait_for
from recorder import worker as worker_cli
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.status_file import read_status
from testkit.cameras import CameraServer
from testkit.procfs import live_processes

SLACK_SECONDS = 5
MAX_RATIO = 1.10
MODES = ("single", "cluster")
# recorder/worker.py's defaults (testkit's pools check much more often, for quick tests).
PRODUCTION_TIMERS = {"maintenance_seconds": 30, "heartbeat_seconds": 30, "grace_seconds": 60}
# Both modes log alike: the single box's recorder and the cluster's coordinator and workers.
LOG_LEVEL = "WARNING"


def write_config(folder: str, urls: list[str], duration: int, redis_url: str | None,
                 cycles: int = 1) -> str:
    """The cycle's config.json (a cluster section only in cluster mode) and a started scheduler."""
    config = {"global_config": {"total_poll_duration_seconds": duration + SLACK_SECONDS,
                                "max_concurrent_streams": len(urls),
                                "output_directory": "./output", "connection_timeout_seconds": 10,
                                "read_timeout_seconds": 10, "poll_cycles": cycles,
                                "cycle_interval_seconds": 0},
              "streams": [{"rtsp_url": u, "duration_seconds": duration,
                           "output_filename": f"s{i}.mp4"} for i, u in enumerate(urls)]}
    if redis_url:
        config["cluster"] = {"redis_url": redis_url, "queue": "bench"}
    path = os.path.join(folder, "config.json")
    write_json_atomic(path, config)
    state = os.path.join(folder, ".patrol-state")
    os.makedirs(state, exist_ok=True)
    write_json_atomic(os.path.join(state, "control.json"),
                      {"version": 1, "scheduler_running": True, "start_generation": 1,
                       "reload_generation": 0})
    return path


def tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and every live process under it (each with its reaped children)."""
    children: dict[int, list[int]] = {}
    for pid, fields in live_processes():
        children.setdefault(int(fields[1]), []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += proc_cpu(pid).total
        except OSError:
            pass
        todo.extend(children.get(pid, []))
    return total


def busy_horses(root: int) -> int:
    """Work horses (forking) or ffmpeg (inline) alive under the pool (their CPU counts only once
    reaped): a worker's children in a process group of their own (RQ's scheduler process stays
    in the pool's)."""
    parents, groups = {}, {}
    for pid, fields in live_processes():
        parents[pid], groups[pid] = int(fields[1]), int(fields[2])
    workers = {pid for pid, parent in parents.items() if parent == root}
    return sum(1 for pid, parent in parents.items() if parent in workers and groups[pid] != root)


def run_cycle(folder: str, urls: list[str], duration: int, cluster: bool,
              worker: str = "inline", cycles: int = 1, jobs_per_worker: int | None = None,
              measured: int = 1) -> dict:
    """``cycles`` cycles in one mode; CPU seconds of everything that mode runs, over the last
    ``measured``."""
    from testkit.cluster import RedisServer, WorkerPoolProcess
    redis = RedisServer(folder).start() if cluster else None
    pool = None
    try:
        config = write_config(folder, urls, duration, redis.url if redis else None, cycles)
        if cluster:
            from redis import Redis
            from rq import Worker
            pool = WorkerPoolProcess(config, len(urls), worker=worker, log_level=LOG_LEVEL,
                                     jobs_per_worker=jobs_per_worker, **PRODUCTION_TIMERS).start()
            connection = Redis.from_url(redis.url)
            processes = worker_cli.worker_processes(_pool_args(len(urls), worker, jobs_per_worker))
            wait_for(lambda: Worker.count(connection=connection) >= processes, 120,
                     "the worker pool")
        figures = _daemon_cycle(folder, config, duration, pool, redis, cycles, measured)
    finally:
        if pool is not None:
            pool.stop()
        if redis is not None:
            redis.stop()
    return figures


def _pool_args(slots: int, worker: str, jobs_per_worker: int | None):
    """The pool's command line as recorder/worker.py reads it (its rules for the processes)."""
    return worker_cli.parse_args(
        ["--config", "-", "--slots", str(slots), "--worker", worker,
         *(["--jobs-per-worker", str(jobs_per_worker)] if jobs_per_worker else [])])


def _others_cpu(pool, redis) -> float:
    return (tree_cpu(pool.proc.pid) + proc_cpu(redis.proc.pid).total) if pool else 0.0


def _parts(proc, pool, redis) -> dict[str, float]:
    """Where the CPU goes: the daemon's own and its children's; the workers' own (inline: with
    the jobs') and their reaped children's (forking: work horses with their ffmpeg; inline:
    ffmpeg); redis-server."""
    daemon = proc_cpu(proc.pid)
    parts = {"daemon_own": daemon.own, "daemon_children": daemon.children}
    if pool is not None:
        workers = [pid for pid, fields in live_processes() if int(fields[1]) == pool.proc.pid]
        cpus = [proc_cpu(pid) for pid in workers]
        parts.update(workers_own=sum(c.own for c in cpus) + proc_cpu(pool.proc.pid).total,
                     horses_with_ffmpeg=sum(c.children for c in cpus),
                     redis=proc_cpu(redis.proc.pid).total)
    return parts


def _daemon_cycle(folder: str, config: str, duration: int, pool, redis, cycles: int,
                  measured: int = 1) -> dict:
    status_path = os.path.join(folder, ".patrol-state", "status.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTSP_PATROL_")}
    proc = subprocess.Popen([sys.executable, "-m", "recorder", "--config", config,
                             "--log-level", LOG_LEVEL], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # the last cycles: earlier ones warm the workers up (each slot's first job is dearer)
        first = cycles - measured + 1
        wait_for(lambda: _running(read_status(status_path), first), 60 + (first - 1) * (
            duration + 60), "the cycle to start", interval=0.05)
        daemon0, others0, wall0 = proc_cpu(proc.pid).total, _others_cpu(pool, redis), \
            time.monotonic()
        parts0 = _parts(proc, pool, redis)
        wait_for(lambda: _ended(read_status(status_path), cycles), measured * (duration + 180),
                 "the cycle's end", interval=0.2)
        if pool is not None:
            wait_for(lambda: busy_horses(pool.proc.pid) == 0, 60, "the work horses to end")
        daemon1, others1 = proc_cpu(proc.pid).total, _others_cpu(pool, redis)
        parts = {k: round(v - parts0[k], 2) for k, v in _parts(proc, pool, redis).items()}
        wall = time.monotonic() - wall0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    tasks = read_status(status_path)["tasks"]
    return {"daemon": daemon1 - daemon0, "others": others1 - others0, "wall": wall, **parts,
            "completed": sum(t["status"] == st.COMPLETED for t in tasks), "tasks": len(tasks)}


def _running(status: dict, cycle: int) -> bool:
    return status["cycle"]["running"] and status["current_cycle"] >= cycle


def _ended(status: dict, cycle: int) -> bool:
    return bool(status["end_time"]) and status["current_cycle"] >= cycle \
        and not status["cycle"]["running"]


def measure(size: int, duration: int, rounds: int, worker: str, cycles: int = 1,
            jobs_per_worker: int | None = None, measured: int = 1) -> dict[str, list[dict]]:
    """``rounds`` of both modes for ``size`` streams, in turns; a fresh camera server each."""
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for round_number in range(rounds):
        order = MODES if round_number % 2 == 0 else MODES[::-1]
        for mode in order:
            folder = tempfile.mkdtemp(prefix=f"bench-cluster-{size}-")
            try:
                with CameraServer(mount_count=size) as camera:
                    urls = [camera.url(f"hd1s/{i + 1}") for i in range(size)]
                    runs[mode].append(run_cycle(folder, urls, duration, mode == "cluster", worker,
                                                cycles, jobs_per_worker, measured))
                print(mode, size, runs[mode][-1], flush=True)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    return runs


def rows_of(size: int, duration: int, runs: dict[str, list[dict]], cycles: int = 1,
            worker: str = "inline", measured: int = 1) -> list[Row]:
    """The result rows of one size (``measured``: the last cycles of each run counted)."""
    total = {mode: sum(r["daemon"] + r["others"] for r in runs[mode]) / len(runs[mode])
             for mode in MODES}
    done = {mode: min(r["completed"] for r in runs[mode]) for mode in MODES}
    per_job_ms = 1000 * (total["cluster"] - total["single"]) / (size * measured)
    # ffmpeg's own CPU moves 10-20 % between runs of the same work on this shared box, more
    # than cluster mode adds: the same total with the cluster's ffmpeg taken as the single
    # box's, i.e. only what cluster mode adds (workers, Redis, the coordinator's difference;
    # inline workers only: a forking worker's horses are counted with their ffmpeg).
    engine = _mean(runs["cluster"], lambda r: r["workers_own"] + r["redis"] + r["daemon_own"])
    equal = _mean(runs["single"], lambda r: r["daemon_children"]) + engine
    case = f"{size} streams, 720p 1 Mb/s, {duration} s clips" + (
        f", cycles {cycles - measured + 1}-{cycles} of {cycles}" if measured > 1 else
        f", cycle {cycles} of {cycles} (warm workers)" if cycles > 1 else "")
    rows = [
        Row(f"cluster vs. single box: total CPU, {case}", total["cluster"], total["single"], "s",
            f"ratio <= {MAX_RATIO}", total["cluster"] <= MAX_RATIO * total["single"]),
        Row(f"cluster vs. single box: engine overhead per job, {case}", per_job_ms, None,
            "ms CPU", "(informative)", True),

        Row(f"cluster vs. single box: clips 已完成 (cluster / single), {case}",
            done["cluster"], float(done["single"]), "clips", f"all {size}",
            done["cluster"] == done["single"] == size),
    ]
    if worker == "inline":
        rows.insert(2, Row(f"cluster vs. single box: total CPU with ffmpeg counted equal, {case}",
                           equal, total["single"], "s", "(informative)", True))
    return rows


def _mean(runs: list[dict], value) -> float:
    return sum(value(r) for r in runs) / len(runs)


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the benchmark; the rows of the result table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="16 streams, one round each")
    parser.add_argument("--sizes", type=int, nargs="*")
    parser.add_argument("--duration", type=int, default=10, help="clip seconds (default 10)")
    parser.add_argument("--rounds", type=int, help="rounds of both modes (default 2, quick 1)")
    parser.add_argument("--worker", default="inline", choices=("inline", "forking"),
                        help="the worker pool's --worker (default inline)")
    parser.add_argument("--cycles", type=int, default=1,
                        help="cycles per run, the last one measured (default 1: every worker "
                             "slot's first job; 2: workers that have run a job before)")
    parser.add_argument("--measured-cycles", type=int, default=1,
                        help="how many of the last cycles are counted (default 1; more: less "
                             "noise at small sizes, e.g. --cycles 8 --measured-cycles 7)")
    parser.add_argument("--jobs-per-worker", type=int, default=None,
                        help="the worker pool's --jobs-per-worker (default: the worker's, the "
                             "slots shared among the cores; 1: a process a slot)")
    args = parser.parse_args(argv)
    if not 1 <= args.measured_cycles <= args.cycles:
        parser.error("--measured-cycles must be between 1 and --cycles")
    sizes = args.sizes or ([16] if args.quick else [16, 64, 128])
    rounds = args.rounds or (1 if args.quick else 2)
    rows, raw = [], {}
    for size in sizes:
        raw[size] = measure(size, args.duration, rounds, args.worker, args.cycles,
                            args.jobs_per_worker, args.measured_cycles)
        raw[size]["jobs_per_worker"] = worker_cli.jobs_per_worker(
            _pool_args(size, args.worker, args.jobs_per_worker))
        print(f"{size} streams: the workers recorded up to {raw[size]['jobs_per_worker']} "
              f"jobs a process", flush=True)
        rows += rows_of(size, args.duration, raw[size], args.cycles, args.worker,
                        args.measured_cycles)
    print_table(rows)
    # forking: the old way, kept for comparison
    save(f"cluster_media{'' if args.worker == 'inline' else '_forking'}"
         f"{'' if args.cycles == 1 else '_warm'}"
         f"{'' if args.measured_cycles == 1 else f'_last{args.measured_cycles}'}"
         f"{'' if args.jobs_per_worker is None else f'_jobs{args.jobs_per_worker}'}", rows,
         {"raw": raw, "duration": args.duration, "rounds": rounds, "worker": args.worker,
          "cycles": args.cycles, "measured_cycles": args.measured_cycles,
          "jobs_per_worker": args.jobs_per_worker})
    print(json.dumps(raw, indent=1))
    return rows


if __name__ == "__main__":
    main()
