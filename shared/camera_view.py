"""The per-camera answers (SPEC "Per-camera API"): configured cameras joined with their history."""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from shared import camera_state as cs
from shared.camera_roster import ConfiguredCamera
from shared.history_read import CameraRow
from shared.task_status import status_name
from shared.timefmt import format_iso
from shared.urls import mask_credentials

# The fields of a camera summary, in answer order (SPEC's list, then ``removed``).
SUMMARY_FIELDS = ("id", "name", "rtsp_url", "state", "last_status", "last_status_name",
                  "last_error", "last_ok_at", "offline_since", "consecutive_failures",
                  "uptime_24h", "uptime_7d", "uptime_30d", "last_clip", "thumbnail", "removed")
# ``?sort=`` keys (a leading "-" sorts descending); "config" is the config's own order.
SORT_KEYS = ("config", "id", "name", "state", "last_status", "last_ok_at", "offline_since",
             "consecutive_failures", "uptime_24h", "uptime_7d", "uptime_30d")
# Worst first: what an operator looks at when sorting by state.
_STATE_RANK = {cs.OFFLINE: 0, cs.DEGRADED: 1, cs.UNKNOWN: 2, cs.ONLINE: 3}
_OUTCOME_TIMES = ("planned_start", "started", "ended")
_NONE: Mapping[str, str] = MappingProxyType({})


def summary(camera: ConfiguredCamera, row: CameraRow | None, removed: bool = False,
            thumbnails: Mapping[str, str] = _NONE) -> dict:
    """One camera's summary; ``row`` None: never recorded (``unknown``).

    Its state and ``offline_since`` are the recorder's, as stored with its alerts
    (shared/camera_state.py::camera_state), whatever ``offline_after_failures`` says now.

    ``thumbnails``: the thumbnail URL of each last clip that has one now
    (shared/output_tree/listing.py::thumbnail_urls); ``thumbnail`` is null for the others.
    """
    if row is None:
        return {"id": camera.id, "name": camera.name, "rtsp_url": camera.url,
                "state": cs.UNKNOWN, "last_status": None, "last_status_name": None,
                "last_error": "", "last_ok_at": None, "offline_since": None,
                "consecutive_failures": 0, "uptime_24h": None, "uptime_7d": None,
                "uptime_30d": None, "last_clip": None, "thumbnail": None, "removed": removed}
    state = cs.camera_state(row.last_status, row.offline_since)
    return {"id": camera.id, "name": camera.name, "rtsp_url": camera.url, "state": state,
            "last_status": row.last_status, "last_status_name": status_name(row.last_status),
            "last_error": row.last_error, "last_ok_at": format_iso(row.last_ok_at),
            "offline_since": format_iso(row.offline_since),
            "consecutive_failures": row.consecutive_failures, **row.uptime,
            "last_clip": row.last_clip, "thumbnail": thumbnails.get(row.last_clip or ""),
            "removed": removed}


def summaries(configured: list[ConfiguredCamera], rows: dict[str, CameraRow],
              include_removed: bool = False,
              thumbnails: Mapping[str, str] = _NONE) -> list[dict]:
    """Every configured camera in config order, then (when asked) removed ones by id."""
    found = [summary(camera, rows.get(camera.id), thumbnails=thumbnails)
             for camera in configured]
    if include_removed:
        known = {camera.id for camera in configured}
        found += [removed_summary(row, thumbnails)
                  for key, row in sorted(rows.items()) if key not in known]
    return found


def removed_summary(row: CameraRow, thumbnails: Mapping[str, str] = _NONE) -> dict:
    """The summary of a camera no longer in the config, from what its history kept."""
    return summary(ConfiguredCamera(row.id, row.name, mask_credentials(row.url)), row,
                   removed=True, thumbnails=thumbnails)


def sort_summaries(items: list[dict], sort: str) -> list[dict]:
    """``items`` ordered by a :data:`SORT_KEYS` key (``-key``: descending); nulls always last."""
    key = sort.lstrip("-")
    if key == "config":
        return list(reversed(items)) if sort.startswith("-") else list(items)
    present = [item for item in items if item[key] is not None]
    present.sort(key=lambda item: _sort_value(item, key), reverse=sort.startswith("-"))
    return present + [item for item in items if item[key] is None]


def _sort_value(item: dict, key: str) -> object:
    if key == "state":
        return _STATE_RANK[item["state"]]
    if key in ("id", "name"):
        return (item[key].casefold(), item[key])
    if key in ("last_ok_at", "offline_since"):  # the offsets differ across a DST change
        return datetime.fromisoformat(item[key]).timestamp()
    return item[key]


def outcome(row: dict) -> dict:
    """An outcome row as the history answers show it: ISO times, the status named, quality parsed."""
    item = {}
    for column, value in row.items():
        item[column] = format_iso(value) if column in _OUTCOME_TIMES else value
        if column == "status":
            item["status_name"] = status_name(value)
    item["quality"] = parsed_quality(row.get("quality"))
    return item


def parsed_quality(text: str | None) -> dict | None:
    """An outcome's stored ``quality`` (JSON text) as an object; None for none or a damaged one."""
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None  # a damaged value hides the verdict, not the outcome
    return value if isinstance(value, dict) else None
