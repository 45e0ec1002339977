"""History writes of a 1,000-task cycle: CPU of the writer vs. the recorder's own CPU for such a cycle.

The writer runs as in the recorder (recorder/history_writer.py, on its writer thread,
one transaction per second) on a database that already holds earlier cycles of the same cameras;
1,000 outcomes (one per camera, a share failing, some cameras going offline) are
written in the batches a step sees. CPU is ``time.process_time`` (all threads) around
the handovers and their writes, sqlite's own write calls included (WAL, synchronous=NORMAL: no fsync per
commit). With one write a second at most (recorder/history_writer.FLUSH_SECONDS),
the tasks per write are the tasks ending per second: a 1,000-task cycle of 15 s
clips in 64 slots (a 240 s window) ends about 4 a second. The baseline is the recorder's own CPU per task of a cycle measured by
bench/recorder_overhead.py (docs/PERFORMANCE.md: 0.240 s for a 128-stream cycle),
times 1,000.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

from bench.common import Row, percentile, print_table, save
from recorder.finished_task import FinishedTask
from recorder.history_store import HistoryStore
from recorder.history_writer import HistoryWriter
from shared import config as model
from shared import task_status as st
from shared.global_settings import GlobalSettings

TASKS = 1000
# docs/PERFORMANCE.md, "Read batch of 0.2 s": own CPU of one 128-stream cycle.
OWN_CPU_PER_TASK = 0.240 / 128
WALL = 1_760_000_000.0


def _task(camera: int, cycle: int, ended: float) -> FinishedTask:
    failing = camera % 10 == 0 or (camera % 7 == 0 and cycle % 2 == 0)
    return FinishedTask(
        camera=f"cam{camera:04d}", name=f"摄像头 {camera}", url=f"rtsp://127.0.0.1/c{camera}",
        alerts=True, cycle=f"cycle{cycle:05d}", ended=ended,
        status=st.CONNECTION_ERROR if failing else st.COMPLETED,
        error="连接被拒绝" if failing else "", planned_start=ended - 16, started=ended - 15.5,
        connect_seconds=0.3, bytes=0 if failing else 1_500_000, frames=0 if failing else 375,
        clip_seconds=None if failing else 15.0, codec=None if failing else "h264",
        resolution=None if failing else "1920x1080",
        clip=None if failing else f"./output/cycle{cycle:05d}/cam{camera:04d}.mp4")


def _cycle(writer: HistoryWriter, g: GlobalSettings, cycle: int, batch: int,
           pauses: list[float] | None = None) -> float:
    """Write one cycle's outcomes ``batch`` per write (a second apart); the CPU seconds it took.

    ``pauses`` gets the wall time of each handover (how long the loop is held); the
    writer thread's CPU is in ``process_time`` (the process's, all threads).
    """
    start_wall = WALL + cycle * 3600
    cpu = 0.0
    for first in range(0, TASKS, batch):
        wall = start_wall + first
        before, started = time.process_time(), time.perf_counter()
        for camera in range(first, min(TASKS, first + batch)):
            writer.record(_task(camera, cycle, wall))
        writer.flush(g, wall - WALL, wall)
        held = time.perf_counter() - started
        if writer.thread is not None:
            writer.thread.wait()  # a second passes before the next: one write each
        cpu += time.process_time() - before
        if pauses is not None:
            pauses.append(held)
    return cpu


def measure(folder: str, batch: int, earlier: int, rounds: int,
            pauses: list[float]) -> float:
    """Median CPU seconds of one 1,000-task cycle after ``earlier`` cycles."""
    alerts = {"webhooks": [{"url": "http://127.0.0.1:9/hook"}]}
    g = GlobalSettings.from_config(model.validate_global({"alerts": alerts,
                                                          "history_retention_days": 0}))
    path = os.path.join(folder, f"history-{batch}.sqlite3")
    writer = HistoryWriter(HistoryStore(path), background=True)
    for cycle in range(earlier):
        _cycle(writer, g, cycle, 50)
    cpus = sorted(_cycle(writer, g, earlier + r, batch, pauses) for r in range(rounds))
    writer.close()
    return cpus[len(cpus) // 2]


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer earlier cycles and rounds")
    parser.add_argument("--earlier", type=int, default=None, help="cycles already in the database")
    args = parser.parse_args(argv)
    earlier = args.earlier if args.earlier is not None else (5 if args.quick else 50)
    rounds = 3 if args.quick else 7
    baseline = OWN_CPU_PER_TASK * TASKS
    folder = tempfile.mkdtemp(prefix="bench-history-")
    rows = []
    try:
        for batch in (1, 4, 16):
            pauses: list[float] = []
            cpu = measure(folder, batch, earlier, rounds, pauses)
            rows.append(Row(f"history writes of a {TASKS:,}-task cycle, {batch} task(s) per "
                            f"write, {earlier * TASKS:,} rows before, vs. the recorder's own CPU "
                            f"of such a cycle", cpu, baseline, "s", "≤ 0.01", cpu / baseline <= 0.01))
            rows.append(Row(f"same: loop held per handover, p99 / max {max(pauses) * 1000:.1f} ms",
                            percentile(pauses, 0.99) * 1000, None, "ms", "≤ 5 ms (p99)",
                            percentile(pauses, 0.99) <= 0.005))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(rows)
    save("history_writes", rows, {"earlier_cycles": earlier, "rounds": rounds})
    return rows


if __name__ == "__main__":
    main()
