"""Which pending outcomes will raise a camera event: those are written within FLUSH_SECONDS, the rest may wait."""
from __future__ import annotations

import logging
import sqlite3

from recorder.finished_task import FinishedTask
from recorder.history_outcomes import camera_change, moves_camera
from shared import task_status as st
from shared.history_schema import HistoryUnavailable, connect_reader

log = logging.getLogger(__name__)
_STATES = "SELECT id, consecutive_failures, offline_since IS NOT NULL, last_ended FROM cameras"


class EventForecast:
    """The loop's copy of each camera's (consecutive failures, offline), read once from the
    history and then followed outcome by outcome with the writer's own rule.

    It only decides how soon a batch is written: a wrong guess (the database replaced
    meanwhile, an unreadable one) delays an event by at most OUTCOME_FLUSH_SECONDS or
    writes a batch early. The rows and the events themselves are the writer's.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        # camera -> (consecutive failures, offline, last outcome's end)
        self._cameras: dict[str, tuple[int, bool, float | None]] | None = None

    def raises_event(self, tasks: list[FinishedTask], offline_after: int) -> bool:
        """Follow ``tasks`` (each exactly once, in order); True if one of them raises an event."""
        cameras = self._load()
        raised = False
        for task in tasks:
            failures, offline, last_ended = cameras.get(task.camera, (0, False, None))
            if not moves_camera(task, last_ended):  # the writer's rule
                continue
            ok = task.status == st.COMPLETED
            failures, event = camera_change(failures, offline, ok, offline_after)
            cameras[task.camera] = (failures, not ok and (offline or event is not None),
                                    task.ended)
            raised = raised or (event is not None and task.alerts)
        return raised

    def _load(self) -> dict[str, tuple[int, bool, float | None]]:
        # Once per run, at the first outcome (after recovery's import): a few ms
        # for a thousand cameras, then a dictionary look-up per outcome.
        if self._cameras is None:
            self._cameras = {}
            try:
                conn = connect_reader(self.path)
                try:
                    self._cameras = {camera: (failures, bool(offline), last_ended)
                                     for camera, failures, offline, last_ended
                                     in conn.execute(_STATES)}
                finally:
                    conn.close()
            except (HistoryUnavailable, sqlite3.Error) as exc:  # none yet, or unreadable
                log.info("history: no camera states to forecast events from (%s)", exc)
        return self._cameras
