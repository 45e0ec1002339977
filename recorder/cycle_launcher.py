"""Opening a cycle (folder, retention, plan) and closing it (reports, counters)."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable

from recorder.contact_sheet_writer import ContactSheetWriter
from recorder.cycle import Cycle
from recorder.cycle_folder import create_cycle_folder
from recorder.ffmpeg_command import SourceCodecs
from recorder.pipe_watcher import PipeWatcher
from recorder.planner import plan_cycle
from recorder.processes import ProcessRunner
from recorder.report_retries import FailedReports, ReportRetries
from recorder.reports import reserve_report_space, write_reports
from recorder.retention import Limits
from recorder.scheduler_state import SchedulerState
from recorder.space_gate import LOW_SPACE_RETRY_SECONDS, SpaceGate
from recorder.wakeup import TICK_SECONDS
from shared import settings
from shared.clock import Clock
from shared.counts import counted
from shared.errors import PatrolError
from shared.global_settings import GlobalSettings
from shared.output_tree import OutputDir
from shared.status_file import report_problem
from shared.urls import mask_credentials

log = logging.getLogger(__name__)
# Cluster mode: a cycle ended while Redis is away and the lock may be another recorder's; how
# long it waits to know who reports it.
REPORT_WAIT_SECONDS = 60.0
STOP_RENEW_SECONDS = 3.0  # how often a stopping coordinator renews its lock with Redis away
REPORT_WAIT_MESSAGE = "第 {number} 轮 ({name}) 已结束, 等待集群的 Redis 确认由哪个录制守护进程写报告"


def _redis_away() -> bool:
    from recorder.cluster.outage import OUTAGE  # imported only in cluster mode
    return OUTAGE.down


class CycleLauncher:
    """Builds each cycle from the config of the moment and writes its reports when it ends."""

    def __init__(self, config_path: str, runner: ProcessRunner, watcher: PipeWatcher,
                 gate: SpaceGate) -> None:
        self.config_path = config_path
        self.runner, self.watcher, self.gate = runner, watcher, gate
        self.codecs: dict[str, SourceCodecs] = {}  # what each camera sent last time
        self.last_cycle_name = ""
        self.lead = None  # cluster mode: recorder/cluster/lead.py's Lead, made at first use
        # Cluster mode: a dead coordinator's cycle, taken over, has its final report
        # (late_outcomes.Reported: name, report, announce, written).
        self.on_orphan_reported: Callable[[str, dict, bool, Callable[[], None]], None] = \
            lambda name, report, announce, written: None
        # Cluster mode: the status before a restart, its running cycle left to the takeover.
        self.left_status: dict | None = None
        self._report_wait: dict[str, float] = {}  # cycle name -> when its reporter was first asked
        self._renewed_at_stop = float("-inf")  # keep_lock's last renewal
        self.sheets = ContactSheetWriter()  # each cycle's contact sheet, drawn off the loop
        self.reports = ReportRetries()  # single-box mode: reports a full disk kept from a cycle

    def open(self, config: dict, g: GlobalSettings, state: SchedulerState, now: float,
             wall: float) -> Cycle | None:
        """The next cycle, started; None when it cannot start now (``state`` says why and when)."""
        if config.get("cluster"):
            if not self._lead().may_coordinate(config, now):
                state.wait(self._lead().why_not(config), self._lead().standby(config))
                state.retry_at(now + 1.0)
                return None
            state.last_cycle_number = max(state.last_cycle_number, self._lead().numbered)
        root = settings.resolve_output_dir(g.output_directory, self.config_path)
        out = OutputDir(g.output_directory, root, self.config_path)
        limits = Limits.from_settings(g)
        # Cycles whose sheet is drawn or reports wait: kept, but below the floor.
        busy = self.sheets.pending() | self.reports.waiting()
        shortage = self.gate.shortage(out, limits, wall, busy)
        if shortage:
            state.message = shortage
            state.retry_at(now + LOW_SPACE_RETRY_SECONDS)
            return None
        try:
            name = create_cycle_folder(root, wall, self.last_cycle_name, self.config_path)
        except OSError as exc:
            state.message = f"无法创建输出目录 {g.output_directory}: {exc.strerror}"
            log.error("%s", state.message)
            state.retry_at(now + max(1, g.cycle_interval_seconds))
            return None
        self.last_cycle_name = name
        self.gate.retain(out, limits, wall, current=name, busy=busy)
        cycle = self._start(config, g, state, os.path.join(root, name),
                            os.path.join(g.output_directory, name), now, wall)
        if config.get("cluster"):
            self._lead().cycle_started(config, name)
        return cycle

    def _start(self, config: dict, g: GlobalSettings, state: SchedulerState, cycle_dir: str,
               display_dir: str, now: float, wall: float) -> Cycle:
        plan = plan_cycle(config["streams"], g.total_poll_duration_seconds,
                          g.max_concurrent_streams, g.max_concurrent_per_host)
        state.last_cycle_number += 1
        make_task, references = None, settings.references_dir(self.config_path)
        if config.get("cluster"):  # imported only here: single-box mode needs no rq, no redis
            from recorder.cluster.remote_task import task_factory
            make_task = task_factory(config, g, cycle_dir, display_dir, now, references)
        cycle = Cycle(state.last_cycle_number, config, g, plan, cycle_dir, display_dir,
                      self.runner, self.codecs, self.watcher, now, wall, make_task,
                      references_dir=references)
        reserve_report_space(cycle.dir, len(plan.tasks) + len(plan.not_scheduled))
        state.message = ""
        log.info("cycle %d started in %s: %s, %d not scheduled", cycle.number, cycle.name,
                 counted(len(plan.tasks), "task"), len(plan.not_scheduled))
        for item in plan.not_scheduled:
            log.warning("stream %d (%s) not scheduled: %s", item.stream_index,
                        mask_credentials(config["streams"][item.stream_index]["rtsp_url"]),
                        item.reason)
        return cycle

    def _lead(self):
        if self.lead is None:  # imported only here: single-box mode needs no rq, no redis
            from recorder.cluster.lead import Lead
            self.lead = Lead(self.on_orphan_reported, self.left_status,
                             settings.references_dir(self.config_path),
                             lambda path, report: self.sheets.submit_report(
                                 path, lambda: report, self.config_path, whole_too=True))
        return self.lead

    def keep_lead(self, config: dict | None, cycle: Cycle | None, now: float, wall: float) -> None:
        """Cluster mode: renew the coordinator lock; cancel the cycle if another recorder took it."""
        if not (config or {}).get("cluster"):
            return
        if self._lead().keep(config, now) or cycle is None or cycle.cancelled or cycle.done:
            return
        log.error("cycle %s: another recorder took the coordinator lock; cancelling it",
                  cycle.name)
        cycle.cancel(now, wall)

    def keep_lock(self, config: dict | None, now: float) -> None:
        """Cluster mode, while stopping: keep the lock until the reports are written and it is
        released (a standby that took it meanwhile would report the same cycle). With Redis
        away, every STOP_RENEW_SECONDS only: each call may wait for its timeouts, and the
        stop must end before systemd's stop timeout."""
        if not ((config or {}).get("cluster") and self.lead is not None):
            return
        if _redis_away() and now - self._renewed_at_stop < STOP_RENEW_SECONDS:
            return
        self._renewed_at_stop = now
        self.lead.renew(config)

    def sync_desired(self, config: dict | None, now: float, control_path: str) -> None:
        """Cluster mode: take the cluster's desired state into this recorder's control.json."""
        if (config or {}).get("cluster"):
            self._lead().sync_desired(config, now, control_path)

    def finished(self, config: dict | None, generation: int) -> None:
        """Cluster mode: every cycle of the start ``generation`` ran: the cluster stops."""
        if (config or {}).get("cluster"):
            self._lead().finished(config, generation)

    def follow_takeovers(self, now: float) -> None:
        """Cluster mode: the clips a dead coordinator's workers were still recording when this
        recorder took over, read without waiting (``now`` = inf: report them as they stand)."""
        if self.lead is not None:
            self.lead.late.step(now)

    def mirror_status(self, config: dict | None, status: dict,
                      encode: Callable[[dict], str]) -> None:
        """Cluster mode: the coordinator's status also goes to Redis (a standby's does not),
        encoded by ``encode`` (the status file's encoder: its records' text kept)."""
        if (config or {}).get("cluster") and self.lead is not None:
            self.lead.mirror(config, status, encode)

    def release_lead(self, queue: str | None = None) -> None:
        """Give up the coordinator lock (a clean stop): a standby takes over at once; ``queue``:
        only that queue's (one a config edit left)."""
        if self.lead is not None:
            self.lead.release(queue)

    def close(self, cycle: Cycle, state: SchedulerState, now: float, interrupted: str = "",
              stopping: bool = False) -> bool | None:
        """Write the cycle's reports and log its tally; the next cycle is due after the interval.

        Cluster mode, where another recorder may have taken the cycle over while this one was
        cut off from Redis (recorder/cluster/cycle_claim.py): False, the cycle ended without
        reports (the taker writes them); None, not ended: who reports it is not known yet (Redis
        away), asked again at the next step. A clean stop (``interrupted``), a stop request
        (``stopping``) or REPORT_WAIT_SECONDS of waiting end it all the same: its reports
        written unless a takeover's are there already.
        """
        report_path = os.path.join(cycle.dir, cycle.settings.report_filename)
        mine = self._lead().may_report(cycle.config, cycle.name, now,
                                       lambda: os.path.exists(report_path)) \
            if cycle.config.get("cluster") else True
        waiting = REPORT_WAIT_MESSAGE.format(number=cycle.number, name=cycle.name)
        if mine is None:
            since = self._report_wait.setdefault(cycle.name, now)
            if not (interrupted or stopping or now - since >= REPORT_WAIT_SECONDS):
                state.message = waiting
                return None
            mine = not os.path.exists(report_path)
            log.warning("cycle %s: Redis away, who reports it unknown: %s", cycle.name,
                        "its reports written" if mine else "a takeover's reports kept")
        self._report_wait.pop(cycle.name, None)
        if state.message == waiting:
            state.message = ""
        if not mine:  # not counted: the recorder that took it over has it
            log.warning("cycle %s: another recorder took it over while this one was cut off "
                        "from Redis (or its lock lapsed); that one writes its reports",
                        cycle.name)
            state.pause(now, cycle.settings.cycle_interval_seconds)
            return False
        self._report(cycle, state, interrupted)
        stats = cycle.stats()
        log.info("cycle %d finished in %s: %d done, %d failed, %d cancelled of %d", cycle.number,
                 cycle.name, stats["completed_tasks"], stats["failed_tasks"],
                 stats["cancelled_tasks"], stats["total_tasks"])
        state.cycle_ended(now, cycle.settings.cycle_interval_seconds)
        return True

    def _report(self, cycle: Cycle, state: SchedulerState, interrupted: str) -> None:
        cluster = cycle.config.get("cluster")
        cycle.interrupted = interrupted
        reports = FailedReports(cycle.dir, cycle.settings.report_filename,
                                cycle.report(interrupted))
        try:
            write_reports(*reports)
            state.report_problem = None
            if cluster:  # the report has what the workers left in Redis
                from recorder.cluster.remote_task import retire
                retire(cycle.tasks)
                self._lead().reported(cycle.config, cycle.name, bool(interrupted))
        except PatrolError as exc:
            state.report_problem = report_problem(
                cycle.name, str(exc), f"第 {cycle.number} 轮 ({cycle.name}) 报告写入失败: {exc}")
            log.error("cycle %s: %s", cycle.name, state.report_problem["message"])
            if cluster:  # its claim let go: a takeover reports it, not a retry of ours
                self._lead().not_reported(cycle.config, cycle.name)
            else:
                self.reports.failed(cycle.name, reports, str(exc))
        tiles = cycle.contact_sheet_tiles()
        if tiles:
            self.sheets.submit(cycle.dir, tiles)

    def wind_down(self, cycle: Cycle, clock: Clock, budget: float) -> None:
        """Cancel ``cycle`` and let ffmpeg finish its files for up to ``budget`` s; kill what is left."""
        cycle.cancel(clock.monotonic(), clock.wall())
        deadline = clock.monotonic() + budget
        while not cycle.done and clock.monotonic() < deadline:
            self.watcher.wait(TICK_SECONDS)
            cycle.tick(clock.monotonic(), clock.wall())
            self.keep_lock(cycle.config, clock.monotonic())
        for task in cycle.running:
            task.kill_now(clock.wall())
        cycle.tick(clock.monotonic(), clock.wall())  # finishes their clips
