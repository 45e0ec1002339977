"""What the scheduler is doing between cycles: running or not, cycles counted, when the next is due."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from recorder.control_follower import ControlFollower
from recorder.cycle import Cycle
from shared.counts import counted
from shared.timefmt import format_local

log = logging.getLogger(__name__)


@dataclass
class SchedulerState:
    """The scheduler's state as the status file shows it, and the next cycle's due time."""

    running: bool = False
    cycles_done: int = 0  # in this run of the scheduler (poll_cycles counts these)
    last_cycle_number: int = 0  # across runs and restarts: cycle numbers only grow
    start_wall: float | None = None
    end_wall: float | None = None
    next_cycle_at: float = 0.0
    # When the last cycle ended, while the next one is due cycle_interval_seconds after it
    # (None: due at a time of its own, a retry or a start): an edit of the interval during
    # the pause moves it (follow_interval).
    paused_from: float | None = None
    finished_generation: int | None = None  # the start whose poll_cycles all ran
    message: str = ""  # why the recorder is idle
    # Why the last cycle's reports are missing (shared.status_file.report_problem), or None.
    report_problem: dict | None = None
    # After a kill -9 (the last status had a heartbeat): 录制守护进程意外退出, said until the
    # first new cycle begins.
    after_kill: str = ""
    # The interrupted cycles a restart without a valid config holds for one
    # (recorder/held_recoveries.py), said until a valid config is loaded.
    held_note: str = ""
    # Cluster mode: the coordinator this recorder waits for as a standby, and since when
    # ({"coordinator", "since"}), while ``message`` is still the one given with it (wait).
    standby: dict | None = None
    standby_message: str = ""

    def start(self, now: float, wall: float) -> None:
        """A (new) run of the scheduler begins; its first cycle is due now."""
        log.info("scheduler started")
        self.running, self.cycles_done = True, 0
        self.start_wall, self.end_wall = wall, None
        self.retry_at(now)
        self.message = ""

    def wait(self, message: str, standby: dict | None) -> None:
        """No cycle now, for ``message``; ``standby``: another recorder coordinates (cluster)."""
        self.message, self.standby, self.standby_message = message, standby, message

    def standby_now(self) -> dict | None:
        """The standby's facts, while nothing else has been said since (a cycle began, the
        scheduler stopped, the config broke: each says so in ``message``)."""
        return self.standby if self.running and self.message == self.standby_message else None

    def stop(self, wall: float, message: str) -> None:
        """The scheduler is stopped, with the reason shown in the status."""
        self.running, self.end_wall = False, wall
        self.message = message

    def finish_all(self, wall: float, generation: int, cycles: int) -> None:
        """Every one of ``poll_cycles`` ran: stopped, and this start is not resumed after a restart."""
        log.info("all %s done; scheduler stopped", counted(cycles, "cycle"))
        self.stop(wall, f"已完成全部 {cycles} 轮巡检")
        self.finished_generation = generation

    def should_resume(self, generation: int) -> bool:
        """After a restart: the desired state is running and this start did not finish yet."""
        return (not self.running and self.start_wall is None
                and self.finished_generation != generation)

    def cycle_ended(self, now: float, interval: float) -> None:
        """A cycle ended: count it; the next is due ``interval`` seconds later."""
        self.cycles_done += 1
        self.pause(now, interval)

    def pause(self, now: float, interval: float) -> None:
        """A cycle ended now (counted or not): the next is due ``interval`` seconds later."""
        self.paused_from, self.next_cycle_at = now, now + interval

    def cycle_began(self) -> None:
        """A cycle began: the pause before it is over (and a kill before it, old news)."""
        self.paused_from, self.after_kill = None, ""

    def retry_at(self, due: float) -> None:
        """The next cycle is due at ``due`` (monotonic), whatever the interval."""
        self.paused_from, self.next_cycle_at = None, due

    def next_cycle_time(self, now: float, wall: float) -> str:
        """When the next cycle is due, as local time (``now`` monotonic, ``wall`` its epoch)."""
        return format_local(wall + max(0.0, self.next_cycle_at - now))

    def follow_interval(self, interval: float) -> bool:
        """During the pause after a cycle: the next is due ``interval`` (the one in force now,
        an edit of it included) after that cycle's end. True when that moved it."""
        if self.paused_from is None or self.next_cycle_at == self.paused_from + interval:
            return False
        self.next_cycle_at = self.paused_from + interval
        return True

    @property
    def status_message(self) -> str:
        """Why the recorder is idle, that it was killed, the cycles held for a valid config,
        and a report it could not write (last), when each is the case."""
        problem = self.report_problem["message"] if self.report_problem else ""
        return "; ".join(text for text in (self.message, self.after_kill, self.held_note,
                                           problem) if text)


def follow_desired_state(state: SchedulerState, control: ControlFollower, cycle: Cycle | None,
                         now: float, wall: float) -> None:
    """Start or stop the scheduler as the control file asks (a stop cancels the running cycle)."""
    if control.wants_running:
        if control.take_new_start() or state.should_resume(control.start_generation):
            state.start(now, wall)  # a new start, or the desired state after a restart
    elif state.running:
        if cycle is not None and not cycle.cancelled:
            log.info("scheduler stopping: cancelling cycle %s", cycle.name)
            cycle.cancel(now, wall)
        if cycle is None:
            log.info("scheduler stopped")
            state.stop(wall, "调度器已停止")
