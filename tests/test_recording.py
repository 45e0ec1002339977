"""One task's state machine, with a shell script in place of ffmpeg and the time passed in."""
from __future__ import annotations

import subprocess
import time

import pytest

from recorder.pipe_watcher import PipeWatcher
from recorder.planner import PlannedTask
from recorder.processes import ProcessRunner
from recorder.recording import Recording
from shared import task_status as st

SETTINGS = {"connection_timeout_seconds": 3, "read_timeout_seconds": 4}
REFUSED = "echo 'rtsp://127.0.0.1:5/cam: Connection refused' >&2; exit 1"
# What ffmpeg does with its output argument: write the work file (``.<name>.part``).
WRITES_CLIP = 'for arg; do case "$arg" in *.part) printf clip > "$arg";; esac; done'


def progress(frames: int, seconds: float, end: bool = False) -> str:
    """A shell line printing one ``-progress`` block."""
    block = (f"frame={frames}\\ntotal_size={frames * 1000}\\nout_time_us={int(seconds * 1e6)}\\n"
             f"progress={'end' if end else 'continue'}\\n")
    return f"printf '{block}'"


class ScriptRunner(ProcessRunner):
    """Runs a shell script instead of ffmpeg (the argv in ``$@``) and notes every signal sent."""

    def __init__(self, script: str) -> None:
        self.script = script
        self.signals: list[str] = []

    def spawn(self, argv: list[str]) -> subprocess.Popen:
        return subprocess.Popen(["/bin/sh", "-c", self.script, "sh", *argv],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)

    def interrupt(self, proc: subprocess.Popen) -> None:
        self.signals.append("INT")
        super().interrupt(proc)

    def kill(self, proc: subprocess.Popen) -> None:
        self.signals.append("KILL")
        super().kill(proc)


def started_task(tmp_path, script: str, duration: int = 5) -> tuple[Recording, ScriptRunner,
                                                                     PipeWatcher]:
    runner, watcher = ScriptRunner(script), PipeWatcher()
    stream = {"rtsp_url": "rtsp://127.0.0.1:5/cam", "output_filename": "cam.mp4",
              "duration_seconds": duration}
    task = Recording(PlannedTask(0, 0, 0.0, duration), stream, str(tmp_path), "./output/x",
                     SETTINGS, runner, None, watcher)
    task.start(0.0, 1_760_000_000.0)
    return task, runner, watcher


def read_until_exit(task: Recording, watcher: PipeWatcher) -> None:
    """Deliver everything the script wrote, up to the end of both pipes (its exit)."""
    deadline = time.monotonic() + 10
    while watcher.watching:
        assert time.monotonic() < deadline, "the script did not exit"
        watcher.dispatch(0.1)
    task.proc.wait()


def read_until_recording(task: Recording, watcher: PipeWatcher, now: float) -> None:
    """Deliver output until the first progress block with frames, then tick at ``now``."""
    deadline = time.monotonic() + 10
    while not task.progress.progress.frames:
        assert time.monotonic() < deadline, "no progress block"
        watcher.dispatch(0.1)
    task.tick(now, 1_760_000_000.0 + now)
    assert task.status == st.RECORDING


@pytest.mark.parametrize("script,recording,late,verdict", [
    # refused at once, but the loop looked only after connection_timeout had passed
    (REFUSED, False, SETTINGS["connection_timeout_seconds"] + 0.5, st.CONNECTION_ERROR),
    # the stream ended after 2 s of 5; the loop looked after read_timeout had passed
    (f"{progress(50, 2.0)}; sleep 0.2; {progress(50, 2.0, end=True)}", True,
     SETTINGS["read_timeout_seconds"] + 1.0, st.RECORDING_ERROR),
])
def test_a_process_that_ended_on_its_own_is_judged_by_its_end_not_by_a_watchdog(
        tmp_path, script: str, recording: bool, late: float, verdict: int) -> None:
    task, runner, watcher = started_task(tmp_path, script)
    if recording:
        read_until_recording(task, watcher, 0.5)
    read_until_exit(task, watcher)
    task.tick(late, 1_760_000_010.0)
    assert task.status == verdict, task.error_message
    assert runner.signals == []


def test_a_cancel_after_a_complete_recording_keeps_it_complete(tmp_path) -> None:
    task, runner, watcher = started_task(
        tmp_path, f"{WRITES_CLIP}; {progress(125, 5.0, end=True)}; exit 0")
    read_until_exit(task, watcher)
    task.cancel(5.5, 1_760_000_005.5)  # the stop came before the loop saw the exit
    task.tick(5.5, 1_760_000_005.5)
    assert task.status == st.COMPLETED, task.error_message
    assert runner.signals == []


