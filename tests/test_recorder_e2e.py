"""End to end: real gunicorn, the real recorder, real ffmpeg, real RTSP cameras on 127.0.0.1."""
from __future__ import annotations

import csv
import glob
import json
import signal
from pathlib import Path

import pytest
import requests

from shared import task_status as st
from shared.clip_names import THUMBNAIL_SUFFIX
from shared.atomic import write_json_atomic
from testkit.recorder_process import (RecorderProcess, ffmpeg_pids, ffprobe, settled_names,
                                      wait_for)
from testkit.servers import GunicornServer

pytestmark = pytest.mark.integration


def patrol_config(streams: list[dict], **global_overrides) -> dict:
    config = {"global_config": {
        "total_poll_duration_seconds": 20, "max_concurrent_streams": 8,
        "output_directory": "./output", "report_filename": "rtsp_report.json",
        "connection_timeout_seconds": 3, "read_timeout_seconds": 4, "poll_cycles": 1,
        "cycle_interval_seconds": 1}, "streams": streams}
    config["global_config"].update(global_overrides)
    return config


def work_files(folder: Path) -> list[str]:
    """Hidden files left in a cycle folder other than the clips' thumbnails."""
    return [name for name in settled_names(folder)
            if name.startswith(".") and not name.endswith(THUMBNAIL_SUFFIX)]


class Patrol:
    """The API and the recorder running on one config in a temp folder."""

    def __init__(self, folder: Path, config: dict) -> None:
        self.folder = folder
        self.config_path = str(folder / "config.json")
        write_json_atomic(self.config_path, config)
        self.api = GunicornServer(self.config_path, workers=2)
        self.recorder = RecorderProcess(self.config_path)

    def __enter__(self) -> "Patrol":
        self.api.start()
        self.recorder.start()
        wait_for(lambda: self.get("/api/scheduler/status")["recorder_alive"], 20, "recorder heartbeat")
        return self

    def __exit__(self, *exc_info) -> None:
        self.recorder.stop()
        self.api.stop()
        assert ffmpeg_pids(str(self.folder)) == [], "ffmpeg outlived the recorder"

    def get(self, path: str) -> dict:
        return requests.get(self.api.url(path), timeout=10).json()

    def post(self, path: str) -> requests.Response:
        return requests.post(self.api.url(path), timeout=10)

    def output(self) -> Path:
        return self.folder / "output"

    def tasks_by_stream(self) -> dict[int, dict]:
        return {t["stream_index"]: t for t in self.get("/api/tasks")["tasks"]}


