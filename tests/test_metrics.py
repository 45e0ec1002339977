"""GET /metrics: Prometheus text computed from the status file and the history at scrape time."""
from __future__ import annotations

import time
from pathlib import Path

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from shared.atomic import write_json_atomic
from shared.history_schema import connect_writer, history_path
from shared.task_status import COMPLETED, CONNECTION_ERROR, RECORDING, TIMEOUT
from tests.helpers import WriteStatus, valid_config
from testkit.history_rows import add_outbox, record


def _samples(client: FlaskClient) -> dict[tuple, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _camera(name: str, camera: str) -> tuple:
    return (f"rtsp_patrol_camera_{name}", (("camera", camera), ("name", "")))


def test_without_recorder_or_history(client: FlaskClient) -> None:
    samples = _samples(client)
    assert samples[("rtsp_patrol_recorder_up", ())] == 0
    assert samples[("rtsp_patrol_history_available", ())] == 0
    assert samples[("rtsp_patrol_config_error", ())] == 0
    assert samples[("rtsp_patrol_cameras", (("state", "unknown"),))] == 2
    assert ("rtsp_patrol_recorder_heartbeat_age_seconds", ()) not in samples
    assert ("rtsp_patrol_alert_outbox_depth", ()) not in samples
    assert not [key for key in samples if key[0].startswith("rtsp_patrol_camera_")]


def test_recorder_and_camera_series(client: FlaskClient, config_path: Path,
                                    write_status: WriteStatus) -> None:
    write_status(scheduler_running=True, current_cycle=7,
                 cycle={"running": True, "started_at": time.time(), "total_seconds": 60},
                 tasks=[{"status": COMPLETED}, {"status": RECORDING}, {"status": COMPLETED}])
    conn = connect_writer(history_path(str(config_path)))
    now = time.time()
    record(conn, "test_stream1", now - 600, COMPLETED, size=4096, clip_seconds=9.5,
           clip="./output/a/test_stream1.mp4")
    record(conn, "test_stream1", now - 300, CONNECTION_ERROR)
    record(conn, "test_stream2", now - 60, COMPLETED, size=100, clip_seconds=5.0)
    record(conn, "removed_cam", now - 60, TIMEOUT)
    add_outbox(conn, "camera.offline", now)
    add_outbox(conn, "cycle.finished", now, delivered=now)
    conn.close()
    samples = _samples(client)
    assert samples[("rtsp_patrol_recorder_up", ())] == 1
    assert 0 <= samples[("rtsp_patrol_recorder_heartbeat_age_seconds", ())] < 60
    assert samples[("rtsp_patrol_scheduler_running", ())] == 1
    assert samples[("rtsp_patrol_cycle_number", ())] == 7
    assert samples[("rtsp_patrol_tasks", (("status", "4"), ("status_name", "已完成")))] == 2
    assert samples[("rtsp_patrol_tasks", (("status", "3"), ("status_name", "录制中")))] == 1
    assert samples[("rtsp_patrol_alert_outbox_depth", ())] == 1
    assert samples[("rtsp_patrol_disk_free_bytes", ())] > 0
    assert samples[("rtsp_patrol_cameras", (("state", "degraded"),))] == 1
    assert samples[("rtsp_patrol_cameras", (("state", "online"),))] == 1
    assert samples[_camera("up", "test_stream1")] == 0
    assert samples[_camera("up", "test_stream2")] == 1
    assert samples[_camera("last_status", "test_stream1")] == CONNECTION_ERROR
    assert samples[_camera("last_success_timestamp_seconds", "test_stream1")] == now - 600
    assert samples[_camera("consecutive_failures", "test_stream1")] == 1
    # The last 已完成 task's clip, not the failure after it.
    assert samples[_camera("last_clip_bytes", "test_stream1")] == 4096
    assert samples[_camera("last_clip_duration_seconds", "test_stream1")] == 9.5
    assert samples[_camera("uptime_24h_ratio", "test_stream1")] == 0.5
    per_camera = [key for key in samples if key[0].startswith("rtsp_patrol_camera_")]
    assert {label for _, labels in per_camera for label, _ in labels} == {"camera", "name"}
    assert not [key for key in per_camera if ("camera", "removed_cam") in key[1]]


def test_a_broken_config_is_reported_not_an_error(client: FlaskClient, config_path: Path) -> None:
    config = valid_config()
    config["global_config"]["max_concurrent_streams"] = 0
    write_json_atomic(str(config_path), config)
    samples = _samples(client)
    assert samples[("rtsp_patrol_config_error", ())] == 1
    assert samples[("rtsp_patrol_recorder_up", ())] == 0
