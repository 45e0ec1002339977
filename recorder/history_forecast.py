"""Which pending outcomes will raise a camera event: those are written within FLUSH_SECONDS, the rest may wait."""
from __future__ import annotations

import logging
import sqlite3

from recorder.finished_task import FinishedTask
from recorder.history_outages import Outage, camera_change
from recorder.history_outcomes import moves_camera
from shared import task_status as st
from shared.history_schema import HistoryUnavailable, connect_reader

log = logging.getLogger(__name__)
_STATES = ("SELECT id, consecutive_failures, offline_since IS NOT NULL, offline_alerted, "
           "last_ended FROM cameras")


class EventForecast:
    """The loop's copy of each camera's outage, read once from the history and then followed
    outcome by outcome with the writer's own rule.

    It only decides how soon a batch is written: a wrong guess (the database replaced
    meanwhile, an unreadable one) delays an event by at most OUTCOME_FLUSH_SECONDS or
    writes a batch early. The rows and the events themselves are the writer's.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        # camera -> (its outage, last outcome's end)
        self._cameras: dict[str, tuple[Outage, float | None]] | None = None

    def raises_event(self, tasks: list[FinishedTask], offline_after: int) -> bool:
        """Follow ``tasks`` (each exactly once, in order); True if one of them raises an event."""
        cameras = self._load()
        raised = False
        for task in tasks:
            outage, last_ended = cameras.get(task.camera, (Outage(), None))
            if not moves_camera(task, last_ended):  # the writer's rule
                continue
            outage, event = camera_change(outage, task.status == st.COMPLETED, offline_after,
                                          task.alerts)
            cameras[task.camera] = (outage, task.ended)
            raised = raised or event is not None
        return raised

    def _load(self) -> dict[str, tuple[Outage, float | None]]:
        # Once per run, at the first outcome (after recovery's import): a few ms
        # for a thousand cameras, then a dictionary look-up per outcome.
        if self._cameras is None:
            self._cameras = {}
            try:
                conn = connect_reader(self.path)
                try:
                    self._cameras = {
                        camera: (Outage(failures, bool(offline), bool(alerted)), last_ended)
                        for camera, failures, offline, alerted, last_ended
                        in conn.execute(_STATES)}
                finally:
                    conn.close()
            except (HistoryUnavailable, sqlite3.Error) as exc:  # none yet, or unreadable
                log.info("history: no camera states to forecast events from (%s)", exc)
        return self._cameras
