"""A camera that speaks RTP over UDP only (VLC's RTSP server): recorded by default, refused over TCP."""
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
from testkit.cameras.vlc import VlcCamera, vlc_available
from testkit.recorder_process import RecorderProcess, ffprobe, wait_for

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not vlc_available(), reason="needs Debian's vlc-bin (cvlc)")]


def test_a_udp_only_camera_is_recorded_unless_tcp_is_forced(tmp_path) -> None:
    config = str(tmp_path / "config.json")
    with VlcCamera() as camera:
        write_json_atomic(config, {"global_config": {
            "total_poll_duration_seconds": 40, "max_concurrent_streams": 2,
            "connection_timeout_seconds": 10, "read_timeout_seconds": 10, "poll_cycles": 1,
            "cycle_interval_seconds": 0, "min_free_space_mb": 0}, "streams": [
            {"rtsp_url": camera.url, "duration_seconds": 3, "output_filename": "auto.mp4"},
            {"rtsp_url": camera.url, "duration_seconds": 3, "output_filename": "tcp.mp4",
             "rtsp_transport": "tcp"}]})
        request_start(settings.control_path(config), empty_status())
        with RecorderProcess(config):
            report_path = wait_for(
                lambda: next(iter(glob.glob(str(tmp_path / "output/*/rtsp_report.json"))), None),
                60, "the cycle's report")
    report = json.loads(open(report_path, encoding="utf-8").read())
    auto, tcp = report["tasks"]
    assert auto["status"] == st.COMPLETED, auto["error_message"]
    assert float(ffprobe(os.path.join(os.path.dirname(report_path), "auto.mp4"))
                 ["format"]["duration"]) > 2
    assert tcp["status"] == st.CONNECTION_ERROR
    assert "461" in tcp["error_message"]