def test_a_cancel_while_recording_stops_gracefully_and_says_cancelled(tmp_path) -> None:
    task, runner, watcher = started_task(tmp_path, f"trap 'exit 255' INT; {progress(25, 1.0)}; "
                                                   "while :; do sleep 0.1; done")
    read_until_recording(task, watcher, 1.0)
    task.cancel(1.5, 1_760_000_001.5)
    read_until_exit(task, watcher)
    task.tick(1.6, 1_760_000_001.6)
    assert (task.status, runner.signals) == (st.CANCELLED, ["INT"])


def test_a_silent_server_is_a_connect_timeout_and_is_killed(tmp_path) -> None:
    task, runner, watcher = started_task(tmp_path, "exec sleep 30")
    task.tick(SETTINGS["connection_timeout_seconds"] + 0.1, 1_760_000_003.1)
    read_until_exit(task, watcher)
    task.tick(SETTINGS["connection_timeout_seconds"] + 0.2, 1_760_000_003.2)
    assert (task.status, runner.signals) == (st.TIMEOUT, ["KILL"])
    assert task.error_message == "连接超时: 服务器未在规定时间内响应"


def test_published_fields_follow_every_change_of_the_task(tmp_path) -> None:
    script = f"{progress(25, 1.0)}; sleep 0.3; {progress(50, 2.0, end=True)}"
    task, _runner, watcher = started_task(tmp_path, script)
    connecting = task.as_dict()
    assert connecting["status"] == st.CONNECTING and connecting["frames_received"] == 0
    read_until_recording(task, watcher, now=1.0)
    recording = task.as_dict()
    assert recording["status"] == st.RECORDING and recording["frames_received"] == 25
    assert recording["progress"] == 1.0 and connecting["frames_received"] == 0
    read_until_exit(task, watcher)
    task.tick(5.0, 1_760_000_005.0)
    done = task.as_dict()
    assert done["frames_received"] == 50 and done["status"] in st.FINISHED
    assert done["end_time"] and done["run_seconds"] is not None
    assert task.as_dict() is done  # unchanged task, same dict: nothing rebuilt


def test_a_full_recording_whose_clip_was_kept_is_complete_and_names_it(tmp_path) -> None:
    task, _runner, watcher = started_task(
        tmp_path, f"{WRITES_CLIP}; {progress(125, 5.0, end=True)}; exit 0")
    assert task.as_dict()["output_file"] == "./output/x/cam.mp4"  # where it is being written
    read_until_exit(task, watcher)
    task.tick(5.5, 1_760_000_005.5)
    assert task.status == st.COMPLETED, task.error_message
    assert (tmp_path / "cam.mp4").read_bytes() == b"clip"
    assert task.as_dict()["output_file"] == "./output/x/cam.mp4"


def test_a_full_recording_that_left_no_clip_is_a_recording_error_by_its_own_verdict(
        tmp_path) -> None:
    # ffmpeg said it recorded everything, but no file is there to keep: the task's
    # own verdict says so (no later correction by the cycle), and names no clip.
    task, _runner, watcher = started_task(tmp_path, f"{progress(125, 5.0, end=True)}; exit 0")
    read_until_exit(task, watcher)
    task.tick(5.5, 1_760_000_005.5)
    assert (task.status, task.error_message) == (st.RECORDING_ERROR, "录制文件无法使用")
    assert task.as_dict()["output_file"] is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("script", [REFUSED, f"{WRITES_CLIP}; {REFUSED}"])
def test_a_failed_task_names_no_clip_file(tmp_path, script: str) -> None:
    # The second one left a work file with no playable media: it is removed, not named.
    task, _runner, watcher = started_task(tmp_path, script)
    read_until_exit(task, watcher)
    task.tick(0.5, 1_760_000_000.5)
    record = task.as_dict()
    assert (record["status"], record["output_file"]) == (st.CONNECTION_ERROR, None)
    assert list(tmp_path.iterdir()) == []


def test_a_task_cancelled_before_it_started_names_no_clip_file(tmp_path) -> None:
    stream = {"rtsp_url": "rtsp://u:secret@127.0.0.1:5/cam", "output_filename": "cam.mp4",
              "duration_seconds": 5}
    task = Recording(PlannedTask(0, 0, 0.0, 5), stream, str(tmp_path), "./output/x", SETTINGS,
                     ScriptRunner("exit 0"), None, PipeWatcher())
    assert task.as_dict()["output_file"] == "./output/x/cam.mp4"  # it may still be recorded
    task.cancel(0.0, 1_760_000_000.0)
    record = task.as_dict()
    assert (record["status"], record["status_name"], record["output_file"]) == (
        st.CANCELLED, "已取消", None)
    assert record["rtsp_url"] == "rtsp://***@127.0.0.1:5/cam"
