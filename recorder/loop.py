"""The recorder's loop: one wait (the pipe selector, woken by the stop signal), then one step."""
from __future__ import annotations

import logging
from collections.abc import Callable

from recorder.pipe_watcher import PipeWatcher
from recorder.stop_signal import StopSignal
from recorder.wakeup import ERROR_BACKOFF_SECONDS, cycle_timing, next_wakeup, tick_seconds
from shared.clock import Clock

log = logging.getLogger(__name__)


def run_loop(step: Callable[[float, float], None], watcher: PipeWatcher, stop: StopSignal,
             clock: Clock, running_cycle: Callable[[], object | None]) -> None:
    """Wait as :func:`~recorder.wakeup.next_wakeup` says, then ``step(now, wall)``, until stopped.

    Progress lines wake the wait often; the step (every task's watchdogs, control and
    config) runs only every tick, when a process ends, or when a planned start is due.
    """
    next_step = last_read = clock.monotonic()
    while not stop.is_set():
        now = clock.monotonic()
        next_start, read_batch = cycle_timing(running_cycle(), now)
        wake = next_wakeup(now, next_step, next_start, last_read, read_batch,
                           bool(watcher.watching))
        ended = watcher.wait(wake.timeout(now), read_pipes=wake.read_pipes)
        now = clock.monotonic()
        last_read = now if wake.read_pipes else last_read
        if stop.is_set() or not (ended or now >= wake.step_at):
            continue
        next_step = now + tick_seconds(running_cycle() is not None)
        try:
            step(now, clock.wall())
        except Exception:  # noqa: BLE001 - the daemon must outlive any one bad round
            log.exception("unexpected error in the recorder loop; carrying on")
            next_step = now + ERROR_BACKOFF_SECONDS
