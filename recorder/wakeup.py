"""When the recorder's loop wakes next, and what it does then: a pure function of the times.

Progress lines would wake the loop hundreds of times a second with hundreds of
recordings, so ffmpeg's output is read in batches: a wait that comes within a
batch of the last read leaves the pipes unread and only watches the stop signal.
The full step (watchdogs, starts, control and config) runs every tick, when a
process ends, and when a planned start is due.
"""
from __future__ import annotations

from dataclasses import dataclass

# Watchdogs and starts need a fine tick during a cycle; between cycles only the
# control and config files are watched, and start/stop must act within 1 s.
TICK_SECONDS = 0.2
IDLE_TICK_SECONDS = 0.25
# One batch of ffmpeg output per tick: a pipe holds 64 KiB and each ffmpeg writes
# ~300 bytes a second, so the wait loses nothing; an exit is seen at the next
# batch, within a tick, like a watchdog's verdict...
READ_BATCH_SECONDS = TICK_SECONDS
# ...except while a due task waits for a slot: an exit (its pipes closing) starts it.
SLOT_WAIT_READ_SECONDS = 0.05
# After a round that raised, the next one waits this long (the daemon outlives it).
ERROR_BACKOFF_SECONDS = 1.0


@dataclass(frozen=True)
class Wakeup:
    """The next wait: until ``at`` at the latest, reading the pipes or not; a step is due at ``step_at``."""

    at: float
    read_pipes: bool
    step_at: float

    def timeout(self, now: float) -> float:
        """Seconds to wait from ``now``."""
        return max(0.0, self.at - now)


def next_wakeup(now: float, next_step: float, next_start: float, last_read: float,
                read_batch: float, watching: bool) -> Wakeup:
    """The next wait, from the tick's step time, the next planned start and the last read."""
    step_at = min(next_step, next_start)
    batch_ends = last_read + read_batch
    if watching and now < batch_ends:
        return Wakeup(at=min(batch_ends, step_at), read_pipes=False, step_at=step_at)
    return Wakeup(at=step_at, read_pipes=watching, step_at=step_at)


def tick_seconds(cycle_running: bool) -> float:
    """How long after a step the next one is due when nothing else wakes the loop."""
    return TICK_SECONDS if cycle_running else IDLE_TICK_SECONDS


def cycle_timing(cycle, now: float) -> tuple[float, float]:
    """The running cycle's next planned start (inf: none) and the read batch its state calls for."""
    if cycle is None:
        return float("inf"), READ_BATCH_SECONDS
    # Nothing starts a task between steps, so the next start is known here.
    batch = SLOT_WAIT_READ_SECONDS if cycle.waiting_for_slot(now) else READ_BATCH_SECONDS
    return now + cycle.seconds_to_next_start(now), batch
