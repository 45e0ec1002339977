"""One task's state machine, with a fake runner in place of ffmpeg and the time passed in."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from recorder.clip_files import playable_seconds, probe
from recorder.outcome import CLOCK_WENT_BACK_WARNING
from recorder.ffmpeg_command import CheckFiles, build_argv
from recorder.pipe_watcher import PipeWatcher
from recorder.planner import PlannedTask
from recorder.processes import ProcessRunner
from recorder.recording import (OVERSTAY_MARGIN_SECONDS, STOP_ESCALATE_SECONDS,
                                STOP_GRACE_SECONDS, Recording)
from shared import task_status as st
from shared.global_settings import GlobalSettings
from testkit.fake_runner import (STARTED_LINE, STOPPED, FakeProcess, FakeRunner,
                                 progress_block)

SETTINGS = GlobalSettings.from_config({"connection_timeout_seconds": 3, "read_timeout_seconds": 4})
URL = "rtsp://127.0.0.1:5/cam"
WALL = 1_760_000_000.0
REFUSED = "rtsp://127.0.0.1:5/cam: Connection refused\n"


@pytest.fixture
def runner() -> Iterator[FakeRunner]:
    fake = FakeRunner()
    yield fake
    fake.close()


@pytest.fixture
def clip_runner() -> Iterator[FakeRunner]:
    """A runner whose "ffmpeg" writes its work file, as a recording that got media does."""
    fake = FakeRunner(work_file=b"clip")
    yield fake
    fake.close()


def started_task(tmp_path, runner, duration: int = 5,
                 settings: GlobalSettings = SETTINGS) -> tuple[Recording, FakeProcess]:
    stream = {"rtsp_url": URL, "output_filename": "cam.mp4", "duration_seconds": duration}
    task = Recording(PlannedTask(0, 0, 0.0, duration), stream, str(tmp_path), "./output/x",
                     settings, runner, None, PipeWatcher())
    task.start(0.0, WALL)
    return task, task.proc


def deliver(task: Recording) -> None:
    """Hand the task everything its process wrote so far (up to the end of its pipes)."""
    while task.watcher.dispatch(0):
        pass
    task.watcher.dispatch(0)


def recording_at(task: Recording, proc: FakeProcess, now: float, frames: int = 25) -> None:
    """The process prints a progress block with frames; the task sees it at ``now``."""
    proc.write(stdout=progress_block(frames, frames / 25))
    deliver(task)
    task.tick(now, WALL + now)
    assert task.status == st.RECORDING


def test_a_recording_runs_the_command_line_built_for_its_stream(tmp_path, runner) -> None:
    task, proc = started_task(tmp_path, runner)
    assert proc.argv == build_argv(URL, str(tmp_path / ".cam.mp4.part"), 5, io_timeout=6,
                                   checks=CheckFiles(str(tmp_path / ".cam.mp4.jpg.tmp"),
                                                     str(tmp_path / ".cam.mp4.fig.tmp"),
                                                     str(tmp_path / ".cam.mp4.blur.tmp"), 2.0))
    assert task.status == st.CONNECTING and runner.signals == []


@pytest.mark.parametrize("output,exit_code,recording,late,verdict", [
    # refused at once, but the loop looked only after connection_timeout had passed
    ("", 1, False, SETTINGS.connection_timeout_seconds + 0.5, st.CONNECTION_ERROR),
    # the stream ended after 2 s of 5; the loop looked after read_timeout had passed
    (progress_block(50, 2.0, end=True), 0, True, SETTINGS.read_timeout_seconds + 1.0,
     st.RECORDING_ERROR),
])
def test_a_process_that_ended_on_its_own_is_judged_by_its_end_not_by_a_watchdog(
        tmp_path, runner, output: str, exit_code: int, recording: bool, late: float,
        verdict: int) -> None:
    task, proc = started_task(tmp_path, runner)
    if recording:
        recording_at(task, proc, 0.5)
    proc.write(stdout=output, stderr=f"{URL}: Connection refused\n" if exit_code else "")
    proc.exit(exit_code)
    deliver(task)
    task.tick(late, WALL + late)
    assert task.status == verdict, task.error_message
    assert runner.signals == []


def test_a_cancel_after_a_complete_recording_keeps_it_complete(tmp_path, clip_runner) -> None:
    runner = clip_runner
    task, proc = started_task(tmp_path, runner)
    proc.write(stdout=progress_block(125, 5.0, end=True))
    proc.exit(0)
    deliver(task)
    task.cancel(5.5, WALL + 5.5)  # the stop came before the loop saw the exit
    task.tick(5.5, WALL + 5.5)
    assert task.status == st.COMPLETED, task.error_message
    assert runner.signals == []


def test_a_cancel_while_recording_stops_gracefully_and_says_cancelled(tmp_path, runner) -> None:
    task, proc = started_task(tmp_path, runner)
    recording_at(task, proc, 1.0)
    task.cancel(1.5, WALL + 1.5)
    deliver(task)
    task.tick(1.6, WALL + 1.6)
    assert (task.status, runner.signals, proc.returncode) == (st.CANCELLED, ["INT"], STOPPED)


def test_a_stop_that_ffmpeg_does_not_act_on_is_repeated_with_sigterm_then_killed(tmp_path) -> None:
    # ffmpeg blocked on a read ignores SIGINT until the read returns; a second
    # stop signal aborts the read. One that ignores that too is killed after the grace.
    runner = FakeRunner(stops_on=set())
    task, proc = started_task(tmp_path, runner)
    recording_at(task, proc, 1.0)
    task.cancel(2.0, WALL + 2)
    task.tick(2.0 + STOP_ESCALATE_SECONDS / 2, WALL + 3)
    assert runner.signals == ["INT"]
    task.tick(2.0 + STOP_ESCALATE_SECONDS, WALL + 3)
    assert runner.signals == ["INT", "TERM"]
    task.tick(2.0 + STOP_GRACE_SECONDS - 0.1, WALL + 5)
    assert runner.signals == ["INT", "TERM"]
    task.tick(2.0 + STOP_GRACE_SECONDS + 0.1, WALL + 5)
    assert runner.signals == ["INT", "TERM", "KILL"]
    deliver(task)
    task.tick(2.0 + STOP_GRACE_SECONDS + 0.2, WALL + 5)
    assert task.status == st.CANCELLED


def test_a_stalled_stream_gets_both_stop_signals_at_once_and_ends_without_a_kill(tmp_path) -> None:
    runner = FakeRunner(stops_on={"TERM"})  # stalled: SIGINT alone changes nothing
    task, proc = started_task(tmp_path, runner)
    recording_at(task, proc, 1.0)
    late = 1.0 + SETTINGS.read_timeout_seconds + 0.1
    task.tick(late, WALL + late)
    assert runner.signals == ["INT", "TERM"] and proc.returncode == STOPPED
    deliver(task)
    task.tick(late + 0.1, WALL + late)
    assert task.status == st.TIMEOUT and task.error_message == "读取超时: 长时间未收到数据"
    assert runner.signals == ["INT", "TERM"]


def _recording_a_probed_clip(tmp_path, probed_duration: str,
                             checks: bool) -> tuple[FakeRunner, Recording, FakeProcess]:
    """A 5 s task recording since 1 s, whose clip ffprobe will find ``probed_duration`` long;
    the picture checks on or off."""
    runner = FakeRunner(work_file=b"clip", run_returncode=0, run_stdout=json.dumps(
        {"format": {"duration": probed_duration}, "streams": [{"codec_type": "video"}]}))
    settings = GlobalSettings.from_config({"connection_timeout_seconds": 3,
                                           "read_timeout_seconds": 4,
                                           "quality": {"enabled": checks}})
    task, proc = started_task(tmp_path, runner, duration=5, settings=settings)
    recording_at(task, proc, 1.0)
    return runner, task, proc


def _keyframes_at(folder, *times: float) -> None:
    """The picture checks' figures file (metadata=print) of keyframes at these (camera clock) times."""
    (folder / ".cam.mp4.fig.tmp").write_text("".join(
        f"frame:{n} pts:{int(t * 90000)} pts_time:{t}\n" for n, t in enumerate(times)))


