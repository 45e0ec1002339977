"""The recorder's loop: follow the control file and config.json, run cycles, publish status."""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from recorder.clip_files import recover_work_files
from recorder.cycle import Cycle
from recorder.cycle_folder import create_cycle_folder
from recorder.ffmpeg_command import SourceCodecs
from recorder.pipe_watcher import PipeWatcher
from recorder.planner import plan_cycle
from recorder.processes import ProcessRunner
from recorder.reports import recovered_report, reserve_report_space, write_reports
from recorder.retention import MB, Limits, apply_retention, free_bytes
from recorder.status_publisher import StatusPublisher
from shared import settings
from shared.config_file import load_config
from shared.control_file import DEFAULT as NO_CONTROL, load_control, restore_control
from shared.output_rule import check_output_directory
from shared.errors import ConfigError, PatrolError
from shared.file_cache import file_signature
from shared.output_tree import OutputDir
from shared.status_file import empty_status, read_status
from shared.timefmt import format_local
from shared.urls import mask_credentials

log = logging.getLogger(__name__)
# Watchdogs and starts need a fine tick during a cycle; between cycles only the
# control and config files are watched, and start/stop must act within 1 s.
TICK_SECONDS = 0.2
IDLE_TICK_SECONDS = 0.25
# ffmpeg's output is read in batches, one per tick: with hundreds of recordings,
# one wakeup per progress block would be hundreds a second. A pipe holds 64 KiB
# and each ffmpeg writes ~300 bytes a second, so the wait loses nothing; an exit
# is seen at the next batch, within a tick, like a watchdog's verdict.
READ_BATCH_SECONDS = TICK_SECONDS
# ...except while a due task waits for a slot: an exit (its pipes closing) starts it.
SLOT_WAIT_READ_SECONDS = 0.05
SHUTDOWN_SECONDS = 10.0
# Below the free-space floor no cycle starts; the floor is checked again this often.
LOW_SPACE_RETRY_SECONDS = 5.0
LOW_SPACE_MESSAGE = "磁盘剩余空间不足"


