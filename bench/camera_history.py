"""Camera history at scale: 1,000 cameras × 10,000 cycles (10 M outcome rows) and the readers.

Generates the database once (reused between runs: ``--folder``) the way the writer
fills it (outcomes, ``cameras`` rows, hourly/daily buckets, some outbox rows), one
cycle every 5 minutes up to now, then measures the server time of ``GET /api/cameras``
(all 1,000), one camera's 30-day history page and ``GET /metrics``: in-process through
Flask's test client (median of ``--runs``) and through gunicorn with 4 workers.
"""
from __future__ import annotations

import argparse
import os
import random
import sqlite3
import time
from datetime import datetime

import requests

from bench.common import Row, median_seconds, print_table, save
from recorder.history_outcomes import stored_quality
from shared.atomic import write_json_atomic
from shared.history_schema import connect_writer, history_path
from shared.task_status import COMPLETED, CONNECTION_ERROR, TIMEOUT
from testkit.history_rows import OUTCOME_SQL, local_day, local_hour
from testkit.servers import GunicornServer

CYCLE_SECONDS = 300
TARGETS_MS = {"cameras": 50.0, "history": 20.0, "metrics": 100.0}
# The schema's indexes on outcomes: dropped while filling, made again (same SQL) after.
_INDEXES = ("CREATE INDEX outcomes_by_camera ON outcomes (camera, ended)",
            "CREATE INDEX outcomes_by_time ON outcomes (ended)")


def _config(cameras: int) -> dict:
    return {"global_config": {"output_directory": "./output"},
            "streams": [{"rtsp_url": f"rtsp://admin:pw{n}@10.0.{n // 250}.{n % 250 + 1}:554/ch1",
                         "duration_seconds": 10, "output_filename": f"cam{n:04d}.mp4"}
                        for n in range(cameras)]}


class _Camera:
    """The writer's running state of one camera (its ``cameras`` row) and open buckets."""

    def __init__(self, failure_rate: float) -> None:
        self.failure_rate = failure_rate
        self.row = dict(last_status=None, last_error="", last_ended=None, last_ok_at=None,
                        consecutive_failures=0, failing_since=None, offline_since=None,
                        last_clip=None)
        self.buckets = {"hourly": [None, 0, 0], "daily": [None, 0, 0]}


def _failure_rate(rng: random.Random) -> float:
    roll = rng.random()
    return 0.9 if roll < 0.02 else 0.2 if roll < 0.10 else 0.01


def _quality(rng: random.Random) -> str:
    """A checked, healthy clip's quality as the writer stores it (recorder/history_outcomes.py),
    from every measure with its value and threshold, as bench/quality_scenes.py measured them."""
    values = {"black": (0.0, 0.5), "frozen": (round(rng.random() * 0.1, 3), 0.5),
              "blurred": (round(3.8 + rng.random() * 1.7, 3), 6.5),
              "too_dark": (round(60 + rng.random() * 100, 3), 25.0),
              "too_bright": (round(60 + rng.random() * 100, 3), 215.0),
              "colour_cast": (round(rng.random() * 18, 3), 24.0),
              "low_fps": (round(24.5 + rng.random(), 3), 17.5),
              "low_bitrate": (round(900 + rng.random() * 300, 3), 32.0),
              "scene_changed": (round(0.6 + rng.random() * 0.3, 3), 0.2)}
    measures = {"keyframes": {"value": 15}}
    measures.update({k: {"value": v, "threshold": t} for k, (v, t) in values.items()})
    return stored_quality({"checked": True, "issues": [], "measures": measures})


def _outcome(cam_id: str, cam: _Camera, cycle: str, ended: float, rng: random.Random) -> tuple:
    ok = rng.random() >= cam.failure_rate
    status = COMPLETED if ok else rng.choice((CONNECTION_ERROR, TIMEOUT))
    row = cam.row
    row.update(last_status=status, last_ended=ended, last_error="" if ok else "Connection refused")
    if ok:
        clip = f"./output/{cycle}/{cam_id}.mp4"
        row.update(last_ok_at=ended, consecutive_failures=0, failing_since=None,
                   offline_since=None, last_clip=clip)
        return (cam_id, cycle, "cycle", ended - 13, ended - 12.5, ended, status, "", 0.4,
                2_500_000 + rng.randrange(500_000), 250, 10.0, "h264", "1920x1080", clip,
                _quality(rng))
    row["consecutive_failures"] += 1
    row["failing_since"] = row["failing_since"] or ended
    if row["consecutive_failures"] >= 2:
        row["offline_since"] = row["offline_since"] or ended
    return (cam_id, cycle, "cycle", ended - 11, ended - 10.5, ended, status, row["last_error"],
            None, 0, 0, None, None, None, None, None)


