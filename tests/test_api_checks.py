"""POST /api/cameras/<id>/check: a check request in the control file; 404, 409, 503;
the control file's checks read back (old files too); the checks in /api/tasks/status."""
from __future__ import annotations

import json
import re

from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.control_file import read_control, request_check
from shared.status_file import empty_status
from tests.helpers import assert_error

CAMERA = "test_stream1"


def test_a_check_is_written_to_the_control_file(client, control_path, write_status) -> None:
    write_status()
    response = client.post(f"/api/cameras/{CAMERA}/check")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["success"], body["camera"], body["kind"]) == (True, CAMERA, "check")
    probe = client.post("/api/cameras/test_stream2/check?probe=1").get_json()
    assert probe["kind"] == "probe" and probe["check_id"] == body["check_id"] + 1
    checks = read_control(str(control_path))["checks"]
    assert [(c["id"], c["camera"], c["probe"]) for c in checks] == [
        (body["check_id"], CAMERA, False), (probe["check_id"], "test_stream2", True)]


def test_unknown_camera_404_recorder_down_503(client, write_status) -> None:
    write_status()
    assert_error(client.post("/api/cameras/nobody/check"), 404, "nobody")
    write_status(stale=True)
    assert_error(client.post(f"/api/cameras/{CAMERA}/check"), 503)
    assert_error(client.post(f"/api/cameras/{CAMERA}/check?probe=2"), 400)


def test_a_camera_pending_or_running_is_refused_409(client, control_path, write_status) -> None:
    write_status()
    first = client.post(f"/api/cameras/{CAMERA}/check").get_json()
    assert_error(client.post(f"/api/cameras/{CAMERA}/check?probe=1"), 409, CAMERA)
    # The recorder took it and runs it: still 409; once its verdict is in, a new one is taken.
    running = {"check_id": first["check_id"], "camera": CAMERA, "kind": "check",
               "status": st.RECORDING}
    write_status(checks=[running], checks_taken=first["check_id"])
    assert_error(client.post(f"/api/cameras/{CAMERA}/check"), 409, CAMERA)
    write_status(checks=[{**running, "status": st.COMPLETED}], checks_taken=first["check_id"])
    again = client.post(f"/api/cameras/{CAMERA}/check")
    assert again.status_code == 200 and again.get_json()["check_id"] == first["check_id"] + 1
    # the taken request is dropped from the control file by this write
    assert [c["id"] for c in read_control(str(control_path))["checks"]] == [first["check_id"] + 1]


def test_an_english_409(client, write_status) -> None:
    write_status()
    client.post(f"/api/cameras/{CAMERA}/check")
    answer = client.post(f"/api/cameras/{CAMERA}/check", headers={"Accept-Language": "en"})
    assert answer.get_json()["message_en"] == f"Camera {CAMERA} is being checked already"


def test_an_old_control_file_reads_as_no_check(control_path) -> None:
    control_path.parent.mkdir()
    write_json_atomic(str(control_path), {"version": 1, "scheduler_running": True,
                                          "start_generation": 2, "reload_generation": 1,
                                          "changed_at": ""})
    control = read_control(str(control_path))
    assert (control["checks"], control["check_generation"], control["start_generation"]) == (
        [], 0, 2)
    control_path.write_text(json.dumps({"scheduler_running": False, "checks": [
        {"id": 3, "camera": "gate"}, {"id": "x", "camera": "yard"}, "junk"],
        "check_generation": 3}))
    assert read_control(str(control_path))["checks"] == [
        {"id": 3, "camera": "gate", "probe": False, "requested_at": ""}]
    made = request_check(str(control_path), empty_status(), "yard", True)
    assert made["id"] == 4


def test_tasks_status_lists_the_checks(client, write_status) -> None:
    record = {"task_id": 7, "stream_index": 0, "rtsp_url": "rtsp://u:pw@127.0.0.1:5/a",
              "status": st.RECORDING, "check_id": 7, "camera": CAMERA, "kind": "probe",
              "requested_at": "2005-10-11 14:47:08"}
    write_status(checks=[record])
    body = client.get("/api/tasks/status").get_json()
    [check] = body["checks"]
    assert (check["check_id"], check["camera"], check["kind"], check["status_name"]) == (
        7, CAMERA, "probe", "录制中")
    assert "pw" not in check["rtsp_url"] and body["tasks"] == []


def test_the_camera_page_checks_now(client, write_status, control_path, config_path) -> None:
    import time
    from shared.history_schema import connect_writer, history_path
    from testkit.history_rows import record
    conn = connect_writer(history_path(str(config_path)))
    record(conn, CAMERA, time.time(), st.COMPLETED, kind="check", cycle="checks/20250101_120000_x")
    conn.close()
    write_status()
    page = client.get(f"/cameras/{CAMERA}").get_data(as_text=True)
    assert "立即检查" in page and "立即检查 checks/20250101_120000_x" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post(f"/cameras/{CAMERA}/check?probe=1", data={"csrf_token": token})
    assert answer.status_code == 303
    assert [c["probe"] for c in read_control(str(control_path))["checks"]] == [True]
    assert "已请求探测摄像头" in client.get(answer.headers["Location"]).get_data(as_text=True)
    # Refused (being checked already): back to the camera page, the reason said there.
    again = client.post(f"/cameras/{CAMERA}/check", data={"csrf_token": token})
    assert again.status_code == 303
    assert "正在检查中" in client.get(again.headers["Location"]).get_data(as_text=True)
    assert len(read_control(str(control_path))["checks"]) == 1
    assert client.post(f"/cameras/{CAMERA}/check").status_code in (400, 403)  # no CSRF token
