"""The daemon's shutdown: when ffmpeg does not stop in time (shell scripts stand in for ffmpeg),
when a part of it fails."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from recorder import daemon as daemon_module
from recorder.daemon import Daemon
from recorder.processes import ProcessHandle, ProcessRunner
from shared import settings
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.control_file import request_start
from shared.locks import locked
from shared.status_file import read_status
from testkit.recorder_process import ffprobe, wait_for
from tests.test_daemon_config import started_daemon

# Like ffmpeg that no stop signal reaches: only SIGKILL ends it. The first stream
# has written two seconds of real fragmented MP4 by then, the second only junk.
STUBBORN = """
trap '' INT TERM
for arg; do case $arg in *.part) out=$arg;; esac; done
case $out in
  *cam0*) ffmpeg -v error -f lavfi -i testsrc=size=160x120:rate=25 -t 2 -c:v libx264 -f mp4 \
            -movflags +frag_keyframe+empty_moov+default_base_moof -y "$out" </dev/null
          printf 'frame=50\\ntotal_size=9000\\nout_time_us=2000000\\nprogress=continue\\n' ;;
  *) printf 'junk' > "$out" ;;
esac
while :; do sleep 0.1; done
"""


class ScriptRunner(ProcessRunner):
    """Runs a shell script instead of ffmpeg (ffmpeg's argv in ``$@``)."""

    def __init__(self, script: str) -> None:
        super().__init__()
        self.script = script

    def spawn(self, argv: list[str]) -> ProcessHandle:
        return super().spawn(["/bin/sh", "-c", self.script, "sh", *argv])


@pytest.fixture
def config_path(tmp_path) -> str:
    path = str(tmp_path / "config.json")
    write_json_atomic(path, {"global_config": {
        "total_poll_duration_seconds": 30, "max_concurrent_streams": 2,
        "output_directory": "./output", "report_filename": "rtsp_report.json",
        "connection_timeout_seconds": 10, "read_timeout_seconds": 10, "poll_cycles": -1,
        "cycle_interval_seconds": 0}, "streams": [
        {"rtsp_url": f"rtsp://127.0.0.1:5/cam{i}", "duration_seconds": 20,
         "output_filename": f"cam{i}.mp4"} for i in (0, 1)]})
    request_start(settings.control_path(path), {})
    return path


def test_ffmpeg_outstaying_the_shutdown_budget_is_killed_and_still_gets_a_verdict(
        tmp_path, config_path, monkeypatch, request) -> None:
    # The budget runs out before the stop grace does, as when finishing many clips
    # took the time: the last resort must still cancel, finish the files and report.
    monkeypatch.setattr(daemon_module, "SHUTDOWN_SECONDS", 0.5)
    runner = ScriptRunner(STUBBORN)
    daemon = Daemon(config_path, runner=runner)
    request.addfinalizer(lambda: [t.proc.kill() for t in daemon.cycle.tasks if t.proc]
                         if daemon.cycle else None)
    daemon.step(time.monotonic(), time.time())

    def both_started() -> bool:
        daemon.watcher.dispatch(0.1)
        daemon.step(time.monotonic(), time.time())
        cycle = daemon.cycle
        return bool(cycle and cycle.tasks[0].progress.progress.frames
                    and all(t.proc is not None for t in cycle.tasks))

    wait_for(both_started, 20, "both scripts running, the first with two seconds written")
    folder = tmp_path / "output" / daemon.cycle.name
    started = time.monotonic()
    daemon.shutdown()
    assert time.monotonic() - started < 5

    assert all(t.proc.poll() is not None for t in daemon.last_cycle.tasks)
    report = json.loads((folder / "rtsp_report.json").read_text(encoding="utf-8"))
    assert [t["status"] for t in report["tasks"]] == [st.CANCELLED, st.CANCELLED]
    assert report["summary"]["interrupted"]
    left = sorted(p.name for p in folder.iterdir() if p.suffix == ".mp4" or p.name[0] == ".")
    assert left == ["cam0.mp4"]  # junk removed, no work file left
    assert float(ffprobe(str(folder / "cam0.mp4"))["format"]["duration"]) > 1
    status = read_status(settings.status_path(config_path))
    assert status["heartbeat"] is None and status["scheduler_running"] is False
    assert [t["status"] for t in status["tasks"]] == [st.CANCELLED, st.CANCELLED]


def test_a_shutdown_that_failed_lets_go_of_the_status_lock_and_a_second_one_ends_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first call marked itself done before it worked: when it raised, the status file's
    # lock stayed held and a second call returned at once, the status never said "stopped".
    daemon = started_daemon(tmp_path)
    daemon.publisher.hold()
    daemon.step(10.0, 1_760_000_000.0)
    winds, close = [], daemon.history.close

    def close_failing_once(*args) -> None:
        if not winds.count("history"):
            winds.append("history")
            raise OSError("disk gone")
        close(*args)
    monkeypatch.setattr(daemon.history, "close", close_failing_once)
    monkeypatch.setattr(daemon.checks, "wind_down", lambda *args: winds.append("checks"))
    with pytest.raises(OSError):
        daemon.shutdown()
    with locked(daemon.publisher.path, timeout=0):  # let go of: a new recorder may start
        pass
    assert read_status(daemon.publisher.path)["scheduler_running"]  # "stopped" not yet
    daemon.shutdown()
    status = read_status(daemon.publisher.path)
    assert not status["scheduler_running"] and status["message"] == "录制守护进程已停止"
    assert winds == ["checks", "history"]  # what was done is not done again
    daemon.shutdown()  # all done: nothing again
    assert winds == ["checks", "history"]
