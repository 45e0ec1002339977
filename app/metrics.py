"""``GET /metrics``: Prometheus text computed at scrape time from the status file and the history.

Nothing is counted inside a worker, so any number of gunicorn workers answer alike.
Per-camera series carry only the labels ``camera`` (id) and ``name``; cameras removed
from the config leave the metrics.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from app.context import cached_config, config_file, output_free_bytes
from app.scheduler import cycle_progress, local_status
from shared import history_read
from shared import task_status as st
from shared.camera_roster import ConfiguredCamera, configured_cameras
from shared.camera_state import STATES, camera_state
from shared.clock import SYSTEM_CLOCK
from shared.errors import ConfigUnavailable
from shared.history_read import CameraRow
from shared.history_schema import history_path
from shared.status_file import is_alive

bp = Blueprint("metrics", __name__)
PREFIX = "rtsp_patrol_"
_CAMERA_LABELS = ("camera", "name")


@dataclass
class Snapshot:
    """Everything one scrape shows, read once."""

    status: dict
    config: dict | None
    cameras: list[ConfiguredCamera] = field(default_factory=list)
    rows: dict[str, CameraRow] = field(default_factory=dict)
    clips: dict[str, tuple[int, float | None]] = field(default_factory=dict)
    outbox: int | None = None
    disk_free: int | None = None


def _snapshot() -> Snapshot:
    try:
        config = cached_config()
    except ConfigUnavailable:
        config = None
    snap = Snapshot(local_status(), config)
    if config is None:
        return snap
    snap.cameras = configured_cameras(config)
    with history_read.open_history(history_path(config_file())) as conn:
        if conn is not None:
            snap.rows = history_read.camera_rows(conn, SYSTEM_CLOCK.wall())
            snap.clips = history_read.last_clips(conn)
            snap.outbox = history_read.outbox_depth(conn)
    snap.disk_free = output_free_bytes(config)  # None: the series is left out
    return snap


def _gauge(name: str, text: str, labels: tuple[str, ...] = (), unit: str = "") -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, text, labels=list(labels) if labels else None,
                             unit=unit)


def _camera_families(snap: Snapshot) -> Iterator[Metric]:
    """Per-camera series; a series with nothing to say (never recorded) is left out."""
    table = {
        "camera_up": "1 when the camera's last task ended completed (4), 0 when it is failing",
        "camera_last_status": "Status code (0-9) of the camera's last task",
        "camera_last_success_timestamp_seconds": "When the camera's last completed task ended",
        "camera_consecutive_failures": "Failed tasks in a row since the last completed task",
        "camera_last_clip_bytes": "Size of the clip of the camera's last completed task",
        "camera_last_clip_duration_seconds": "Length of that clip, by the recorder's measure",
        "camera_uptime_24h_ratio": "Share of the camera's tasks of the last 24 h that ended completed (4)",
    }
    families = {key: _gauge(key, text, _CAMERA_LABELS) for key, text in table.items()}
    for camera in snap.cameras:
        row = snap.rows.get(camera.id)
        if row is None or row.last_status is None:
            continue
        labels = [camera.id, camera.name]
        clip = snap.clips.get(camera.id)
        values = {"camera_up": row.last_status == st.COMPLETED,
                  "camera_last_status": row.last_status,
                  "camera_last_success_timestamp_seconds": row.last_ok_at,
                  "camera_consecutive_failures": row.consecutive_failures,
                  "camera_last_clip_bytes": clip[0] if clip else None,
                  "camera_last_clip_duration_seconds": clip[1] if clip else None,
                  "camera_uptime_24h_ratio": row.uptime["uptime_24h"]}
        for key, value in values.items():
            if value is not None:
                families[key].add_metric(labels, float(value))
    yield from families.values()


def _state_family(snap: Snapshot) -> Metric:
    counts = dict.fromkeys(STATES, 0)
    for camera in snap.cameras:
        row = snap.rows.get(camera.id)
        counts[camera_state(row.last_status if row else None,
                            row.offline_since if row else None)] += 1
    family = _gauge("cameras", "Configured cameras by state", ("state",))
    for state, count in counts.items():
        family.add_metric([state], count)
    return family


def _heartbeat_age(status: dict) -> float | None:
    if isinstance(status.get("heartbeat_monotonic"), (int, float)):
        return max(0.0, SYSTEM_CLOCK.monotonic() - status["heartbeat_monotonic"])
    if isinstance(status.get("heartbeat"), (int, float)):
        return max(0.0, SYSTEM_CLOCK.wall() - status["heartbeat"])
    return None


def _recorder_families(snap: Snapshot) -> Iterator[Metric]:
    status = snap.status
    alive = is_alive(status)
    elapsed, total, _ = cycle_progress(status["cycle"], alive)
    values = {
        ("recorder_up", "1 while the recorder's heartbeat is fresh"): alive,
        ("recorder_heartbeat_age_seconds", "Seconds since the recorder's last heartbeat"):
            _heartbeat_age(status),
        ("scheduler_running", "1 while the scheduler runs cycles"):
            alive and status["scheduler_running"],
        ("cycle_number", "Number of the current or last cycle"): status["current_cycle"],
        ("cycle_running", "1 while a cycle is being recorded"):
            alive and bool(status["cycle"].get("running")),
        ("cycle_progress_ratio", "Share of the current cycle's planned time elapsed"):
            min(1.0, elapsed / total) if total else 0.0,
        ("config_error", "1 when the recorder or the API cannot use config.json"):
            snap.config is None or status["config_error"] is not None,
        ("disk_free_bytes", "Free bytes on the output folder's file system"): snap.disk_free,
        ("alert_outbox_depth", "Alert events not delivered yet"): snap.outbox,
        ("history_available", "1 when the history database can be read"):
            snap.outbox is not None,
    }
    for (name, text), value in values.items():
        if value is not None:
            yield GaugeMetricFamily(PREFIX + name, text, value=float(value))


def _task_family(status: dict) -> Metric:
    family = _gauge("tasks", "Tasks of the current cycle by status", ("status", "status_name"))
    codes = [task.get("status") for task in status["tasks"]]
    for code, name in st.NAMES.items():
        family.add_metric([str(code), name], codes.count(code))
    return family


class _Collector:
    """The families of one snapshot (prometheus_client's custom collector protocol)."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        yield from _recorder_families(self.snap)
        yield _task_family(self.snap.status)
        yield _state_family(self.snap)
        yield from _camera_families(self.snap)


@bp.get("/metrics")
def metrics():
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(_snapshot()))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