@pytest.mark.parametrize("checks,keyframes,message", [
    (False, (), CLOCK_WENT_BACK_WARNING),
    (True, (0.0, 4.0, 1.0), CLOCK_WENT_BACK_WARNING),  # the checks saw the clock go back
    # With the checks, ffmpeg's -t looks only at the decoded keyframes' times and
    # fires at the first one past the length (here 8 s): no clock went back.
    (True, (0.0, 4.0), ""),
])
def test_media_written_past_the_length_is_stopped_gracefully_and_kept_as_completed(
        tmp_path, checks, keyframes, message) -> None:
    # ffmpeg's -t counts the camera's clock, which went back: it never fires,
    # though the media written (timestamps kept continuous) passed the length.
    runner, task, proc = _recording_a_probed_clip(tmp_path, "5.6", checks)
    if checks:
        _keyframes_at(tmp_path, *keyframes)
    proc.write(stdout=progress_block(130, 5.2))
    deliver(task)
    task.tick(6.0, WALL + 6.0)
    assert runner.signals == []  # ffmpeg's own -t may still end it
    proc.write(stdout=progress_block(140, 5.6))
    deliver(task)
    task.tick(6.5, WALL + 6.5)
    assert runner.signals == ["INT"]
    deliver(task)
    task.tick(6.6, WALL + 6.6)
    assert (task.status, task.error_message) == (st.COMPLETED, message)
    # Stopped at its length by our watchdog, the file is trusted as after -t; not after
    # a clock that went back (ffprobe checks it).
    assert [argv[0] for argv in runner.runs] == ([] if not message else ["ffprobe"])
    # The figures were read and their file removed: nothing is left beside the clip.
    assert not (tmp_path / ".cam.mp4.fig.tmp").exists()


