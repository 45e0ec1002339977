"""The recorder as a process, real test cameras: outcomes, camera rows and events reach the history."""
from __future__ import annotations

import json
import sqlite3

import pytest

from shared import settings
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.control_file import request_start
from shared.history_schema import connect_reader, history_path
from shared.status_file import empty_status
from testkit.recorder_process import RecorderProcess, wait_for

pytestmark = pytest.mark.integration


def finished_cycles(path: str) -> int:
    try:
        conn = connect_reader(path)
    except Exception:  # noqa: BLE001 - not there yet
        return 0
    try:
        return conn.execute("SELECT count(*) FROM outbox WHERE event = 'cycle.finished'"
                            ).fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def test_two_cycles_record_outcomes_and_take_a_dead_camera_offline_once(
        tmp_path, camera_server, refusing_port) -> None:
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {
        "total_poll_duration_seconds": 8, "max_concurrent_streams": 2, "poll_cycles": 2,
        "cycle_interval_seconds": 0, "connection_timeout_seconds": 3, "read_timeout_seconds": 4,
        "min_free_space_mb": 0, "alerts": {"webhooks": [{"url": "http://127.0.0.1:9/hook"}]}},
        "streams": [
            {"rtsp_url": camera_server.url("cam1"), "duration_seconds": 2,
             "output_filename": "gate.mp4", "name": "东门入口 1号"},
            {"rtsp_url": f"rtsp://user:secret@127.0.0.1:{refusing_port}/cam",
             "duration_seconds": 2, "output_filename": "dead.mp4"}]})
    request_start(settings.control_path(config), empty_status())
    path = history_path(config)
    with RecorderProcess(config) as recorder:
        wait_for(lambda: finished_cycles(path) >= 2, 90, "two cycle.finished events")
        recorder.stop()
    conn = sqlite3.connect(path)
    outcomes = conn.execute("SELECT camera, status, codec, resolution, clip, connect_seconds, "
                            "clip_seconds FROM outcomes ORDER BY id").fetchall()
    by_camera = {camera: [row for row in outcomes if row[0] == camera]
                 for camera in ("gate", "dead")}
    assert [row[1] for row in by_camera["gate"]] == [st.COMPLETED] * 2
    assert [row[1] for row in by_camera["dead"]] == [st.CONNECTION_ERROR] * 2
    _, _, codec, resolution, clip, connect_seconds, clip_seconds = by_camera["gate"][0]
    assert codec == "h264" and resolution and clip.endswith("/gate.mp4")
    assert connect_seconds > 0 and clip_seconds >= 1.5
    assert conn.execute("SELECT id, name, last_status, consecutive_failures, "
                        "offline_since IS NOT NULL FROM cameras ORDER BY id").fetchall() == [
        ("dead", "", st.CONNECTION_ERROR, 2, 1), ("gate", "东门入口 1号", st.COMPLETED, 0, 0)]
    events = conn.execute("SELECT event, body FROM outbox ORDER BY id").fetchall()
    assert sorted(event for event, _ in events) == [
        "camera.offline", "cycle.finished", "cycle.finished"]
    offline = json.loads(next(body for event, body in events if event == "camera.offline"))
    assert offline["camera"]["id"] == "dead" and "secret" not in json.dumps(offline)
    conn.close()
