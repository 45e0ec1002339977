"""A really full disk: the real API and recorder writing to a small tmpfs, with real cameras."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder.space_gate import LOW_SPACE_RETRY_SECONDS
from shared import settings
from shared import task_status as st
from shared.clip_names import THUMBNAIL_SUFFIX
from shared.status_file import read_status
from testkit.recorder_process import ffprobe, settled_names, wait_for
from tests.helpers import mounted_tmpfs
from tests.test_recorder_e2e import Patrol, patrol_config

pytestmark = pytest.mark.integration
TMPFS_SIZE = 2 * 1024 * 1024
LOW_SPACE = re.compile(r"^磁盘剩余空间不足: 剩余 (\d+) MB, 低于下限 1 MB")


@pytest.fixture
def tmpfs_output(tmp_path: Path) -> Iterator[Path]:
    """tmp_path/output as a 2 MB tmpfs of its own, unmounted afterwards."""
    with mounted_tmpfs(tmp_path / "output", TMPFS_SIZE) as mount_point:
        yield mount_point


def ballast(folder: Path, size: int) -> Path:
    """A file taking ``size`` bytes of the disk (not a cycle folder: retention leaves it)."""
    path = folder / "ballast.bin"
    path.write_bytes(b"\xff" * size)
    return path


def test_disk_full_mid_recording_fails_the_tasks_cleanly_and_the_patrol_goes_on(
        tmp_path: Path, tmpfs_output: Path, camera_server) -> None:
    # 1.25 MB left for four streams of ~32 KB/s each: full within about ten seconds.
    ballast(tmpfs_output, 768 * 1024)
    streams = [{"rtsp_url": camera_server.url(f"cam{i}"), "duration_seconds": 60,
                "output_filename": f"cam{i}.mp4"} for i in (1, 2, 3, 4)]
    config = patrol_config(streams, total_poll_duration_seconds=70, max_concurrent_streams=4,
                           poll_cycles=1, min_free_space_mb=1)
    with Patrol(tmp_path, config) as patrol:
        patrol.post("/api/scheduler/start")
        wait_for(lambda: patrol.get("/api/scheduler/status")["end_time"], 60, "the cycle to end")
        tasks = patrol.tasks_by_stream()
        status = patrol.get("/api/scheduler/status")
        cycle = patrol.get("/api/scheduler/cycle")["cycle_dir"]
        folder = tmpfs_output / cycle
        files = settled_names(folder)
        clips = {name: ffprobe(str(folder / name)) for name in files if name.endswith(".mp4")}
        report_path = folder / "rtsp_report.json"
        report = json.loads(report_path.read_text("utf-8")) if report_path.exists() else None
        assert patrol.recorder.proc.poll() is None and status["recorder_alive"]

        # The daemon goes on: started again, it is below the 1 MB floor, so retention
        # removes the full cycle (ours, and enough to get back above it) and records anew.
        assert patrol.post("/api/scheduler/start").status_code == 200
        wait_for(lambda: patrol.get("/api/scheduler/cycle")["cycle_dir"] not in ("", cycle),
                 20, "a new cycle")
        assert not folder.exists()
        log = patrol.recorder.log()

    assert {i: t["status"] for i, t in tasks.items()} == {i: st.RECORDING_ERROR
                                                          for i in range(4)}, log
    assert {t["error_message"] for t in tasks.values()} == {"磁盘空间不足, 写入失败"}
    assert all(t["progress"] < 50 for t in tasks.values())
    # Each partial clip is playable or absent; no work file is left behind.
    assert not [name for name in files if name.startswith(".")
                and not name.endswith(THUMBNAIL_SUFFIX)], files
    for name, info in clips.items():
        assert float(info["format"]["duration"]) > 0, name
    # The room reserved for the reports at the cycle's start takes them on the full disk.
    assert report is not None, status["status_message"]
    assert {t["status"] for t in report["tasks"]} == {st.RECORDING_ERROR}
    assert report["summary"]["failed_tasks"] == 4
    assert {"report.txt", "streams.csv"} <= set(files)
    assert "报告写入失败" not in status["status_message"]
    assert f"retention: removed cycle {cycle} (free space below 1 MB" in log


def test_below_the_floor_no_cycle_starts_until_space_returns(
        tmp_path: Path, tmpfs_output: Path, camera_server) -> None:
    weight = ballast(tmpfs_output, 1536 * 1024)  # 0.5 MB left, the floor is 1 MB
    streams = [{"rtsp_url": camera_server.url("cam1"), "duration_seconds": 2,
                "output_filename": "cam1.mp4"}]
    config = patrol_config(streams, total_poll_duration_seconds=3, poll_cycles=-1,
                           min_free_space_mb=1)
    with Patrol(tmp_path, config) as patrol:
        patrol.post("/api/scheduler/start")
        message = wait_for(lambda: patrol.get("/api/scheduler/status")["status_message"], 10,
                           "the status to say why nothing is recorded")
        assert LOW_SPACE.match(message), message
        assert int(LOW_SPACE.match(message).group(1)) == 0
        tasks_view = patrol.get("/api/tasks")
        assert LOW_SPACE.match(tasks_view["status_message"]) and tasks_view["tasks"] == []
        assert patrol.get("/api/scheduler/status")["is_running"]
        # Past at least one retry, still nothing started.
        first_seen = patrol.get("/api/scheduler/cycle")
        wait_for(lambda: "checked every" in patrol.recorder.log(), 5, "the warning in the log")
        status_path = settings.status_path(patrol.config_path)
        later = read_status(status_path)["heartbeat"] + LOW_SPACE_RETRY_SECONDS + 1
        wait_for(lambda: read_status(status_path)["heartbeat"] > later, 15, "a retry to pass")
        assert patrol.get("/api/timestamps")["count"] == 0
        assert first_seen["current_cycle"] == patrol.get("/api/scheduler/cycle")["current_cycle"] == 0
        assert LOW_SPACE.match(patrol.get("/api/scheduler/status")["status_message"])

        weight.unlink()
        wait_for(lambda: patrol.get("/api/timestamps")["count"] >= 1,
                 LOW_SPACE_RETRY_SECONDS + 10, "the patrol to resume")
        wait_for(lambda: any(t["status"] == st.COMPLETED for t in patrol.get("/api/tasks")["tasks"]),
                 20, "a clip recorded after the space came back")
        assert not LOW_SPACE.match(patrol.get("/api/scheduler/status")["status_message"])
        log = patrol.recorder.log()
    assert log.count("no new cycle until space returns") == 1, log
    assert "patrol resumes" in log
