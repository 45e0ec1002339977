"""The recorder's orchestration: one wait, then one step, until stopped.

Each job has a module of its own: control_follower, config_watch, scheduler_state,
cycle_launcher (with space_gate), recovery, wakeup, status_snapshot, status_publisher, alert_sender.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from recorder import alert_sender
from recorder.config_watch import ConfigWatch
from recorder.control_follower import ControlFollower
from recorder.cycle import Cycle
from recorder.cycle_launcher import CycleLauncher
from recorder.pipe_watcher import PipeWatcher
from recorder.processes import ProcessRunner
from recorder.recovery import recover_cycles
from recorder.retention import free_bytes
from recorder.scheduler_state import SchedulerState
from recorder.space_gate import SpaceGate
from recorder.status_publisher import StatusPublisher
from recorder.status_snapshot import build_status, fingerprint
from recorder.stop_signal import StopSignal
from recorder.wakeup import ERROR_BACKOFF_SECONDS, cycle_timing, next_wakeup, tick_seconds
from shared import settings
from shared.clock import SYSTEM_CLOCK, Clock
from shared.status_file import read_status

log = logging.getLogger(__name__)
SHUTDOWN_SECONDS = 10.0


class Daemon:
    """The recorder's parts, wired; ``step(now, wall)`` does one round of work."""

    def __init__(self, config_path: str, runner: ProcessRunner | None = None,
                 clock: Clock = SYSTEM_CLOCK,
                 free_space: Callable[[str], int | None] = free_bytes) -> None:
        self.config_path, self.clock = config_path, clock
        self.runner = runner or ProcessRunner()
        self.watcher = PipeWatcher()
        self.control = ControlFollower(settings.control_path(config_path))
        self.config_watch = ConfigWatch(config_path)
        self.state = SchedulerState()
        self.launcher = CycleLauncher(config_path, self.runner, self.watcher, SpaceGate(free_space))
        self.publisher = StatusPublisher(settings.status_path(config_path), self.snapshot)
        self.cycle: Cycle | None = None
        self.last_cycle: Cycle | None = None

    def recover(self) -> None:
        """Pick up where a killed predecessor stopped: its numbering, finished run and cycle."""
        old = read_status(self.publisher.path)
        # A run that finished all its poll_cycles stays finished across a
        # restart; only a new start (a new generation) runs the cycles again.
        if old.get("finished_generation") == self.control.start_generation:
            self.state.finished_generation = self.control.start_generation
        self.config_watch.poll(force=True)
        self.state.report_problem, self.state.last_cycle_number = recover_cycles(
            old, self.config_watch.settings, self.config_path, self.runner)
        self.launcher.last_cycle_name = old["cycle"].get("dir") or ""

    def step(self, now: float, wall: float) -> None:
        """Read requests, advance the cycle, start the next one when due, publish status."""
        self.config_watch.poll(force=self.control.poll())
        self._follow_desired_state(now, wall)
        if self.cycle is not None:
            self.cycle.tick(now, wall)
            if self.cycle.done:
                self._end_cycle(now)
        if (self.state.running and self.control.wants_running and self.cycle is None
                and now >= self.state.next_cycle_at):
            self._begin_cycle(now, wall)
        self.publisher.maybe_publish(now, wall, fingerprint(
            self.state, self.config_watch.error, self.cycle or self.last_cycle))

    def _follow_desired_state(self, now: float, wall: float) -> None:
        if self.control.wants_running:
            if self.control.take_new_start() or self.state.should_resume(
                    self.control.start_generation):
                self.state.start(now, wall)  # a new start, or the desired state after a restart
        elif self.state.running:
            if self.cycle is not None and not self.cycle.cancelled:
                log.info("scheduler stopping: cancelling cycle %s", self.cycle.name)
                self.cycle.cancel(now, wall)
            if self.cycle is None:
                log.info("scheduler stopped")
                self.state.stop(wall, "调度器已停止")

    def _begin_cycle(self, now: float, wall: float) -> None:
        config, g = self.config_watch.config, self.config_watch.settings
        if config is None or g is None:
            self.state.message = "没有有效的配置, 等待修复 config.json"
            return
        if g.poll_cycles != -1 and self.state.cycles_done >= g.poll_cycles:
            self.state.finish_all(wall, self.control.start_generation, g.poll_cycles)
            return
        self.cycle = self.launcher.open(config, g, self.state, now, wall)
        if self.cycle is not None:  # its folder exists: say so at once, for a restart's recovery
            self.publisher.publish(now, wall)

    def _end_cycle(self, now: float, interrupted: str = "") -> None:
        assert self.cycle is not None
        self.launcher.close(self.cycle, self.state, now, interrupted)
        self.last_cycle, self.cycle = self.cycle, None

    def run(self, stop: StopSignal) -> None:
        """Wait, then step, until ``stop`` is set; then shut down cleanly.

        :raises LockTimeout: another recorder runs on this config.
        """
        self.publisher.hold()
        alerts = alert_sender.for_recorder(self.config_path, self.config_watch, self.clock).start()
        self.recover()
        self.watcher.watch_stop(stop)
        next_step = last_read = self.clock.monotonic()
        while not stop.is_set():
            now = self.clock.monotonic()
            next_start, read_batch = cycle_timing(self.cycle, now)
            wake = next_wakeup(now, next_step, next_start, last_read, read_batch,
                               bool(self.watcher.watching))
            ended = self.watcher.wait(wake.timeout(now), read_pipes=wake.read_pipes)
            now = self.clock.monotonic()
            last_read = now if wake.read_pipes else last_read
            if stop.is_set() or not (ended or now >= wake.step_at):
                continue
            next_step = now + tick_seconds(self.cycle is not None)
            try:
                self.step(now, self.clock.wall())
            except Exception:  # noqa: BLE001 - the daemon must outlive any one bad round
                log.exception("unexpected error in the recorder loop; carrying on")
                next_step = now + ERROR_BACKOFF_SECONDS
        self.watcher.unwatch_stop()
        self.shutdown()
        alerts.stop()  # after shutdown: its last events may still go out

    def shutdown(self) -> None:
        """Cancel the running cycle, let ffmpeg finish its files, report, publish 'stopped'."""
        if self.cycle is not None:
            self.launcher.wind_down(self.cycle, self.clock, SHUTDOWN_SECONDS)
            self._end_cycle(self.clock.monotonic(), interrupted="录制守护进程停止")
        self.state.running = False
        self.state.end_wall = self.state.end_wall or self.clock.wall()
        self.state.message = "录制守护进程已停止"
        self.publisher.publish(self.clock.monotonic(), self.clock.wall(), stopped=True)
        self.publisher.release()
        log.info("recorder stopped")

    def snapshot(self, now: float, wall: float) -> dict:
        """The status file's content now."""
        return build_status(self.state, self.control.start_generation, self.config_watch.error,
                            self.cycle, self.last_cycle, now, wall)