def test_one_cycle_classifies_every_kind_of_camera(tmp_path, camera_server, hanging_port,
                                                  refusing_port) -> None:
    streams = [
        {"rtsp_url": camera_server.url("cam1"), "duration_seconds": 5, "output_filename": "h264.mp4"},
        {"rtsp_url": camera_server.url("h265"), "duration_seconds": 5, "output_filename": "h265.mp4"},
        {"rtsp_url": camera_server.url("h264_alaw"), "duration_seconds": 5,
         "output_filename": "alaw.mp4"},
        {"rtsp_url": camera_server.url("ending"), "duration_seconds": 8, "output_filename": "ending.mp4"},
        {"rtsp_url": camera_server.url("nosuch"), "duration_seconds": 5, "output_filename": "missing.mp4"},
        {"rtsp_url": f"rtsp://127.0.0.1:{hanging_port}/cam", "duration_seconds": 5,
         "output_filename": "hanging.mp4"},
        {"rtsp_url": f"rtsp://user:secret@127.0.0.1:{refusing_port}/cam", "duration_seconds": 5,
         "output_filename": "refused.mp4"},
    ]
    with Patrol(tmp_path, patrol_config(streams)) as patrol:
        assert patrol.post("/api/scheduler/start").json()["message"] == "调度器启动成功"
        wait_for(lambda: patrol.get("/api/scheduler/status")["end_time"], 60, "the cycle to end")
        tasks = patrol.tasks_by_stream()
        cycle = patrol.get("/api/timestamps")["timestamps"][0]["timestamp"]
        log = patrol.recorder.log()

    assert {i: t["status"] for i, t in tasks.items()} == {
        0: st.COMPLETED, 1: st.COMPLETED, 2: st.COMPLETED, 3: st.RECORDING_ERROR,
        4: st.STREAM_UNAVAILABLE, 5: st.TIMEOUT, 6: st.CONNECTION_ERROR}, log
    assert "404" in tasks[4]["error_message"]
    assert "Connection refused" in tasks[6]["error_message"]
    assert "secret" not in tasks[6]["error_message"] and "secret" not in log  # ffmpeg echoes it
    assert tasks[6]["rtsp_url"].startswith("rtsp://user:***@")
    folder = patrol.output() / cycle

    expected_codecs = {"h264.mp4": ("h264", None), "h265.mp4": ("hevc", None),
                       "alaw.mp4": ("h264", "aac")}
    for name, (video, audio) in expected_codecs.items():
        info = ffprobe(str(folder / name))
        codecs = {s["codec_type"]: s for s in info["streams"]}
        assert codecs["video"]["codec_name"] == video
        assert (codecs.get("audio") or {}).get("codec_name") == audio
        assert abs(float(info["format"]["duration"]) - 5) <= 1.0, (name, info["format"])
    assert ffprobe(str(folder / "h265.mp4"))["streams"][0]["codec_tag_string"] == "hvc1"
    assert 0 < float(ffprobe(str(folder / "ending.mp4"))["format"]["duration"]) < 7
    for name in ("missing.mp4", "hanging.mp4", "refused.mp4"):
        assert not (folder / name).exists()
    hidden = {n for n in settled_names(folder) if n.startswith(".")}
    # Only the thumbnails of the kept clips (README "Picture checks"): no work file left.
    assert hidden == {".h264.mp4.jpg", ".h265.mp4.jpg", ".alaw.mp4.jpg", ".ending.mp4.jpg"}, \
        "work files left behind"

    report = json.loads((folder / "rtsp_report.json").read_text(encoding="utf-8"))
    assert {t["stream_index"]: t["status"] for t in report["tasks"]} == \
        {i: t["status"] for i, t in tasks.items()}
    assert report["summary"]["completed_tasks"] == 3 and report["summary"]["failed_tasks"] == 4
    with open(folder / "streams.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {int(r["stream_index"]): int(r["status_code"]) for r in rows} == \
        {i: t["status"] for i, t in tasks.items()}
    text = (folder / "report.txt").read_text(encoding="utf-8")
    for name in ("已完成", "录制错误", "流不可用", "超时", "连接错误"):
        assert name in text
    written = "".join(p.read_text(encoding="utf-8", errors="replace")
                      for p in folder.iterdir() if p.suffix in (".json", ".txt", ".csv"))
    assert "secret" not in written and "secret" not in log


def test_stop_in_the_middle_cancels_and_keeps_playable_partial_clips(tmp_path, camera_server) -> None:
    streams = [{"rtsp_url": camera_server.url(f"cam{i}"), "duration_seconds": 20,
                "output_filename": f"cam{i}.mp4"} for i in (1, 2, 3)]
    config = patrol_config(streams, total_poll_duration_seconds=40, poll_cycles=-1)
    with Patrol(tmp_path, config) as patrol:
        patrol.post("/api/scheduler/start")
        wait_for(lambda: sum(t["status"] == st.RECORDING and t["progress"] >= 2
                             for t in patrol.tasks_by_stream().values()) >= 2, 30, "two recordings")
        response = patrol.post("/api/scheduler/stop")
        assert response.json() == {"success": True, "message": "调度器停止成功", "is_running": False}
        wait_for(lambda: not ffmpeg_pids(str(tmp_path)), 10, "every ffmpeg to exit")
        wait_for(lambda: not patrol.get("/api/scheduler/status")["is_running"], 10, "stopped")
        tasks = patrol.tasks_by_stream()
        assert {t["status"] for t in tasks.values()} == {st.CANCELLED}
        cycle = patrol.get("/api/timestamps")["timestamps"][0]["timestamp"]
        assert patrol.get("/api/scheduler/cycle")["active_tasks"] == []
    clips = glob.glob(str(tmp_path / "output" / cycle / "*.mp4"))
    assert len(clips) >= 2
    for clip in clips:
        assert 1 < float(ffprobe(clip)["format"]["duration"]) < 19
    assert work_files(tmp_path / "output" / cycle) == []


def test_sigkill_of_the_recorder_leaves_no_ffmpeg_and_restart_resumes(tmp_path, camera_server) -> None:
    streams = [{"rtsp_url": camera_server.url(f"cam{i}"), "duration_seconds": 20,
                "output_filename": f"cam{i}.mp4"} for i in (1, 2)]
    config = patrol_config(streams, total_poll_duration_seconds=40, poll_cycles=-1)
    with Patrol(tmp_path, config) as patrol:
        patrol.post("/api/scheduler/start")
        wait_for(lambda: sum(t["status"] == st.RECORDING and t["progress"] >= 2
                             for t in patrol.tasks_by_stream().values()) == 2, 30, "recordings")
        interrupted = patrol.get("/api/scheduler/cycle")["cycle_dir"]
        patrol.recorder.stop(signal.SIGKILL)
        wait_for(lambda: not ffmpeg_pids(str(tmp_path)), 5, "ffmpeg to die with the recorder")
        for clip in glob.glob(str(tmp_path / "output" / "*" / "*.mp4")):
            ffprobe(clip)  # every published clip is playable
        wait_for(lambda: not patrol.get("/api/scheduler/status")["recorder_alive"], 10, "stale beat")
        assert patrol.post("/api/scheduler/stop").status_code == 503

        patrol.recorder = RecorderProcess(patrol.config_path).start()
        wait_for(lambda: patrol.get("/api/scheduler/cycle")["cycle_dir"] not in ("", interrupted)
                 and patrol.get("/api/scheduler/status")["is_running"], 20, "the resumed scheduler")
        folder = tmp_path / "output" / interrupted
        report = json.loads((folder / "rtsp_report.json").read_text(encoding="utf-8"))
        assert report["summary"]["interrupted"]
        assert {t["status"] for t in report["tasks"]} == {st.CANCELLED}
        recovered = sorted(p.name for p in folder.glob("*.mp4"))
        assert recovered == ["cam1.mp4", "cam2.mp4"]
        for name in recovered:
            assert float(ffprobe(str(folder / name))["format"]["duration"]) > 1
        assert work_files(folder) == []
        # The killed ffmpegs' last keyframes became the recovered clips' thumbnails.
        assert sorted(p.name for p in folder.glob(".*")) == [".cam1.mp4.jpg", ".cam2.mp4.jpg"]


def test_broken_hand_edit_keeps_the_last_valid_config(tmp_path, camera_server) -> None:
    streams = [{"rtsp_url": camera_server.url("cam1"), "duration_seconds": 2,
                "output_filename": "cam1.mp4"}]
    config = patrol_config(streams, total_poll_duration_seconds=3, poll_cycles=-1,
                           cycle_interval_seconds=0)
    with Patrol(tmp_path, config) as patrol:
        patrol.post("/api/scheduler/start")
        wait_for(lambda: patrol.get("/api/scheduler/cycle")["current_cycle"] >= 1, 20, "a cycle")
        good = Path(patrol.config_path).read_text(encoding="utf-8")
        Path(patrol.config_path).write_text(good.replace('"poll_cycles": -1', '"poll_cycles": -1,,'),
                                            encoding="utf-8")
        error = wait_for(lambda: patrol.get("/api/scheduler/status")["config_error"], 10,
                         "the config error to show")
        assert error["file"] == "config.json" and error["line"]
        before = patrol.get("/api/scheduler/cycle")["current_cycle"]
        wait_for(lambda: patrol.get("/api/scheduler/cycle")["current_cycle"] >= before + 2, 30,
                 "cycles to go on with the last valid config")
        assert patrol.get("/api/tasks")["tasks"][0]["status"] in (st.COMPLETED, st.PENDING, *st.ACTIVE)
        Path(patrol.config_path).write_text(good, encoding="utf-8")
        wait_for(lambda: patrol.get("/api/scheduler/status")["config_error"] is None, 10,
                 "the error to clear")
        assert "config rejected" in patrol.recorder.log()
