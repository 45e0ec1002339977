"""The cycle planner on 10,000 streams: how much of the slots' capacity it plans, and how fast.

Plan size: the tasks planned vs. the lane capacity (slots x the clips of one
length that fit the window back to back), for the case of issue 11 (16 slots,
a 120 s window, 10 s clips) and a bigger one. Planning time: the median of
several plans of 10,000 streams vs. planning 1,000 (so the ratio shows how it
scales: 10 is linear) and vs. a bare sort of the 10,000 streams by weight (the
least any planner does), both measured in the same run, in this process, with
the garbage collector paused while timing.
"""
from __future__ import annotations

import argparse
import gc

from bench.common import Row, median_seconds, print_table, save
from recorder.planner import plan_cycle

STREAMS = 10_000
SMALL = 1_000
CLIP_SECONDS = 10
# (slots, window in seconds): issue 11's case and a bigger one.
CASES = ((16, 120), (64, 600))
# Spreading the starts may cost a lane one clip; the plan must keep 90 % of the lanes.
MIN_SHARE_OF_CAPACITY = 0.9
# Planning is a sort and one pass over the streams per gap tried: 10x the streams
# take about 11-14x the time (a sort alone 13x); a quadratic planner would take 100x.
MAX_SCALING = 20.0


def streams(count: int) -> list[dict]:
    """``count`` streams of CLIP_SECONDS, weights in a few levels (ties keep config order)."""
    return [{"weight": 1.0 + (i % 3) / 2, "duration_seconds": CLIP_SECONDS} for i in range(count)]


def bare_sort(config: list[dict]) -> list[int]:
    """The weight order alone: what any planner has to do at least."""
    return sorted(range(len(config)), key=lambda i: -config[i]["weight"])


def size_rows() -> list[Row]:
    """Tasks planned vs. the lane capacity, per case."""
    rows = []
    for slots, window in CASES:
        planned = len(plan_cycle(streams(STREAMS), window, slots).tasks)
        capacity = slots * (window // CLIP_SECONDS)
        rows.append(Row(f"planner: tasks planned of {STREAMS:,} streams x {CLIP_SECONDS} s, "
                        f"{slots} slots, {window} s window, vs. lane capacity", planned,
                        capacity, "tasks", f">= {MIN_SHARE_OF_CAPACITY:.0%} of capacity",
                        planned >= MIN_SHARE_OF_CAPACITY * capacity))
    return rows


def time_rows(runs: int) -> list[Row]:
    """Median planning time of 10,000 streams vs. 1,000 and vs. a bare sort."""
    slots, window = CASES[0]
    big, small = streams(STREAMS), streams(SMALL)
    # As timeit does: a collection set off by earlier allocations would land on
    # whichever run it happens to and weigh on one side of the ratio only.
    gc.collect()
    gc.disable()
    try:
        ours = median_seconds(lambda: plan_cycle(big, window, slots), runs)
        smaller = median_seconds(lambda: plan_cycle(small, window, slots), runs)
        sort = median_seconds(lambda: bare_sort(big), runs)
    finally:
        gc.enable()
    return [
        Row(f"planner: time to plan {STREAMS:,} streams vs. {SMALL:,}, median of {runs}",
            ours, smaller, "s", f"<= {MAX_SCALING:g}x (about linear)",
            ours <= MAX_SCALING * smaller),
        Row(f"planner: time to plan {STREAMS:,} streams vs. sorting them by weight",
            ours, sort, "s", "(informative)", True),
    ]


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the planner benchmark; the rows of the result table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="7 timed runs instead of 21")
    parser.add_argument("--runs", type=int, help="timed runs per figure (default 21, quick 7)")
    args = parser.parse_args(argv)
    runs = args.runs or (7 if args.quick else 21)
    rows = size_rows() + time_rows(runs)
    print_table(rows)
    save("planner", rows, {"streams": STREAMS, "runs": runs})
    return rows


if __name__ == "__main__":
    main()
