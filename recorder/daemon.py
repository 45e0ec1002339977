"""The recorder's orchestration: one wait, then one step, until stopped; each job has a
module of its own (see recorder/__init__.py's walk and each part's import below).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable

from recorder import alert_sender
from recorder.checks import Checks
from recorder.config_watch import ConfigWatch
from recorder.control_follower import ControlFollower
from recorder.cycle import Cycle
from recorder.cycle_launcher import CycleLauncher
from recorder.held_recoveries import waiting_note
from recorder.history_feed import HistoryFeed
from recorder.loop import run_loop
from recorder.pipe_watcher import PipeWatcher
from recorder.processes import ProcessRunner
from recorder.recovery import left_to_takeover, recover_cycles, report_place
from recorder.reports import INTERRUPTED, written_report
from recorder.retention import free_bytes
from recorder.scheduler_state import SchedulerState, follow_desired_state
from recorder.space_gate import SpaceGate
from recorder.status_publisher import StatusPublisher
from recorder.status_snapshot import build_status, fingerprint
from recorder.stop_signal import StopSignal
from recorder.unwritten_reports import resume_unwritten
from shared import settings
from shared.clock import SYSTEM_CLOCK, Clock
from shared.cluster_config import cluster_queue
from shared.status_file import read_status
from shared.timefmt import is_cycle_name

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
        self.history = HistoryFeed(config_path, self.config_watch, self.launcher.gate,
                                   clock)
        self.checks = Checks(config_path, self.runner, self.watcher, self.launcher.codecs)
        self.checks.on_verdict = self.history.record
        self.launcher.on_orphan_reported = self.history.orphan_reported
        self.publisher = StatusPublisher(settings.status_path(config_path), self.snapshot)
        self.publisher.written = self.history.published
        self.publisher.mirror = lambda status, encode: self.launcher.mirror_status(
            self.cluster_config, status, encode)
        self.cycle: Cycle | None = None
        self.last_cycle: Cycle | None = None
        self._shut_down: set[str] = set()  # the parts of shutdown done
        self._queue_ruling: str | None = None  # cluster_config's queue at the last step ("": none)

    @property
    def cluster_config(self) -> dict | None:
        """The config whose ``cluster`` section rules the lock, the status's copy in Redis and
        the desired state: the running cycle's (a mode or queue edited by hand meanwhile
        applies from the next cycle, as the settings but the interval do: a single-box cycle is not
        cancelled by a lock it never needed, a cluster cycle not taken over as dead while it
        runs), else config.json's."""
        return self.cycle.config if self.cycle is not None else self.config_watch.config

    def recover(self) -> None:
        """Pick up where a killed predecessor stopped: its numbering, finished run and cycle."""
        old = read_status(self.publisher.path)
        self.config_watch.poll(force=True)
        queue = cluster_queue(self.config_watch.config)
        # A run that finished all its poll_cycles stays finished across a
        # restart; only a new start (a new generation) runs the cycles again.
        if old.get("finished_generation") == self.control.start_generation:
            self.state.finished_generation = self.control.start_generation
        self.state.report_problem, self.state.last_cycle_number = recover_cycles(
            old, self.config_watch.settings, self.config_path, self.runner, self.clock.wall(),
            queue)
        # ... and the reports a full disk kept the last run from writing, till its end
        self.state.report_problem = self.state.report_problem or resume_unwritten(
            old, self.config_watch.settings, self.config_path, self.launcher.reports)
        if old["heartbeat"] is not None:  # a clean stop clears it: killed (kill -9, a crash)
            self.state.after_kill = INTERRUPTED
        if self.config_watch.config is None:  # the cycles a restart without one held, so far
            self.state.held_note = waiting_note(self.config_path)
        if left_to_takeover(old, queue):  # reported once this recorder coordinates (or another)
            self.launcher.left_status = old
        else:  # killed before its contact sheet was drawn: drawn now (none when it was whole)
            self._redraw_sheet(old)
        self.launcher.last_cycle_name = old["cycle"].get("dir") or ""
        self.control.checks_taken = old["checks_taken"]  # a restart runs no check twice
        # ... and runs again those the stop (or a kill) cut short: each once more.
        self.checks.resume(old, self.config_watch.config, self.config_watch.settings,
                           self.clock.wall())

    def _redraw_sheet(self, old: dict) -> None:
        """Draw the contact sheet of the cycle of the last status ``old`` if it is missing or
        short of pages (read and drawn on the sheets' thread), from whatever report it has: a
        cluster takeover's final report draws it again over this one."""
        place = report_place(old, self.config_watch.settings, self.config_path) \
            if is_cycle_name(old["cycle"].get("dir") or "") else None
        if place is not None:
            folder, report = place
            self.launcher.sheets.submit_report(folder, lambda: written_report(folder, report),
                                               self.config_path)

    def step(self, now: float, wall: float) -> None:
        """Read requests, advance the cycle, start the next one when due, publish status."""
        self._follow_mode_change()
        # Cluster mode: the cluster's desired state into control.json, read just below.
        self.launcher.sync_desired(self.cluster_config, now, self.control.path)
        self.config_watch.poll(force=self.control.poll(), wall=wall)
        if self.config_watch.config is not None:
            self.state.held_note = ""  # the history feed hands the held cycles over this step
        follow_desired_state(self.state, self.control, self.cycle, now, wall)
        watch = self.config_watch
        self.checks.take(self.control.take_checks(), watch.config, watch.settings, wall)
        if self.cycle is not None:
            self.cycle.tick(now, wall)
            if self.cycle.done and self._end_cycle(now):
                self._finish_if_all_done(wall)  # not a cycle_interval_seconds later
        self.checks.tick(now, wall, self.cycle, watch.settings)
        if self.state.running:  # cluster mode: one coordinator at a time
            self.launcher.keep_lead(self.cluster_config, self.cycle, now, wall)
        self.launcher.follow_takeovers(now)  # also when stopped: the report is due all the same
        # What a full disk kept from being written: a cycle's sheet, its reports.
        self.launcher.sheets.retry_failed(now)
        self.launcher.reports.retry(now, self.state)
        if (self.cycle is None and self.state.running and watch.settings is not None
                and self.state.follow_interval(watch.settings.cycle_interval_seconds)):
            # the pause after a cycle, its interval edited meanwhile
            log.info("cycle_interval_seconds is %g now: the next cycle is due at %s",
                     watch.settings.cycle_interval_seconds,
                     self.state.next_cycle_time(now, wall))
        if (self.state.running and self.control.wants_running and self.cycle is None
                and now >= self.state.next_cycle_at):
            self._begin_cycle(now, wall)
        self.publisher.maybe_publish(now, wall, fingerprint(
            self.state, self.config_watch.error, self.cycle or self.last_cycle, self.checks))
        # After the status: a new cycle's folder is named there before any slower write.
        self.history.step(now, wall, lambda: self.publisher.publish(now, wall))

    def _follow_mode_change(self) -> None:
        """A ``cluster`` section removed or its queue renamed by an edit (applied between
        cycles): the lock of the queue left is given up at once, not left to lapse, and the
        log says what the operator must do alike on the other hosts."""
        queue = cluster_queue(self.cluster_config)
        was, self._queue_ruling = self._queue_ruling, queue
        if not was or queue == was:  # the first step, the same, or a cluster section added
            return
        self.launcher.release_lead(was)  # the new queue's may be held already: kept
        if not queue:
            log.warning("config: the cluster section is gone: this recorder patrols as a single "
                        "box now and leaves queue %s (a recorder whose config still has the "
                        "section coordinates it, so both would patrol these cameras: edit every "
                        "recorder's config alike)", was)
        else:
            log.warning("config: the cluster's queue is %s now, not %s: restart every worker "
                        "pool (rtsp-patrol-worker) so that it serves %s; until then its jobs "
                        "wait, and end the window as 未调度", queue, was, queue)

    def _begin_cycle(self, now: float, wall: float) -> None:
        config, g = self.config_watch.config, self.config_watch.settings
        if config is None or g is None:
            self.state.message = "没有有效的配置, 等待修复 config.json"
            return
        if self._finish_if_all_done(wall):  # poll_cycles lowered by an edit meanwhile
            return
        self.cycle = self.launcher.open(config, g, self.state, now, wall)
        if self.cycle is not None:
            self.state.cycle_began()
            self.history.attach(self.cycle)
            self.cycle.beside = self.checks.beside  # checks take the cycle's slots
            # Named in the status file at once, not after the publishing gap: a
            # recorder killed before that would leave the folder without reports
            # (recovery finds the interrupted cycle through the status file).
            self.publisher.publish(now, wall)

    def _finish_if_all_done(self, wall: float) -> bool:
        """Stop the scheduler when its run has had all its ``poll_cycles`` (cluster mode: the
        cluster too); True when it did. Checked as a cycle ends and before one begins; a
        last cycle cancelled by a stop request ends as that stop does, not as finished."""
        config, g = self.config_watch.config, self.config_watch.settings
        if (config is None or g is None or not (self.state.running and self.control.wants_running)
                or g.poll_cycles == -1 or self.state.cycles_done < g.poll_cycles):
            return False
        self.state.finish_all(wall, self.control.start_generation, g.poll_cycles)
        # Cluster mode: the cluster whose cycles ran stops (its section edited meanwhile or not).
        ran = self.last_cycle.config if self.last_cycle is not None else config
        self.launcher.finished(ran, self.control.start_generation)
        return True

    def _end_cycle(self, now: float, interrupted: str = "") -> bool:
        """Report the cycle and let it go; False when it must wait (cluster mode: who reports
        it not known yet, recorder/cycle_launcher.py's ``close``)."""
        assert self.cycle is not None
        reported = self.launcher.close(self.cycle, self.state, now, interrupted,
                                       stopping=not self.control.wants_running)
        if reported is None:
            return False
        if reported:  # else the recorder that took it over has it
            self.history.cycle_ended(self.cycle, self.clock.wall())
        self.last_cycle, self.cycle = self.cycle, None
        return True

    def run(self, stop: StopSignal) -> None:
        """Wait, then step, until ``stop`` is set; then shut down cleanly.

        :raises LockTimeout: another recorder runs on this config.
        """
        self.publisher.hold()
        self.config_watch.poll()  # the sender's first pass names the receivers of a valid config
        alerts = alert_sender.for_recorder(self.config_path, self.config_watch, self.clock).start()
        self.history.writer.on_events(alerts.wake)  # an event is sent once committed, no poll
        self.recover()
        self.watcher.watch_stop(stop)
        run_loop(self.step, self.watcher, stop, self.clock, lambda: self.cycle)
        self.watcher.unwatch_stop()
        self.shutdown()
        alerts.stop()  # after shutdown: its last events may still go out

    def shutdown(self) -> None:
        """Cancel the running cycle, let ffmpeg finish its files, report, publish 'stopped'.

        Each part is done once: a call after one that raised does only the parts not done yet
        (a second call after a clean one, nothing); the status file's lock is let go either
        way, so a new recorder on this config is not locked out by one whose stop failed."""
        parts = (("checks", self._wind_down_checks), ("cycle", self._wind_down_cycle),
                 # a full disk's reports, the stopped cycle's too: once more, else logged
                 ("reports", lambda: self.launcher.reports.close(self.state)),
                 ("takeovers", lambda: self.launcher.follow_takeovers(math.inf)),  # as they stand
                 ("lead", self.launcher.release_lead), ("history", self._close_history),
                 ("status", self._publish_stopped),
                 ("sheets", self.launcher.sheets.close))  # the last cycle's, drawn meanwhile
        if all(name in self._shut_down for name, _ in parts):
            return
        try:
            for name, part in parts:
                if name not in self._shut_down:
                    part()
                    self._shut_down.add(name)
        finally:
            self.publisher.release()
        log.info("recorder stopped")

    def _wind_down_checks(self) -> None:
        cycle = self.cycle  # cluster mode: its lock kept until its reports are written
        self.checks.wind_down(self.clock, SHUTDOWN_SECONDS, lambda now: self.launcher.keep_lock(
            cycle.config if cycle is not None else None, now))

    def _wind_down_cycle(self) -> None:
        if self.cycle is not None:
            self.launcher.keep_lock(self.cycle.config, self.clock.monotonic())
            self.launcher.wind_down(self.cycle, self.clock, SHUTDOWN_SECONDS)
            self._end_cycle(self.clock.monotonic(), interrupted="录制守护进程停止")

    def _close_history(self) -> None:
        now, wall = self.clock.monotonic(), self.clock.wall()
        self.history.close(now, wall, lambda: self.publisher.publish(now, wall))

    def _publish_stopped(self) -> None:
        self.state.running = False
        self.state.end_wall = self.state.end_wall or self.clock.wall()
        self.state.message = "录制守护进程已停止"
        self.publisher.publish(self.clock.monotonic(), self.clock.wall(), stopped=True)

    def snapshot(self, now: float, wall: float) -> dict:
        """The status file's content now."""
        return build_status(self.state, self.control.start_generation, self.config_watch.error,
                            self.cycle, self.last_cycle, now, wall, self.checks.records(),
                            self.control.checks_taken)
