"""GET /api/cameras, /api/cameras/<id> and /history: the config joined with the history database.

The database is filled the way the recorder's writer fills it (testkit/history_rows.py).
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from app import create_app
from shared import camera_view
from shared.atomic import write_json_atomic
from shared.camera_roster import configured_cameras
from shared.history_read import CameraRow
from shared.history_schema import connect_writer, history_path
from shared.task_status import CANCELLED, COMPLETED, CONNECTION_ERROR, TIMEOUT
from tests.helpers import assert_error, valid_config
from testkit.history_rows import add_outbox, record
from testkit.servers import GunicornServer

HOUR, DAY = 3600, 86400
CAMERAS = ("gate", "yard", "hall", "roof")


def _config(*names: str, password: bool = False) -> dict:
    config = valid_config()
    auth = "admin:secret@" if password else ""
    config["streams"] = [{"rtsp_url": f"rtsp://{auth}127.0.0.1:8554/{name}",
                          "duration_seconds": 5, "output_filename": f"{name}.mp4"}
                         for name in names]
    return config


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    write_json_atomic(str(path), _config(*CAMERAS, password=True))
    return path


@pytest.fixture
def history(config_path: Path) -> Iterator[sqlite3.Connection]:
    conn = connect_writer(history_path(str(config_path)))
    yield conn
    conn.close()


def _cameras(client: FlaskClient, query: str = "") -> list[dict]:
    response = client.get("/api/cameras" + query)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["count"] == len(body["cameras"])
    return body["cameras"]


def _by_id(items: list[dict]) -> dict[str, dict]:
    return {item["id"]: item for item in items}


def test_without_a_history_every_configured_camera_is_unknown(client: FlaskClient) -> None:
    cameras = _cameras(client)
    assert [c["id"] for c in cameras] == list(CAMERAS)
    for camera in cameras:
        assert list(camera) == list(camera_view.SUMMARY_FIELDS)
        assert camera["state"] == "unknown" and camera["last_status"] is None
        assert camera["uptime_24h"] is None and camera["consecutive_failures"] == 0
        assert camera["rtsp_url"] == f"rtsp://admin:***@127.0.0.1:8554/{camera['id']}"
    assert client.get("/api/cameras/gate").get_json()["history"] == []
    assert client.get("/api/cameras/gate/history").get_json()["history"] == []
    assert_error(client.get("/api/cameras/nobody"), 404, "nobody")


def test_states_come_from_the_last_outcomes(client: FlaskClient, history) -> None:
    now = time.time()
    record(history, "gate", now - 300, COMPLETED, clip="./output/a/gate.mp4")
    record(history, "yard", now - 300, COMPLETED)
    record(history, "yard", now - 200, TIMEOUT, error="读取超时")
    record(history, "hall", now - 300, COMPLETED)
    record(history, "hall", now - 200, CONNECTION_ERROR)
    record(history, "hall", now - 100, CONNECTION_ERROR, error="连接被拒绝")
    record(history, "hall", now - 50, CANCELLED)  # counts neither way
    cameras = _by_id(_cameras(client))
    assert {key: c["state"] for key, c in cameras.items()} == {
        "gate": "online", "yard": "degraded", "hall": "offline", "roof": "unknown"}
    hall = cameras["hall"]
    assert (hall["last_status"], hall["last_status_name"]) == (CONNECTION_ERROR, "连接错误")
    assert hall["last_error"] == "连接被拒绝" and hall["consecutive_failures"] == 2
    assert datetime.fromisoformat(hall["offline_since"]).timestamp() == int(now - 100)
    assert datetime.fromisoformat(hall["last_ok_at"]).timestamp() == int(now - 300)
    assert cameras["yard"]["offline_since"] is None
    assert cameras["gate"]["last_clip"] == "./output/a/gate.mp4"
    assert cameras["hall"]["uptime_24h"] == round(1 / 3, 4)


def test_the_state_shown_is_the_outage_the_recorder_stored() -> None:
    """Not recomputed from offline_after_failures: the recorder applies it at each outcome
    (tests/test_camera_state.py follows a threshold edited mid-outage through every view)."""
    config = _config("gate")
    config["streams"][0]["name"] = "东门入口 1号"
    camera = configured_cameras(config)[0]
    assert (camera.id, camera.name) == ("gate", "东门入口 1号")
    row = CameraRow("gate", "", "", CONNECTION_ERROR, "", 100.0, 10.0, 2, 50.0, 90.0, None,
                    {"uptime_24h": 0.5, "uptime_7d": 0.5, "uptime_30d": 0.5})
    shown = camera_view.summary(camera, row)
    assert shown["state"] == "offline"
    assert datetime.fromisoformat(shown["offline_since"]).timestamp() == 90.0
    failing = CameraRow(*[*vars(row).values()][:9], None, None, row.uptime)
    shown = camera_view.summary(camera, failing)
    assert (shown["state"], shown["offline_since"]) == ("degraded", None)


def test_uptime_windows(client: FlaskClient, history) -> None:
    now = time.time()
    for age, status in ((40 * DAY, COMPLETED), (20 * DAY, TIMEOUT), (3 * DAY, TIMEOUT),
                        (26 * HOUR, TIMEOUT), (2 * HOUR, COMPLETED)):
        record(history, "gate", now - age, status)
    gate = _by_id(_cameras(client))["gate"]
    assert (gate["uptime_24h"], gate["uptime_7d"], gate["uptime_30d"]) == (1.0, 0.3333, 0.25)


def test_filter_sort_and_paging(client: FlaskClient, history) -> None:
    now = time.time()
    record(history, "gate", now - 30, COMPLETED)
    for age in (30, 20, 10):
        record(history, "hall", now - age, CONNECTION_ERROR)
    record(history, "roof", now - 10, TIMEOUT)
    assert [c["id"] for c in _cameras(client, "?state=offline")] == ["hall"]
    assert [c["id"] for c in _cameras(client, "?state=online,unknown")] == ["gate", "yard"]
    assert [c["id"] for c in _cameras(client, "?sort=state")] == ["hall", "roof", "yard", "gate"]
    assert [c["id"] for c in _cameras(client, "?sort=-config")] == ["roof", "hall", "yard", "gate"]
    assert [c["id"] for c in _cameras(client, "?sort=-consecutive_failures")][:2] == ["hall", "roof"]
    assert [c["id"] for c in _cameras(client, "?sort=id")] == ["gate", "hall", "roof", "yard"]
    # Cameras without a value sort last either way, in config order.
    record(history, "yard", now - 60, COMPLETED)
    assert [c["id"] for c in _cameras(client, "?sort=last_ok_at")] == ["yard", "gate", "hall", "roof"]
    assert [c["id"] for c in _cameras(client, "?sort=-last_ok_at")] == ["gate", "yard", "hall", "roof"]
    page = client.get("/api/cameras?sort=id&limit=2&offset=1").get_json()
    assert [c["id"] for c in page["cameras"]] == ["hall", "roof"]
    assert (page["count"], page["total"], page["limit"], page["offset"]) == (2, 4, 2, 1)
    for query in ("?state=down", "?state=", "?sort=uptime", "?limit=0", "?offset=-1",
                  "?include_removed=maybe", "?limit=1&limit=2"):
        assert_error(client.get("/api/cameras" + query), 400)


def test_removed_cameras_only_when_asked(client: FlaskClient, history) -> None:
    record(history, "old", time.time(), COMPLETED, url="rtsp://u:***@10.0.0.9/x")
    assert "old" not in _by_id(_cameras(client))
    old = _by_id(_cameras(client, "?include_removed=1"))["old"]
    assert old["removed"] is True and old["rtsp_url"] == "rtsp://u:***@10.0.0.9/x"
    assert client.get("/api/cameras/old").get_json()["removed"] is True
    assert client.get("/api/cameras/old/history").get_json()["count"] == 1


def test_detail_shows_the_last_100_outcomes_newest_first(client: FlaskClient, history) -> None:
    start = time.time() - 1000
    for n in range(120):
        record(history, "gate", start + n, COMPLETED if n % 2 else TIMEOUT, size=n,
               quality='{"checked": true, "issues": []}' if n == 119 else None)
    body = client.get("/api/cameras/gate").get_json()
    assert body["state"] == "online" and len(body["history"]) == 100
    assert [item["bytes"] for item in body["history"]] == list(range(119, 19, -1))
    newest = body["history"][0]
    assert newest["status_name"] == "已完成" and newest["quality"] == {"checked": True,
                                                                      "issues": []}
    assert datetime.fromisoformat(newest["ended"]).timestamp() == int(start + 119)
    assert list(newest)[:9] == ["id", "camera", "cycle", "kind", "planned_start", "started",
                                "ended", "status", "status_name"]


def test_history_since_until_limit_offset(client: FlaskClient, history) -> None:
    start = 1_700_000_000.0
    for n in range(10):
        record(history, "gate", start + n * 60, COMPLETED, size=n)

    def sizes(query: str) -> list[int]:
        response = client.get("/api/cameras/gate/history" + query)
        assert response.status_code == 200, response.get_json()
        return [item["bytes"] for item in response.get_json()["history"]]

    assert sizes("") == list(range(9, -1, -1))
    assert sizes(f"?since={start + 120:.0f}&until={start + 300:.0f}") == [4, 3, 2]
    iso = datetime.fromtimestamp(start + 420).astimezone().isoformat()
    assert sizes("?since=" + iso.replace("+", "%2B")) == [9, 8, 7]
    assert sizes("?since=" + iso) == [9, 8, 7]  # an unencoded "+" arrives as a space
    naive = datetime.fromtimestamp(start + 480).isoformat()  # local time
    assert sizes("?since=" + naive) == [9, 8]
    assert sizes("?limit=3&offset=2") == [7, 6, 5]
    for query in ("?since=yesterday", "?until=", "?limit=0", "?limit=10001", "?offset=x"):
        assert_error(client.get("/api/cameras/gate/history" + query), 400)
    assert_error(client.get("/api/cameras/nobody/history"), 404)


def test_a_damaged_history_is_no_error(client: FlaskClient, config_path: Path) -> None:
    path = Path(history_path(str(config_path)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a database" * 100)
    assert {c["state"] for c in _cameras(client)} == {"unknown"}
    assert client.get("/api/cameras/gate/history").get_json()["count"] == 0


def test_reads_while_the_writer_holds_a_transaction(client: FlaskClient, history) -> None:
    record(history, "gate", time.time() - 10, COMPLETED)
    history.execute("BEGIN IMMEDIATE")
    history.execute("UPDATE cameras SET last_status = ? WHERE id = 'gate'", (TIMEOUT,))
    try:
        assert _by_id(_cameras(client))["gate"]["state"] == "online"  # the last commit
    finally:
        history.execute("ROLLBACK")


def test_reads_need_the_token_when_reads_are_protected(tmp_path: Path, config_path: Path) -> None:
    token = "t" * 20
    app = create_app({"CONFIG_PATH": str(config_path), "API_TOKEN": token,
                      "API_PROTECT_READS": True})
    client = app.test_client()
    for url in ("/api/cameras", "/api/cameras/gate", "/api/cameras/gate/history", "/metrics"):
        assert_error(client.get(url), 401)
        assert client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.integration
def test_every_gunicorn_worker_answers_alike(config_path: Path, history) -> None:
    now = time.time()
    for camera, status in (("gate", COMPLETED), ("hall", TIMEOUT), ("hall", TIMEOUT)):
        record(history, camera, now - 60, status, size=1000)
    add_outbox(history, "camera.offline", now)
    session_free = requests.Session  # a new connection per request: any worker may answer
    with GunicornServer(str(config_path), workers=3) as server:
        answers = set()
        for _ in range(12):
            with session_free() as session:
                session.trust_env = False
                cameras = session.get(server.url("/api/cameras"), timeout=30)
                metrics = session.get(server.url("/metrics"), timeout=30)
            assert cameras.status_code == metrics.status_code == 200
            # Free disk space moves under other writers: every other line must agree.
            text = "\n".join(line for line in metrics.text.splitlines()
                             if not line.startswith("rtsp_patrol_disk_free_bytes"))
            answers.add((cameras.text, text))
        assert len(answers) == 1
        (cameras_text, metrics_text), = answers
        assert '"state":"offline"' in cameras_text.replace(" ", "")
        assert 'rtsp_patrol_alert_outbox_depth 1.0' in metrics_text
        assert "Traceback" not in server.log()


def test_an_edited_config_is_seen_at_once(client: FlaskClient, config_path: Path) -> None:
    assert len(_cameras(client)) == len(CAMERAS)
    write_json_atomic(str(config_path), _config("gate"))
    assert [c["id"] for c in _cameras(client)] == ["gate"]
    config_path.write_text("{", encoding="utf-8")  # a hand edit gone wrong
    assert_error(client.get("/api/cameras"), 503)


def test_a_summary_gives_the_thumbnail_of_its_last_clip_when_it_is_there(
        client: FlaskClient, history, output_root: Path) -> None:
    now = time.time()
    cycle = output_root / "20251010_163000"
    check = output_root / "checks" / "20251010_170000_yard"
    for folder, name in ((cycle, "gate"), (cycle, "hall"), (check, "yard")):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.mp4").write_bytes(b"clip")
    (cycle / ".gate.mp4.jpg").write_bytes(b"\xff\xd8 gate \xff\xd9")
    (check / ".yard.mp4.jpg").write_bytes(b"\xff\xd8 yard \xff\xd9")
    record(history, "gate", now - 300, COMPLETED, clip="./output/20251010_163000/gate.mp4")
    record(history, "hall", now - 300, COMPLETED, clip="./output/20251010_163000/hall.mp4")
    record(history, "yard", now - 200, COMPLETED, kind="check", cycle="checks/20251010_170000_yard",
           clip="./output/checks/20251010_170000_yard/yard.mp4")
    cameras = _by_id(_cameras(client))
    assert cameras["gate"]["thumbnail"] == "/api/thumbnails/20251010_163000/gate.mp4"
    assert cameras["yard"]["thumbnail"] == "/api/thumbnails/checks/20251010_170000_yard/yard.mp4"
    assert cameras["hall"]["thumbnail"] is None  # a clip without its thumbnail
    assert cameras["roof"]["thumbnail"] is None  # never recorded
    assert client.get(cameras["gate"]["thumbnail"]).data == b"\xff\xd8 gate \xff\xd9"
    assert client.get(cameras["yard"]["thumbnail"]).data == b"\xff\xd8 yard \xff\xd9"
    assert client.get("/api/cameras/gate").get_json()["thumbnail"] == cameras["gate"]["thumbnail"]
    (cycle / ".gate.mp4.jpg").unlink()  # gone since: null again, at once
    assert _by_id(_cameras(client))["gate"]["thumbnail"] is None
