"""One task: an ffmpeg process recording one stream, watched tick by tick until a verdict."""
from __future__ import annotations

import logging
import math
import os
import subprocess
from dataclasses import replace

from recorder.clip_files import finalize_clip
from recorder.ffmpeg_command import SourceCodecs, build_argv, container_of
from recorder.ffmpeg_output import ProgressParser, StderrLog
from recorder.outcome import Observation, classify, needs_no_probe
from recorder.picture_check import PictureCheck
from recorder.picture_quality import Recorded, unchecked
from recorder.planner import PlannedTask
from recorder.pipe_watcher import PipeWatcher
from recorder.processes import ProcessHandle, ProcessRunner
from shared import task_record
from shared import task_status as st
from shared.camera_state import camera_id
from shared.clip_names import attempt_work_name
from shared.counts import counted
from shared.global_settings import GlobalSettings
from shared.urls import mask_credentials, mask_in_text

log = logging.getLogger(__name__)

# After a graceful stop (SIGINT) ffmpeg gets this long to finish the file.
STOP_GRACE_SECONDS = 3.0
MISSED_WINDOW = "未调度: 本轮时间窗口已过, 任务未启动"
# ffmpeg acts on SIGINT only once its current read returns: one blocked on a
# stalled stream ignores it. A second stop signal aborts the read, and ffmpeg
# still finishes the file: sent this long after the first (a flowing ffmpeg
# has finished by then), at once on a read timeout (a stall). A different
# signal, so that the two cannot merge into one pending signal.
STOP_ESCALATE_SECONDS = 1.0
# The wall-clock guard: a process may overstay its budget by this much.
OVERSTAY_MARGIN_SECONDS = 5.0
# ffmpeg's -t ends a clip within a frame or an audio packet of its length (the
# last out_time seen was at most 0.25 s past it). Media written this far past
# the length means -t never fired: the camera's clock went back meanwhile.
OVERRUN_MARGIN_SECONDS = 0.5


def task_label(planned: PlannedTask, stream: dict) -> str:
    """A cycle's task as its log lines name it: ``task 3 stream 0 camera gate``, so that a grep
    for one task or one camera finds only it (a check is ``check 3 camera gate``)."""
    return (f"task {planned.task_id} stream {planned.stream_index} "
            f"camera {camera_id(stream['output_filename'])}")