def test_a_silent_server_is_a_connect_timeout_and_is_killed(tmp_path, runner) -> None:
    task, _proc = started_task(tmp_path, runner)
    deliver(task)  # ffmpeg's first line: it started at once
    task.tick(SETTINGS.connection_timeout_seconds + 0.1, WALL + 3.1)
    deliver(task)
    task.tick(SETTINGS.connection_timeout_seconds + 0.2, WALL + 3.2)
    assert (task.status, runner.signals) == (st.TIMEOUT, ["KILL"])
    assert task.error_message == "连接超时: 服务器未在规定时间内响应"


# ffmpeg 5.1's words (-loglevel verbose) for one address refused (it tries the next) and the last
ONE_ADDRESS_REFUSED = ("[tcp @ 0x1] Connection attempt to 127.0.0.1 port 5 failed: "
                       "Connection refused\n")
LAST_ADDRESS_REFUSED = ("[tcp @ 0x1] Connection to tcp://127.0.0.1:5?timeout=0 failed: "
                        "Connection refused\n")
DESCRIBE_404 = "[rtsp @ 0x2] method DESCRIBE failed: 404 Not Found\n"
# ffmpeg 6 may name its input before the demuxer's or protocol's name
PREFIXED_LAST_ADDRESS_REFUSED = LAST_ADDRESS_REFUSED.replace("[tcp", "[in#0/tcp")
PREFIXED_DESCRIBE_404 = DESCRIBE_404.replace("[rtsp", "[in#0/rtsp")
PREFIXED_SETUP_461 = "[in#0/rtsp @ 0x2] method SETUP failed: 461 Unsupported transport\n"


def closing_lines_since_ffmpeg_6_1(reason: str) -> str:
    """What ffmpeg 6.1 and 7 print last when it could not open the camera (no "URL: reason")."""
    return (f"[in#0 @ 0x3] Error opening input: {reason}\n"
            f"Error opening input file {URL}.\n"
            f"Error opening input files: {reason}\n")


@pytest.mark.parametrize("said,verdict,message", [
    # ffmpeg gave up on the camera, then was starved of CPU before its exit
    (ONE_ADDRESS_REFUSED + LAST_ADDRESS_REFUSED, st.CONNECTION_ERROR, LAST_ADDRESS_REFUSED),
    (LAST_ADDRESS_REFUSED + REFUSED, st.CONNECTION_ERROR, REFUSED),
    (DESCRIBE_404, st.STREAM_UNAVAILABLE, DESCRIBE_404),
    # not (yet) why it failed: the next address is tried, the SETUP again over TCP, and its
    # own I/O timeout is a timeout
    (ONE_ADDRESS_REFUSED, st.TIMEOUT, "连接超时: 服务器未在规定时间内响应"),
    ("[rtsp @ 0x2] method SETUP failed: 461 Unsupported transport\n", st.TIMEOUT,
     "连接超时: 服务器未在规定时间内响应"),
    (f"{URL}: Invalid data found when processing input\n", st.TIMEOUT,
     "连接超时: 服务器未在规定时间内响应"),
    # the same in ffmpeg 6 and 7's words
    (PREFIXED_LAST_ADDRESS_REFUSED, st.CONNECTION_ERROR, PREFIXED_LAST_ADDRESS_REFUSED),
    (PREFIXED_DESCRIBE_404, st.STREAM_UNAVAILABLE, PREFIXED_DESCRIBE_404),
    (closing_lines_since_ffmpeg_6_1("Connection refused"), st.CONNECTION_ERROR,
     "Error opening input files: Connection refused"),
    (closing_lines_since_ffmpeg_6_1("Server returned 404 Not Found"), st.STREAM_UNAVAILABLE,
     "Error opening input files: Server returned 404 Not Found"),
    (PREFIXED_SETUP_461, st.TIMEOUT, "连接超时: 服务器未在规定时间内响应"),
    (closing_lines_since_ffmpeg_6_1("Invalid data found when processing input"), st.TIMEOUT,
     "连接超时: 服务器未在规定时间内响应"),
], ids=["refused", "refused-closing-line", "404", "one-address-refused", "setup-461",
        "own-io-timeout", "ffmpeg6-refused", "ffmpeg6-404", "ffmpeg7-refused",
        "ffmpeg7-404", "ffmpeg6-setup-461", "ffmpeg7-own-io-timeout"])
