"""Recorder overhead vs. the physical floor: one cycle of N streams, our daemon vs. plain ffmpeg.

The floor is N ``ffmpeg -rtsp_transport tcp -i URL -t D -c copy out.mp4`` started
by one shell script at the same moment. Both record the same shared-encoder
mounts of the test camera server, in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from recorder.planner import plan_cycle
from bench.common import REPO, Row, percentile, print_table, proc_cpu, rss_mb, save, wait_for
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.status_file import read_status
from testkit.cameras import CameraServer


# The cycle window's slack over the clip length: what the planner spreads the starts
# over (at most 5 s between two starts; see recorder/planner.py).
SLACK_SECONDS = 5


def window(duration: int, slack: int = SLACK_SECONDS) -> int:
    """The cycle window of the benchmark: a little slack for spreading the starts."""
    return duration + slack


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_staggered(commands: list[str], offsets: list[float] | None,
                  timeout: float) -> tuple[float, float]:
    """Run shell ``commands`` in the background from one bash script, all at once or
    each at its offset (seconds); CPU seconds of everything it ran, and wall seconds.
    """
    lines, previous = [], 0.0
    for i, command in enumerate(commands):
        if offsets:
            lines.append(f"sleep {max(0.0, offsets[i] - previous):.3f}")
            previous = offsets[i]
        lines.append(f"{command} &")
    lines.append("wait")
    before, start = children_cpu(), time.monotonic()
    subprocess.run(["bash", "-c", "\n".join(lines)], check=False, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
    return children_cpu() - before, time.monotonic() - start


def run_floor(urls: list[str], duration: int, folder: str, offsets: list[float] | None = None) -> dict:
    """N plain ffmpeg from a shell script, at once or at ``offsets``; CPU of all of them."""
    # The command as written (its default log level and stats included);
    # -timeout (socket I/O, µs) only keeps a stuck test server from hanging the run.
    outputs = [os.path.join(folder, f"floor_{i}.mp4") for i in range(len(urls))]
    cpu, wall = run_staggered(
        [f"ffmpeg -rtsp_transport tcp -timeout 20000000 -i {url} -t {duration} -c copy {out}"
         for url, out in zip(urls, outputs)], offsets, timeout=duration + 120)
    clips = sum(os.path.exists(out) and os.path.getsize(out) > 0 for out in outputs)
    return {"cpu": cpu, "wall": wall, "clips": clips}


KINDS = ("ours", "floor", "spread")


def rotated(kinds: tuple[str, ...], turn: int) -> tuple[str, ...]:
    """``kinds`` starting at position ``turn``: each takes every place in the order in turn."""
    turn %= len(kinds)
    return kinds[turn:] + kinds[:turn]


def warm_up() -> None:
    """Load ffmpeg and its libraries into the page cache before anything is measured.

    On a fresh machine the first run would otherwise pay for reading ~200
    libraries from disk, and that run is always the same one.
    """
    run_staggered(["ffmpeg -version"] * 4, None, timeout=120)


def run_startups(count: int, offsets: list[float] | None = None) -> float:
    """CPU of ``count`` bare ffmpeg start-ups (``ffmpeg -version``), at once or at ``offsets``.

    Shows how much of the floor's advantage over spread starts is process
    start-up alone (dynamic linking of ffmpeg's ~200 libraries), no RTSP involved.
    """
    return run_staggered(["ffmpeg -version"] * count, offsets, timeout=120)[0]


def clip_seconds(path: str) -> float:
    """A clip's duration by ffprobe (0 when it cannot tell)."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                            "-of", "csv=p=0", path], capture_output=True, text=True, check=False)
    try:
        return float(probe.stdout.strip())
    except ValueError:
        return 0.0


def run_daemon(urls: list[str], duration: int, folder: str, slack: int = SLACK_SECONDS,
               ffmpeg_preload: str = "auto", quality: bool = False) -> dict:
    """One cycle of the real daemon on the same URLs.

    The picture checks are off unless ``quality``: the floor is a plain stream copy,
    so like is compared with like; what the checks cost is bench/picture_checks.py's.
    """
    config_path = os.path.join(folder, "config.json")
    write_json_atomic(config_path, {
        "global_config": {"total_poll_duration_seconds": window(duration, slack),
                          "max_concurrent_streams": len(urls), "output_directory": "./output",
                          "connection_timeout_seconds": 10, "read_timeout_seconds": 10,
                          "poll_cycles": 1, "cycle_interval_seconds": 0,
                          "quality": {"enabled": quality}},
        "streams": [{"rtsp_url": u, "duration_seconds": duration,
                     "output_filename": f"s{i}.mp4"} for i, u in enumerate(urls)]})
    state = os.path.join(folder, ".patrol-state")
    os.makedirs(state, exist_ok=True)
    write_json_atomic(os.path.join(state, "control.json"),
                      {"version": 1, "scheduler_running": True, "start_generation": 1,
                       "reload_generation": 0})
    status_path = os.path.join(state, "status.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTSP_PATROL_")}
    proc = subprocess.Popen([sys.executable, "-m", "recorder", "--config", config_path,
                             "--log-level", "WARNING", "--ffmpeg-preload", ffmpeg_preload],
                            cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: read_status(status_path)["cycle"]["running"], 30, "the cycle to start")
        cpu_start, wall_start = proc_cpu(proc.pid), time.monotonic()
        peak_rss = rss_mb(proc.pid)
        while not read_status(status_path)["end_time"]:
            peak_rss = max(peak_rss, rss_mb(proc.pid))
            time.sleep(0.2)
            if time.monotonic() - wall_start > duration + 120:
                raise TimeoutError("the cycle did not end")
        cpu_end, wall = proc_cpu(proc.pid), time.monotonic() - wall_start
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    status = read_status(status_path)
    tasks = status["tasks"]
    outcomes: dict[str, int] = {}
    for task in tasks:
        key = f"{task['status']} {task['error_message'][:60]}".strip()
        outcomes[key] = outcomes.get(key, 0) + 1
    # The clip's own length, as a player sees it (not the progress ffmpeg reported).
    lengths = [clip_seconds(os.path.join(folder, t["output_file"])) for t in tasks
               if t["status"] == st.COMPLETED]
    lateness = [abs(t["start_offset"] - t["planned_offset"]) for t in tasks
                if t.get("start_offset") is not None]
    # Over the cycle only, like the daemon's own CPU: what it ran before (its
    # one-off start-up check of ffmpeg's library order) is reported apart.
    return {"own_cpu": cpu_end.own - cpu_start.own,
            "children_cpu": cpu_end.children - cpu_start.children,
            "startup_cpu": cpu_start.own + cpu_start.children,
            "wall": wall, "rss_mb": peak_rss,
            "completed": sum(t["status"] == st.COMPLETED for t in tasks),
            "within_1s": sum(abs(d - duration) <= 1 for d in lengths),
            "clip_seconds": [min(lengths, default=0), max(lengths, default=0)],
            "start_p95_ms": 1000 * percentile(lateness, 0.95), "tasks": len(tasks),
            "outcomes": outcomes}


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="16 streams, 5 s clips, one round")
    parser.add_argument("--sizes", type=int, nargs="*")
    parser.add_argument("--duration", type=int)
    parser.add_argument("--rounds", type=int,
                        help="rounds of the three runs per size (default 3; quick 1)")
    parser.add_argument("--slack", type=int, default=SLACK_SECONDS,
                        help="window minus clip length, the time starts are spread over (default 5)")
    parser.add_argument("--ffmpeg-preload", choices=("auto", "off"), default="auto",
                        help="the recorder's --ffmpeg-preload (default auto, as in production)")
    parser.add_argument("--quality", choices=("on", "off"), default="off",
                        help="the picture checks (default off: the floor copies only; "
                             "their cost is bench picture_checks)")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([16] if args.quick else [16, 64, 128])
    duration = args.duration or (5 if args.quick else 15)
    rounds = args.rounds or (1 if args.quick else 3)
    rows: list[Row] = []
    raw = {}
    warm_up()
    for n in sizes:
        # The three runs take turns, and the order turns round by round (a Latin
        # square over three rounds), so that neither drift in the machine's load
        # (it is shared) nor a run's place in the round weighs on one side only;
        # CPU figures are averaged. Each run gets a fresh camera server:
        # GStreamer's server can take many seconds to settle after a hundred
        # clients leave at once.
        floors, spread_floors, runs = [], [], []
        plan = plan_cycle([{"weight": 1.0, "duration_seconds": duration}] * n,
                          window(duration, args.slack), n)
        offsets = [task.offset for task in plan.tasks]
        for round_number in range(rounds):
            for kind in rotated(KINDS, round_number):
                folder = tempfile.mkdtemp(prefix=f"bench-overhead-{n}-")
                try:
                    with CameraServer(mount_count=n) as camera:
                        urls = [camera.url(f"bench{i + 1}") for i in range(n)]
                        if kind == "floor":
                            floors.append(run_floor(urls, duration, folder))
                        elif kind == "spread":
                            spread_floors.append(run_floor(urls, duration, folder, offsets))
                        else:
                            runs.append(run_daemon(urls, duration, folder, args.slack,
                                                   args.ffmpeg_preload, args.quality == "on"))
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
        startups = {"once": 0.0, "spread": 0.0}
        startup_rounds = rounds + rounds % 2  # each first as often as the other
        for round_number in range(startup_rounds):
            for kind in rotated(("once", "spread"), round_number):
                cpu = run_startups(n, offsets if kind == "spread" else None)
                startups[kind] += cpu / startup_rounds
        startup_once, startup_spread = startups["once"], startups["spread"]
        floor = {"cpu": sum(f["cpu"] for f in floors) / rounds}
        spread = sum(f["cpu"] for f in spread_floors) / rounds
        ours = {key: sum(r[key] for r in runs) / rounds
                for key in ("own_cpu", "children_cpu", "wall", "start_p95_ms", "startup_cpu")}
        ours.update(rss_mb=max(r["rss_mb"] for r in runs),
                    clip_min=min(r["clip_seconds"][0] for r in runs),
                    clip_max=max(r["clip_seconds"][1] for r in runs),
                    completed=min(r["completed"] for r in runs),
                    within_1s=min(r["within_1s"] for r in runs))
        raw[n] = {"floor": floors, "floor_spread": spread_floors, "ours": runs,
                  "startups": {"once": startup_once, "spread": startup_spread}}
        total = ours["own_cpu"] + ours["children_cpu"]
        ours_label = ("daemon + ffmpeg" if args.ffmpeg_preload == "auto"
                      else "daemon + ffmpeg, --ffmpeg-preload off")
        rows.append(Row(f"{n} streams: total CPU ({ours_label})", total, floor["cpu"], "s",
                        "ratio <= 1.10", total <= 1.10 * floor["cpu"]))
        rows.append(Row(f"{n} streams: total CPU vs. floor started at our planned offsets", total,
                        spread, "s", "(informative)", True))
        rows.append(Row(f"{n} streams: ffmpeg start-ups alone, at our offsets vs. at once",
                        startup_spread, startup_once, "s", "(informative)", True))
        rows.append(Row(f"{n} streams: daemon start-up before the cycle (once per start)",
                        ours["startup_cpu"], None, "s", "(informative)", True))
        own_pct = 100 * ours["own_cpu"] / ours["wall"]
        rows.append(Row(f"{n} streams: daemon's own CPU", own_pct, None, "% core",
                        "<= 2% (at 128)", own_pct <= 2.0))
        rows.append(Row(f"{n} streams: daemon RSS", ours["rss_mb"], None, "MB", "<= 80 MB",
                        ours["rss_mb"] <= 80))
        rows.append(Row(f"{n} streams: shortest clip (ffprobe), requested {duration} s",
                        ours["clip_min"], None, "s", "(informative)", True))
        rows.append(Row(f"{n} streams: longest clip (ffprobe), requested {duration} s",
                        ours["clip_max"], None, "s", "(informative)", True))
        rows.append(Row(f"{n} streams: clips 已完成 within 1 s", ours["within_1s"],
                        float(n), "clips", "all", ours["within_1s"] == n == ours["completed"]))
        rows.append(Row(f"{n} streams: start lateness p95", ours["start_p95_ms"], None, "ms",
                        "<= 100 ms", ours["start_p95_ms"] <= 100))
    print_table(rows)
    name = ("recorder_overhead" + ("" if args.slack == SLACK_SECONDS else f"_slack{args.slack}")
            + ("" if args.ffmpeg_preload == "auto" else "_no_preload"))
    save(name, rows, {"raw": raw, "duration": duration, "slack": args.slack,
                      "ffmpeg_preload": args.ffmpeg_preload})
    print(json.dumps(raw, indent=1))
    return rows


if __name__ == "__main__":
    main()
