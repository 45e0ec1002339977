"""Camera checks ("check now"): recordings outside the cycle plan, asked for through the control
file, sharing the running cycle's slots (or, with no cycle, the same caps on their own).

A check records the camera's usual duration into ``<output>/checks/<YYYYMMDD_HHMMSS>_<id>/``
(its own: the next free second when that one's folder is there; recorder/check_folders.py);
a probe reads 2 s into ffmpeg's null muxer and keeps
nothing. Each verdict goes to the history (kind ``check`` or ``probe``) and stays
in the status file's ``checks`` list among the last ``KEEP_FINISHED``.

A stop cuts short the checks waiting or running (已取消, :data:`STOPPED_MESSAGE`, marked
``run_again`` in their record); the next start queues them again from the last status
(:meth:`Checks.resume`), so a check asked for is run to a verdict once, across restarts, and
the finished ones stay listed. One a start cannot run again (its camera gone, no valid config)
stays 已取消 for good, even when its camera is back at a later start, and the history says so.
One a kill -9 left waiting or recording is first recovered as a killed cycle's tasks are
(recorder/check_recovery.py: its partial clip kept, 已取消 录制守护进程意外退出 in the history),
unless the history has its verdict already (recorder/check_verdicts.py).
"""
from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from recorder.check_folders import (CHECKS_FOLDER, free_check_folder_name, make_check_folder,
                                    retain_checks)
from recorder.check_recovery import not_run_again_row, recover_killed_check
from recorder.check_verdicts import committed_verdicts, with_verdict
from recorder.cycle import Cycle, fits
from recorder.ffmpeg_command import NULL_OUTPUT, SourceCodecs
from recorder.finished_task import FinishedTask, from_recording
from recorder.pipe_watcher import PipeWatcher
from recorder.planner import PlannedTask
from recorder.processes import ProcessRunner
from recorder.recording import Recording
from recorder.retention import Limits
from recorder.wakeup import TICK_SECONDS
from shared import settings as paths
from shared import task_record
from shared import task_status as st
from shared.camera_state import camera_id
from shared.clock import Clock
from shared.gateways import gateway_key
from shared.global_settings import GlobalSettings
from shared.output_rule import OutputRefused
from shared.output_tree import OutputDir
from shared.status_file import interrupted_at

log = logging.getLogger(__name__)
PROBE_SECONDS = 2
KEEP_FINISHED = 20  # finished checks the status file still shows
STOPPED_MESSAGE = "录制守护进程停止, 重启后重新检查"
NOT_RESUMED_MESSAGE = "录制守护进程停止; 摄像头已不在配置中, 未重新检查"
NO_CONFIG_MESSAGE = "录制守护进程停止; 重启时没有有效的配置, 未重新检查"
KILLED_NOT_RESUMED_MESSAGE = "录制守护进程意外退出; 摄像头已不在配置中, 未重新检查"
KILLED_NO_CONFIG_MESSAGE = "录制守护进程意外退出; 重启时没有有效的配置, 未重新检查"


