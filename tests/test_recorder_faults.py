"""Faults end to end: a stream that stalls mid-recording, a SIGTERM of the daemon mid-cycle."""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from shared import settings
from shared import task_status as st
from shared.status_file import read_status
from testkit.recorder_process import RecorderProcess, ffmpeg_pids, ffprobe, wait_for
from tests.test_recorder_e2e import Patrol, patrol_config, work_files

pytestmark = pytest.mark.integration


def cycle_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The clips of a cycle folder, and the names of any hidden work files left in it."""
    return sorted(folder.glob("*.mp4")), work_files(folder)


def task_of(patrol: Patrol, stream_index: int) -> dict:
    """The live task of one stream ({} before the cycle has planned it)."""
    return patrol.tasks_by_stream().get(stream_index, {})


def test_stalled_stream_is_a_read_timeout_with_its_partial_clip(tmp_path, camera_server) -> None:
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


def test_sigterm_mid_cycle_cancels_every_task_and_restart_resumes(tmp_path, camera_server) -> None:
    streams = [{"rtsp_url": camera_server.url(mount), "duration_seconds": seconds,
                "output_filename": f"{mount}.mp4"}
               for mount, seconds in (("cam1", 20), ("cam2", 20), ("stall", 20), ("cam3", 3))]
    # Tasks 0-2 start within 3 s; task 3 waits for a free slot at 20 s. The read
    # timeout is long, so /stall is still a stalled recording when SIGTERM comes.
    config = patrol_config(streams, total_poll_duration_seconds=24, max_concurrent_streams=3,
                           connection_timeout_seconds=5, read_timeout_seconds=15, poll_cycles=-1)
    with Patrol(tmp_path, config) as patrol:
        patrol.post("/api/scheduler/start")

        first_seen: dict[float, float] = {}  # progress of /stall -> progress of cam1 then

        def all_underway() -> bool:
            tasks = patrol.tasks_by_stream()
            if not (len(tasks) == 4 and tasks[3]["status"] == st.PENDING
                    and all(tasks[i]["status"] == st.RECORDING for i in (0, 1, 2))):
                return False
            since = first_seen.setdefault(tasks[2]["progress"], tasks[0]["progress"])
            # stalled: its progress stood still while cam1 recorded two more seconds
            return tasks[2]["progress"] >= 1.5 and tasks[0]["progress"] - since >= 2

        try:
            wait_for(all_underway, 30, "three recordings (one stalled) and one pending task")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {patrol.tasks_by_stream()}") from None
        interrupted = patrol.get("/api/scheduler/cycle")["cycle_dir"]
        started = time.monotonic()
        assert patrol.recorder.stop(signal.SIGTERM) == 0, patrol.recorder.log()
        stopping = time.monotonic() - started
        assert ffmpeg_pids(str(tmp_path)) == []

        status = read_status(settings.status_path(patrol.config_path))
        assert status["scheduler_running"] is False and status["heartbeat"] is None
        folder = tmp_path / "output" / interrupted
        report = json.loads((folder / "rtsp_report.json").read_text(encoding="utf-8"))
        assert report["summary"]["interrupted"]
        assert [t["status"] for t in report["tasks"]] == [st.CANCELLED] * 4, report["tasks"]
        clips, work_files = cycle_files(folder)
        assert work_files == []
        assert {"cam1.mp4", "cam2.mp4"} <= {c.name for c in clips} <= {"cam1.mp4", "cam2.mp4",
                                                                         "stall.mp4"}
        for clip in clips:
            assert 1 < float(ffprobe(str(clip))["format"]["duration"]) < 19, clip.name

        # The control file still wants the scheduler running: a new daemon resumes it.
        patrol.recorder = RecorderProcess(patrol.config_path).start()
        wait_for(lambda: patrol.get("/api/scheduler/cycle")["cycle_dir"] not in ("", interrupted)
                 and patrol.get("/api/scheduler/status")["is_running"], 20, "a resumed cycle")
        log = patrol.recorder.log()
    # A clean stop left nothing to recover: the interrupted cycle's report stands as written.
    assert json.loads((folder / "rtsp_report.json").read_text(encoding="utf-8")) == report
    assert "recovered interrupted cycle" not in log
    # ffmpeg ignores one SIGINT while blocked on a silent socket: the stall costs the stop
    # grace, the rest is quick.
    assert stopping < 8, stopping
