"""Camera events link the camera's picture when ``alerts.public_url`` is set (README "Alerts")."""
from __future__ import annotations

import pytest

from recorder.alert_pictures import picture_link, with_picture
from recorder.alert_sender import AlertSender
from recorder.finished_task import FinishedTask
from recorder.history_store import HistoryStore
from recorder.history_writer import HistoryWriter
from shared import config as model
from shared import task_status as st
from shared.global_settings import GlobalSettings
from testkit.webhook_receiver import WebhookReceiver

CHECKED = {"checked": True, "issues": ["black"], "measures": {}}
WALL = 1_760_000_000.0


@pytest.mark.parametrize(("public_url", "kind", "cycle", "clip", "quality", "link"), [
    ("https://p.example", "cycle", "20261130_112233", "./output/20261130_112233/gate.mp4",
     CHECKED, "https://p.example/api/thumbnails/20261130_112233/gate.mp4"),
    ("http://10.0.0.5:8080/cctv/", "cycle", "20261130_112233", "/srv/out/20261130_112233/东门 1.mp4",
     '{"checked": true, "issues": [], "measures": {}}',
     "http://10.0.0.5:8080/cctv/api/thumbnails/20261130_112233/%E4%B8%9C%E9%97%A8%201.mp4"),
    (None, "cycle", "20261130_112233", "./output/20261130_112233/gate.mp4", CHECKED, None),
    ("https://p.example", "check", "checks/20261130_112233_gate", "./x/gate.mp4", CHECKED, None),
    ("https://p.example", "cycle", "20261130_112233", None, CHECKED, None),
    ("https://p.example", "cycle", "20261130_112233", "./gate.mp4", None, None),
    ("https://p.example", "cycle", "20261130_112233", "./gate.mp4", "{damaged", None),
    ("https://p.example", "cycle", "20261130_112233", "./gate.mp4",
     {"checked": False, "issues": [], "measures": {}}, None),
])
def test_a_picture_link_is_the_public_url_and_the_thumbnail_route_of_a_checked_cycle_clip(
        public_url, kind, cycle, clip, quality, link) -> None:
    assert picture_link(public_url, kind, cycle, clip, quality) == link


def test_with_picture_adds_the_link_to_the_camera_and_a_line_to_the_message() -> None:
    body = {"event": "camera.recovered", "message": "摄像头「东门」已恢复",
            "camera": {"id": "gate", "name": "东门", "url": "rtsp://h/x"}}
    assert with_picture(body, None) is body
    linked = with_picture(body, "https://p.example/api/thumbnails/T/gate.mp4")
    assert linked["camera"] == {**body["camera"],
                                "thumbnail": "https://p.example/api/thumbnails/T/gate.mp4"}
    assert linked["message"] == ("摄像头「东门」已恢复\n恢复后画面："
                                 "https://p.example/api/thumbnails/T/gate.mp4")
    assert "最后正常画面：" in with_picture({**body, "event": "camera.offline"}, "u")["message"]


def _finished(cycle: str, status: int, ended: float) -> FinishedTask:
    kept = status == st.COMPLETED
    return FinishedTask(camera="gate", name="东门", url="rtsp://u:***@127.0.0.1/x", alerts=True,
                        cycle=cycle, ended=ended, status=status, started=ended - 5,
                        clip=f"./output/{cycle}/gate.mp4" if kept else None,
                        quality=CHECKED if kept else None)


@pytest.mark.parametrize("public_url", ["http://127.0.0.1:8080", None])
def test_a_real_receiver_gets_the_offline_and_recovered_pair_with_the_pictures_if_configured(
        tmp_path, public_url: str | None) -> None:
    db = str(tmp_path / "state" / "history.sqlite3")
    with WebhookReceiver() as receiver:
        alerts = {"webhooks": [{"url": receiver.url}]}
        if public_url:
            alerts["public_url"] = public_url
        g = GlobalSettings.from_config(model.validate_global({
            "alerts": alerts, "offline_after_failures": 2}))
        writer = HistoryWriter(HistoryStore(db))
        for i, status in enumerate([st.COMPLETED, st.CONNECTION_ERROR, st.CONNECTION_ERROR,
                                    st.COMPLETED]):
            writer.record(_finished(f"20251009_12{i:02d}00", status, WALL + 60 * i))
            writer.flush(g, 10.0 + i, WALL + 60 * i)
        writer.close()
        AlertSender(db, lambda: alerts).run_once()
        offline, recovered = [got.json() for got in receiver.wait_for(2)]
    assert (offline["event"], recovered["event"]) == ("camera.offline", "camera.recovered")
    if public_url is None:
        assert "thumbnail" not in offline["camera"] and "thumbnail" not in recovered["camera"]
        assert "画面" not in offline["message"] + recovered["message"]
        return
    last_good = "http://127.0.0.1:8080/api/thumbnails/20251009_120000/gate.mp4"
    new = "http://127.0.0.1:8080/api/thumbnails/20251009_120300/gate.mp4"
    assert offline["camera"]["thumbnail"] == last_good and last_good in offline["message"]
    assert recovered["camera"]["thumbnail"] == new and new in recovered["message"]
