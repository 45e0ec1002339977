"""Check now end to end: the API asks, the recorder process records a real test camera into
output/checks/, the outcome reaches /api/cameras/<id>/history; a probe keeps no clip; 409, 503."""
from __future__ import annotations

import os

import pytest

from app import create_app
from shared import task_status as st
from shared.atomic import write_json_atomic
from testkit.recorder_process import RecorderProcess, ffprobe, wait_for

pytestmark = pytest.mark.integration


def _history(client, kind: str) -> list[dict]:
    rows = client.get("/api/cameras/gate/history").get_json().get("history", [])
    return [row for row in rows if row["kind"] == kind]


def test_check_and_probe_of_a_real_camera(tmp_path, camera_server) -> None:
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {  # the scheduler stays stopped: no cycle runs
        "total_poll_duration_seconds": 8, "max_concurrent_streams": 2,
        "connection_timeout_seconds": 3, "read_timeout_seconds": 4, "min_free_space_mb": 0},
        "streams": [{"rtsp_url": camera_server.url("cam1"), "duration_seconds": 2,
                     "output_filename": "gate.mp4"}]})
    app = create_app({"CONFIG_PATH": config, "OUTPUT_BASE": str(tmp_path)})
    checks = tmp_path / "output" / "checks"
    with app.test_client() as client, RecorderProcess(config) as recorder:
        first = wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(
            client.post("/api/cameras/gate/check")), 30, "the recorder to take a check")
        assert first.get_json()["kind"] == "check"
        assert client.post("/api/cameras/gate/check?probe=1").status_code == 409
        [done] = wait_for(lambda: _history(client, "check"), 60, "the check's outcome")
        assert done["status"] == st.COMPLETED and done["cycle"].startswith("checks/")
        [folder] = os.listdir(checks)
        clip = checks / folder / "gate.mp4"
        assert folder.endswith("_gate") and done["clip"].endswith(f"checks/{folder}/gate.mp4")
        assert float(ffprobe(str(clip))["format"]["duration"]) >= 1.5
        assert client.get("/api/videos").get_json().get("videos", []) == []  # not a cycle
        wait_for(lambda: client.post("/api/cameras/gate/check?probe=1").status_code == 200, 30,
                 "the probe to be taken")
        [probe] = wait_for(lambda: _history(client, "probe"), 60, "the probe's outcome")
        assert probe["status"] == st.COMPLETED and probe["clip"] is None, str(probe)
        assert os.listdir(checks) == [folder]  # the probe made no folder; the check's clip
        assert sorted(os.listdir(checks / folder)) == [".gate.mp4.jpg", "gate.mp4"]  # + thumbnail
        live = client.get("/api/tasks/status").get_json()["checks"]
        assert [c["kind"] for c in live] == ["check", "probe"]
        recorder.stop()
        assert client.post("/api/cameras/gate/check").status_code == 503


def test_a_check_a_restart_cuts_short_runs_again_after_it(tmp_path, camera_server) -> None:
    # systemctl restart while a check recorded: it was cancelled for good, never run again.
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {
        "total_poll_duration_seconds": 20, "max_concurrent_streams": 2,
        "connection_timeout_seconds": 3, "read_timeout_seconds": 4, "min_free_space_mb": 0},
        "streams": [{"rtsp_url": camera_server.url("cam1"), "duration_seconds": 6,
                     "output_filename": "gate.mp4"}]})
    app = create_app({"CONFIG_PATH": config, "OUTPUT_BASE": str(tmp_path)})

    def checks(client) -> list[dict]:
        return client.get("/api/tasks/status").get_json()["checks"]

    with app.test_client() as client:
        with RecorderProcess(config) as recorder:
            asked = wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(
                client.post("/api/cameras/gate/check")), 30, "the recorder to take a check")
            check_id = asked.get_json()["check_id"]
            wait_for(lambda: [c for c in checks(client) if c["status"] == st.RECORDING], 30,
                     "the check recording")
            recorder.stop()  # SIGTERM
        [cut] = checks(client)
        assert (cut["check_id"], cut["status"]) == (check_id, st.CANCELLED)
        assert cut["error_message"] == "录制守护进程停止, 重启后重新检查"
        with RecorderProcess(config) as recorder:
            [done] = wait_for(lambda: [c for c in checks(client)
                                       if c["status"] == st.COMPLETED], 60, "the check again")
            recorder.stop()
        assert (done["check_id"], len(checks(client))) == (check_id, 1)
        assert [row["status"] for row in reversed(_history(client, "check"))] == [
            st.CANCELLED, st.COMPLETED]
