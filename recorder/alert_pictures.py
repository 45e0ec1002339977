"""The picture a camera event links to: the absolute URL of a clip's thumbnail (README "Alerts").

Only with ``global_config.alerts.public_url`` set: the recorder does not otherwise know
where the API is reached. A kept clip of a cycle whose picture was checked has a
thumbnail beside it (recorder/picture_check.py judges only a thumbnail it published), so
the history's outcome rows say which clips have one without a look at the disk (until
retention or a deletion removes it: the link then answers 404). Only a cycle's clip is
linked: a check's or a probe's is not the camera's patrol picture (and a probe keeps none).
"""
from __future__ import annotations

import json
import os
import sqlite3

from shared import event_names as ev
from shared import task_status as st
from shared.output_tree import thumbnail_url

# The newest completed cycle task of a camera that kept its clip, up to a time: its picture
# is the camera's last good one. An index seek on (camera, ended), read backwards.
_LAST_GOOD_SQL = ("SELECT cycle, clip, quality FROM outcomes WHERE camera = ? AND ended <= ?"
                  " AND status = ? AND kind = 'cycle' AND clip IS NOT NULL"
                  " ORDER BY ended DESC LIMIT 1")


def picture_link(public_url: str | None, kind: str, cycle: str, clip: str | None,
                 quality: dict | str | None) -> str | None:
    """The absolute thumbnail URL of a task's clip; None when it has none or no public URL.

    ``quality`` as the task has it (a dict) or as the history stores it (JSON text).
    """
    if not public_url or kind != "cycle" or not clip:
        return None
    if isinstance(quality, str):
        try:
            quality = json.loads(quality)
        except ValueError:
            return None
    if not isinstance(quality, dict) or not quality.get("checked"):
        return None
    return public_url.rstrip("/") + thumbnail_url(cycle, os.path.basename(clip))


def last_good_picture(conn: sqlite3.Connection, public_url: str | None, camera: str,
                      until: float) -> str | None:
    """The thumbnail URL of ``camera``'s last completed clip that ended by ``until``, or None."""
    if not public_url:
        return None
    row = conn.execute(_LAST_GOOD_SQL, (camera, until, st.COMPLETED)).fetchone()
    return picture_link(public_url, "cycle", *row) if row else None


def with_picture(body: dict, picture: str | None) -> dict:
    """A camera event's ``body`` with its picture: ``camera.thumbnail`` and a line of the message
    (the recovered camera's new picture; the offline one's last good picture)."""
    if picture is None:
        return body
    label = "恢复后画面" if body["event"] == ev.CAMERA_RECOVERED else "最后正常画面"
    return {**body, "message": f"{body['message']}\n{label}：{picture}",
            "camera": {**body["camera"], "thumbnail": picture}}
