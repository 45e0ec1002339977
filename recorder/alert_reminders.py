"""``camera.reminder``: while a camera stays offline, a reminder every ``remind_every_hours``."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection

from recorder import alert_outbox
from recorder.alert_pictures import last_good_picture, with_picture
from recorder.alert_receivers import targets_for
from shared.event_names import CAMERA_REMINDER
from shared.task_record import short_error
from shared.task_status import status_name
from shared.timefmt import format_iso, format_local

HOUR = 3600.0

# Due: in an outage whose camera.offline was raised (history_outages.camera_change), and
# neither the outage's start nor the last reminder of this outage (an older one belongs to an
# earlier outage) is less than the period ago.
_DUE_SQL = ("SELECT id, name, url, last_status, last_error, consecutive_failures,"
            " coalesce(failing_since, offline_since), offline_since FROM cameras"
            " WHERE offline_since IS NOT NULL AND offline_alerted = 1"
            " AND max(offline_since, coalesce(last_reminded, 0)) + ? <= ? ORDER BY id")


def remind_due(conn: sqlite3.Connection, alerts: dict, wall: float,
               remindable: Collection[str] | None) -> int:
    """Queue the reminders due at ``wall`` in one transaction; the number of cameras reminded.

    ``remindable``: the configured cameras whose alerts are on (None: every camera).
    """
    hours = int(alerts.get("remind_every_hours") or 0)
    targets = targets_for(CAMERA_REMINDER, alerts)
    if hours <= 0 or not targets:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        due = [row for row in conn.execute(_DUE_SQL, (hours * HOUR, wall))
               if remindable is None or row[0] in remindable]
        for row in due:
            picture = last_good_picture(conn, alerts.get("public_url"), row[0], wall)
            body = json.dumps(with_picture(reminder_body(row, wall), picture), ensure_ascii=False)
            for target in targets:
                alert_outbox.insert(conn, CAMERA_REMINDER, target, body, wall)
            conn.execute("UPDATE cameras SET last_reminded = ? WHERE id = ?", (wall, row[0]))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(due)


def reminder_body(row: tuple, wall: float) -> dict:
    """The webhook body of one reminder, from a ``cameras`` row as ``_DUE_SQL`` selects it."""
    camera, name, url, status, error, failures, since, offline_since = row
    error = short_error(error, url) if error else error
    label = name or camera
    hours = max(int((wall - offline_since) // HOUR), 1)
    message = (f"摄像头「{label}」仍然离线（已超过 {hours} 小时），自 {format_local(since)} 起"
               f"连续 {failures} 次失败；最近状态：{status_name(status)}"
               + (f"，{error}" if error else ""))
    return {"event": CAMERA_REMINDER, "time": format_iso(wall), "message": message,
            "camera": {"id": camera, "name": name, "url": url},
            "status": status, "status_name": status_name(status), "error": error,
            "since": format_iso(since), "consecutive_failures": failures}