def test_a_failure_ffmpeg_printed_before_the_connect_watchdog_fired_is_the_verdict(
        tmp_path, runner, said: str, verdict: int, message: str) -> None:
    task, proc = started_task(tmp_path, runner)
    proc.write(stderr=said)  # and no exit seen yet when the watchdog fires
    deliver(task)
    task.tick(SETTINGS.connection_timeout_seconds + 0.1, WALL + 3.1)
    assert runner.signals == ["KILL"]
    deliver(task)
    task.tick(SETTINGS.connection_timeout_seconds + 0.2, WALL + 3.2)
    assert (task.status, task.error_message) == (verdict, message.strip())


# ffmpeg's own I/O timeout (its -timeout, the backstop) with SETTINGS: the larger timeout + 2 s
OWN_IO_TIMEOUT = max(SETTINGS.connection_timeout_seconds, SETTINGS.read_timeout_seconds) + 2
# ffmpeg 5.1's words when a server accepted the connection and then never answered (its own I/O
# timeout ended it) and when one closed the connection at once: the same
UNANSWERED = ("[tcp @ 0x1] Successfully connected to 127.0.0.1 port 5\n"
              f"{URL}: Invalid data found when processing input\n")
CONNECT_TIMEOUT = (st.TIMEOUT, "连接超时: 服务器未在规定时间内响应")


@pytest.mark.parametrize("exit_seen,said,verdict", [
    # a silent camera: ffmpeg's own timeout ended it before a late loop's watchdog could
    (OWN_IO_TIMEOUT, UNANSWERED, CONNECT_TIMEOUT),
    (OWN_IO_TIMEOUT + 4.5, UNANSWERED, CONNECT_TIMEOUT),
    # a server that closed the connection at once, the loop late past the connection timeout
    # but not past the moment ffmpeg's own could fire
    (OWN_IO_TIMEOUT - 0.1, UNANSWERED, (st.CONNECTION_ERROR, UNANSWERED.splitlines()[-1])),
    # ffmpeg said why it gave up: that stays the verdict however late the loop
    (OWN_IO_TIMEOUT + 4.5, REFUSED, (st.CONNECTION_ERROR, REFUSED.strip())),
    (OWN_IO_TIMEOUT + 4.5, DESCRIBE_404, (st.STREAM_UNAVAILABLE, DESCRIBE_404.strip())),
], ids=["at-its-own-timeout", "past-its-own-timeout", "closed-at-once", "refused", "404"])
def test_an_unanswered_ffmpeg_a_late_loop_sees_end_once_its_own_timeout_could_fire_timed_out(
        tmp_path, runner, exit_seen: float, said: str, verdict: tuple) -> None:
    task, proc = started_task(tmp_path, runner)  # its ffmpeg started at once (0)
    proc.write(stderr=said)
    proc.exit(1)
    deliver(task)
    task.tick(exit_seen, WALL + exit_seen)  # the loop's first look since the start
    assert (task.status, task.error_message, runner.signals) == (*verdict, [])


def test_ffmpegs_own_timeout_runs_from_its_start_not_its_spawn(tmp_path) -> None:
    # A busy box: ffmpeg said its first line 2.5 s after the spawn; a server closed the
    # connection at once, and the loop saw the exit late, OWN_IO_TIMEOUT after the spawn.
    runner = FakeRunner(started=False)
    task, proc = started_task(tmp_path, runner)
    silent_until(task, 2.5)
    proc.write(stderr=STARTED_LINE + UNANSWERED)
    proc.exit(1)
    deliver(task)
    task.tick(OWN_IO_TIMEOUT, WALL + OWN_IO_TIMEOUT)
    assert task.status == st.CONNECTION_ERROR
    runner.close()


def silent_until(task: Recording, until: float, now: float = 0.0) -> float:
    """Look at a task whose ffmpeg says nothing (still starting up) each second from ``now``
    until ``until``, as the loop does; the time of the last look."""
    while now < until:
        now = min(now + 1.0, until)
        deliver(task)
        task.tick(now, WALL + now)
    return now


def test_a_refusal_after_a_slow_ffmpeg_start_up_is_a_refusal_not_a_timeout(tmp_path) -> None:
    # A busy box: ffmpeg took longer than connection_timeout to load and say its first line.
    runner = FakeRunner(started=False)
    task, proc = started_task(tmp_path, runner)
    silent_until(task, SETTINGS.connection_timeout_seconds + 0.5)
    assert (task.status, runner.signals) == (st.CONNECTING, [])
    proc.write(stderr=STARTED_LINE + REFUSED)
    proc.exit(1)
    deliver(task)
    task.tick(SETTINGS.connection_timeout_seconds + 0.7, WALL + 4)
    assert (task.status, task.error_message) == (st.CONNECTION_ERROR, REFUSED.strip())
    runner.close()


