"""Per-camera health (SPEC "Per-camera API"): every configured camera joined with its history.

No history database yet is no error: every camera is then ``unknown``.
"""
from __future__ import annotations

import re
from datetime import datetime

from flask import Blueprint, jsonify

from app.context import cached_config, config_file, control_file, output_dir
from app.errors import ApiError
from app.requests import query_flag, query_int, query_text
from app.results import MAX_OFFSET, MAX_PAGE
from app.scheduler import require_recorder
from shared import camera_view, history_read, output_tree
from shared.camera_roster import configured_cameras
from shared.camera_state import STATES
from shared.clock import SYSTEM_CLOCK
from shared.control_file import request_check
from shared.errors import NotFound
from shared.history_schema import history_path
from shared.output_rule import OutputRefused

bp = Blueprint("cameras", __name__, url_prefix="/api/cameras")

# GET /api/cameras/<id> shows this many of its newest outcomes; also the history's default page.
RECENT_OUTCOMES = 100
# "+08:00" sent unencoded in a query string arrives as " 08:00".
_SPACED_OFFSET_RE = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


def _history():
    return history_read.open_history(history_path(config_file()))


def _states() -> set[str] | None:
    text = query_text("state")
    if text is None:
        return None
    states = set(text.split(","))
    if not states <= set(STATES):
        raise ApiError(400, "参数 state 必须是 " + ", ".join(STATES) + " 之一 (可用逗号分隔多个)")
    return states


def _sort() -> str:
    sort = query_text("sort")
    if sort is None:
        return "config"
    if sort.removeprefix("-") not in camera_view.SORT_KEYS:
        raise ApiError(400, "参数 sort 必须是 " + ", ".join(camera_view.SORT_KEYS)
                       + " 之一 (前加 - 表示倒序)")
    return sort


@bp.get("")
def list_cameras():
    states, sort, include_removed = _states(), _sort(), query_flag("include_removed")
    limit = query_int("limit", MAX_PAGE, 1, MAX_PAGE)
    offset = query_int("offset", 0, 0, MAX_OFFSET)
    config = cached_config()
    with _history() as conn:
        rows = history_read.camera_rows(conn, SYSTEM_CLOCK.wall()) if conn else {}
    items = camera_view.summaries(configured_cameras(config), rows, include_removed,
                                  last_clip_thumbnails(rows, config))
    if states is not None:
        items = [item for item in items if item["state"] in states]
    items = camera_view.sort_summaries(items, sort)
    page = items[offset:offset + limit]
    return jsonify(count=len(page), total=len(items), cameras=page, limit=limit, offset=offset,
                   sort=sort)


def clip_thumbnails(clips: list[str | None], config: dict | None = None) -> dict[str, str]:
    """The thumbnail URL of each clip (a history path) that has one (none when the output
    folder cannot be read: a camera's health does not depend on it)."""
    try:
        return output_tree.thumbnail_urls(output_dir(config)[0], clips)
    except (OutputRefused, OSError):
        return {}


def last_clip_thumbnails(rows: dict[str, history_read.CameraRow],
                         config: dict) -> dict[str, str]:
    """:func:`clip_thumbnails` of the rows' last clips."""
    return clip_thumbnails([row.last_clip for row in rows.values()], config)


def camera_summary(conn, camera: str) -> dict:
    """One camera's summary, configured or removed. :raises NotFound:"""
    config = cached_config()
    rows = history_read.camera_rows(conn, SYSTEM_CLOCK.wall(), only=camera) if conn else {}
    thumbnails = last_clip_thumbnails(rows, config)
    for configured in configured_cameras(config):
        if configured.id == camera:
            return camera_view.summary(configured, rows.get(camera), thumbnails=thumbnails)
    row = rows.get(camera)
    if row is None:
        raise NotFound(f"摄像头不存在: {camera}")
    return camera_view.removed_summary(row, thumbnails)


@bp.get("/<camera>")
def get_camera(camera: str):
    with _history() as conn:
        found = camera_summary(conn, camera)
        recent = history_read.outcomes(conn, camera, limit=RECENT_OUTCOMES) if conn else []
    return jsonify(**found, history=[camera_view.outcome(row) for row in recent])


def _time_param(name: str) -> float | None:
    """``since``/``until``: epoch seconds or an ISO 8601 time (local time when it has no offset)."""
    text = query_text(name)
    if text is None:
        return None
    try:
        if text.isascii() and text.replace(".", "", 1).isdigit():
            return float(text)
        return datetime.fromisoformat(_SPACED_OFFSET_RE.sub(r"\1+\2", text)).timestamp()
    except (ValueError, OverflowError, OSError):
        raise ApiError(400, f"参数 {name} 必须是 ISO 8601 时间或 Unix 秒数") from None


@bp.get("/<camera>/history")
def camera_history(camera: str):
    since, until = _time_param("since"), _time_param("until")
    limit = query_int("limit", RECENT_OUTCOMES, 1, MAX_PAGE)
    offset = query_int("offset", 0, 0, MAX_OFFSET)
    with _history() as conn:
        camera_summary(conn, camera)  # 404 for a camera neither configured nor recorded
        rows = history_read.outcomes(conn, camera, since=since, until=until, limit=limit,
                                     offset=offset) if conn else []
    return jsonify(camera=camera, count=len(rows), history=[camera_view.outcome(r) for r in rows],
                   limit=limit, offset=offset)


@bp.post("/<camera>/check")
def check_camera(camera: str):
    """Ask the recorder to check ``camera`` now (``?probe=1``: connect and read 2 s only).

    200 once the request is in the control file: the recorder takes it within a second.
    """
    probe = query_flag("probe")
    status = require_recorder()  # first: with the recorder down no camera can be checked
    if camera not in {configured.id for configured in configured_cameras(cached_config())}:
        raise NotFound(f"摄像头不存在: {camera}")
    request = request_check(control_file(), status, camera, probe)
    message = "已请求探测摄像头" if probe else "已请求立即检查摄像头"
    return jsonify(success=True, message=message, check_id=request["id"], camera=camera,
                   kind="probe" if probe else "check")
