"""One finished task into the history: its outcome row, its buckets, its camera row and events."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from dataclasses import fields
from datetime import datetime
from functools import lru_cache
from operator import attrgetter

from recorder.alert_pictures import last_good_picture, picture_link
from recorder.finished_task import FinishedTask
from recorder.history_events import camera_body, enqueue
from recorder.history_outages import Outage, camera_change
from shared import event_names as ev
from shared import task_status as st
from shared.camera_state import is_failure

# FinishedTask's fields that are no column of ``outcomes`` (they feed the camera row), and
# the one stored as JSON text (last in the row).
_NOT_COLUMNS = ("name", "url", "alerts", "from_report")
_JSON_COLUMN = "quality"
_PLAIN = tuple(f.name for f in fields(FinishedTask)
               if f.name not in _NOT_COLUMNS and f.name != _JSON_COLUMN)
_COLUMNS = (*_PLAIN, _JSON_COLUMN)
_INSERT_OUTCOME = (f"INSERT INTO outcomes ({', '.join(_COLUMNS)}) "
                   f"VALUES ({', '.join('?' * len(_COLUMNS))})")
# dataclasses.astuple deep-copies every field: ten times the cost of the insert itself.
_PLAIN_ROW = attrgetter(*_PLAIN)


def _row(task: FinishedTask) -> tuple:
    """The values of ``task``'s outcome row, in :data:`_COLUMNS` order."""
    quality = task.quality
    return (*_PLAIN_ROW(task), None if quality is None else stored_quality(quality))


def stored_quality(quality: dict) -> str:
    """The quality object as the history keeps it: the verdicts and the measure behind each.

    Every measure with its threshold took ~470 bytes a row, 3.7 times the history's
    size at 10 M rows (bench/camera_history.py); a healthy clip's is now 44 bytes.
    All of a clip's measures stay in its cycle's report (rtsp_report.json).
    """
    issues = quality.get("issues") or []
    measures = {name: value for name, value in (quality.get("measures") or {}).items()
                if name in issues}
    return json.dumps({**quality, "measures": measures}, ensure_ascii=False,
                      separators=(",", ":"))


_BUCKET = ("INSERT INTO {table} (camera, bucket, total, ok) VALUES (?, ?, 1, ?) "
           "ON CONFLICT (camera, bucket) DO UPDATE SET total = total + 1, ok = ok + excluded.ok")
_HOURLY, _DAILY = _BUCKET.format(table="hourly"), _BUCKET.format(table="daily")
# A camera's name is kept when a row comes without one (name None: its stream gone from the
# config, a check or a cycle recovered after the edit; the statement's last parameter says it
# is known); "" (configured without a name) clears it, as a reused id's camera's own name.
_NAME = "COALESCE(?, '')"
_KEEP_NAME = "name = CASE WHEN ? THEN excluded.name ELSE cameras.name END"
_TOUCH_CAMERA = (f"INSERT INTO cameras (id, name, url) VALUES (?, {_NAME}, ?) ON CONFLICT (id) "
                 f"DO UPDATE SET {_KEEP_NAME}, url = excluded.url")
_READ_CAMERA = ("SELECT last_ended, consecutive_failures, failing_since, offline_since, "
                "offline_alerted FROM cameras WHERE id = ?")
# The whole state in one statement; an offline reminder's time ends with the outage.
_SET_CAMERA = (
    "INSERT INTO cameras (id, name, url, last_status, last_error, last_ended, last_ok_at, "
    "consecutive_failures, failing_since, offline_since, offline_alerted, last_clip) "
    f"VALUES (?, {_NAME}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
    f"{_KEEP_NAME}, url = excluded.url, last_status = excluded.last_status, "
    "last_error = excluded.last_error, last_ended = excluded.last_ended, "
    "last_ok_at = COALESCE(excluded.last_ok_at, last_ok_at), "
    "consecutive_failures = excluded.consecutive_failures, "
    "failing_since = excluded.failing_since, offline_since = excluded.offline_since, "
    "offline_alerted = excluded.offline_alerted, "
    "last_clip = COALESCE(excluded.last_clip, last_clip), "
    "last_reminded = CASE WHEN excluded.offline_since IS NULL THEN NULL ELSE last_reminded END")
# (last_ended, consecutive_failures, failing_since, offline_since, offline_alerted) of a
# camera row.
State = tuple
_NO_STATE: State = (None, 0, None, None, 0)


class CameraStates:
    """The state fields of the camera rows, cached so that a write reads no row per task.

    What a transaction changes is staged and kept only once it committed; the
    recorder is the only writer of these fields, so the cache stays true.
    """

    def __init__(self) -> None:
        self._known: dict[str, State] = {}
        self._staged: dict[str, State] = {}

    def get(self, conn: sqlite3.Connection, camera: str) -> State | None:
        """The camera's state (None: no row yet)."""
        state = self._staged.get(camera) or self._known.get(camera)
        if state is None:
            state = conn.execute(_READ_CAMERA, (camera,)).fetchone()
            if state is not None:
                self._known[camera] = state
        return state

    def stage(self, camera: str, state: State) -> None:
        """The state this transaction gives the camera."""
        self._staged[camera] = state

    def settle(self, committed: bool) -> None:
        """After the transaction: keep its states, or forget them (rolled back)."""
        if committed:
            self._known.update(self._staged)
        self._staged.clear()

    def reset(self) -> None:
        """Forget everything (a new database file)."""
        self._known.clear()
        self._staged.clear()

    def forget(self, cameras: list[str]) -> None:
        """Forget these cameras' states (changed in the database): read again when needed."""
        for camera in cameras:
            self._known.pop(camera, None)
            self._staged.pop(camera, None)