def test_the_connection_timeout_runs_from_the_last_look_before_ffmpeg_spoke(tmp_path) -> None:
    runner = FakeRunner(started=False)
    task, proc = started_task(tmp_path, runner)
    last_silent = silent_until(task, 3.5)
    proc.write(stderr=STARTED_LINE)  # started up; the server never answers
    deliver(task)
    task.tick(3.6, WALL + 3.6)
    due = task.watch_due(3.6)
    assert due == last_silent + SETTINGS.connection_timeout_seconds
    task.tick(due, WALL + due)
    assert runner.signals == []
    task.tick(due + 0.01, WALL + due)
    deliver(task)
    task.tick(due + 0.1, WALL + due)
    assert (task.status, runner.signals) == (st.TIMEOUT, ["KILL"])
    assert task.error_message == "连接超时: 服务器未在规定时间内响应"
    runner.close()


def test_connect_seconds_runs_from_ffmpegs_start_as_the_connection_timeout_does(tmp_path) -> None:
    # A busy box: ffmpeg took 3.5 s to start up, then the camera answered within 0.3 s.
    runner = FakeRunner(started=False)
    task, proc = started_task(tmp_path, runner)
    last_silent = silent_until(task, 3.5)
    proc.write(stderr=STARTED_LINE + "[rtsp @ 0x1] SDP:\n")
    deliver(task)
    task.tick(last_silent + 0.3, WALL + last_silent + 0.3)
    assert task.status == st.CONNECTED
    assert task.connect_seconds == 0.3  # not 3.8: the start-up was not the camera's
    runner.close()


def test_an_ffmpeg_that_never_starts_up_is_ended_by_the_wall_clock_guard(tmp_path) -> None:
    runner = FakeRunner(started=False)
    task, _proc = started_task(tmp_path, runner)
    guard = (SETTINGS.connection_timeout_seconds + 5 + SETTINGS.read_timeout_seconds
             + OVERSTAY_MARGIN_SECONDS)
    silent_until(task, guard)
    assert runner.signals == []
    silent_until(task, guard + 0.5, guard)
    assert runner.signals == ["INT"]  # it exits on it; its pipes end
    silent_until(task, guard + 1.0, guard + 0.5)
    assert task.finished
    assert task.status == st.CONNECTION_ERROR  # as an ffmpeg that could not be spawned
    runner.close()


def test_kill_now_kills_and_draws_the_verdict_at_once(tmp_path) -> None:
    runner = FakeRunner(stops_on=set())
    task, proc = started_task(tmp_path, runner)
    recording_at(task, proc, 1.0)
    task.cancel(2.0, WALL + 2)
    task.kill_now(WALL + 3)
    assert runner.signals == ["INT", "KILL"] and proc.returncode == -9
    assert task.status == st.CANCELLED and task.end_wall == WALL + 3


def test_published_fields_follow_every_change_of_the_task(tmp_path, runner) -> None:
    task, proc = started_task(tmp_path, runner)
    connecting = task.as_dict()
    assert connecting["status"] == st.CONNECTING and connecting["frames_received"] == 0
    recording_at(task, proc, now=1.0)
    recording = task.as_dict()
    assert recording["status"] == st.RECORDING and recording["frames_received"] == 25
    assert recording["progress"] == 1.0 and connecting["frames_received"] == 0
    proc.write(stdout=progress_block(50, 2.0, end=True))
    proc.exit(0)
    deliver(task)
    task.tick(5.0, WALL + 5.0)
    done = task.as_dict()
    assert done["frames_received"] == 50 and done["status"] in st.FINISHED
    assert done["end_time"] and done["run_seconds"] is not None
    assert task.as_dict() is done  # unchanged task, same dict: nothing rebuilt


def test_a_full_recording_whose_clip_was_kept_is_complete_and_names_it(tmp_path,
                                                                       clip_runner) -> None:
    task, proc = started_task(tmp_path, clip_runner)
    assert task.as_dict()["output_file"] == "./output/x/cam.mp4"  # where it is being written
    proc.write(stdout=progress_block(125, 5.0, end=True))
    proc.exit(0)
    deliver(task)
    task.tick(5.5, WALL + 5.5)
    assert task.status == st.COMPLETED, task.error_message
    assert (tmp_path / "cam.mp4").read_bytes() == b"clip"
    assert task.as_dict()["output_file"] == "./output/x/cam.mp4"


