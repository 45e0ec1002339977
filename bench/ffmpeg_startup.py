"""ffmpeg start-up alone: the recorder's library preload vs. none, all at once and spread.

N bare ``ffmpeg -version`` (no RTSP: process start-up only), started all at once
or at the offsets the planner gives N streams, with and without the libraries
the recorder loads first (recorder/ffmpeg_preload.py). Runs take turns in an
order that rotates round by round.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import time

from bench.common import Row, print_table, save
from bench.recorder_overhead import SLACK_SECONDS, children_cpu, rotated, warm_up, window
from recorder.ffmpeg_preload import find_preload
from recorder.planner import plan_cycle


def startups_cpu(count: int, offsets: list[float] | None, preload: tuple[str, ...]) -> float:
    """CPU seconds of ``count`` ``ffmpeg -version``, at once or at ``offsets``."""
    env = {**os.environ, "LD_PRELOAD": " ".join(preload)} if preload else None
    before, start, procs = children_cpu(), time.monotonic(), []
    for i in range(count):
        if offsets:
            time.sleep(max(0.0, start + offsets[i] - time.monotonic()))
        procs.append(subprocess.Popen(["ffmpeg", "-version"], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, env=env))
    for proc in procs:
        proc.wait()
    return children_cpu() - before


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="16 starts, 4 rounds")
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--rounds", type=int, help="default 8 (quick 4): each run in each place "
                        "of the order as often")
    args = parser.parse_args(argv)
    rounds = args.rounds or (4 if args.quick else 8)
    preload = find_preload()
    plan = plan_cycle([{"weight": 1.0, "duration_seconds": 15}] * args.count,
                      window(15, SLACK_SECONDS), args.count)
    offsets = [task.offset for task in plan.tasks]
    kinds = ("plain, at once", "preload, at once", "plain, spread", "preload, spread")
    cpu = {kind: 0.0 for kind in kinds}
    warm_up()
    for turn in range(rounds):
        for kind in rotated(kinds, turn):
            cpu[kind] += startups_cpu(args.count, offsets if "spread" in kind else None,
                                      preload if kind.startswith("preload") else ())
    per_start = {kind: 1000 * total / (rounds * args.count) for kind, total in cpu.items()}
    rows = [Row(f"ffmpeg start-up with the recorder's preload ({len(preload)} libraries), "
                f"{place} ({args.count} starts)", per_start[f"preload, {place}"],
                per_start[f"plain, {place}"], "ms", "(informative)", True)
            for place in ("at once", "spread")]
    rows.append(Row(f"plain ffmpeg start-up, spread vs. at once ({args.count} starts)",
                    per_start["plain, spread"], per_start["plain, at once"], "ms",
                    "(informative)", True))
    print_table(rows)
    save("ffmpeg_startup", rows, {"per_start_ms": per_start, "rounds": rounds,
                                  "preload": list(preload)})
    return rows


if __name__ == "__main__":
    main()
