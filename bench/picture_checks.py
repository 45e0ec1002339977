"""The picture checks' cost: a cycle of N streams recorded with the checks on vs. off, same run.

Each cycle is the recorder's own Recording objects driving real ffmpeg processes
on the test camera's 720p 1 Mb/s streams (1 s and 4 s between keyframes), all N
at once. Each round runs three cycles in turns, off, on, off again, so that the
machine's load drifts evenly and the two off cycles show the noise. Figures (the
off side: the mean of its two cycles):
- the total CPU of the ffmpeg processes (target: on <= 1.25 x off);
- the recorder's own CPU (this process: reading and parsing ffmpeg's output,
  judging), with the daemon's wait (recorder/loop.py: ffmpeg's pipes read in
  batches of READ_BATCH_SECONDS, every task's tick each TICK_SECONDS or when a
  process ends); target: unchanged within noise, that is on / off no larger than
  the larger / the smaller of the two off sides of the same run (their spread);
- how long after ffmpeg's exit each verdict is in (target: <= 1 s, the worst one;
  the exit is seen by the poll of a step, so within a tick of it).
"""
from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import tempfile
import time

from bench.common import Row, print_table, save
from recorder.pipe_watcher import PipeWatcher
from recorder.planner import PlannedTask
from recorder.processes import ProcessRunner
from recorder.recording import Recording
from recorder.wakeup import READ_BATCH_SECONDS, TICK_SECONDS, next_wakeup
from shared.global_settings import GlobalSettings
from testkit.cameras import CameraServer

MAX_RATIO = 1.25
MAX_VERDICT_SECONDS = 1.0
# The cycles of a round, in this order: checks off, on, off again (its own side, "off2").
SIDES = (("off", False), ("on", True), ("off2", False))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cycle(urls: list[str], folder: str, duration: int, quality: dict) -> dict:
    """Record every URL at once; ffmpeg CPU, recorder CPU, the verdicts' delays after exit."""
    settings = GlobalSettings.from_config({"read_timeout_seconds": 10, "quality": quality})
    watcher, runner = PipeWatcher(), ProcessRunner()
    tasks = [Recording(PlannedTask(i, i, 0.0, duration), {
        "rtsp_url": url, "output_filename": f"s{i}.mp4", "duration_seconds": duration},
        folder, "./output/bench", settings, runner, None, watcher,
        references_dir=os.path.join(folder, "references")) for i, url in enumerate(urls)]
    children, own = _children_cpu(), time.process_time()
    for task in tasks:
        task.start(time.monotonic(), time.time())
    exited: dict[int, float] = {}
    delays: list[float] = []
    next_step = last_read = time.monotonic()
    while len(delays) < len(tasks):
        # The daemon's own wait (recorder/loop.py): pipes read in batches, a step each tick.
        now = time.monotonic()
        wake = next_wakeup(now, next_step, math.inf, last_read, READ_BATCH_SECONDS, True)
        ended = watcher.wait(wake.timeout(now), read_pipes=wake.read_pipes)
        now = time.monotonic()
        last_read = now if wake.read_pipes else last_read
        if ended or now >= wake.step_at:
            next_step = now + TICK_SECONDS
            _step(tasks, exited, delays)
    result = {"ffmpeg": _children_cpu() - children, "recorder": time.process_time() - own,
              "verdict_delay": max(delays), "ok": sum(not t.quality["issues"] for t in tasks)}
    for name in os.listdir(folder):
        if not os.path.isdir(os.path.join(folder, name)):
            os.unlink(os.path.join(folder, name))
    return result


def _step(tasks: list[Recording], exited: dict[int, float], delays: list[float]) -> None:
    """Every unfinished task's tick; when ffmpeg exited (seen by a poll) and the verdict's delay."""
    for index, task in enumerate(tasks):
        if task.finished:
            continue
        if index not in exited and task.proc.poll() is not None:
            exited[index] = time.monotonic()
        task.tick(time.monotonic(), time.time())
        if task.finished:
            delays.append(time.monotonic() - exited.get(index, time.monotonic()))


