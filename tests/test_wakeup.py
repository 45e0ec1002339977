"""next_wakeup: when the recorder's loop wakes, and whether it reads ffmpeg's pipes then."""
from __future__ import annotations

import os

import pytest

from recorder.pipe_watcher import PipeWatcher
from recorder.stop_signal import StopSignal
from recorder.wakeup import IDLE_TICK_SECONDS, TICK_SECONDS, Wakeup, next_wakeup, tick_seconds

INF = float("inf")


def test_with_no_pipes_the_loop_sleeps_until_the_step_or_the_next_start() -> None:
    assert next_wakeup(10.0, 10.2, INF, 0.0, 0.2, watching=False) == Wakeup(10.2, False, 10.2)
    assert next_wakeup(10.0, 10.2, 10.05, 0.0, 0.2, watching=False) == Wakeup(10.05, False, 10.05)


def test_within_a_read_batch_the_pipes_are_left_to_fill() -> None:
    wake = next_wakeup(10.0, 10.3, INF, last_read=9.9, read_batch=0.2, watching=True)
    assert wake == Wakeup(at=10.1, read_pipes=False, step_at=10.3)
    assert wake.timeout(10.0) == pytest.approx(0.1)


def test_a_start_due_inside_the_batch_is_not_delayed_by_it() -> None:
    wake = next_wakeup(10.0, 10.3, 10.02, last_read=9.9, read_batch=0.2, watching=True)
    assert wake == Wakeup(at=10.02, read_pipes=False, step_at=10.02)


def test_after_the_batch_the_pipes_are_read_until_the_step_is_due() -> None:
    wake = next_wakeup(10.0, 10.2, INF, last_read=9.7, read_batch=0.2, watching=True)
    assert wake == Wakeup(at=10.2, read_pipes=True, step_at=10.2)


def test_an_overdue_step_waits_not_at_all() -> None:
    assert next_wakeup(10.0, 9.5, INF, 9.0, 0.2, watching=True).timeout(10.0) == 0.0


@pytest.mark.parametrize("running, tick", [(True, TICK_SECONDS), (False, IDLE_TICK_SECONDS)])
def test_the_tick_is_finer_during_a_cycle(running: bool, tick: float) -> None:
    assert tick_seconds(running) == tick


def test_a_set_stop_signal_ends_every_wait_at_once() -> None:
    stop, watcher = StopSignal(), PipeWatcher()
    read_end, write_end = os.pipe()
    try:
        watcher.watch_stop(stop)
        assert watcher.watching == 0  # the signal is not an ffmpeg pipe
        assert watcher.wait(0.0, read_pipes=False) is False
        stop.set()
        stop.set()  # idempotent
        assert stop.is_set()
        assert watcher.wait(30.0, read_pipes=False) is True
        assert watcher.wait(30.0, read_pipes=True) is True
        watcher.unwatch_stop()
        assert watcher.wait(0.0) is False
    finally:
        stop.close()
        os.close(read_end)
        os.close(write_end)


def test_pipes_are_not_read_in_a_batching_wait() -> None:
    stop, watcher = StopSignal(), PipeWatcher()
    read_end, write_end = os.pipe()
    reads = []

    class Reader:
        def on_readable(self, pipe) -> bool:
            reads.append(os.read(pipe, 100))
            return True

    try:
        watcher.watch_stop(stop)
        watcher.watch(read_end, Reader())
        os.write(write_end, b"progress")
        assert watcher.wait(0.0, read_pipes=False) is False and reads == []
        assert watcher.wait(0.0, read_pipes=True) is False and reads == [b"progress"]
    finally:
        stop.close()
        os.close(read_end)
        os.close(write_end)
