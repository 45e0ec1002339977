"""Simulated cluster: 10,000 cameras, 5 gateways capped at 20, a 600 s window, 3 workers killed.

Time is compressed: one simulated second lasts SCALE real seconds (0.25: the 600 s window
takes 150 s). This process plays the coordinator with the production planner and enqueue
(recorder/planner.py, recorder/cluster/link.py: job id, gateway RateLimit, Retry, TTL); the
workers are five real worker pools (``python -m recorder.worker``, RQ's forking workers, quick
heartbeats); only the recording is a fake: :func:`fake_task` sleeps the clip's length, writes
its progress once a simulated second as task_job does, and claims the task as task_job does
(first attempt to end wins). During the window three busy workers (and their work horses) are
SIGKILLed. Checked: every camera has exactly one winning attempt; each gateway's RQ slots
(sampled every 50 ms) and its overlapping fake recordings never exceed the cap.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import tempfile
import threading
import time

from bench.common import Row, print_table, proc_cpu, save
from testkit.procfs import live_processes

CAMERAS, GATEWAYS, CAP, WINDOW, CLIP = 10_000, 5, 20, 600, 5
SCALE = 0.25
HOSTS, SLOTS, KILLS = 5, 24, 3
IDLE_SECONDS = 5.0
QUEUE = "sim"
FAKE = "bench.cluster_sim.fake_task"


def fake_task(spec: dict) -> int:
    """A worker's fake recording: sleep the clip, progress each second, the first to end wins."""
    from rq import get_current_job
    job = get_current_job()
    connection, key = job.connection, f"sim:task:{job.id}"
    if connection.hexists(key, "winner"):
        return -1
    attempt = connection.hincrby(key, "attempts", 1)
    connection.rpush("sim:starts", json.dumps([spec["gateway"], time.time(), job.id, attempt]))
    for second in range(spec["seconds"]):
        time.sleep(spec["scale"])
        connection.hset(key, "record", json.dumps({"progress": second + 1}))
    won = connection.hsetnx(key, "winner", attempt)
    connection.rpush("sim:ends", json.dumps([job.id, attempt, time.time()]))
    if won:
        connection.hincrby("sim:done", str(spec["camera"]), 1)
    return 0


def _streams(cameras: int) -> list[dict]:
    return [{"rtsp_url": f"rtsp://10.0.{i % GATEWAYS}.1:554/cam{i}", "duration_seconds": CLIP,
             "output_filename": f"cam{i}.mp4", "weight": 1} for i in range(cameras)]


def _global_config() -> dict:
    return {"total_poll_duration_seconds": WINDOW, "max_concurrent_streams": GATEWAYS * CAP,
            "max_concurrent_per_host": CAP, "connection_timeout_seconds": 5,
            "read_timeout_seconds": 5}


class Sampler:
    """Every 50 ms: each gateway's RQ slots held (ZCARD of its RateLimit); Redis ops/s."""

    def __init__(self, connection, gateways: list[str]) -> None:
        self.connection, self.gateways = connection, gateways
        self.most = {gateway: 0 for gateway in gateways}
        self.ops: list[int] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from recorder.cluster.link import gateway_slots_key
        while not self._stop.wait(0.05):
            pipe = self.connection.pipeline()
            for gateway in self.gateways:
                pipe.zcard(gateway_slots_key(self.connection, gateway))
            for gateway, held in zip(self.gateways, pipe.execute()):
                self.most[gateway] = max(self.most[gateway], held)
            self.samples += 1
            if self.samples % 10 == 0:
                self.ops.append(int(self.connection.info("stats")["instantaneous_ops_per_sec"]))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def _tree() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid, fields in live_processes():
        children.setdefault(int(fields[1]), []).append(pid)
    return children


