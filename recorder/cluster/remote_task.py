"""The coordinator's view of one task a worker records: enqueued at its planned start, read back."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace

from redis import Redis
from redis.exceptions import RedisError
from rq.job import JobStatus

from recorder.cluster import link
from recorder.cluster.camera_facts import CameraFacts
from recorder.cluster.exchange import POLL_SECONDS, Exchange
from recorder.cluster.outage import OUTAGE
from recorder.cluster.task_job import payload, remove_attempt_files
from recorder.ffmpeg_command import SourceCodecs
from recorder.ffmpeg_output import Progress, ProgressParser
from recorder.picture_check import outcome_held_to_reference
from recorder.planner import PlannedTask
from recorder.recording import task_label
from shared import task_record
from shared import task_status as st
from shared.clip_names import thumbnail_name
from shared.cluster_config import cluster_settings
from shared.global_settings import GlobalSettings
from shared.timefmt import format_local, parse_local

log = logging.getLogger(__name__)
WORKER_LOST = "工作节点异常退出, 重试后仍未完成"
# How far a worker host's clock may be from the coordinator's and its end times still be
# taken (whole seconds, and skew); a time zone apart is 15 min at least.
CLOCKS_APART = 300.0
QUEUED_AT_END = "未调度: 本轮时间窗口已过, 没有空闲的工作节点"
# Never enqueued: Redis was away, or refused it (full), until the window ended.
NOT_ENQUEUED = "未调度: 本轮时间窗口已过, 集群的 Redis 未接受任务 ({reason})"
# A job Redis no longer knows, with no worker's record either, for this long: enqueued again.
# Longer than a recording worker takes to write its record again after Redis came back (its
# progress every 5 s, a batch worker's 5 s pause after a failed write): a job still recording
# is not recorded a second time (if it is, the new attempt has a file of its own: JobSpec).
VANISHED_GRACE_SECONDS = 15.0
# Beyond its job timeout, per attempt: RQ's own kill of a stuck work horse (60 s) and a dead
# host's heartbeat running out, before an attempt that never reported is given up.
GIVE_UP_MARGIN_SECONDS = 150
# What a worker runs for a job: a bench (bench/cluster_coordinator.py) swaps in its fake.
JOB_FUNCTION = link.RUN_TASK


@dataclass(frozen=True)
class RemoteContext:
    """What every task of one cluster cycle shares."""

    connection: Redis
    queue: str
    cycle_name: str
    cycle_dir: str
    display_dir: str
    settings: GlobalSettings
    global_config: dict
    window_end: float  # monotonic
    exchange: Exchange  # the cycle's batched Redis round trips
    # The cameras' reference pictures (this recorder's, as a single box's): each worker's
    # picture verdict is held against them here (None: not compared).
    references_dir: str | None = None


@dataclass(frozen=True)
class Thumbnail:
    """What the contact sheet reads of Recording's picture check: the thumbnail's path."""

    path: str


class RemoteRecording:
    """Quacks like recorder/recording.py's Recording for Cycle; the work is a worker's."""

    def __init__(self, planned: PlannedTask, stream: dict, context: RemoteContext,
                 source: SourceCodecs | None) -> None:
        self.planned, self.stream, self.context, self.source = planned, stream, context, source
        self.job = link.job_id(context.queue, context.cycle_name, planned.stream_index)
        self.status, self.error_message = st.PENDING, ""
        # What the worker learned of the camera (codecs, size), from its outcome: read where
        # a Recording's stderr is (Cycle keeps the codecs for the next command, the history).
        self.stderr = CameraFacts()
        self.display_path = os.path.join(context.display_dir, stream["output_filename"])
        self.connect_seconds: float | None = None  # measured on the worker, with its outcome
        # Where the worker's picture checks leave the thumbnail (for the contact sheet).
        self.picture = Thumbnail(os.path.join(context.cycle_dir, thumbnail_name(
            stream["output_filename"]))) if context.settings.quality.enabled else None
        self.proc: str | None = None  # the job id, once enqueued
        self._wanted = False  # start() was called: enqueued, or to be once Redis answers
        self._left_to_worker = False  # the coordinator stopped while a worker recorded it
        self.start_wall: float | None = None
        self.end_wall: float | None = None
        self.start_offset: float | None = None
        self.run_seconds: float | None = None
        self.clip_kept = False
        self._record: dict | None = None
        self._dict_record: dict | None = None  # as_dict's inputs when it last built its dict
        self._dict_key: tuple = ()
        self._dict: dict = {}
        self._last_try = 0.0  # when it last asked to be enqueued
        self._missing_since: float | None = None
        self._enqueues = 0  # how often its job was put on the queue (again when Redis forgot it)
        self._deadline = float("inf")  # set when enqueued

    @property
    def finished(self) -> bool:
        """True once the verdict is in."""
        return self.status in st.FINISHED

    @property
    def settled(self) -> bool:
        """Its job was enqueued and its verdict is this coordinator's to report (not left to its
        worker by a stop): once the report is written, Redis need not keep the job's traces."""
        return self.proc is not None and self.finished and not self._left_to_worker

    def start(self, now: float, wall: float) -> None:
        """Enqueue the job (at this step's exchange); while Redis is away it is tried again
        each poll until the window ends."""
        self._wanted, self._last_try = True, now
        self.start_wall = self.start_wall or wall
        self.context.exchange.want(self)

    @property
    def _attempts_so_far(self) -> int:
        """The most attempts its jobs enqueued so far may have had (each one and its retries)."""
        return self._enqueues * (link.RETRIES + 1)

    def job_of(self, now: float) -> tuple[link.JobSpec, dict]:
        """The job's spec and payload, enqueued at monotonic ``now``."""
        c = self.context
        spec = replace(link.job_spec(c.queue, c.cycle_name, self.planned.stream_index,
                                     self.stream, self.planned.duration, c.settings,
                                     c.window_end - now),
                       attempts_before=self._attempts_so_far)
        return spec, payload(self.planned, self.stream, c.cycle_dir, c.display_dir,
                             c.global_config, c.queue, self.source)

    def enqueued(self, spec: link.JobSpec) -> None:
        """The exchange put the job on the queue."""
        self.proc = self.job
        self._enqueues += 1
        self._deadline = self.context.window_end + (link.RETRIES + 1) * (
            spec.timeout + GIVE_UP_MARGIN_SECONDS)
        log.info("%s: enqueued as job %s (gateway %s)", task_label(self.planned, self.stream),
                 self.job, spec.gateway)

    def tick(self, now: float, wall: float) -> None:
        """Read the job's record and outcome; end it when its window is over and none took it."""
        if self.finished or not self._wanted:
            return
        self.context.exchange.step(now)  # the step's enqueues and reads, for every task at once
        if self.proc is None:  # not enqueued yet: Redis was away at its start
            if now - self._last_try < POLL_SECONDS:
                return
            if now >= self.context.window_end:
                self._finish(wall, st.CANCELLED, NOT_ENQUEUED.format(
                    reason=OUTAGE.last_failure or "?"))
            else:
                self.start(now, wall)
            return
        reading = self.context.exchange.reading(self.job)
        if reading is not None:
            self._follow(*reading, now=now, wall=wall)

    def _follow(self, record: dict | None, outcome: dict | None, status: str | None,
                now: float, wall: float) -> None:
        """Act on one reading of the job: its outcome, its last record, or RQ's word of it
        (``status`` None: not read this poll; "": RQ knows no such job)."""
        if outcome is not None:
            self._take(outcome, final=True, wall=wall)
        elif now >= self._deadline or status == JobStatus.FAILED.value:
            self._give_up(wall)
        elif record is not None:
            self._take(record, final=False, wall=wall)
        elif status is None:  # its record is gone (Redis restarted): RQ is asked next poll
            pass
        elif not status:
            self._vanished(now, wall)
        elif now >= self.context.window_end and self._cancel_queued():
            self._finish(wall, st.CANCELLED, QUEUED_AT_END)
        if status:
            self._missing_since = None

    def _vanished(self, now: float, wall: float) -> None:
        """Redis forgot the job (restarted without persistence, or its TTL ran out)."""
        if now >= self.context.window_end:
            self._finish(wall, st.CANCELLED, QUEUED_AT_END)
            return
        if self._missing_since is None:
            self._missing_since = now
        elif now - self._missing_since >= VANISHED_GRACE_SECONDS:  # no worker is on it either
            log.warning("job %s vanished from Redis (restarted?); enqueuing it again", self.job)
            self._missing_since = None
            self.start(now, wall)  # Redis away again: tried again after the grace

    def _give_up(self, wall: float) -> None:
        """No attempt will report: its workers died (and the retry too), or it overran all bounds."""
        status = self._record.get("status", st.PENDING) if self._record else st.PENDING
        if status in st.FINISHED:  # the worker's own last record is as good as its outcome
            self._take(self._record, final=True, wall=wall)
            return
        # Cancelled, not a recording error: the camera did nothing wrong, and its history and
        # alerts must not count it (as a task a dead single-box recorder left).
        self._finish(wall, st.CANCELLED, WORKER_LOST)
        remove_attempt_files(self.context.cycle_dir, self.stream["output_filename"],
                             self._attempts_so_far)

    def _take(self, record: dict, final: bool, wall: float) -> None:
        self._record = record
        status = record.get("status", st.PENDING)
        self.status = status if final or status not in st.FINISHED else st.RECORDING
        self.error_message = record.get("error_message", "")
        self.clip_kept = final and bool(record.get("output_file"))
        self.run_seconds = record.get("run_seconds")
        if final:
            self.end_wall = _worker_end(record, self.start_wall, wall)
            self.stderr = CameraFacts.of_outcome(record)
            self.connect_seconds = self.stderr.connect_seconds
            if self.clip_kept:
                self._record = outcome_held_to_reference(
                    record, self.context.cycle_dir, self.context.references_dir,
                    self.context.settings.quality)

    def _cancel_queued(self) -> bool:
        try:
            return link.cancel_queued(self.context.connection, self.job)
        except RedisError:
            return False

    def _finish(self, wall: float, status: int, message: str) -> None:
        self.status, self.error_message, self.end_wall = status, message, wall

    def cancel(self, now: float, wall: float) -> None:
        """Cancel a task no worker has taken; a running one ends on its worker by itself."""
        if self.finished:
            return
        if self.proc is None or self._cancel_queued():
            self._finish(wall, st.CANCELLED, "任务已取消")

    def kill_now(self, wall: float) -> None:
        """The coordinator stops: the task is left to its worker, reported as cancelled here."""
        if not self.finished:
            self._left_to_worker = self.proc is not None
            self._finish(wall, st.CANCELLED, task_record.INTERRUPTED_MESSAGE)

    def skip(self, wall: float, status: int, message: str) -> None:
        """Give a task that was never enqueued its verdict now."""
        if self.proc is None and not self.finished:
            self._finish(wall, status, message)

    @property
    def progress(self) -> ProgressParser:
        """The worker's last figures, as Recording's parser holds them (for the history)."""
        record = self._record or {}
        return ProgressParser(Progress(
            out_time_us=int(1_000_000 * float(record.get("progress") or 0)),
            total_size=int(record.get("bytes_received") or 0),
            frames=int(record.get("frames_received") or 0)))

    @property
    def quality(self) -> dict:
        """The worker's picture verdict (its record's ``quality``; unchecked without one), as
        the status and the reports show it, for the history."""
        return self.as_dict()["quality"]

    def as_dict(self) -> dict:
        """The task's record: the worker's, with the coordinator's offsets and verdict; do
        not modify the result.

        As Recording's: the status lists every task about once a second, and most (queued,
        ended) have not changed since, so the dict is rebuilt only when an input did (the
        worker's record is a new object only when a poll read new bytes:
        exchange.RecordMemo).
        """
        key = (self.status, self.error_message, self.start_offset)
        if self._record is not self._dict_record or key != self._dict_key:
            self._dict_record, self._dict_key, self._dict = self._record, key, self._build_dict()
        return self._dict

    def _build_dict(self) -> dict:
        raw = dict(self._record or {})
        raw.update(task_id=self.planned.task_id, stream_index=self.planned.stream_index,
                   rtsp_url=self.stream["rtsp_url"], duration_seconds=self.planned.duration,
                   status=self.status, error_message=self.error_message,
                   planned_offset=self.planned.offset, start_offset=self.start_offset)
        # As Recording's: once ended, only a kept clip is named (or one its worker may still
        # finish, the coordinator having stopped: as it was named while it recorded).
        if self.finished and not (self.clip_kept or self._left_to_worker):
            raw["output_file"] = None
        if self.finished and not raw.get("end_time"):  # ended here (stopped, given up, queued)
            raw["end_time"] = format_local(self.end_wall)
        return task_record.from_stored(raw)