class Daemon:
    """State of the recorder between ticks; ``step(now, wall)`` does one round of work."""

    def __init__(self, config_path: str, runner: ProcessRunner | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 free_space: Callable[[str], int | None] = free_bytes) -> None:
        self.config_path = config_path
        self.free_space = free_space
        self.control_path = settings.control_path(config_path)
        self.runner = runner or ProcessRunner()
        self.clock, self.wall_clock = clock, wall_clock
        self.watcher = PipeWatcher()
        self.publisher = StatusPublisher(settings.status_path(config_path))
        self.config: dict | None = None
        self.config_error: ConfigError | None = None
        self.codecs: dict[str, SourceCodecs] = {}
        self.cycle: Cycle | None = None
        self.last_cycle: Cycle | None = None
        self.last_cycle_name = ""
        self.cycles_done = 0
        self.scheduler_running = False
        self.start_wall: float | None = None
        self.end_wall: float | None = None
        self.next_cycle_at = 0.0
        self.message = ""
        # Why the last cycle's reports are missing; shown until a report is written again.
        self.report_problem = ""
        self._config_sig: tuple | None = None
        self._control_sig: tuple | None = None
        loaded = load_control(self.control_path)
        self._control = loaded or dict(NO_CONTROL)
        self._control_known = loaded is not None  # a valid file was read: keep its state
        self._control_damaged = False  # restoring it failed (logged once)
        self._start_generation = self._control["start_generation"]
        self.finished_generation: int | None = None  # the start whose poll_cycles all ran
        self._reload_generation = self._control["reload_generation"]

    # -- start-up ---------------------------------------------------------
    def recover(self) -> None:
        """Finish what a killed predecessor left: its interrupted cycle's clips and report."""
        old = read_status(self.publisher.path)
        cycle = old["cycle"]
        # A run that finished all its poll_cycles stays finished across a
        # restart; only a new start (a new generation) runs the cycles again.
        if old.get("finished_generation") == self._start_generation:
            self.finished_generation = self._start_generation
        self._load_config(force=True)
        if not (cycle.get("running") and cycle.get("dir") and self.config):
            return
        cycle_dir = self._interrupted_cycle_dir(cycle["dir"], old["tasks"])
        if not os.path.isdir(cycle_dir):
            return
        published = recover_work_files(self.runner, cycle_dir)
        report = recovered_report(old, published,
                                  self.config["global_config"]["max_concurrent_streams"])
        try:
            write_reports(cycle_dir, self.config["global_config"]["report_filename"], report)
        except PatrolError as exc:
            self.report_problem = f"中断的巡检 {cycle['dir']} 报告写入失败: {exc}"
            log.error("cannot write the report of interrupted cycle %s: %s", cycle["dir"], exc)
        log.warning("recovered interrupted cycle %s: %d partial clips kept", cycle["dir"],
                    len(published))
        self.last_cycle_name = cycle["dir"]

    def _interrupted_cycle_dir(self, name: str, tasks: list[dict]) -> str:
        # Where the cycle's tasks wrote: an output_directory changed in the config
        # meanwhile applies to later cycles only. Only a folder of that cycle's name.
        root = settings.resolve_output_dir(self.config["global_config"]["output_directory"],
                                           self.config_path)
        for task in tasks:
            written = os.path.dirname(str(task.get("output_file") or ""))
            if written and os.path.basename(written) == name:
                return settings.resolve_output_dir(written, self.config_path)
        return os.path.join(root, name)

    # -- one round ----------------------------------------------------------
    def step(self, now: float, wall: float) -> None:
        """Read requests, advance the cycle, start the next one when due, publish status."""
        self._follow_control()
        self._load_config()
        if self._control["scheduler_running"]:
            if self._start_generation != self._control["start_generation"]:
                self._start_generation = self._control["start_generation"]
                self._start_scheduler(now, wall)
            elif (not self.scheduler_running and self.start_wall is None
                  and self.finished_generation != self._start_generation):
                self._start_scheduler(now, wall)  # resume the desired state after a restart
        elif self.scheduler_running:
            self._stop_scheduler(now, wall)
        if self.cycle is not None:
            self.cycle.tick(now, wall)
            if self.cycle.done:
                self._end_cycle(now)
        if (self.scheduler_running and self._control["scheduler_running"] and self.cycle is None
                and now >= self.next_cycle_at):
            self._begin_cycle(now, wall)
        self.publisher.maybe_publish(self, now, wall)

    def _follow_control(self) -> None:
        signature = file_signature(self.control_path)
        if signature != self._control_sig:
            self._control_sig = signature
            loaded = load_control(self.control_path)
            if loaded is None and self._control_known:
                self._restore_control()
                return
            self._control = loaded or dict(NO_CONTROL)
            self._control_known = loaded is not None
            if self._control["reload_generation"] != self._reload_generation:
                self._reload_generation = self._control["reload_generation"]
                self._load_config(force=True)

    def _restore_control(self) -> None:
        # The API only ever replaces the file whole: deleted or damaged, it was done
        # behind our back. Stopping (or starting) because of that would follow no one's
        # wish, so keep the last state read and write it back for the API and our next start.
        if not self._control_damaged:
            log.warning("control file %s is missing or damaged; keeping the last state "
                        "(scheduler %s) and writing it back", self.control_path,
                        "running" if self._control["scheduler_running"] else "stopped")
        try:
            restore_control(self.control_path, self._control)
            self._control_damaged = False
        except PatrolError as exc:
            if not self._control_damaged:
                log.error("cannot restore the control file: %s", exc)
            self._control_damaged = True
            self._control_sig = None  # try again next round

    def _load_config(self, force: bool = False) -> None:
        signature = file_signature(self.config_path)
        if signature == self._config_sig and not force:
            return
        self._config_sig = signature
        try:
            config = load_config(self.config_path)
            # A hand edit may point the output where retention could delete
            # what is not ours; such a config is refused like any broken rule.
            check_output_directory(config, self.config_path, "global_config.output_directory")
        except ConfigError as exc:
            if self.config_error is None or exc.message != self.config_error.message:
                log.error("config rejected, keeping the last valid one: %s", exc.message)
            self.config_error = exc
            return
        if self.config_error is not None:
            log.info("config valid again")
        elif self.config is not None and config != self.config:
            log.info("config changed; applies from the next cycle")
        self.config, self.config_error = config, None

    def _start_scheduler(self, now: float, wall: float) -> None:
        log.info("scheduler started")
        self.scheduler_running, self.cycles_done = True, 0
        self.start_wall, self.end_wall, self.next_cycle_at = wall, None, now
        self.message = ""

    def _stop_scheduler(self, now: float, wall: float) -> None:
        if self.cycle is not None and not self.cycle.cancelled:
            log.info("scheduler stopping: cancelling cycle %s", self.cycle.name)
            self.cycle.cancel(now, wall)
        if self.cycle is None:
            log.info("scheduler stopped")
            self.scheduler_running, self.end_wall = False, wall
            self.message = "调度器已停止"

    def _begin_cycle(self, now: float, wall: float) -> None:
        if self.config is None:
            self.message = "没有有效的配置, 等待修复 config.json"
            return
        config = self.config
        cycles = config["global_config"]["poll_cycles"]
        if cycles != -1 and self.cycles_done >= cycles:
            log.info("all %d cycles done; scheduler stopped", cycles)
            self.scheduler_running, self.end_wall = False, wall
            self.finished_generation = self._start_generation
            self.message = f"已完成全部 {cycles} 轮巡检"
            return
        g = config["global_config"]
        root = settings.resolve_output_dir(g["output_directory"], self.config_path)
        out = OutputDir(g["output_directory"], root)
        if not self._enough_space(out, g, now, wall):
            return
        try:
            name = create_cycle_folder(root, wall, self.last_cycle_name)
        except OSError as exc:
            self.message = f"无法创建输出目录 {g['output_directory']}: {exc.strerror}"
            log.error("%s", self.message)
            self.next_cycle_at = now + max(1, g["cycle_interval_seconds"])
            return
        self.last_cycle_name = name
        self._retain(out, g, wall, current=name)
        plan = plan_cycle(config["streams"], g["total_poll_duration_seconds"],
                          g["max_concurrent_streams"])
        self.cycle = Cycle(self.cycles_done + 1, config, plan, os.path.join(root, name),
                           os.path.join(g["output_directory"], name), self.runner, self.codecs,
                           self.watcher, now, wall)
        reserve_report_space(self.cycle.dir, len(plan.tasks) + len(plan.not_scheduled))
        if self.message.startswith(LOW_SPACE_MESSAGE):
            log.info("free space is above the floor again; patrol resumes")
        self.message = ""
        log.info("cycle %d started in %s: %d tasks, %d not scheduled", self.cycle.number, name,
                 len(plan.tasks), len(plan.not_scheduled))
        for item in plan.not_scheduled:
            log.warning("stream %d (%s) not scheduled: %s", item.stream_index,
                        mask_credentials(config["streams"][item.stream_index]["rtsp_url"]),
                        item.reason)

    def _retain(self, out: OutputDir, g: dict, wall: float, current: str | None) -> None:
        try:
            apply_retention(out, wall, Limits.from_config(g), current, self.free_space)
        except OSError as exc:  # a scan that fails must not stop the patrol
            log.error("retention failed: %s", exc)

    def _enough_space(self, out: OutputDir, g: dict, now: float, wall: float) -> bool:
        """True when the output's disk is above the floor, after retention if it was not."""
        floor_mb = Limits.from_config(g).min_free_mb
        if floor_mb <= 0:
            return True
        free = self.free_space(out.root)
        if free is None or free >= floor_mb * MB:
            return True
        self._retain(out, g, wall, current=None)
        free = self.free_space(out.root)
        if free is None or free >= floor_mb * MB:
            log.info("free space above %d MB again after retention", floor_mb)
            return True
        message = f"{LOW_SPACE_MESSAGE}: 剩余 {free // MB} MB, 低于下限 {floor_mb} MB"
        if not self.message.startswith(LOW_SPACE_MESSAGE):
            log.warning("%s; no new cycle until space returns (checked every %.0f s)", message,
                        LOW_SPACE_RETRY_SECONDS)
        self.message = message
        self.next_cycle_at = now + LOW_SPACE_RETRY_SECONDS
        return False

    def _end_cycle(self, now: float, interrupted: str = "") -> None:
        cycle = self.cycle
        assert cycle is not None
        try:
            write_reports(cycle.dir, cycle.config["global_config"]["report_filename"],
                          cycle.report(interrupted))
            self.report_problem = ""
        except PatrolError as exc:
            self.report_problem = f"第 {cycle.number} 轮 ({cycle.name}) 报告写入失败: {exc}"
            log.error("cycle %s: %s", cycle.name, self.report_problem)
        stats = cycle.stats()
        log.info("cycle %d finished in %s: %d done, %d failed, %d cancelled of %d", cycle.number,
                 cycle.name, stats["completed_tasks"], stats["failed_tasks"],
                 stats["cancelled_tasks"], stats["total_tasks"])
        self.cycles_done += 1
        self.last_cycle, self.cycle = cycle, None
        self.next_cycle_at = now + cycle.config["global_config"]["cycle_interval_seconds"]

    # -- the loop -----------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set, then shut down cleanly.

        :raises LockTimeout: another recorder runs on this config.
        """
        self.publisher.hold()
        self.recover()
        next_step = last_read = self.clock()
        while not stop.is_set():
            # Progress lines wake the loop often; the full step (every task's
            # watchdogs, control and config checks) runs only every tick, when
            # a process exits, or when a planned start is due.
            now = self.clock()
            # Nothing starts a task between steps, so the next start is known here.
            start_at = now + (self.cycle.seconds_to_next_start(now)
                              if self.cycle is not None else float("inf"))
            due = min(next_step, start_at)
            if self.watcher.watching:
                batch = (SLOT_WAIT_READ_SECONDS if self.cycle is not None
                         and self.cycle.waiting_for_slot(now) else READ_BATCH_SECONDS)
                pause = min(due, last_read + batch) - now
                if pause > 0 and stop.wait(pause):
                    break
                ended = self.watcher.dispatch(max(0.0, due - self.clock()))
                last_read = self.clock()
            else:
                ended = stop.wait(max(0.0, due - now))
            now = self.clock()
            if not (ended or now >= start_at or now >= next_step):
                continue
            next_step = now + (TICK_SECONDS if self.cycle is not None else IDLE_TICK_SECONDS)
            try:
                self.step(now, self.wall_clock())
            except Exception:  # noqa: BLE001 - the daemon must outlive any one bad round
                log.exception("unexpected error in the recorder loop; carrying on")
                stop.wait(1.0)
        self.shutdown()

    def shutdown(self) -> None:
        """Cancel the running cycle, let ffmpeg finish its files, report, publish 'stopped'."""
        if self.cycle is not None:
            now, wall = self.clock(), self.wall_clock()
            self.cycle.cancel(now, wall)
            deadline = now + SHUTDOWN_SECONDS
            while not self.cycle.done and self.clock() < deadline:
                self.watcher.dispatch(TICK_SECONDS) if self.watcher.watching else time.sleep(0.05)
                self.cycle.tick(self.clock(), self.wall_clock())
            for task in self.cycle.running:
                task.kill_now(self.wall_clock())
            self.cycle.tick(self.clock(), self.wall_clock())  # finishes their clips
            self._end_cycle(self.clock(), interrupted="录制守护进程停止")
        self.scheduler_running = False
        self.end_wall = self.end_wall or self.wall_clock()
        self.message = "录制守护进程已停止"
        self.publisher.publish(self, self.clock(), self.wall_clock(), stopped=True)
        self.publisher.release()
        log.info("recorder stopped")

    # -- what the status file shows ------------------------------------------
    @property
    def status_message(self) -> str:
        """Why the recorder is idle, and a report it could not write, when either is the case."""
        return "; ".join(text for text in (self.message, self.report_problem) if text)

    def snapshot(self, now: float, wall: float) -> dict:
        """The status file's content (format in shared/status_file.py)."""
        status = empty_status()
        cycle = self.cycle or self.last_cycle
        if cycle is not None:
            status.update(cycle.status_fields(now, wall, running=cycle is self.cycle))
        status.update(
            pid=os.getpid(), heartbeat=wall, heartbeat_monotonic=now,
            scheduler_running=self.scheduler_running, start_generation=self._start_generation,
            finished_generation=self.finished_generation,
            start_time=format_local(self.start_wall),
            end_time=format_local(self.end_wall) if not self.scheduler_running else "",
            config_error=self.config_error.to_dict() if self.config_error else None,
            message=self.status_message)
        return status