def test_a_full_recording_that_left_no_clip_is_a_recording_error_by_its_own_verdict(
        tmp_path, runner) -> None:
    # ffmpeg said it recorded everything, but no file is there to keep: the task's
    # own verdict says so (no later correction by the cycle), and names no clip.
    task, proc = started_task(tmp_path, runner)
    proc.write(stdout=progress_block(125, 5.0, end=True))
    proc.exit(0)
    deliver(task)
    task.tick(5.5, WALL + 5.5)
    assert (task.status, task.error_message) == (st.RECORDING_ERROR, "录制文件无法使用")
    assert task.as_dict()["output_file"] is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("work_file", [None, b"junk"])
def test_a_failed_task_names_no_clip_file(tmp_path, work_file: bytes | None) -> None:
    # The second one left a work file with no playable media: it is removed, not named.
    runner = FakeRunner(work_file=work_file)
    try:
        task, proc = started_task(tmp_path, runner)
        proc.write(stderr=REFUSED)
        proc.exit(1)
        deliver(task)
        task.tick(0.5, WALL + 0.5)
    finally:
        runner.close()
    record = task.as_dict()
    assert (record["status"], record["output_file"]) == (st.CONNECTION_ERROR, None)
    assert list(tmp_path.iterdir()) == []


def test_a_task_cancelled_before_it_started_names_no_clip_file(tmp_path, runner) -> None:
    stream = {"rtsp_url": "rtsp://u:secret@127.0.0.1:5/cam", "output_filename": "cam.mp4",
              "duration_seconds": 5}
    task = Recording(PlannedTask(0, 0, 0.0, 5), stream, str(tmp_path), "./output/x", SETTINGS,
                     runner, None, PipeWatcher())
    assert task.as_dict()["output_file"] == "./output/x/cam.mp4"  # it may still be recorded
    task.cancel(0.0, WALL)
    record = task.as_dict()
    assert (record["status"], record["status_name"], record["output_file"]) == (
        st.CANCELLED, "已取消", None)
    assert record["rtsp_url"].startswith("rtsp://u:***@127.0.0.1:5/cam")
    assert runner.processes == []


