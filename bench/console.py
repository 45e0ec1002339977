"""The console at scale: the overview of 1,000 cameras, its live update, and a 20 MB clip by Range.

Uses camera_history's database (1,000 cameras × 10,000 cycles; ``--quick``: 100 × 1,000).
Server times are in-process through Flask's test client (median of ``--runs``); sizes
are the gzip-compressed bodies (as nginx in front sends them). The clip is served
by gunicorn (one worker) and read whole with ``Range: bytes=0-``; the worker's peak
RSS above its idle RSS is what streaming costs.
"""
from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import tempfile
import threading

import requests

from bench.camera_history import prepare
from bench.common import Row, median_seconds, print_table, rss_mb, save
from shared.atomic import write_json_atomic
from shared.history_schema import connect_reader, history_path
from testkit.servers import GunicornServer

TARGETS = {"overview_ms": 150.0, "overview_kb": 200.0, "live_ms": 20.0, "live_kb": 10.0,
           "clip_mb": 2.0}
CLIP_BYTES = 20 * 1024 * 1024


def _in_process(config: str, runs: int) -> dict[str, float]:
    os.environ.setdefault("RTSP_PATROL_SECRET_KEY", "bench-secret-" + "x" * 40)
    from app import create_app
    app = create_app({"CONFIG_PATH": config})
    client = app.test_client()
    conn = connect_reader(history_path(config))
    latest = conn.execute("SELECT MAX(id) FROM outcomes").fetchone()[0]
    conn.close()
    page = client.get("/")
    roster = page.get_data(as_text=True).split("roster=", 1)[1].split('"', 1)[0]
    # 25 cameras changed since the page's cursor: a live update's cap.
    live_url = f"/overview/live?after={latest - 25}&roster={roster}"
    live = client.get(live_url)
    assert page.status_code == 200 and live.status_code == 200, (page.status_code, live.status_code)
    return {"overview_ms": median_seconds(lambda: client.get("/"), runs) * 1000,
            "overview_kb": len(gzip.compress(page.data)) / 1024,
            "live_ms": median_seconds(lambda: client.get(live_url), runs) * 1000,
            "live_kb": len(gzip.compress(live.data)) / 1024}


def _clip_memory() -> float:
    with tempfile.TemporaryDirectory() as folder:
        cycle = os.path.join(folder, "output", "20200101_000000")
        os.makedirs(cycle)
        with open(os.path.join(cycle, "big.mp4"), "wb") as handle:
            handle.write(os.urandom(CLIP_BYTES))
        config = os.path.join(folder, "config.json")
        write_json_atomic(config, {"global_config": {"output_directory": "./output"}, "streams": [
            {"rtsp_url": "rtsp://127.0.0.1:8554/x", "duration_seconds": 5}]})
        with GunicornServer(config, workers=1) as server:
            worker = server.wait_for_workers()[0]
            url = server.url("/api/clips/20200101_000000/big.mp4")
            requests.get(url, headers={"Range": "bytes=0-1023"}, timeout=10)  # warm the code
            idle = rss_mb(worker)
            return _peak_while_reading(url, worker) - idle


def _peak_while_reading(url: str, worker: int) -> float:
    peak, done = [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss_mb(worker))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with requests.get(url, headers={"Range": "bytes=0-"}, stream=True, timeout=30) as answer:
        assert answer.status_code == 206
        got = sum(len(chunk) for chunk in answer.iter_content(64 * 1024))
    done.set()
    sampler.join()
    assert got == CLIP_BYTES, got
    return peak[0]


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 cameras × 1,000 cycles")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    cameras, cycles = (100, 1000) if args.quick else (1000, 10_000)
    config = prepare(f"/tmp/bench-camera-history-{cameras}x{cycles}", cameras, cycles)
    figures = {**_in_process(config, args.runs), "clip_mb": _clip_memory()}
    labels = {"overview_ms": ("overview server time", "ms"),
              "overview_kb": ("overview page, gzip", "KB"),
              "live_ms": ("live update server time (25 changed)", "ms"),
              "live_kb": ("live update, gzip", "KB"),
              "clip_mb": ("20 MB clip by Range: worker RSS above idle", "MB")}
    rows = [Row(f"{labels[key][0]} ({cameras} cameras)", value, None, labels[key][1],
                f"≤ {TARGETS[key]:g} {labels[key][1]}", value <= TARGETS[key])
            for key, value in figures.items()]
    print_table(rows)
    save("console", rows)
    return rows


if __name__ == "__main__":
    main()
