"""A gateway that hangs is skipped for the rest of the cycle after 3 timeouts (the real recorder)."""
from __future__ import annotations

import glob
import json
import os

import pytest

from shared import settings
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.control_file import request_start
from shared.status_file import empty_status
from testkit.recorder_process import RecorderProcess, wait_for

pytestmark = pytest.mark.integration


def test_a_hanging_gateway_is_skipped_after_three_timeouts(tmp_path, camera_server,
                                                           hanging_port) -> None:
    config = str(tmp_path / "config.json")
    hanging = [{"rtsp_url": f"rtsp://127.0.0.1:{hanging_port}/cam{i}", "duration_seconds": 2,
                "output_filename": f"hang{i}.mp4", "weight": 2.0} for i in range(6)]
    working = [{"rtsp_url": camera_server.url("cam1"), "duration_seconds": 2,
                "output_filename": "ok.mp4"}]
    write_json_atomic(config, {"global_config": {
        "total_poll_duration_seconds": 60, "max_concurrent_streams": 4,
        "max_concurrent_per_host": 3, "connection_timeout_seconds": 2,
        "read_timeout_seconds": 2, "poll_cycles": 1, "cycle_interval_seconds": 0,
        "min_free_space_mb": 0}, "streams": hanging + working})
    request_start(settings.control_path(config), empty_status())
    with RecorderProcess(config) as recorder:
        report_path = wait_for(
            lambda: next(iter(glob.glob(str(tmp_path / "output/*/rtsp_report.json"))), None),
            60, "the cycle's report")
        log = recorder.log()
    report = json.loads(open(report_path, encoding="utf-8").read())
    by_stream = {t["stream_index"]: t for t in report["tasks"]}
    assert [by_stream[i]["status"] for i in range(3)] == [st.TIMEOUT] * 3
    assert [(by_stream[i]["status"], by_stream[i]["error_message"]) for i in range(3, 6)] == [
        (st.CONNECTION_ERROR, "网关无响应, 本轮跳过")] * 3
    assert by_stream[6]["status"] == st.COMPLETED
    assert f"gateway 127.0.0.1:{hanging_port} timed out 3 times" in log
    text = open(os.path.join(os.path.dirname(report_path), "report.txt"), encoding="utf-8").read()
    assert "网关无响应, 本轮跳过" in text