class SlowStartRunner(ProcessRunner):
    """Real ffmpeg that starts ``delay`` s after its spawn, as on a box whose cores are busy."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def spawn(self, argv: list[str]):
        return super().spawn(["sh", "-c", f'sleep {self.delay}; exec "$@"', "sh", *argv])


@pytest.mark.integration
def test_a_slow_ffmpeg_start_up_leaves_a_refused_and_a_missing_camera_their_own_verdicts(
        tmp_path, camera_server, refusing_port) -> None:
    # ffmpeg starts 2 s after its spawn, twice connection_timeout: it was called 超时 then.
    settings = GlobalSettings.from_config({"connection_timeout_seconds": 1,
                                           "read_timeout_seconds": 1})
    runner, watcher = SlowStartRunner(2 * settings.connection_timeout_seconds), PipeWatcher()
    tasks = started_real_tasks(tmp_path, settings, runner, watcher, [
        ("refused", f"rtsp://127.0.0.1:{refusing_port}/cam"),
        ("missing", camera_server.url("nosuch"))])
    loop_until_judged(tasks, watcher)
    assert [(task.status, task.error_message) for task in tasks] == [
        (st.CONNECTION_ERROR, f"rtsp://127.0.0.1:{refusing_port}/cam: Connection refused"),
        (st.STREAM_UNAVAILABLE, f"{camera_server.url('nosuch')}: Server returned 404 Not Found")]


def started_real_tasks(tmp_path, settings: GlobalSettings, runner: ProcessRunner,
                       watcher: PipeWatcher, cameras: list[tuple[str, str]]) -> list[Recording]:
    """One started 1 s task per (name, URL), their ffmpeg run by ``runner``."""
    tasks = [Recording(PlannedTask(index, index, 0.0, 1),
                       {"rtsp_url": url, "output_filename": f"{name}.mp4", "duration_seconds": 1},
                       str(tmp_path), "./output/x", settings, runner, None, watcher)
             for index, (name, url) in enumerate(cameras)]
    for task in tasks:
        task.start(time.monotonic(), time.time())
    return tasks


def loop_until_judged(tasks: list[Recording], watcher: PipeWatcher,
                      looks_at=lambda task: True) -> None:
    """The recorder's loop over ``tasks`` until every verdict is in (30 s at most): it reads
    their pipes, then looks at (ticks) each task ``looks_at`` allows."""
    deadline = time.monotonic() + 30
    try:
        while not all(task.finished for task in tasks):
            assert time.monotonic() < deadline, [task.status for task in tasks]
            watcher.dispatch(0.1)
            for task in filter(looks_at, tasks):
                task.tick(time.monotonic(), time.time())
    finally:
        for task in tasks:
            if not task.finished:
                task.kill_now(time.time())


@pytest.mark.integration
def test_a_late_loop_sees_a_silent_camera_time_out_and_one_that_closes_at_once_refuse(
        tmp_path, hanging_port, closing_port) -> None:
    # A loop too busy to look at a task before its ffmpeg has ended: the silent camera's was
    # ended by its own I/O timeout (4 s: our connection timeout + 2 s), the other's at once
    # by the closed connection; both said "Invalid data found when processing input". The
    # silent one was 连接错误 then.
    settings = GlobalSettings.from_config({"connection_timeout_seconds": 2,
                                           "read_timeout_seconds": 2})
    watcher = PipeWatcher()
    tasks = started_real_tasks(tmp_path, settings, ProcessRunner(), watcher, [
        ("silent", f"rtsp://127.0.0.1:{hanging_port}/cam"),
        ("closing", f"rtsp://127.0.0.1:{closing_port}/cam")])
    loop_until_judged(tasks, watcher, looks_at=lambda task: task.proc.poll() is not None)
    assert [(task.status, task.error_message) for task in tasks] == [
        (st.TIMEOUT, "连接超时: 服务器未在规定时间内响应"),
        (st.CONNECTION_ERROR,
         f"rtsp://127.0.0.1:{closing_port}/cam: Invalid data found when processing input")]
    assert [task.connect_seconds for task in tasks] == [None, None]  # no answer ever seen


@pytest.mark.integration
def test_ffmpeg_on_a_stalled_stream_ends_on_its_own_with_a_playable_file(
        tmp_path, camera_server) -> None:
    # Real ffmpeg, real stall (/stall sends ~3 s, then nothing, its session open):
    # with SIGINT alone it stayed blocked until killed (-9) after the grace.
    stream = {"rtsp_url": camera_server.url("stall"), "output_filename": "stall.mp4",
              "duration_seconds": 20}
    settings = GlobalSettings.from_config({"connection_timeout_seconds": 10,
                                           "read_timeout_seconds": 2})
    task = Recording(PlannedTask(0, 0, 0.0, 20), stream, str(tmp_path), "./output/x", settings,
                     ProcessRunner(), None, PipeWatcher())
    task.start(time.monotonic(), time.time())
    deadline = time.monotonic() + 30
    try:
        while not task.finished:
            assert time.monotonic() < deadline, (task.status, task.stderr.text()[-500:])
            task.watcher.dispatch(0.1)
            task.tick(time.monotonic(), time.time())
    finally:
        if not task.finished:
            task.kill_now(time.time())
    assert task.status == st.TIMEOUT, task.error_message
    assert task.proc.returncode == STOPPED != -signal.SIGKILL
    # The task kept its clip itself (published before the verdict), under its final name.
    assert playable_seconds(probe(ProcessRunner(), task.final_path)) > 1
    os.unlink(task.final_path)


def test_an_output_that_cannot_be_written_is_a_recording_error_not_the_cameras(
        tmp_path, runner) -> None:
    # ffmpeg opens its output only when media arrives: the folder removed meanwhile.
    task, proc = started_task(tmp_path, runner)
    proc.write(stderr=f"{task.work_path}: No such file or directory\n")
    proc.exit(1)
    deliver(task)
    task.tick(1.0, WALL + 1.0)
    assert (task.status, task.error_message) == (st.RECORDING_ERROR, "输出目录不存在, 写入失败")


def test_a_cycle_folder_removed_by_hand_is_made_again_for_the_next_task(tmp_path, runner) -> None:
    folder = tmp_path / "20250101_000000"
    stream = {"rtsp_url": URL, "output_filename": "cam.mp4", "duration_seconds": 5}
    task = Recording(PlannedTask(0, 0, 0.0, 5), stream, str(folder), "./output/20250101_000000",
                     SETTINGS, runner, None, PipeWatcher())
    task.start(0.0, WALL)  # the folder is gone (rm -rf) when the task starts
    assert folder.is_dir()
    assert runner.processes[0].output_path == task.work_path


def _join_briefly(url: str) -> subprocess.Popen:
    """A viewer that plays ``url`` for half a second: its PLAY restarts /tsreset's clock."""
    return subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "quiet", "-rtsp_transport", "tcp",
                             "-i", url, "-t", "0.5", "-c", "copy", "-f", "null", "-"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _record_while_others_join(task: Recording, url: str, every: float, deadline: float) -> int:
    """Drive ``task`` to its verdict, a new viewer joining every ``every`` s while it records."""
    viewers: list[subprocess.Popen] = []
    next_join = None
    try:
        while not task.finished:
            now = time.monotonic()
            assert now < deadline, (task.status, task.stderr.text()[-500:])
            if task.status == st.RECORDING and (next_join is None or now >= next_join):
                viewers.append(_join_briefly(url))
                next_join = now + every
            task.watcher.dispatch(0.1)
            task.tick(time.monotonic(), time.time())
    finally:
        if not task.finished:
            task.kill_now(time.time())
        for viewer in viewers:
            viewer.kill()
            viewer.wait()
    return len(viewers)


