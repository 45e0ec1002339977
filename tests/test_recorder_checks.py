"""Check now end to end: the API asks, the recorder process records a real test camera into
output/checks/, the outcome reaches /api/cameras/<id>/history; a probe keeps no clip; 409, 503."""
from __future__ import annotations

import os
import signal

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


def _gate(tmp_path, camera_server, window: int, duration: int):
    """A config of one camera, gate (cam1 of ``camera_server``), whose checks record
    ``duration`` s; its path and an app serving it."""
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {
        "total_poll_duration_seconds": window, "max_concurrent_streams": 2,
        "connection_timeout_seconds": 3, "read_timeout_seconds": 4, "min_free_space_mb": 0},
        "streams": [{"rtsp_url": camera_server.url("cam1"), "duration_seconds": duration,
                     "output_filename": "gate.mp4"}]})
    return config, create_app({"CONFIG_PATH": config, "OUTPUT_BASE": str(tmp_path)})


def _checks(client) -> list[dict]:
    return client.get("/api/tasks/status").get_json()["checks"]


def test_a_check_a_restart_cuts_short_runs_again_after_it(tmp_path, camera_server) -> None:
    # systemctl restart while a check recorded: it was cancelled for good, never run again.
    config, app = _gate(tmp_path, camera_server, window=20, duration=6)
    with app.test_client() as client:
        with RecorderProcess(config) as recorder:
            asked = wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(
                client.post("/api/cameras/gate/check")), 30, "the recorder to take a check")
            check_id = asked.get_json()["check_id"]
            wait_for(lambda: [c for c in _checks(client) if c["status"] == st.RECORDING], 30,
                     "the check recording")
            recorder.stop()  # SIGTERM
        [cut] = _checks(client)
        assert (cut["check_id"], cut["status"]) == (check_id, st.CANCELLED)
        assert cut["error_message"] == "录制守护进程停止, 重启后重新检查"
        with RecorderProcess(config) as recorder:
            [done] = wait_for(lambda: [c for c in _checks(client)
                                       if c["status"] == st.COMPLETED], 60, "the check again")
            recorder.stop()
        assert (done["check_id"], len(_checks(client))) == (check_id, 1)
        assert [row["status"] for row in reversed(_history(client, "check"))] == [
            st.CANCELLED, st.COMPLETED]


def test_a_check_a_kill_cut_short_keeps_its_partial_clip_and_runs_again(
        tmp_path, camera_server) -> None:
    # kill -9 while a check recorded: its folder kept the work files for good, and the history
    # had no row for the attempt.
    config, app = _gate(tmp_path, camera_server, window=30, duration=20)
    checks = tmp_path / "output" / "checks"
    with app.test_client() as client:
        with RecorderProcess(config) as recorder:
            wait_for(lambda: client.post("/api/cameras/gate/check").status_code == 200, 30,
                     "the recorder to take a check")
            wait_for(lambda: [c for c in _checks(client) if (c["progress"] or 0) >= 2], 30,
                     "the check to have recorded 2 s")
            [first] = os.listdir(checks)
            recorder.stop(signal.SIGKILL)
        assert ".gate.mp4.part" in os.listdir(checks / first)
        with RecorderProcess(config) as recorder:
            [cut] = wait_for(lambda: _history(client, "check"), 60, "the attempt's history row")
            assert (cut["status"], cut["error"]) == (st.CANCELLED, "录制守护进程意外退出, 任务中断")
            assert cut["cycle"] == f"checks/{first}" and cut["clip"].endswith("gate.mp4")
            assert sorted(os.listdir(checks / first)) == [".gate.mp4.jpg", "gate.mp4"]
            assert float(ffprobe(str(checks / first / "gate.mp4"))["format"]["duration"]) >= 1
            wait_for(lambda: [c for c in _checks(client) if c["status"] == st.COMPLETED], 60,
                     "the check run again")
            recorder.stop()