class Recording:
    """The state of one task; :meth:`tick` advances it using the monotonic ``now`` it is given."""

    # How long after ffmpeg wrote it its pipes may be read: the daemon reads them each 0.2 s
    # batch, a cluster job less often (recorder/cluster/task_job.py). Media is seen late by up
    # to this, and so the read timeout fires late by as much: ffmpeg's own I/O timeout, the
    # backstop (which cannot tell a read timeout from a connection timeout), and the overstay
    # guard wait as much longer.
    reads_lag_seconds = 0.0

    def __init__(self, planned: PlannedTask, stream: dict, cycle_dir: str, display_dir: str,
                 settings: GlobalSettings, runner: ProcessRunner, source: SourceCodecs | None,
                 watcher: PipeWatcher, references_dir: str | None = None,
                 attempt: int = 1) -> None:
        self.planned = planned
        self.watcher = watcher
        self.stream = stream
        self.settings = settings
        self.runner = runner
        self.source = source
        self.final_path = os.path.join(cycle_dir, stream["output_filename"])
        # A cluster job's retry (attempt > 1) records into work files of its own.
        self.work_path = os.path.join(cycle_dir, attempt_work_name(stream["output_filename"],
                                                                   attempt))
        self.display_path = os.path.join(display_dir, stream["output_filename"])
        # Who this is in the log (a check says so instead: recorder/checks.py).
        self.label = task_label(planned, stream)
        self.status = st.PENDING
        self.error_message = ""
        self.clip_kept = False  # ffmpeg's file was published as the clip
        self.bytes_read = 0  # from ffmpeg's pipes so far
        self.start_wall: float | None = None
        self.end_wall: float | None = None
        self.proc: ProcessHandle | None = None
        self.progress = ProgressParser()
        self.stderr = StderrLog()
        self._started = 0.0
        # ffmpeg's start: the last look at which it had said nothing yet (was still starting up,
        # not yet asking the camera anything). The connection timeout and connect_seconds run
        # from here, so that neither counts a slow start-up on a busy box as the camera's.
        self._asking_since = 0.0
        # ffmpeg's own socket I/O timeout (its -timeout, the backstop), in seconds.
        self._io_timeout = 0.0
        self._last_data = 0.0
        self._last_figures = (0, 0)
        self._stop_sent: float | None = None
        self._escalated = False
        self._exit_seen: float | None = None
        self._last_poll = 0.0
        self.start_offset: float | None = None  # real start, seconds after the cycle's start
        self.run_seconds: float | None = None   # from spawn to verdict
        # From ffmpeg's start (_asking_since) to the server's answer, for the history.
        self.connect_seconds: float | None = None
        self._flags: dict[str, bool] = {}
        self._open_pipes = 0
        self._dict_key: tuple = ()
        self._dict: dict = {}
        self.picture = (PictureCheck(cycle_dir, stream["output_filename"], settings.quality,
                                     references_dir, attempt)
                        if settings.quality.enabled else None)
        self.quality = unchecked()

    # -- life cycle -------------------------------------------------------
    def start(self, now: float, wall: float) -> None:
        """Spawn ffmpeg; the task is connecting from here on."""
        self._io_timeout = (max(self.settings.read_timeout_seconds,
                                self.settings.connection_timeout_seconds)
                            + 2 + math.ceil(self.reads_lag_seconds))
        argv = build_argv(self.stream["rtsp_url"], self.work_path, self.planned.duration,
                          io_timeout=self._io_timeout,
                          audio_mode=self.settings.audio_mode, source=self.source,
                          transport=self.stream.get("rtsp_transport",
                                                    self.settings.rtsp_transport),
                          checks=self.picture.files if self.picture else None)
        self.start_wall, self._started, self._last_data = wall, now, now
        self._asking_since = now
        self.status = st.CONNECTING
        self._ensure_folder()
        try:
            self.proc = self.runner.spawn(argv)
        except OSError as exc:
            self._finish_now(wall, st.CONNECTION_ERROR, f"无法启动 ffmpeg: {exc.strerror or exc}")
            return
        self._open_pipes = 2
        for pipe in (self.proc.stdout, self.proc.stderr):
            os.set_blocking(pipe.fileno(), False)
            self.watcher.watch(pipe, self)
        log.info("%s: start %s -> %s", self.label, mask_credentials(self.stream["rtsp_url"]),
                 self.display_path or "no clip (a probe)")

    def on_readable(self, pipe) -> bool:
        """Read what ffmpeg wrote; False once the pipe is at its end."""
        try:
            data = os.read(pipe.fileno(), 65536)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            self._open_pipes -= 1
            self.watcher.unwatch(pipe)
            return False
        self.bytes_read += len(data)
        text = data.decode("utf-8", "replace")
        if pipe is self.proc.stdout:
            self.progress.feed(text)
        else:
            self.stderr.feed(text)
        return True

    @property
    def finished(self) -> bool:
        """True once the verdict is in."""
        return self.status in st.FINISHED

    def tick(self, now: float, wall: float) -> None:
        """Advance the state from what ffmpeg said and the watchdogs."""
        if self.finished or self.proc is None:
            return
        if self.bytes_read == 0:
            # ffmpeg's start-up (its libraries loaded, slow on a busy box) is no time the
            # camera had to answer in: at -loglevel verbose it speaks before it connects.
            self._asking_since = now
        figures = (self.progress.progress.total_size, self.progress.progress.frames)
        if figures != self._last_figures:
            self._last_figures, self._last_data = figures, now
        if self.status == st.CONNECTING and self.stderr.connected:
            self.status, self._last_data = st.CONNECTED, now
        if self.status in (st.CONNECTING, st.CONNECTED) and self.progress.progress.frames > 0:
            self.status, self._last_data = st.RECORDING, now
        if self.connect_seconds is None and self.status != st.CONNECTING:
            self.connect_seconds = round(now - self._asking_since, 3)
        self._watch(now)
        # ffmpeg closes its pipes when it exits: only then (or now and then, in
        # case a child kept them open) is a waitpid worth its system call.
        if self._open_pipes > 0 and self._stop_sent is None and now - self._last_poll < 1.0:
            return
        self._last_poll = now
        if self.proc.poll() is not None:
            # Let the pipes drain (their last progress block tells the real length),
            # but never wait on them for more than a second.
            if self._exit_seen is None:
                self._exit_seen = now
                self._note_own_timeout_unanswered(now)
            if self._open_pipes <= 0 or now - self._exit_seen > 1.0:
                self._complete(wall)
                self.run_seconds = round(now - self._started, 3)

    def _watch(self, now: float) -> None:
        if self._stop_sent is not None:
            self._follow_stop(now - self._stop_sent)
            return
        flag = _timed_out(now, self._state_timer())
        if flag is None and self._past_length_reached():
            flag = self._past_length()  # what was received is the clip: end it gracefully
        if flag is None:
            flag = _timed_out(now, self._overstay_timer())
        if flag is None:
            return
        # A busy loop may look late: a process that already ended did so on its
        # own, and its own end decides the verdict, not a watchdog firing after it.
        if self.proc.poll() is not None:
            return
        if flag == "connect_timeout":
            self._flags[flag] = True
            self.proc.kill()  # nothing received: nothing to save
            self._stop_sent, self._escalated = now, True
        else:
            self._stop(now, flag)

    def _note_own_timeout_unanswered(self, exit_seen: float) -> None:
        """Flag an exit, seen with the server's answer still unseen, at or after the moment
        ffmpeg's own I/O timeout could have fired: a loop late by more than the gap between that
        backstop and the connection timeout sees a silent camera's ffmpeg end on its own, its
        words ("Invalid data found") those of a server that closes at once, which ends at once."""
        if self.status == st.CONNECTING and exit_seen - self._asking_since >= self._io_timeout:
            self._flags["own_timeout_unanswered"] = True

    def _state_timer(self) -> tuple[str, float, float] | None:
        """The timeout of the task's state: its flag, since when (monotonic), seconds allowed."""
        # The connection timeout runs from ffmpeg's start until the server answers (its SDP);
        # from then on, media that does not come (or stops) is the read timeout's.
        if self.status == st.CONNECTING:
            return "connect_timeout", self._asking_since, self.settings.connection_timeout_seconds
        if self.status in (st.CONNECTED, st.RECORDING):
            return "read_timeout", self._last_data, self.settings.read_timeout_seconds
        return None

    def _overstay_timer(self) -> tuple[str, float, float]:
        """The wall-clock guard of the whole process (never before a late-seen read timeout),
        from its spawn: it also ends an ffmpeg that never starts (says nothing)."""
        limits = self.settings
        return "overstayed", self._started, (limits.connection_timeout_seconds
                                             + self.planned.duration
                                             + limits.read_timeout_seconds
                                             + OVERSTAY_MARGIN_SECONDS + self.reads_lag_seconds)

    def _past_length_reached(self) -> bool:
        return self.status == st.RECORDING and self._media_left() <= 0

    def _media_left(self) -> float:
        """Seconds of media still to come before the clip is past its length (and margin)."""
        return self.planned.duration + OVERRUN_MARGIN_SECONDS - self.progress.progress.seconds

    def watch_due(self, now: float) -> float:
        """The monotonic time by which :meth:`tick` must run again for a watchdog to fire on
        time, from what was read so far (``now`` when a stop is being followed; inf when none
        can fire). A loop that wakes less often than the daemon's (a cluster job) sleeps no
        longer than this."""
        if self.finished or self.proc is None:
            return math.inf
        if self._stop_sent is not None:
            return now
        due = [since + limit for _, since, limit in
               filter(None, (self._state_timer(), self._overstay_timer()))]
        if self.status == st.RECORDING:  # the media's clock runs at the wall clock's pace
            due.append(now + self._media_left())
        return min(due)

    def _past_length(self) -> str:
        """Why a clip ran past its length: -t never fired (the camera's clock went back),
        or, with the picture checks, it fires only at the next keyframe (outcome.py)."""
        if self.picture is not None and not self.picture.went_back():
            return "length_reached"
        return "clock_went_back"

    def _stop(self, now: float, flag: str) -> None:
        self._flags[flag] = True
        self._stop_sent = now
        self.proc.interrupt()
        if flag == "read_timeout":  # stalled: blocked on a read that SIGINT alone leaves be
            self._follow_stop(STOP_ESCALATE_SECONDS)

    def _follow_stop(self, waited: float) -> None:
        """A stop sent ``waited`` seconds ago: the second signal, then, after the grace, kill."""
        if waited > STOP_GRACE_SECONDS:
            self.proc.kill()
        elif waited >= STOP_ESCALATE_SECONDS and not self._escalated:
            self._escalated = True
            self.proc.terminate()

    def cancel(self, now: float, wall: float) -> None:
        """Stop the task: a pending one is cancelled at once, a running one stopped gracefully."""
        if self.finished:
            return
        if self.proc is None:
            self._finish_now(wall, st.CANCELLED, "任务已取消")
            return
        if self.proc.poll() is not None:
            return  # it ended before the stop: the next tick judges how
        if self._stop_sent is None:
            self._stop(now, "cancelled")
        else:
            self._flags["cancelled"] = True

    def kill_now(self, wall: float) -> None:
        """Last resort at shutdown: kill ffmpeg and draw the verdict without draining its pipes."""
        if self.finished or self.proc is None:
            return
        self.kill_process()
        self._complete(wall)

    def kill_process(self) -> None:
        """SIGKILL ffmpeg and reap it (waiting STOP_GRACE_SECONDS at most); no verdict drawn."""
        self.proc.kill()
        try:
            self.proc.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            log.error("%s: ffmpeg %d survives SIGKILL", self.label, self.proc.pid)

    def _ensure_folder(self) -> None:
        # The cycle folder removed by hand mid-cycle (rm -rf): made again, so the
        # later tasks record instead of failing to write (never the camera's fault).
        folder = os.path.dirname(self.work_path)
        if os.path.isdir(folder):
            return
        try:
            os.mkdir(folder)
            log.warning("cycle folder %s vanished during the cycle; made it again",
                        os.path.dirname(self.display_path))
        except OSError as exc:  # its parent is gone too: ffmpeg's write failure says so
            log.error("cycle folder %s vanished and cannot be made again: %s",
                      os.path.dirname(self.display_path), exc.strerror)

    def skip(self, wall: float, status: int, message: str) -> None:
        """Give a task that never started its verdict now (its gateway is dead, its window over)."""
        if self.proc is None and not self.finished:
            self._finish_now(wall, status, message)

    def _finish_now(self, wall: float, status: int, message: str) -> None:
        self.status, self.error_message, self.end_wall = status, message, wall

    def _complete(self, wall: float) -> None:
        self.stderr.close()
        for pipe in (self.proc.stdout, self.proc.stderr):
            self.watcher.unwatch(pipe)
            pipe.close()
        facts = self._observe()
        self.clip_kept = self._keep_clip(needs_no_probe(facts))
        status, message = classify(replace(facts, clip_kept=self.clip_kept))
        if self.picture:
            prog = self.progress.progress
            # A clip cut short by a stop says nothing of the camera's picture over a clip's
            # length (a keyframe or two, figures cut mid-way): its thumbnail is kept, no
            # verdict is drawn from it, and no reference picture taken.
            self.quality = self.picture.finish(self.clip_kept, Recorded(
                prog.seconds, prog.frames, prog.total_size, self.stderr.announced_fps),
                judged=status != st.CANCELLED)
        self._finish_now(wall, status, mask_in_text(message, [self.stream["rtsp_url"]]))
        prog = self.progress.progress
        log.info("%s: %s (%d) %.1fs %s%s", self.label, st.status_name(status), status,
                 prog.seconds, counted(prog.frames, "frame"),
                 f" {self.error_message}" if self.error_message else "")

    def _observe(self) -> Observation:
        """What ffmpeg and the watchdogs saw (whether the clip is kept is decided after)."""
        prog = self.progress.progress
        stderr = self.stderr.text()
        return Observation(
            requested_seconds=self.planned.duration, recorded_seconds=prog.seconds,
            frames=prog.frames, exit_code=self.proc.returncode, stderr=stderr,
            last_line=self.stderr.last_line(), cancelled=self._flags.get("cancelled", False),
            connect_timeout=self._flags.get("connect_timeout", False),
            own_timeout_unanswered=self._flags.get("own_timeout_unanswered", False),
            read_timeout=self._flags.get("read_timeout", False),
            overstayed=self._flags.get("overstayed", False),
            clock_went_back=self._flags.get("clock_went_back", False),
            length_reached=self._flags.get("length_reached", False),
            write_failed=_write_failure(stderr, self.work_path))

    def _keep_clip(self, trusted: bool) -> bool:
        """Publish ffmpeg's work file as the clip if it holds playable media."""
        learned = self.stderr.codecs
        # A camera first seen as H.265 was recorded without the hvc1 tag players need.
        retag = (learned.video == "hevc" and (self.source is None or self.source.video != "hevc")
                 and container_of(self.final_path) in (".mp4", ".m4v", ".mov"))
        kept = finalize_clip(self.runner, self.work_path, self.final_path, trusted=trusted,
                             retag_hevc=retag)
        log.debug("clip %s kept=%s", self.display_path, kept)
        return kept

    # -- published fields --------------------------------------------------
    def as_dict(self) -> dict:
        """The task's record (shared/task_record.py); do not modify the result.

        The status file lists every task about once a second, and most have not
        changed since: the dict is rebuilt only when one of its inputs did.
        """
        prog = self.progress.progress
        key = (self.status, self.error_message, self.start_offset, self.run_seconds,
               self.start_wall, self.end_wall, prog.out_time_us, prog.total_size, prog.frames,
               self.clip_kept)
        if key != self._dict_key:
            self._dict_key, self._dict = key, self._build_dict()
        return self._dict

    def _build_dict(self) -> dict:
        prog = self.progress.progress
        # Until the verdict the clip may still come; after it, only a kept clip is named.
        output_file = self.display_path if self.clip_kept or not self.finished else None
        return task_record.build(
            task_id=self.planned.task_id, stream_index=self.planned.stream_index,
            rtsp_url=self.stream["rtsp_url"], output_file=output_file,
            duration_seconds=self.planned.duration, status=self.status,
            start_wall=self.start_wall, end_wall=self.end_wall,
            progress=round(min(prog.seconds, float(self.planned.duration)), 1),
            bytes_received=prog.total_size, frames_received=prog.frames,
            error_message=self.error_message, planned_offset=self.planned.offset,
            start_offset=self.start_offset, run_seconds=self.run_seconds, quality=self.quality)


def _write_failure(stderr: str, work_path: str) -> str:
    """Why ffmpeg could not write the clip ("" when it could): the recorder's side, not the camera's."""
    for marker, message in (("No space left on device", "磁盘空间不足, 写入失败"),
                            ("Read-only file system", "文件系统只读, 写入失败"),
                            (f"{work_path}: No such file or directory", "输出目录不存在, 写入失败"),
                            (f"{work_path}: Permission denied", "输出目录无写入权限, 写入失败")):
        if marker in stderr:
            return message
    return ""


def _timed_out(now: float, timer: tuple[str, float, float] | None) -> str | None:
    """The timer's flag when more than its seconds have passed since its start."""
    if timer is not None and now - timer[1] > timer[2]:
        return timer[0]
    return None
