"""One finished task into the history: its outcome row, its buckets, its camera row and events."""
from __future__ import annotations

import sqlite3
from dataclasses import astuple, fields
from datetime import datetime

from recorder.finished_task import FinishedTask
from recorder.history_events import camera_body, enqueue
from shared import event_names as ev
from shared import task_status as st
from shared.camera_state import is_failure

# FinishedTask's fields that are no column of ``outcomes`` (they feed the camera row).
_NOT_COLUMNS = ("name", "url", "alerts")
_COLUMNS = tuple(f.name for f in fields(FinishedTask) if f.name not in _NOT_COLUMNS)
_INSERT_OUTCOME = (f"INSERT INTO outcomes ({', '.join(_COLUMNS)}) "
                   f"VALUES ({', '.join('?' * len(_COLUMNS))})")
_INDEXES = tuple(i for i, f in enumerate(fields(FinishedTask)) if f.name not in _NOT_COLUMNS)
_BUCKET = ("INSERT INTO {table} (camera, bucket, total, ok) VALUES (?, ?, 1, ?) "
           "ON CONFLICT (camera, bucket) DO UPDATE SET total = total + 1, ok = ok + excluded.ok")
_UPSERT_CAMERA = ("INSERT INTO cameras (id, name, url) VALUES (?, ?, ?) ON CONFLICT (id) "
                  "DO UPDATE SET name = excluded.name, url = excluded.url "
                  "RETURNING last_ended, consecutive_failures, failing_since, offline_since")
_FAILED = ("UPDATE cameras SET last_status = ?, last_error = ?, last_ended = ?, "
           "consecutive_failures = ?, failing_since = ?, offline_since = ?, "
           "last_clip = COALESCE(?, last_clip) WHERE id = ?")
_COMPLETED = ("UPDATE cameras SET last_status = ?, last_error = ?, last_ended = ?, "
              "last_ok_at = ?, consecutive_failures = 0, failing_since = NULL, "
              "offline_since = NULL, last_reminded = NULL, last_clip = COALESCE(?, last_clip) "
              "WHERE id = ?")


def local_buckets(epoch: float) -> tuple[float, float]:
    """The starts of the local hour and the local day holding ``epoch``."""
    moment = datetime.fromtimestamp(epoch)
    hour = moment.replace(minute=0, second=0, microsecond=0)
    return hour.timestamp(), hour.replace(hour=0).timestamp()


def write_outcome(conn: sqlite3.Connection, task: FinishedTask, offline_after: int,
                  alerts: dict | None, wall: float) -> None:
    """Record ``task``; ``alerts`` None: no events (an import of the past)."""
    values = astuple(task)
    conn.execute(_INSERT_OUTCOME, [values[i] for i in _INDEXES])
    if task.status == st.CANCELLED:  # counts neither way: no bucket, no state change
        conn.execute(_UPSERT_CAMERA, (task.camera, task.name, task.url)).fetchall()
        return
    ok = int(task.status == st.COMPLETED)
    hour, day = local_buckets(task.ended)
    conn.execute(_BUCKET.format(table="hourly"), (task.camera, hour, ok))
    conn.execute(_BUCKET.format(table="daily"), (task.camera, day, ok))
    last_ended, failures, failing_since, offline_since = conn.execute(
        _UPSERT_CAMERA, (task.camera, task.name, task.url)).fetchone()
    if alerts is None and last_ended is not None and task.ended < last_ended:
        # An import older than what the camera row says: history only. (Live
        # outcomes always apply: a wall clock set back must not freeze a state.)
        return
    events = alerts if alerts is not None and task.alerts else None
    if ok:
        conn.execute(_COMPLETED, (task.status, task.error, task.ended, task.ended, task.clip,
                                  task.camera))
        if offline_since is not None and events is not None:
            enqueue(conn, camera_body(ev.CAMERA_RECOVERED, task, offline_since, failures, wall),
                    events, wall)
        return
    if not is_failure(task.status):
        return
    failures, failing_since = failures + 1, failing_since or task.ended
    went_offline = offline_since is None and failures >= offline_after
    if went_offline:
        offline_since = failing_since  # down since its first failed task, not the Nth
    conn.execute(_FAILED, (task.status, task.error, task.ended, failures, failing_since,
                           offline_since, task.clip, task.camera))
    if went_offline and events is not None:
        enqueue(conn, camera_body(ev.CAMERA_OFFLINE, task, failing_since, failures, wall),
                events, wall)
