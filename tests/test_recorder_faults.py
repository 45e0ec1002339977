"""Faults end to end: a stream that stalls mid-recording, a SIGTERM of the daemon mid-cycle."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from shared import settings
from shared import task_status as st
from shared.status_file import read_status
from tests.recorder_process import RecorderProcess, ffmpeg_pids, ffprobe, wait_for
from tests.test_recorder_e2e import Patrol, patrol_config

pytestmark = pytest.mark.integration


def cycle_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The clips of a cycle folder, and the names of any hidden work files left in it."""
    return sorted(folder.glob("*.mp4")), sorted(p.name for p in folder.glob(".*"))


def task_of(patrol: Patrol, stream_index: int) -> dict:
    """The live task of one stream ({} before the cycle has planned it)."""
    return patrol.tasks_by_stream().get(stream_index, {})


def test_stalled_stream_times_out_on_read_and_keeps_its_partial_clip(tmp_path, camera_server) -> None:
    # /stall sends ~3 s of video, then nothing, with the RTSP session left open:
    # ffmpeg blocks on the socket, only our read watchdog can end it.
    streams = [{"rtsp_url": camera_server.url("stall"), "duration_seconds": 15,
                "output_filename": "stall.mp4"}]
    config = patrol_config(streams, connection_timeout_seconds=5, read_timeout_seconds=2)
    with Patrol(tmp_path, config) as patrol:
        patrol.post("/api/scheduler/start")
        wait_for(lambda: task_of(patrol, 0).get("status") == st.RECORDING, 15, "recording")
        started = time.monotonic()
        task = wait_for(lambda: (t := task_of(patrol, 0)).get("status") in st.FINISHED and t,
                        20, "the verdict")
        waited = time.monotonic() - started
        cycle = patrol.get("/api/scheduler/cycle")["cycle_dir"]
        log = patrol.recorder.log()

    assert task["status"] == st.TIMEOUT, (task, log)
    assert task["error_message"] == "读取超时: 长时间未收到数据"
    # ~3 s of media, then read_timeout (2 s) and at most the stop grace (3 s): long
    # before ffmpeg's -t 15 or the overstay guard could have ended it.
    assert waited < 10, (waited, log)
    assert 1.5 < task["progress"] < 4.5, task
    folder = tmp_path / "output" / cycle
    clips, work_files = cycle_files(folder)
    assert [c.name for c in clips] == ["stall.mp4"] and work_files == []
    assert 1 < float(ffprobe(str(clips[0]))["format"]["duration"]) < 4.5
    report = json.loads((folder / "rtsp_report.json").read_text(encoding="utf-8"))
    assert [t["status"] for t in report["tasks"]] == [st.TIMEOUT]