@pytest.mark.integration
def test_a_camera_whose_clock_restarts_for_every_viewer_is_recorded_by_received_time(
        tmp_path, camera_server) -> None:
    # /tsreset is shared and seekable: every viewer's PLAY restarts the clock of
    # all. ffmpeg's -t counted about a second of it, the wall-clock guard ended
    # the task at its deadline and called it 超时.
    url = camera_server.url("tsreset")
    stream = {"rtsp_url": url, "output_filename": "tsreset.mp4", "duration_seconds": 4}
    settings = GlobalSettings.from_config({"connection_timeout_seconds": 10,
                                           "read_timeout_seconds": 4})
    task = Recording(PlannedTask(0, 0, 0.0, 4), stream, str(tmp_path), "./output/x", settings,
                     ProcessRunner(), None, PipeWatcher())
    task.start(time.monotonic(), time.time())
    joins = _record_while_others_join(task, url, every=0.7, deadline=time.monotonic() + 40)
    assert joins >= 3
    assert (task.status, task.error_message) == (st.COMPLETED, CLOCK_WENT_BACK_WARNING)
    assert 3.5 < playable_seconds(probe(ProcessRunner(), task.final_path)) < 6
    os.unlink(task.final_path)


def test_watch_due_is_the_connection_timeout_while_connecting_and_it_fires_just_after(
        tmp_path, runner) -> None:
    task, _proc = started_task(tmp_path, runner)
    deliver(task)
    due = task.watch_due(0.5)
    assert due == SETTINGS.connection_timeout_seconds
    task.tick(due, WALL + due)  # a watchdog fires once its time is past, not at it
    assert runner.signals == []
    task.tick(due + 0.01, WALL + due)
    assert runner.signals == ["KILL"]


def test_watch_due_while_recording_is_the_read_timeout_from_the_last_media_seen(
        tmp_path, runner) -> None:
    task, proc = started_task(tmp_path, runner, duration=60)
    recording_at(task, proc, 2.0)
    assert task.watch_due(2.5) == 2.0 + SETTINGS.read_timeout_seconds
    recording_at(task, proc, 3.0, frames=50)  # more media: the timeout moves on
    due = task.watch_due(3.0)
    assert due == 3.0 + SETTINGS.read_timeout_seconds
    task.tick(due + 0.01, WALL + due)
    assert runner.signals[:1] == ["INT"]  # the read timeout stops it
    assert task.watch_due(due + 0.02) == due + 0.02  # a stop is followed at every wake-up


def test_watch_due_near_the_end_is_when_the_media_passes_the_clips_length(
        tmp_path, runner) -> None:
    task, proc = started_task(tmp_path, runner, duration=5)
    recording_at(task, proc, 4.0, frames=100)  # 4 s of media at 4.0
    # the clip's length and the margin of ffmpeg's -t reached at 5.5, before any timeout
    assert task.watch_due(4.0) == pytest.approx(5.5)


def test_watch_due_is_never_once_the_task_is_judged(tmp_path, runner) -> None:
    task, proc = started_task(tmp_path, runner)
    proc.write(stderr=REFUSED)
    proc.exit(1)
    deliver(task)
    task.tick(0.5, WALL)
    assert task.finished and task.watch_due(0.6) == float("inf")


def test_a_clip_cut_short_by_a_stop_keeps_its_thumbnail_and_gets_no_verdict(tmp_path) -> None:
    # A 1.6 s clip cut by a stop was judged blurred+too_dark from its one or two keyframes,
    # where the camera's whole clips were black: a verdict the camera never earned, and in
    # its history.
    runner, task, proc = _recording_a_probed_clip(tmp_path, "1.6", checks=True)
    (tmp_path / ".cam.mp4.fig.tmp").write_text(
        "frame:0 pts:0 pts_time:0\nlavfi.signalstats.YAVG=3\n")
    (tmp_path / ".cam.mp4.jpg.tmp").write_bytes(b"\xff\xd8 a keyframe \xff\xd9")
    task.cancel(1.5, WALL + 1.5)
    deliver(task)
    task.tick(1.6, WALL + 1.6)
    runner.close()
    assert task.status == st.CANCELLED and task.clip_kept
    assert task.quality["checked"] is False and task.quality["issues"] == []
    assert (tmp_path / ".cam.mp4.jpg").exists()  # the tile of the contact sheet
    assert not (tmp_path / ".cam.mp4.fig.tmp").exists()