def _count(cam_id: str, cam: _Camera, bounds: dict, ended: float, ok: bool, done: list) -> None:
    for table, (start, next_start) in bounds.items():
        bucket = start if ended < next_start else next_start
        open_bucket = cam.buckets[table]
        if open_bucket[0] != bucket:
            if open_bucket[0] is not None:
                done.append((table, (cam_id, *open_bucket)))
            cam.buckets[table] = open_bucket = [bucket, 0, 0]
        open_bucket[1] += 1
        open_bucket[2] += ok


def _flush_buckets(conn: sqlite3.Connection, done: list) -> None:
    for table in ("hourly", "daily"):
        conn.executemany(f"INSERT INTO {table} (camera, bucket, total, ok) VALUES (?, ?, ?, ?)",
                         [values for name, values in done if name == table])
    done.clear()


def _cycle_rows(cams: dict[str, _Camera], start: float, rng: random.Random, done: list):
    cycle = datetime.fromtimestamp(start).strftime("%Y%m%d_%H%M%S")
    hour, day = local_hour(start), local_day(start)
    bounds = {"hourly": (hour, hour + 3600), "daily": (day, local_day(day + 36 * 3600))}
    for n, (cam_id, cam) in enumerate(cams.items()):
        row = _outcome(cam_id, cam, cycle, start + 20 + n % 240, rng)
        _count(cam_id, cam, bounds, row[5], row[6] == COMPLETED, done)
        yield row


def generate(path: str, cameras: int, cycles: int, seed: int = 12) -> None:
    """Fill ``path`` with ``cycles`` cycles of ``cameras`` outcomes, ending about now."""
    rng = random.Random(seed)
    cams = {f"cam{n:04d}": _Camera(_failure_rate(rng)) for n in range(cameras)}
    conn = connect_writer(path)
    conn.execute("PRAGMA journal_mode=OFF")  # a bench fill: no crash safety needed
    for statement in _INDEXES:
        conn.execute(f"DROP INDEX {statement.split()[2]}")
    first = time.time() - cycles * CYCLE_SECONDS
    done: list = []
    for batch in range(0, cycles, 100):
        conn.execute("BEGIN")
        for c in range(batch, min(cycles, batch + 100)):
            conn.executemany(OUTCOME_SQL, _cycle_rows(cams, first + c * CYCLE_SECONDS, rng, done))
        _flush_buckets(conn, done)
        conn.execute("COMMIT")
        print(f"  cycles {min(cycles, batch + 100)}/{cycles}", end="\r", flush=True)
    _finish(conn, cams, first, done)


def _finish(conn: sqlite3.Connection, cams: dict[str, _Camera], first: float, done: list) -> None:
    conn.execute("BEGIN")
    for cam_id, cam in cams.items():
        done += [(table, (cam_id, *values)) for table, values in cam.buckets.items()]
        conn.execute(
            "INSERT INTO cameras (id, name, url, last_status, last_error, last_ended, last_ok_at, "
            "consecutive_failures, failing_since, offline_since, last_clip) VALUES "
            "(?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?)", (cam_id, "rtsp://admin:***@10.0.0.1:554/ch1",
                                                   *cam.row.values()))
    _flush_buckets(conn, done)
    conn.executemany("INSERT INTO outbox (event, created, target, body, attempts, next_attempt, "
                     "delivered) VALUES ('camera.offline', ?, 'webhook http://127.0.0.1:9/', "
                     "'{}', 0, ?, ?)", [(first + n * 60, first + n * 60, None if n % 100 else
                                         first + n * 60 + 1) for n in range(20_000)])
    conn.execute("COMMIT")
    for statement in _INDEXES:
        conn.execute(statement)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def prepare(folder: str, cameras: int, cycles: int) -> str:
    """The config path of ``folder``, generating its database first unless a complete one is there."""
    config = os.path.join(folder, "config.json")
    # v3: completed rows carry a quality object (issue 13), as the recorder writes them now.
    marker = os.path.join(folder, "complete-v3")
    if not os.path.exists(marker):
        os.makedirs(os.path.join(folder, "output"), exist_ok=True)
        write_json_atomic(config, _config(cameras))
        path = history_path(config)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        started = time.monotonic()
        generate(path, cameras, cycles)
        print(f"\n  generated in {time.monotonic() - started:.0f} s")
        open(marker, "w").close()
    return config


