"""The overview ``/`` and its live fragment (polled every 2 s, only what changed)."""
from __future__ import annotations

from flask import make_response, render_template, request

from app.console import bp, data
from app.requests import query_int
from shared import history_read
from shared.camera_state import camera_state
from shared.camera_roster import configured_cameras

MAX_CURSOR = 2**62


@bp.get("/")
def overview():
    config, error = data.config_or_error()
    recorder = data.recorder_state(config)
    with data.history() as conn:
        items = data.with_heartbeats(conn, data.camera_summaries(conn, config)) if config else []
        cursor = history_read.latest_id(conn) if conn else 0
    return render_template("console/overview.html", cameras=items, counts=data.counts(items),
                           recorder=recorder,
                           config_error=data.banner_config_error(error, recorder),
                           cursor=cursor, roster=data.roster_version(config))


def _state_counts(conn, config: dict) -> dict[str, int]:
    """Counts by state from the cameras table alone (no uptime sums: this runs every 2 s)."""
    inputs = history_read.state_inputs(conn) if conn else {}
    states = [camera_state(*inputs.get(camera.id, (None, None)))
              for camera in configured_cameras(config)]
    return {state: states.count(state) for state in data.counts([])}


@bp.get("/overview/live")
def overview_live():
    after = query_int("after", 0, 0, MAX_CURSOR)
    config, error = data.config_or_error()
    if request.args.get("roster") != data.roster_version(config):
        response = make_response("")
        response.headers["HX-Refresh"] = "true"  # cameras added or removed: rebuild the page
        return response
    recorder = data.recorder_state(config)
    changed, counts = [], dict.fromkeys(data.counts([]), 0)
    with data.history() as conn:
        if conn is not None and config is not None:
            ids, after = history_read.changed_since(conn, after, data.LIVE_CHANGES)
            changed = data.with_heartbeats(conn, data.camera_summaries(conn, config, set(ids)))
            counts = _state_counts(conn, config)
    return render_template("console/_live.html", cameras=changed, counts=counts,
                           recorder=recorder,
                           config_error=data.banner_config_error(error, recorder),
                           cursor=after, roster=request.args.get("roster"))
