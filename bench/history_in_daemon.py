"""History writes inside the daemon: their CPU in one 1,000-task cycle vs. the daemon's own.

The daemon (recorder/daemon.py) runs one cycle of 1,000 streams × 15 s in 64 slots
on a virtual clock (a step every 0.2 s, as the loop ticks), with tests/fake_runner's
processes in place of ffmpeg: each writes a progress block every second and exits
at its length, so the daemon reads pipes, classifies, publishes the status file and
writes reports for real. The loop thread's CPU (``time.thread_time``) is summed inside
the two places the history costs the loop (the verdict hook, which builds the record,
and the step's handover), the writer thread's CPU (recorder/history_thread.py) is added
whole, ``time.process_time`` is taken for the whole cycle; the ratio is the history's
CPU over the rest. The wall time of each step's handover is how long the loop is held.
(Two whole runs with and without the history differ by more than the history costs:
±0.4 s of 4 s on this shared machine.) Spawning real ffmpeg (0.16 ms a start,
docs/PERFORMANCE.md) is left out, so the daemon's real CPU is a little larger.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

from bench.common import Row, percentile, print_table, save
from recorder import history_feed, history_writer
from recorder.daemon import Daemon
from shared import settings
from shared.atomic import write_json_atomic
from shared.control_file import request_start
from shared.history_schema import connect_writer, history_path
from shared.status_file import empty_status
from testkit.fake_runner import FakeRunner, progress_block

WALL = 1_760_000_000.0
TICK = 0.2


def _timed(function, spent: list[float], held: list[float] | None = None):
    """``function``, adding the CPU seconds of each call to ``spent[0]`` (its wall time to ``held``)."""
    def timed(*args, **kwargs):
        before, started = time.thread_time(), time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[0] += time.thread_time() - before  # the loop's own: the writer's counted apart
            if held is not None and not kwargs.get("force"):  # not the shutdown's last write
                held.append(time.perf_counter() - started)
    return timed


def _config(folder: str, streams: int, slots: int) -> str:
    path = os.path.join(folder, "config.json")
    write_json_atomic(path, {"global_config": {
        "total_poll_duration_seconds": streams * 15 // slots + 60, "poll_cycles": 1,
        "max_concurrent_streams": slots, "cycle_interval_seconds": 0, "min_free_space_mb": 0,
        "alerts": {"webhooks": [{"url": "http://127.0.0.1:9/hook"}]}},
        "streams": [{"rtsp_url": f"rtsp://127.0.0.1:5/cam{i}", "duration_seconds": 15,
                     "output_filename": f"cam{i:04d}.mp4"} for i in range(streams)]})
    request_start(settings.control_path(path), empty_status())
    return path


def _drive(processes: list, born: dict, now: float) -> None:
    """What each fake ffmpeg says by ``now``: a progress block a second, its exit at 15 s."""
    for process in processes:
        if process.returncode is not None:
            continue
        age = now - born.setdefault(process.pid, now)
        seconds = min(15.0, int(age))
        if seconds > born.get(("said", process.pid), 0):
            born[("said", process.pid)] = seconds
            process.write(stdout=progress_block(int(seconds * 25), seconds, end=seconds >= 15))
        if age >= 15.2:
            process.exit(0)


def drive_cycle(daemon: Daemon, runner: FakeRunner) -> float:
    """Step ``daemon`` on the virtual clock, a tick each TICK, until its first cycle is done
    (the fake ffmpeg driven by :func:`_drive`); the process's CPU seconds meanwhile."""
    now, born = 1.0, {}
    before = time.process_time()
    while daemon.state.cycles_done < 1 and now < 20_000:
        _drive([p for p in runner.processes if p.returncode is None], born, now)
        daemon.watcher.dispatch(0)
        daemon.step(now, WALL + now)
        now += TICK
    return time.process_time() - before


def _daemon(config: str, runner: FakeRunner, on_loop: bool) -> Daemon:
    """The daemon; ``on_loop``: its history written on the loop (no writer thread)."""
    if not on_loop:
        return Daemon(config, runner=runner, free_space=lambda _path: None)
    threaded = history_feed.HistoryWriter
    history_feed.HistoryWriter = lambda store, background=False: threaded(store, False)
    try:
        return Daemon(config, runner=runner, free_space=lambda _path: None)
    finally:
        history_feed.HistoryWriter = threaded


def one_cycle(streams: int, slots: int, held: list[float],
              on_loop: bool = False) -> tuple[float, float]:
    """CPU seconds of the daemon for one cycle, and of its history writes in it."""
    folder = tempfile.mkdtemp(prefix="bench-daemon-history-")
    runner = FakeRunner(work_file=b"x", run_returncode=0)
    spent = [0.0]
    try:
        config = _config(folder, streams, slots)
        connect_writer(history_path(config)).close()  # made once per installation, not per cycle
        daemon = _daemon(config, runner, on_loop)
        feed = daemon.history  # bound before the cycle attaches its verdict hook
        feed._record = _timed(feed._record, spent)
        feed.step = _timed(feed.step, spent, held)
        total = drive_cycle(daemon, runner)
        daemon.shutdown()
        thread = feed.writer.thread  # the writes' own thread: all its CPU is the history's
        return total, spent[0] + (thread.cpu_seconds if thread else 0.0)
    finally:
        runner.close()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200 streams, one round")
    parser.add_argument("--on-loop", action="store_true",
                        help="write the history on the loop, not on the writer thread")
    parser.add_argument("--outcome-flush", type=float, metavar="SECONDS",
                        help="history_writer.OUTCOME_FLUSH_SECONDS for this run (what it trades)")
    args = parser.parse_args(argv)
    if args.outcome_flush is not None:
        history_writer.OUTCOME_FLUSH_SECONDS = args.outcome_flush
    streams, rounds = (200, 1) if args.quick else (1000, 3)
    held: list[float] = []
    runs = [one_cycle(streams, 64, held, args.on_loop) for _ in range(rounds)]
    history = sum(h for _, h in runs) / rounds
    rest = sum(total - h for total, h in runs) / rounds
    where = (f"{'on the loop' if args.on_loop else 'on the writer thread'}, outcomes every "
             f"{history_writer.OUTCOME_FLUSH_SECONDS:g} s,")
    rows = [Row(f"history writes {where} in one {streams:,}-task cycle (64 slots, fake ffmpeg) vs. the "
                f"rest of the daemon's own CPU", history, rest, "s", "≤ 0.01",
                history / rest <= 0.01),
            Row(f"same: loop held by the history per step, p99 / max {max(held) * 1000:.1f} ms",
                percentile(held, 0.99) * 1000, None, "ms", "≤ 5 ms (p99)",
                percentile(held, 0.99) <= 0.005)]
    print_table(rows)
    save("history_in_daemon", rows, {"runs": runs})
    return rows


if __name__ == "__main__":
    main()
