"""Time to verdict: how fast a refusing, hanging or missing camera is classified, and how fast
a stop takes effect (from the API call to the last ffmpeg exiting). Real daemon, real gunicorn.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import requests

from bench.common import Row, print_table, save, wait_for
from shared import task_status as st
from shared.atomic import write_json_atomic
from testkit.cameras import CameraServer, hanging_port, refusing_port
from testkit.recorder_process import RecorderProcess, ffmpeg_pids
from testkit.servers import GunicornServer

CONNECT_TIMEOUT = 3


def _config(streams: list[dict], window: int) -> dict:
    return {"global_config": {"total_poll_duration_seconds": window, "max_concurrent_streams": 8,
                              "output_directory": "./output", "poll_cycles": 1,
                              "connection_timeout_seconds": CONNECT_TIMEOUT,
                              "read_timeout_seconds": 5, "cycle_interval_seconds": 0},
            "streams": streams}


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one trial of each")
    args = parser.parse_args(argv)
    trials = 1 if args.quick else 3
    verdicts: dict[str, list[float]] = {"refused": [], "hanging": [], "missing": []}
    stops: list[float] = []
    starts: list[float] = []
    with CameraServer() as camera, hanging_port() as hang, refusing_port() as refuse:
        for _ in range(trials):
            folder = tempfile.mkdtemp(prefix="bench-verdict-")
            try:
                config = os.path.join(folder, "config.json")
                write_json_atomic(config, _config([
                    {"rtsp_url": f"rtsp://127.0.0.1:{refuse}/x", "duration_seconds": 5},
                    {"rtsp_url": f"rtsp://127.0.0.1:{hang}/x", "duration_seconds": 5},
                    {"rtsp_url": camera.url("nosuch"), "duration_seconds": 5},
                    {"rtsp_url": camera.url("cam1"), "duration_seconds": 30},
                    {"rtsp_url": camera.url("cam2"), "duration_seconds": 30}], 40))
                with GunicornServer(config, workers=2) as api, RecorderProcess(config) as rec:
                    def get(path: str) -> dict:
                        return requests.get(api.url(path), timeout=10).json()
                    wait_for(lambda: get("/api/scheduler/status")["recorder_alive"], 20, "heartbeat")
                    start = time.monotonic()
                    requests.post(api.url("/api/scheduler/start"), timeout=10)
                    wait_for(lambda: ffmpeg_pids(folder), 15, "the first ffmpeg", 0.005)
                    starts.append(time.monotonic() - start)
                    def failed_three() -> list[dict] | None:
                        done = [t for t in get("/api/tasks")["tasks"]
                                if t["stream_index"] < 3 and t["status"] in st.FINISHED]
                        return done if len(done) == 3 else None

                    tasks = wait_for(failed_three, 30, "three verdicts")
                    for task in tasks:
                        name = ("refused", "hanging", "missing")[task["stream_index"]]
                        verdicts[name].append(task["run_seconds"])
                    wait_for(lambda: sum(t["status"] == st.RECORDING
                                         for t in get("/api/tasks")["tasks"]) == 2, 30, "recording")
                    start = time.monotonic()
                    requests.post(api.url("/api/scheduler/stop"), timeout=10)
                    wait_for(lambda: not ffmpeg_pids(folder), 15, "every ffmpeg to exit", 0.005)
                    stops.append(time.monotonic() - start)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    worst = {name: max(values) for name, values in verdicts.items()}
    rows = [
        Row("refusing camera classified (worst)", worst["refused"], None, "s", "<= 1 s",
            worst["refused"] <= 1),
        Row("hanging camera classified (worst)", worst["hanging"], CONNECT_TIMEOUT, "s",
            "<= connection_timeout + 1 s", worst["hanging"] <= CONNECT_TIMEOUT + 1),
        Row("missing path classified (worst)", worst["missing"], None, "s", "<= 2 s",
            worst["missing"] <= 2),
        Row("start: API call to first ffmpeg running (worst)", max(starts), None, "s", "<= 1 s",
            max(starts) <= 1),
        Row("stop: API call to last ffmpeg exit (worst)", max(stops), None, "s", "<= 1 s",
            max(stops) <= 1),
    ]
    print_table(rows)
    save("verdicts", rows, {"verdicts": verdicts, "starts": starts, "stops": stops})
    return rows


if __name__ == "__main__":
    main()
