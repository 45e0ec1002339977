"""The alert bodies of a camera without a display name: ``name`` is "" (as GET /api/cameras
gives it), and the chat texts name the camera by its id."""
from __future__ import annotations

from recorder.alert_reminders import reminder_body
from recorder.alert_transport import notify_title
from recorder.finished_task import FinishedTask
from recorder.history_events import camera_body
from shared import event_names as ev
from shared import task_status as st

WALL = 1_760_085_000.0
URL = "rtsp://admin:***@10.0.0.7/stream1"


def _unnamed(status: int) -> FinishedTask:
    return FinishedTask(camera="gate1", name="", url=URL, alerts=True, cycle="20251010_163000",
                        ended=WALL, status=status, error="Connection refused")


def test_camera_events_of_an_unnamed_camera() -> None:
    offline = camera_body(ev.CAMERA_OFFLINE, _unnamed(st.CONNECTION_ERROR), WALL - 60, 2, WALL)
    recovered = camera_body(ev.CAMERA_RECOVERED, _unnamed(st.COMPLETED), WALL - 60, 2, WALL)
    reminder = reminder_body(("gate1", "", URL, st.CONNECTION_ERROR, "Connection refused", 25,
                              WALL - 4 * 3600, WALL - 4 * 3600), WALL)
    for body, said in ((offline, "摄像头「gate1」离线"), (recovered, "摄像头「gate1」已恢复"),
                       (reminder, "摄像头「gate1」仍然离线")):
        assert body["camera"] == {"id": "gate1", "name": "", "url": URL}
        assert body["message"].startswith(said)
        assert notify_title(body) == {ev.CAMERA_OFFLINE: "摄像头离线: gate1",
                                      ev.CAMERA_RECOVERED: "摄像头恢复: gate1",
                                      ev.CAMERA_REMINDER: "摄像头仍然离线: gate1"}[body["event"]]
