"""The API on a big output tree, served by gunicorn with 4 workers, vs. a bare scandir walk.

The tree holds CYCLES cycle folders of 10 sparse clips each. Latencies are
medians of at least 5 requests over fresh connections; the baseline is a bare
``os.scandir`` + ``stat`` walk of the same tree in this process, same run.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import requests

from bench.common import Row, median_seconds, print_table, rss_mb, save
from shared.atomic import write_json_atomic
from testkit.servers import GunicornServer

CLIPS_PER_CYCLE = 10


def build_tree(root: str, cycles: int) -> None:
    """``cycles`` folders of sparse clips, one minute apart."""
    start = 1_700_000_000
    for c in range(cycles):
        folder = os.path.join(root, time.strftime("%Y%m%d_%H%M%S", time.localtime(start + 60 * c)))
        os.makedirs(folder)
        for i in range(CLIPS_PER_CYCLE):
            with open(os.path.join(folder, f"test_stream{i + 1}.mp4"), "wb") as handle:
                handle.truncate(1_000_000 + i)
        # Old cycles: their folders settled long ago (the listing cache relies on it).
        os.utime(folder, (start + 60 * c, start + 60 * c))


def bare_walk(root: str) -> int:
    """What any listing must at least do: list every folder and stat every file."""
    count = 0
    for cycle in os.scandir(root):
        for entry in os.scandir(cycle.path):
            entry.stat(follow_symlinks=False)
            count += 1
    return count


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 cycles instead of 10,000")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    cycles = 1000 if args.quick else 10_000
    folder = tempfile.mkdtemp(prefix="bench-tree-")
    rows: list[Row] = []
    try:
        root = os.path.join(folder, "output")
        build_tree(root, cycles)
        config = os.path.join(folder, "config.json")
        write_json_atomic(config, {"global_config": {"output_directory": "./output"}, "streams": []})
        with GunicornServer(config, workers=4) as server:
            def get(path: str) -> bytes:
                # A fresh connection each time, so requests spread over the workers.
                response = requests.get(server.url(path), timeout=120,
                                        headers={"Connection": "close"})
                response.raise_for_status()
                return response.content

            cold = {path: median_seconds(lambda: get(path), 1)
                    for path in ("/api/timestamps", "/api/videos")}
            assert len(get("/api/videos").split(b'"filename"')) - 1 == cycles * CLIPS_PER_CYCLE
            bare = median_seconds(lambda: bare_walk(root), args.runs)
            timings = {path: median_seconds(lambda: get(path), args.runs) for path in (
                "/api/timestamps", "/api/videos", "/api/videos?order=newest&limit=100")}
            worker_rss = max(rss_mb(pid) for pid in server.worker_pids())
        full = timings["/api/videos"]
        for path in ("/api/timestamps", "/api/videos"):
            rows.append(Row(f"GET {path} ({cycles} cycles x 10), median", timings[path], bare,
                            "s", "<= 2x bare walk", timings[path] <= 2 * bare))
            rows.append(Row(f"GET {path}, first request of a worker", cold[path], bare, "s",
                            "(informative)", True))
        page = timings["/api/videos?order=newest&limit=100"]
        rows.append(Row("GET /api/videos page of 100 (newest first)", page, full, "s",
                        "<= 5% of full listing", page <= 0.05 * full))
        rows.append(Row("worker RSS after full listings", worker_rss, None, "MB", "< 150 MB",
                        worker_rss < 150))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(rows)
    save("api_tree", rows, {"cycles": cycles})
    return rows


if __name__ == "__main__":
    main()