def kill_busy_worker(pools: list, connection) -> int | None:
    """SIGKILL one RQ worker that is running a job, and its children; the worker's pid.

    Busy as RQ says (the worker's state in Redis): an inline worker runs the job itself, a
    forking one has a work horse, a child in a process group of its own (both killed)."""
    from rq import Worker
    groups = {pid: int(fields[2]) for pid, fields in live_processes()}
    children = _tree()
    ours = {worker: pool.proc.pid for pool in pools for worker in children.get(pool.proc.pid, [])}
    for worker in Worker.all(connection=connection):
        if worker.get_state() == "busy" and worker.pid in ours:
            horses = [pid for pid in children.get(worker.pid, [])
                      if groups.get(pid) != ours[worker.pid]]  # not RQ's scheduler process
            for pid in (*horses, worker.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return worker.pid
    return None


def pools_cpu(pools: list) -> float:
    """CPU seconds of the pools: their own, their live workers' and every reaped child's."""
    total, children = 0.0, _tree()
    for pool in pools:
        total += proc_cpu(pool.proc.pid).total
        for worker in children.get(pool.proc.pid, []):
            try:
                total += proc_cpu(worker).total
            except OSError:
                pass
    return total


def max_overlap(starts: list, ends: dict, scale: float) -> dict[str, int]:
    """Most fake recordings running at once per gateway (a killed one: counted for a whole clip)."""
    events: dict[str, list[tuple[float, int]]] = {}
    for gateway, start, job, attempt in starts:
        end = ends.get((job, attempt), start + CLIP * scale)
        events.setdefault(gateway, []).extend([(start, 1), (end, -1)])
    most = {}
    for gateway, points in events.items():
        live = peak = 0
        for _, change in sorted(points, key=lambda p: (p[0], p[1])):
            live += change
            peak = max(peak, live)
        most[gateway] = peak
    return most


def _start_pools(folder: str, redis_url: str):
    from shared.atomic import write_json_atomic
    from testkit.cluster import WorkerPoolProcess
    config = os.path.join(folder, "config.json")
    write_json_atomic(config, {"global_config": _global_config(), "streams": _streams(1),
                               "cluster": {"redis_url": redis_url, "queue": QUEUE}})
    return [WorkerPoolProcess(config, SLOTS, maintenance_seconds=1, heartbeat_seconds=1,
                              grace_seconds=2).start() for _ in range(HOSTS)]


def _wait_workers(connection, count: int) -> None:
    from rq import Worker
    deadline = time.monotonic() + 180
    while Worker.count(connection=connection) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the worker pools did not start")
        time.sleep(0.5)


def _enqueue_all(connection, plan, streams: list[dict], scale: float, pools: list) -> list:
    """Enqueue each task at its (compressed) planned start; kill KILLS busy workers meanwhile."""
    from recorder.cluster import link
    from shared.gateways import gateway_key
    from shared.global_settings import GlobalSettings
    settings = GlobalSettings.from_config(_global_config())
    kill_at = [WINDOW * scale * (k + 1) / (KILLS + 1) for k in range(KILLS)]
    killed, t0 = [], time.monotonic()
    for task in sorted(plan.tasks, key=lambda t: t.offset):
        while time.monotonic() - t0 < task.offset * scale:
            time.sleep(0.002)
        stream = streams[task.stream_index]
        spec = link.job_spec(QUEUE, "sim", task.stream_index, stream, task.duration, settings,
                             (WINDOW - task.offset) * scale)
        link.enqueue(connection, QUEUE, spec, {
            "camera": task.stream_index, "gateway": gateway_key(stream["rtsp_url"]),
            "seconds": task.duration, "scale": scale}, function=FAKE)
        if kill_at and time.monotonic() - t0 >= kill_at[0]:
            kill_at.pop(0)
            killed.append(kill_busy_worker(pools, connection))
    return killed


def _redis_figures(connection) -> dict:
    stats = connection.info("commandstats")
    return {"commands": int(connection.info("stats")["total_commands_processed"]),
            "top": sorted(((name.removeprefix("cmdstat_"), value["calls"])
                           for name, value in stats.items()), key=lambda x: -x[1])[:8]}


def run(cameras: int = CAMERAS, scale: float = SCALE) -> dict:
    """The simulated window's figures (see the module docstring)."""
    from recorder.cluster.link import connect
    from recorder.planner import plan_cycle
    from shared.cluster_config import ClusterSettings
    from testkit.cluster import RedisServer
    streams = _streams(cameras)
    plan = plan_cycle(streams, WINDOW, GATEWAYS * CAP, CAP)
    gateways = [f"10.0.{g}.1:554" for g in range(GATEWAYS)]
    with tempfile.TemporaryDirectory() as folder, RedisServer(folder) as redis:
        connection = connect(ClusterSettings(redis.url))
        pools = _start_pools(folder, redis.url)
        try:
            _wait_workers(connection, HOSTS * SLOTS)
            idle = _redis_figures(connection)
            time.sleep(IDLE_SECONDS)  # what idle pools cost Redis per real second
            cpu0, redis_cpu0 = pools_cpu(pools), proc_cpu(redis.proc.pid).total
            before = _redis_figures(connection)
            idle_rate = (before["commands"] - idle["commands"] - 2) / IDLE_SECONDS
            with Sampler(connection, gateways) as sampler:
                t0, started = time.time(), time.monotonic()
                killed = _enqueue_all(connection, plan, streams, scale, pools)
                deadline = time.monotonic() + 120 + 60 * scale * 4
                while connection.hlen("sim:done") < cameras and time.monotonic() < deadline:
                    time.sleep(0.2)
            after, elapsed = _redis_figures(connection), time.monotonic() - started
            cpu1, redis_cpu1 = pools_cpu(pools), proc_cpu(redis.proc.pid).total
            done = {int(k): int(v) for k, v in connection.hgetall("sim:done").items()}
            starts = [json.loads(raw) for raw in connection.lrange("sim:starts", 0, -1)]
            ends_raw = [json.loads(raw) for raw in connection.lrange("sim:ends", 0, -1)]
        finally:
            for pool in pools:
                pool.stop(timeout=30)
    ends = {(job, attempt): end for job, attempt, end in ends_raw}
    last_end = max((end for end in ends.values()), default=t0)
    # Minus this bench's own sampling and what idle pools cost per second: the jobs' commands.
    commands = (after["commands"] - before["commands"] - sampler.samples * GATEWAYS
                - len(sampler.ops) - idle_rate * elapsed)
    return {
        "cameras": cameras, "scale": scale, "clip_seconds": CLIP, "window_seconds": WINDOW,
        "gateways": GATEWAYS, "cap": CAP, "worker_slots": HOSTS * SLOTS,
        "killed_workers": len([k for k in killed if k]),
        "cameras_done_once": sum(1 for v in done.values() if v == 1),
        "cameras_done_twice_or_more": sum(1 for v in done.values() if v > 1),
        "cameras_missing": cameras - len(done), "attempts": len(starts),
        "attempts_ended": len(ends), "planned_makespan_s": round(
            max(t.offset + t.duration for t in plan.tasks), 1),
        "makespan_s": round((last_end - t0) / scale, 1),
        "ideal_makespan_s": cameras * CLIP / (GATEWAYS * CAP),
        "most_rq_slots_per_gateway": max(sampler.most.values()),
        "most_overlapping_per_gateway": max(max_overlap(starts, ends, scale).values()),
        "cap_samples": sampler.samples,
        "redis_commands_of_jobs": round(commands),
        "redis_commands_per_job": round(commands / cameras, 1),
        "redis_commands_per_attempt_run": round(commands / max(1, len(starts)), 1),
        "jobs_per_second_real": round(len(ends) / max(1e-9, last_end - t0), 1),
        "redis_idle_ops_per_s": round(idle_rate, 1),
        "redis_ops_per_s_compressed_median": statistics.median(sampler.ops or [0]),
        "redis_ops_per_s_compressed_max": max(sampler.ops or [0]),
        "redis_ops_per_s_real_time": round(commands / WINDOW + idle_rate, 1),
        "redis_cpu_ms_per_job": round(1000 * (redis_cpu1 - redis_cpu0) / cameras, 2),
        "workers_cpu_ms_per_job": round(1000 * (cpu1 - cpu0) / cameras, 2),
        "top_commands": [(n, c - dict(before["top"]).get(n, 0)) for n, c in after["top"]],
    }


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the simulation; the rows of the result table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 cameras")
    parser.add_argument("--cameras", type=int)
    parser.add_argument("--scale", type=float, default=SCALE, help="real seconds per simulated one")
    args = parser.parse_args(argv)
    cameras = args.cameras or (1_000 if args.quick else CAMERAS)
    r = run(cameras, args.scale)
    print(json.dumps(r, indent=1))
    once = r["cameras_done_once"] == cameras
    rows = [
        Row(f"cluster sim: cameras done exactly once of {cameras:,} ({r['killed_workers']} "
            "workers killed)", r["cameras_done_once"], cameras, "cameras", "= all", once),
        Row(f"cluster sim: most per gateway at once (RQ slots / fake pulls), cap {CAP}",
            max(r["most_rq_slots_per_gateway"], r["most_overlapping_per_gateway"]), CAP,
            "tasks", f"<= {CAP}", max(r["most_rq_slots_per_gateway"],
                                      r["most_overlapping_per_gateway"]) <= CAP),
        Row("cluster sim: makespan vs. ideal (simulated s)", r["makespan_s"],
            r["ideal_makespan_s"], "s", f"<= window {WINDOW} s", r["makespan_s"] <= WINDOW),
        Row("cluster sim: Redis commands per job (incl. 1 progress write per second)",
            r["redis_commands_per_job"], None, "cmds", "(informative)", True),
        Row("cluster sim: Redis ops/s in real time (jobs over the window + idle pools)",
            r["redis_ops_per_s_real_time"], None, "ops/s", "(informative)", True),
    ]
    print_table(rows)
    save("cluster_sim", rows, r)
    return rows


if __name__ == "__main__":
    main()