class ProbeRecording(Recording):
    """A recording that reads into the null muxer: media that came is its success; no clip."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.work_path, self.display_path = NULL_OUTPUT, None
        # "Is it back?" asks for media, not a picture verdict: no checks, no thumbnail.
        self.picture = None
        self.stderr.picture = None

    def _ensure_folder(self) -> None:
        """Nothing is written: no folder needed."""

    def _keep_clip(self, trusted: bool) -> bool:
        return self.progress.progress.frames > 0  # "usable": what the verdict asks of a clip


class Check:
    """One requested check: its request and its recording."""

    def __init__(self, request: dict, task: Recording, folder: str, wall: float,
                 out: OutputDir) -> None:
        self.request, self.task, self.folder, self.requested_wall = request, task, folder, wall
        self.out = out  # the output folder it records under (checks/<folder>)
        self.kind = "probe" if request["probe"] else "check"
        self.gateway = gateway_key(task.stream["rtsp_url"])
        self.run_again = False  # 已取消 by a stop: the next start runs it again

    def record(self) -> dict:
        """Its record in the status file: a task record plus what names the check."""
        return task_record.check_record(
            self.task.as_dict(), check_id=self.request["id"], camera=self.request["camera"],
            kind=self.kind, requested_at=self.request["requested_at"], run_again=self.run_again)

    def finished_task(self) -> FinishedTask:
        """Its outcome as the history keeps it."""
        cycle = f"{CHECKS_FOLDER}/{self.folder}" if self.kind == "check" else ""
        return replace(from_recording(cycle, self.requested_wall, self.task), kind=self.kind,
                       check_id=self.request["id"])


class Checks:
    """The checks waiting for a slot, running, and recently finished."""

    def __init__(self, config_path: str, runner: ProcessRunner, watcher: PipeWatcher,
                 codecs: dict[str, SourceCodecs]) -> None:
        self.config_path, self.runner, self.watcher, self.codecs = (
            config_path, runner, watcher, codecs)
        self.waiting: deque[Check] = deque()
        self.live: list[Check] = []
        self.finished: deque[Check] = deque(maxlen=KEEP_FINISHED)
        self.earlier: deque[dict] = deque(maxlen=KEEP_FINISHED)  # finished before a restart
        self._stopping = False  # a stop cancels: what it cuts short is run again at the restart
        self.on_verdict: Callable[[FinishedTask], None] = lambda task: None

    def take(self, requests: list[dict], config: dict | None, g: GlobalSettings | None,
             wall: float) -> None:
        """Queue the new ``requests`` for cameras of ``config`` (others are logged and dropped)."""
        for request in requests:
            stream = _stream_of(config, request["camera"]) if g is not None else None
            if stream is None:
                log.warning("check %d: camera %s is not in the loaded config; dropped",
                            request["id"], request["camera"])
                continue
            self.waiting.append(self._make(request, stream, config, g, wall))
            log.info("check %d: camera %s queued (%s)", request["id"], request["camera"],
                     "probe" if request["probe"] else "check")

    def resume(self, old: dict, config: dict | None, g: GlobalSettings | None,
               wall: float) -> None:
        """At a start: the checks the last status ``old`` lists. The finished stay listed; those
        a stop cut short (已取消 with ``run_again``, or still waiting or running when it was
        killed) are queued again, oldest first, under their own ids (below ``checks_taken``:
        never handed out twice), but one whose verdict the history has (committed before the
        kill) takes it. One a start could not run again stays 已取消 for good, and its camera's
        history says so (a row of its own)."""
        again = []
        # when a kill cut short those still waiting or running (the restart's time if unknown)
        killed_at = min(interrupted_at(old) or wall, wall)
        records = [task_record.check_from_stored(raw) for raw in old["checks"]]
        verdicts = committed_verdicts(self.config_path, [
            record for record in records if record["status"] not in st.FINISHED],
            cut_short=(STOPPED_MESSAGE, task_record.INTERRUPTED_MESSAGE))
        for raw, record in zip(old["checks"], records):
            if record["check_id"] in verdicts:
                log.warning("check %d: camera %s reached its verdict before the last kill: "
                            "not run again", record["check_id"], record["camera"])
                record = with_verdict(record, verdicts[record["check_id"]])
            killed = record["status"] not in st.FINISHED
            if not killed and not _cut_short_by_a_stop(raw, record):
                self.earlier.append(record)
                continue
            stream = _stream_of(config, record["camera"]) if g is not None else None
            why = _not_run_again_message(killed, g is None) if stream is None else ""
            if killed:  # its partial clip kept, its verdict (已取消, 意外退出) in the history
                name = stream.get("name", "") if stream else None  # None: keep the known one
                record, row = recover_killed_check(record, self.runner, self.config_path,
                                                   killed_at, name)
                self.on_verdict(replace(row, error=why) if why else row)
            elif why:  # the stop's row said it would run again: what came of it
                self.on_verdict(not_run_again_row(record, wall, why))
            (log.warning if why else log.info)(
                "check %d: camera %s cut short by the last %s: %s", record["check_id"],
                record["camera"], "kill" if killed else "stop", why or "run again")
            if why:
                self.earlier.append({**record, **task_record.status_fields(st.CANCELLED),
                                     "error_message": why, "run_again": False})
            else:
                again.append({"id": record["check_id"], "camera": record["camera"],
                              "probe": record["kind"] == "probe",
                              "requested_at": record["requested_at"]})
        self.take(sorted(again, key=lambda request: request["id"]), config, g, wall)

    def _make(self, request: dict, stream: dict, config: dict, g: GlobalSettings,
              wall: float) -> Check:
        root = paths.resolve_output_dir(g.output_directory, self.config_path)
        folder = free_check_folder_name(root, wall, request["camera"], taken={
            check.folder for check in (*self.live, *self.waiting)})
        where = [os.path.join(base, CHECKS_FOLDER, folder) for base in (root, g.output_directory)]
        probe = request["probe"]
        planned = PlannedTask(task_id=request["id"], stream_index=config["streams"].index(stream),
                              offset=0.0, duration=PROBE_SECONDS if probe else
                              stream["duration_seconds"])
        kind = ProbeRecording if probe else Recording
        task = kind(planned, stream, *where, g, self.runner, self.codecs.get(stream["rtsp_url"]),
                    self.watcher)
        task.label = f"{'probe' if probe else 'check'} {request['id']} camera {request['camera']}"
        return Check(request, task, folder, wall,
                     OutputDir(g.output_directory, root, self.config_path))

    def beside(self, gateway: str) -> tuple[int, int]:
        """The running checks: how many, and how many on ``gateway`` (a cycle's ``beside``)."""
        return len(self.live), sum(1 for check in self.live if check.gateway == gateway)

    def tick(self, now: float, wall: float, cycle: Cycle | None, g: GlobalSettings | None) -> None:
        """Start waiting checks a slot is free for, advance running ones, publish verdicts."""
        while self.waiting and self._slot_free(self.waiting[0].gateway, cycle, g, now):
            self._start(self.waiting.popleft(), now, wall, g)
        for check in self.live:
            check.task.tick(now, wall)
        for check in [c for c in self.live if c.task.finished]:
            self.live.remove(check)
            self._publish(check)

    def _slot_free(self, gateway: str, cycle: Cycle | None, g: GlobalSettings | None,
                   now: float) -> bool:
        if cycle is not None:
            return cycle.slot_free_beside(gateway, now)
        if g is None:
            return False
        live, same = self.beside(gateway)
        return fits(live, same, g.max_concurrent_streams, g.max_concurrent_per_host)

    def _start(self, check: Check, now: float, wall: float, g: GlobalSettings | None) -> None:
        if check.kind != "check" or self._make_folder(check, wall, g):
            check.task.start(now, wall)
        check.task.start_offset = 0.0
        if check.task.finished:  # could not even spawn
            self._publish(check)
        else:
            self.live.append(check)

    def _make_folder(self, check: Check, wall: float, g: GlobalSettings | None) -> bool:
        """Retention, then the check's folder; False (the check failed, nothing recorded) when
        it cannot be made where the rule allows without following a symlink."""
        if g is not None:
            retain_checks(check.out, wall, Limits.from_settings(g),
                          keep=frozenset(c.folder for c in self.live))
        try:
            make_check_folder(check.out, check.folder)
            return True
        except (OutputRefused, OSError) as exc:
            reason = str(exc) if isinstance(exc, OutputRefused) else exc.strerror or str(exc)
            log.error("check %d: cannot make its folder %s/%s: %s", check.request["id"],
                      CHECKS_FOLDER, check.folder, reason)
            check.task.skip(wall, st.RECORDING_ERROR, f"检查目录无法创建, 未录制: {reason}")
            return False

    def _publish(self, check: Check) -> None:
        if self._stopping and check.task.status == st.CANCELLED:
            check.task.error_message, check.run_again = STOPPED_MESSAGE, True
        learned = check.task.stderr.codecs
        if learned.video:
            self.codecs[check.task.stream["rtsp_url"]] = learned
        self.finished.append(check)
        self.on_verdict(check.finished_task())

    def records(self) -> list[dict]:
        """The status file's ``checks``: finished (newest last, those of the recorder before a
        restart first), then running, then waiting."""
        finished = [*self.earlier, *(check.record() for check in self.finished)]
        return finished[-KEEP_FINISHED:] + [check.record() for check in (*self.live,
                                                                         *self.waiting)]

    def cancel(self, now: float, wall: float) -> None:
        """Shutdown: waiting checks are cancelled, running ones stopped gracefully (each
        listed with :data:`STOPPED_MESSAGE`: :meth:`resume` runs it again)."""
        self._stopping = True
        for check in (*self.waiting, *self.live):
            check.task.cancel(now, wall)
        while self.waiting:
            self._publish(self.waiting.popleft())

    def kill_now(self, wall: float) -> None:
        """Last resort at shutdown: kill what still runs and publish its verdict."""
        for check in self.live:
            check.task.kill_now(wall)
        for check in self.live:
            self._publish(check)
        self.live.clear()

    def wind_down(self, clock: Clock, budget: float,
                  each: Callable[[float], None] = lambda now: None) -> None:
        """Stop the checks: ffmpeg finishes their files for up to ``budget`` s; kill what is left.
        ``each(now)`` is called at each tick meanwhile (the cluster's lock kept)."""
        self.cancel(clock.monotonic(), clock.wall())
        deadline = clock.monotonic() + budget
        while self.live and clock.monotonic() < deadline:
            self.watcher.wait(TICK_SECONDS)
            self.tick(clock.monotonic(), clock.wall(), None, None)
            each(clock.monotonic())
        self.kill_now(clock.wall())


def _cut_short_by_a_stop(raw: dict, record: dict) -> bool:
    """Whether a finished check's ``record`` (``raw`` as stored) is one a stop cancelled to be
    run again. A status written before ``run_again`` existed says so by the stop's message."""
    if record["status"] != st.CANCELLED:
        return False
    if "run_again" in raw:
        return record["run_again"]
    return record["error_message"] == STOPPED_MESSAGE


def _not_run_again_message(killed: bool, no_config: bool) -> str:
    if killed:
        return KILLED_NO_CONFIG_MESSAGE if no_config else KILLED_NOT_RESUMED_MESSAGE
    return NO_CONFIG_MESSAGE if no_config else NOT_RESUMED_MESSAGE


def _stream_of(config: dict | None, camera: str) -> dict | None:
    for stream in (config or {}).get("streams", []):
        if camera_id(stream["output_filename"]) == camera:
            return stream
    return None