def _urls(cameras: int) -> dict[str, str]:
    since = datetime.fromtimestamp(time.time() - 30 * 86400).astimezone().isoformat()
    camera = f"cam{cameras // 2:04d}"
    return {"cameras": "/api/cameras",
            "history": f"/api/cameras/{camera}/history?since={since.replace('+', '%2B')}",
            "metrics": "/metrics"}


def _in_process(config: str, urls: dict[str, str], runs: int) -> dict[str, float]:
    from app import create_app  # noqa: PLC0415 - after the environment is set
    client = create_app({"CONFIG_PATH": config}).test_client()
    timings = {}
    for key, url in urls.items():
        assert client.get(url).status_code == 200, url  # warm: config parse, page cache

        def get(url: str = url) -> None:
            client.get(url).close()

        timings[key] = median_seconds(get, runs) * 1000
    return timings


def _gunicorn(config: str, urls: dict[str, str], runs: int) -> dict[str, float]:
    timings = {}
    with GunicornServer(config, workers=4) as server:
        for key, url in urls.items():
            for _ in range(4):  # every worker warm
                requests.get(server.url(url), timeout=60)

            def get(url: str = url) -> None:
                with requests.Session() as session:
                    session.trust_env = False
                    assert session.get(server.url(url), timeout=60).status_code == 200

            timings[key] = median_seconds(get, runs) * 1000
    return timings


def _plans(path: str, cameras: int) -> list[str]:
    """SQLite's plan of the reads, to show each is index-driven."""
    conn = sqlite3.connect(path)
    queries = {
        "uptime": "SELECT c.id, SUM(b.total), SUM(b.ok) FROM cameras AS c JOIN daily AS b "
                  "ON b.camera = c.id AND b.bucket > 0 GROUP BY c.id",
        "history": "SELECT * FROM outcomes WHERE camera = 'cam0001' AND ended >= 0 "
                   "ORDER BY ended DESC, id DESC LIMIT 100 OFFSET 0",
        "last_clip": "SELECT id FROM outcomes WHERE camera = 'cam0001' AND ended <= 1e12 "
                     "AND status = 4 ORDER BY ended DESC LIMIT 1",
    }
    found = [f"{name}: " + "; ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
             for name, sql in queries.items()]
    conn.close()
    return found


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 cameras × 1,000 cycles")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--folder", help="where the database is made and reused "
                                         "(default /tmp/bench-camera-history-<cameras>x<cycles>)")
    parser.add_argument("--no-gunicorn", action="store_true")
    args = parser.parse_args(argv)
    cameras, cycles = (100, 1000) if args.quick else (1000, 10_000)
    folder = args.folder or f"/tmp/bench-camera-history-{cameras}x{cycles}"
    config = prepare(folder, cameras, cycles)
    path = history_path(config)
    size_mb = sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s)) / 1e6
    urls = _urls(cameras)
    measured = {"in-process": _in_process(config, urls, args.runs)}
    if not args.no_gunicorn:
        measured["gunicorn"] = _gunicorn(config, urls, args.runs)
    rows = [Row(f"{key} ({where}, {cameras} cameras, {cameras * cycles:,} rows)", ms, None, "ms",
                f"≤ {TARGETS_MS[key]:g} ms", ms <= TARGETS_MS[key])
            for where, timings in measured.items() for key, ms in timings.items()]
    rows.append(Row("history database size", size_mb, None, "MB", "written down", True))
    plans = _plans(path, cameras)
    print("\n".join(plans))
    print_table(rows)
    save("camera_history", rows, {"plans": plans, "folder": folder})
    return rows


if __name__ == "__main__":
    main()