def measure(camera: CameraServer, streams: int, keyframe_seconds: int, duration: int,
            rounds: int, quality: dict, warm_up: bool = False) -> dict:
    """Sums over ``rounds`` of each side, run in turns; ``warm_up``: after an uncounted cycle
    with the checks on, so that every camera's reference is taken and decoded already, as in
    a daemon's steady state (without it the first "on" cycle takes the references and the
    second decodes them: bench/recorder_replay.py --reference)."""
    urls = [camera.url(f"hd{keyframe_seconds}s/{i + 1}") for i in range(streams)]
    totals = {side: {"ffmpeg": 0.0, "recorder": 0.0, "verdict_delay": 0.0, "ok": 0}
              for side, _ in SIDES}
    folder = tempfile.mkdtemp(prefix="bench-picture-")
    try:
        if warm_up:
            run_cycle(urls, folder, duration, {**quality, "enabled": True})
        for _ in range(rounds):
            for side, enabled in SIDES:
                figures = run_cycle(urls, folder, duration, {**quality, "enabled": enabled})
                for key, value in figures.items():
                    totals[side][key] = (max(totals[side][key], value) if key == "verdict_delay"
                                         else totals[side][key] + value)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return totals


def rows_of(streams: int, keyframe_seconds: int, totals: dict) -> list[Row]:
    """The result rows of one case (the off side: the mean of its two cycles)."""
    on, first, second = totals["on"], totals["off"], totals["off2"]
    off = {key: (first[key] + second[key]) / 2 for key in ("ffmpeg", "recorder")}
    spread = max(first["recorder"], second["recorder"]) / min(first["recorder"],
                                                              second["recorder"])
    case = f"{streams} streams, 720p 1 Mb/s, keyframe every {keyframe_seconds} s"
    return [
        Row(f"picture checks: ffmpeg CPU, checks on vs. off, {case}", on["ffmpeg"],
            off["ffmpeg"], "s", f"<= {MAX_RATIO}x", on["ffmpeg"] <= MAX_RATIO * off["ffmpeg"]),
        Row(f"picture checks: recorder's own CPU, off vs. off again (the noise), {case}",
            second["recorder"], first["recorder"], "s", "- (the noise)", True),
        Row(f"picture checks: recorder's own CPU, on vs. off, {case}", on["recorder"],
            off["recorder"], "s", f"<= {spread:.2f}x (the off/off spread)",
            on["recorder"] <= spread * off["recorder"]),
        Row(f"picture checks: verdict after ffmpeg's exit, worst, {case}",
            on["verdict_delay"], max(first["verdict_delay"], second["verdict_delay"]), "s",
            f"<= {MAX_VERDICT_SECONDS} s", on["verdict_delay"] <= MAX_VERDICT_SECONDS),
    ]


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the picture-checks benchmark; the rows of the result table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="16 streams, 8 s clips, 1 round")
    parser.add_argument("--streams", type=int, nargs="*", help="cycle sizes (default 16 64 128)")
    parser.add_argument("--duration", type=int, help="clip seconds (default 15)")
    parser.add_argument("--rounds", type=int, help="rounds of each side (default 2)")
    parser.add_argument("--keyframes", type=int, nargs="*", choices=(1, 4), default=[1, 4],
                        help="seconds between the camera's keyframes (default 1 4)")
    parser.add_argument("--sample-seconds", type=float,
                        help="global_config.quality.sample_seconds (default: its default)")
    parser.add_argument("--warm-up", action="store_true",
                        help="an uncounted checks-on cycle first: the references taken and "
                             "decoded (the steady state)")
    args = parser.parse_args(argv)
    sizes = args.streams or ([16] if args.quick else [16, 64, 128])
    duration = args.duration or (8 if args.quick else 15)
    rounds = args.rounds or (1 if args.quick else 2)
    rows, raw = [], {}
    quality = {} if args.sample_seconds is None else {"sample_seconds": args.sample_seconds}
    with CameraServer(mount_count=max(sizes)) as camera:
        for streams in sizes:
            for keyframe_seconds in args.keyframes:
                totals = measure(camera, streams, keyframe_seconds, duration, rounds, quality,
                                 args.warm_up)
                raw[f"{streams}x{keyframe_seconds}s"] = totals
                rows += rows_of(streams, keyframe_seconds, totals)
                print_table(rows[-4:])
    save("picture_checks", rows, {"duration": duration, "rounds": rounds, "quality": quality,
                                  "warm_up": args.warm_up, "raw": raw})
    return rows


if __name__ == "__main__":
    main()
