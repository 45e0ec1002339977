"""A finished task as the history keeps it: one frozen record, from a live Recording or a report."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from shared.camera_state import camera_id
from shared.urls import mask_credentials


@dataclass(frozen=True)
class FinishedTask:
    """One outcome row's values plus what the camera row and its events need (SPEC "History")."""

    camera: str            # camera_id(output_filename)
    name: str | None       # the stream's display name, "" when it has none, None: its stream
    #                        is not configured (the history keeps the name it knows)
    url: str               # masked
    alerts: bool           # False: no camera events for it
    cycle: str             # the cycle folder
    ended: float
    status: int
    error: str = ""
    kind: str = "cycle"
    planned_start: float | None = None
    started: float | None = None
    connect_seconds: float | None = None
    bytes: int = 0
    frames: int = 0
    clip_seconds: float | None = None
    codec: str | None = None
    resolution: str | None = None
    clip: str | None = None
    # The task record's ``quality`` object (shared/task_record.py), stored as JSON; None: unknown
    # (an old report without one).
    quality: dict | None = None
    check_id: int | None = None  # a camera check's (kind check or probe) id; None: a cycle's
    # Read back from a cycle's report (a recovery, a takeover's late report, an import), not
    # a verdict drawn now: older than the camera's last outcome, it is history only and never
    # moves the camera's state back (nor raises an event from the past).
    from_report: bool = False


@lru_cache(maxsize=16_384)
def _identity(output_filename: str, rtsp_url: str) -> tuple[str, str]:
    # The same for every task of a stream: worked out once per stream, not per task
    # (a third of building a record, on the recording loop; docs/PERFORMANCE.md).
    return camera_id(output_filename), mask_credentials(rtsp_url)


def from_recording(cycle_name: str, cycle_start_wall: float, task) -> FinishedTask:
    """The record of ``task`` (a recorder.recording.Recording with its verdict in)."""
    stream, prog = task.stream, task.progress.progress
    camera, url = _identity(stream["output_filename"], stream["rtsp_url"])
    return FinishedTask(
        camera=camera, name=stream.get("name", ""), url=url, alerts=stream.get("alerts", True),
        cycle=cycle_name, planned_start=cycle_start_wall + task.planned.offset,
        started=task.start_wall, ended=task.end_wall, status=task.status,
        error=task.error_message, connect_seconds=task.connect_seconds,
        bytes=prog.total_size, frames=prog.frames,
        clip_seconds=round(prog.seconds, 3) if task.proc is not None else None,
        codec=task.stderr.codecs.video, resolution=task.stderr.resolution,
        clip=task.display_path if task.clip_kept else None, quality=task.quality)