def _worker_end(record: dict, start_wall: float | None, wall: float) -> float:
    """When the worker ended the task (its record's end time, as the report shows it, so the
    history and a later import of the report agree); ``wall``, when the coordinator learned
    it, if that time is missing or cannot be on this clock (before the task's start, or later
    than now, by more than hosts' clocks differ: a worker host in another time zone, offsets
    of 15 min at least)."""
    ended = parse_local(record.get("end_time"))
    earliest = start_wall if start_wall is not None else wall
    return ended if ended is not None and earliest - CLOCKS_APART <= ended <= wall + CLOCKS_APART \
        else wall


def retire(tasks: list) -> None:
    """A cluster cycle's report is written: what its settled jobs left in Redis goes soon
    (:func:`link.retire`); with Redis away it stays its day."""
    settled = [task for task in tasks if isinstance(task, RemoteRecording) and task.settled]
    if not settled:
        return
    context = settled[0].context  # one per cycle
    try:
        link.retire(context.connection, context.queue, [task.job for task in settled])
    except RedisError as exc:
        OUTAGE.failed(exc)


def task_factory(config: dict, settings: GlobalSettings, cycle_dir: str, display_dir: str,
                 now: float, references_dir: str | None = None):
    """Cycle's ``make_task`` for a cluster cycle starting at monotonic ``now``."""
    cluster = cluster_settings(config)
    connection = link.shared_connection(cluster)
    context = RemoteContext(connection, cluster.queue, os.path.basename(cycle_dir), cycle_dir,
                            display_dir, settings, config["global_config"],
                            now + settings.total_poll_duration_seconds,
                            Exchange(connection, cluster.queue, JOB_FUNCTION), references_dir)
    return lambda planned, stream, source: RemoteRecording(planned, stream, context, source)