def local_buckets(epoch: float) -> tuple[float, float]:
    """The starts of the local hour and the local day holding ``epoch``."""
    return _buckets_of_minute(int(epoch // 60))


@lru_cache(maxsize=64)
def _buckets_of_minute(minute: int) -> tuple[float, float]:
    # Tasks ending in the same minute share their buckets: computed once (no
    # time zone has offsets finer than a minute... none finer than 15).
    hour = datetime.fromtimestamp(minute * 60).replace(minute=0, second=0, microsecond=0)
    return hour.timestamp(), hour.replace(hour=0).timestamp()


def withdraw_alerts(conn: sqlite3.Connection, states: CameraStates,
                    alerting: Collection[str]) -> int:
    """Outages of cameras not in ``alerting`` (alerts turned off, or gone from the config: an
    ``output_filename`` renamed) are no longer followed: no reminder, no ``camera.recovered``
    for them, even once the id is back (its next failure raises ``camera.offline`` again).
    Returns how many."""
    gone = [camera for camera, in conn.execute("SELECT id FROM cameras WHERE offline_alerted = 1")
            if camera not in alerting]
    conn.executemany("UPDATE cameras SET offline_alerted = 0 WHERE id = ?",
                     [(camera,) for camera in gone])
    states.forget(gone)
    return len(gone)


def moves_camera(task: FinishedTask, last_ended: float | None) -> bool:
    """Whether ``task`` changes its camera's state, whose last outcome ended at ``last_ended``.

    Not when cancelled (已取消 counts neither way), nor when read back from a report (an import,
    a taken-over cycle's report landing after the new coordinator's own outcomes) and older
    than that. A verdict drawn now always applies: a wall clock set back must not freeze a state.
    """
    if not (task.status == st.COMPLETED or is_failure(task.status)):
        return False
    return not (task.from_report and last_ended is not None and task.ended < last_ended)


def write_outcomes(conn: sqlite3.Connection, states: CameraStates, tasks: list[FinishedTask],
                   offline_after: int, alerts: dict | None, wall: float) -> int:
    """Record ``tasks`` (in order); the outbox rows queued (``alerts`` None: none, an import)."""
    conn.executemany(_INSERT_OUTCOME, map(_row, tasks))
    counted = [task for task in tasks if task.status != st.CANCELLED]  # 已取消 counts neither way
    buckets = [(task.camera, *local_buckets(task.ended), int(task.status == st.COMPLETED))
               for task in counted]
    conn.executemany(_HOURLY, [(camera, hour, ok) for camera, hour, _, ok in buckets])
    conn.executemany(_DAILY, [(camera, day, ok) for camera, _, day, ok in buckets])
    touched: list[tuple] = []
    camera_rows: list[tuple] = []
    raised = sum(_follow_camera(conn, states, task, offline_after, alerts, wall,
                                touched, camera_rows) for task in tasks)
    # One call per statement, not one per task: each call releases and retakes the
    # GIL, which the recording loop wants meanwhile (the writer runs on a thread).
    for statement, values in ((_TOUCH_CAMERA, touched), (_SET_CAMERA, camera_rows)):
        if values:
            conn.executemany(statement, values)
    return raised


def _follow_camera(conn: sqlite3.Connection, states: CameraStates, task: FinishedTask,
                   offline_after: int, alerts: dict | None, wall: float,
                   touched: list[tuple], camera_rows: list[tuple]) -> int:
    """The camera row after ``task`` (into ``touched`` or ``camera_rows``), and the event its
    state change raises (its outbox rows)."""
    last_ended, failures, failing_since, offline_since, alerted = (
        states.get(conn, task.camera) or _NO_STATE)
    ok = task.status == st.COMPLETED
    if not moves_camera(task, last_ended):  # history only
        touched.append((task.camera, task.name, task.url, task.name is not None))
        return 0
    before = Outage(failures, offline_since is not None, bool(alerted))
    after, event = camera_change(before, ok, offline_after,
                                 None if alerts is None else task.alerts)
    if ok:
        new, since = (task.ended, 0, None, None, 0), offline_since
    else:
        failing_since = failing_since or task.ended
        # Down since its first failed task, not the Nth.
        offline_since = offline_since or (failing_since if after.offline else None)
        new = (task.ended, after.failures, failing_since, offline_since, int(after.alerted))
        since = failing_since
    states.stage(task.camera, new)
    camera_rows.append((task.camera, task.name, task.url, task.status, task.error,
                        task.ended, task.ended if ok else None, *new[1:], task.clip,
                        task.name is not None))
    if event is None or alerts is None:
        return 0
    # A recovered camera's alert counts its outage's failures.
    body = camera_body(event, task, since, before.failures if ok else after.failures, wall,
                       _picture(conn, event, task, alerts))
    return enqueue(conn, body, alerts, wall)


def _picture(conn: sqlite3.Connection, event: str, task: FinishedTask,
             alerts: dict) -> str | None:
    """The picture an event links to: a recovered camera's new one, an offline one's last good."""
    public_url = alerts.get("public_url")
    if event == ev.CAMERA_RECOVERED:
        return picture_link(public_url, task.kind, task.cycle, task.clip, task.quality)
    return last_good_picture(conn, public_url, task.camera, task.ended)
