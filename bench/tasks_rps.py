"""``GET /api/tasks/status`` with 128 live tasks vs. a trivial endpoint, same gunicorn, same run.

Load comes from ``wrk`` (Debian package) on 127.0.0.1, endpoints measured in
turns so that drift in machine load weighs on both alike.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time

from bench.common import Row, print_table, save
from shared import settings
from shared.atomic import write_json_atomic
from shared.status_file import empty_status
from shared.timefmt import format_local
from testkit.servers import GunicornServer

TASKS = 128


def live_status(tasks: int) -> dict:
    """A status file as the recorder writes it in the middle of a 128-stream cycle."""
    now = time.time()
    status = empty_status()
    status.update(heartbeat=now, heartbeat_monotonic=time.monotonic(), scheduler_running=True,
                  start_time=format_local(now), current_cycle=1,
                  schedule_info="\n".join(f"任务 {i}: {i}秒开始, 持续 15秒" for i in range(tasks)))
    status["cycle"].update(dir="20251010_163000", running=True, started_at=now, total_seconds=60)
    status["tasks"] = [{
        "task_id": i, "stream_index": i, "rtsp_url": f"rtsp://127.0.0.1:8554/bench{i + 1}",
        "output_file": f"./output/20251010_163000/s{i}.mp4", "duration_seconds": 15,
        "status": 3, "status_code": 3, "status_text": "录制中", "status_name": "录制中",
        "start_time": format_local(now), "end_time": "", "progress": 7.5,
        "bytes_received": 1_000_000 + i, "frames_received": 180 + i, "error_message": ""}
        for i in range(tasks)]
    status["stats"].update(total_tasks=tasks, max_concurrent_used=tasks)
    return status


def requests_per_second(url: str, seconds: int) -> float:
    """wrk's Requests/sec for ``url``."""
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", url], capture_output=True,
                         text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error answers\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s per measurement, 1 round")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk (make bench does it as root)")
    seconds, rounds = (3, 1) if args.quick else (8, 3)
    folder = tempfile.mkdtemp(prefix="bench-tasks-")
    try:
        config = os.path.join(folder, "config.json")
        write_json_atomic(config, {"global_config": {}, "streams": []})
        os.makedirs(settings.state_dir(config))
        write_json_atomic(settings.status_path(config), live_status(TASKS), compact=True)
        with GunicornServer(config, workers=4) as server:
            tasks_rps, trivial_rps = 0.0, 0.0
            for _ in range(rounds):
                trivial_rps += requests_per_second(server.url("/api/health"), seconds) / rounds
                tasks_rps += requests_per_second(server.url("/api/tasks/status"), seconds) / rounds
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows = [Row(f"GET /api/tasks/status, {TASKS} live tasks", tasks_rps, trivial_rps, "req/s",
                ">= 0.5x trivial endpoint", tasks_rps >= 0.5 * trivial_rps)]
    print_table(rows)
    save("tasks_rps", rows)
    return rows


if __name__ == "__main__":
    main()
