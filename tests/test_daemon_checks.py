"""Check now in the daemon: a check or probe requested through the control file is recorded
beside the cycles, within their caps, into output/checks/, and its verdict goes to the history."""
from __future__ import annotations

import json
import os
import sqlite3

import pytest

from recorder.daemon import Daemon
from shared import history_read, settings
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.control_file import request_check, request_start
from shared.history_read import open_history
from shared.history_schema import connect_writer, history_path
from shared.status_file import empty_status, read_status
from shared.timefmt import format_local, parse_local
from testkit.fake_runner import FakeRunner, progress_block
from tests.test_daemon_history import StepClock

def _config(tmp_path, streams: int = 1, cap: int = 4, per_host: int = 0) -> str:
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {
        "cycle_interval_seconds": 0, "min_free_space_mb": 0, "total_poll_duration_seconds": 10,
        "max_concurrent_streams": cap, "max_concurrent_per_host": per_host,
        "poll_cycles": 1, "offline_after_failures": 1,
        "alerts": {"webhooks": [{"url": "http://127.0.0.1:9/h"}]}},
        "streams": [{"rtsp_url": f"rtsp://u:pw@127.0.0.1:5/cam{i}", "duration_seconds": 5,
                     "output_filename": f"cam{i}.mp4"} for i in range(streams)]})
    return config


def _daemon(config: str, runner: FakeRunner, clock: StepClock) -> Daemon:
    return Daemon(config, runner=runner, clock=clock, free_space=lambda _path: None)


def _ask(config: str, daemon: Daemon, camera: str, probe: bool = False) -> dict:
    return request_check(settings.control_path(config), daemon.snapshot(0, 0), camera, probe)


def _run_until(daemon: Daemon, clock: StepClock, done) -> None:
    while not done():
        assert clock.now < 100, "never happened"
        daemon.watcher.dispatch(0)
        clock.now += 0.5
        daemon.step(clock.now, clock.wall())


def _cycle_running(config: str) -> tuple[Daemon, FakeRunner, StepClock]:
    """A daemon whose scheduler was started, once its cycle's first task has taken a slot."""
    request_start(settings.control_path(config), empty_status())
    runner, clock = FakeRunner(work_file=b"\0" * 1000), StepClock()
    daemon = _daemon(config, runner, clock)
    _run_until(daemon, clock, lambda: runner.processes)
    return daemon, runner, clock


def _finish(process, seconds: float) -> None:
    process.write(stdout=progress_block(25 * int(seconds), seconds, end=True),
                  stderr="Stream #0:0: Video: h264 (High), yuv420p, 640x480\n")
    process.exit(0)


def _outcomes(config: str) -> list[tuple]:
    conn = sqlite3.connect(history_path(config))
    try:
        return conn.execute("SELECT camera, kind, cycle, status, clip FROM outcomes").fetchall()
    finally:
        conn.close()


def _restarted(config: str, runner: FakeRunner, clock: StepClock) -> Daemon:
    """A recorder started again on ``config`` after its recovery, three steps on."""
    again = _daemon(config, runner, clock)
    again.recover()
    for _ in range(3):
        clock.now += 0.5
        again.step(clock.now, clock.wall())
    return again


def _check_recording(tmp_path):
    """A daemon (its scheduler stopped) recording the check asked of cam0: the config, the
    runner, the clock, the daemon and the request."""
    config = _config(tmp_path)
    runner, clock = FakeRunner(work_file=b"\0" * 1000), StepClock()
    daemon = _daemon(config, runner, clock)
    request = _ask(config, daemon, "cam0")
    _run_until(daemon, clock, lambda: runner.processes)
    return config, runner, clock, daemon, request


def test_a_check_records_into_a_checks_folder_and_its_verdict_reaches_the_history(
        tmp_path) -> None:
    config = _config(tmp_path)
    runner, clock = FakeRunner(work_file=b"\0" * 1000), StepClock()
    daemon = _daemon(config, runner, clock)  # the scheduler is stopped: no cycle runs
    request = _ask(config, daemon, "cam0")
    _run_until(daemon, clock, lambda: runner.processes)
    output = runner.processes[0].output_path
    folder = os.path.dirname(output)
    assert os.path.dirname(folder) == str(tmp_path / "output" / "checks")
    assert os.path.basename(folder).endswith("_cam0") and "-t" in runner.processes[0].argv
    status = daemon.snapshot(clock.now, clock.wall())
    assert status["checks_taken"] == request["id"]
    assert [(c["check_id"], c["camera"], c["kind"], c["status"]) for c in status["checks"]] == [
        (request["id"], "cam0", "check", st.CONNECTING)]
    _finish(runner.processes[0], 5)
    _run_until(daemon, clock, lambda: not daemon.checks.live)
    daemon.shutdown()
    clip = os.path.join(folder, "cam0.mp4")
    assert os.path.isfile(clip)
    [(camera, kind, cycle, status_code, kept)] = _outcomes(config)
    assert (camera, kind, status_code) == ("cam0", "check", st.COMPLETED)
    assert cycle == "checks/" + os.path.basename(folder) and kept.endswith("cam0.mp4")
    published = read_status(settings.status_path(config))
    assert published["checks"][-1]["status"] == st.COMPLETED
    runner.close()


def test_a_probe_keeps_nothing_and_brings_an_offline_camera_back(tmp_path) -> None:
    config = _config(tmp_path)
    runner, clock = FakeRunner(), StepClock()
    daemon = _daemon(config, runner, clock)
    _ask(config, daemon, "cam0")
    _run_until(daemon, clock, lambda: runner.processes)
    runner.processes[0].write(stderr="Connection refused\n")
    runner.processes[0].exit(1)
    _run_until(daemon, clock, lambda: not daemon.checks.live)
    _ask(config, daemon, "cam0", probe=True)
    _run_until(daemon, clock, lambda: len(runner.processes) == 2)
    argv = runner.processes[1].argv
    assert argv[argv.index("-f") + 1] == "null" and argv[argv.index("-t") + 1] == "2"
    _finish(runner.processes[1], 2)
    _run_until(daemon, clock, lambda: not daemon.checks.live)
    daemon.shutdown()
    outcomes = _outcomes(config)
    assert [(kind, status) for _, kind, _, status, _ in outcomes] == [
        ("check", st.CONNECTION_ERROR), ("probe", st.COMPLETED)]
    assert outcomes[1][2] == "" and outcomes[1][4] is None  # no folder, no clip
    [folder] = os.listdir(tmp_path / "output" / "checks")  # the check's; the probe made none
    assert folder.endswith("_cam0") and not os.listdir(tmp_path / "output" / "checks" / folder)
    conn = sqlite3.connect(history_path(config))
    events = [e for (e,) in conn.execute("SELECT event FROM outbox ORDER BY id")]
    conn.close()
    assert events == ["camera.offline", "camera.recovered"]
    runner.close()


def test_a_check_waits_for_a_slot_of_the_running_cycle(tmp_path) -> None:
    config = _config(tmp_path, streams=2, cap=1)
    daemon, runner, clock = _cycle_running(config)
    _ask(config, daemon, "cam1")
    for _ in range(4):
        clock.now += 0.5
        daemon.step(clock.now, clock.wall())
    assert len(runner.processes) == 1 and len(daemon.checks.waiting) == 1
    _finish(runner.processes[0], 5)
    _run_until(daemon, clock, lambda: len(runner.processes) == 2)
    assert "/checks/" in runner.processes[1].output_path  # the check, before the cycle's 2nd
    assert daemon.cycle is not None and len(daemon.cycle.running) == 0
    _finish(runner.processes[1], 5)
    _run_until(daemon, clock, lambda: len(runner.processes) == 3)
    assert "/checks/" not in runner.processes[2].output_path
    daemon.shutdown()
    runner.close()


def test_a_due_task_of_the_cycle_starts_before_a_waiting_check(tmp_path) -> None:
    # The check took each slot as it came free, ahead of the cycle's task due then: with one
    # slot, three checks pushed three planned tasks out of the window (已取消, 未调度).
    config = _config(tmp_path, streams=2, cap=1)
    daemon, runner, clock = _cycle_running(config)
    _ask(config, daemon, "cam1")
    second_due = daemon.cycle.started + daemon.cycle.tasks[1].planned.offset
    _run_until(daemon, clock, lambda: clock.now > second_due + 1)  # due, its slot taken
    _finish(runner.processes[0], 5)
    _run_until(daemon, clock, lambda: len(runner.processes) == 2)
    assert "/checks/" not in runner.processes[1].output_path  # the cycle's own task first
    assert len(daemon.checks.waiting) == 1
    _finish(runner.processes[1], 5)
    _run_until(daemon, clock, lambda: len(runner.processes) == 3)
    assert "/checks/" in runner.processes[2].output_path  # then the check
    daemon.shutdown()
    runner.close()


def test_a_due_task_held_back_by_its_gateway_leaves_the_slot_to_a_check_of_another(
        tmp_path) -> None:
    # Every due task held every check back, even one its own gateway's cap kept from starting
    # while the slot it would have taken stayed idle.
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {
        "cycle_interval_seconds": 0, "min_free_space_mb": 0, "total_poll_duration_seconds": 10,
        "max_concurrent_streams": 4, "max_concurrent_per_host": 1, "poll_cycles": 1},
        "streams": [{"rtsp_url": f"rtsp://127.0.0.1:{port}/cam{i}", "duration_seconds": 5,
                     "output_filename": f"cam{i}.mp4"}
                    for i, port in enumerate((5, 5, 6))]})
    daemon, runner, clock = _cycle_running(config)
    cycle = daemon.cycle
    _run_until(daemon, clock, lambda: len(runner.processes) == 2)  # cam2, the other gateway
    first, other = cycle.tasks[0], next(t for t in cycle.tasks if t.proc is runner.processes[1])
    assert other.stream["output_filename"] == "cam2.mp4"
    _finish(runner.processes[1], 5)
    _run_until(daemon, clock, lambda: other.finished)  # port 6 free again
    held = next(t for t in cycle.tasks if t.status == st.PENDING)
    _run_until(daemon, clock, lambda: clock.now > cycle.started + held.planned.offset)
    assert not first.finished and held.proc is None  # due, held back by its gateway (port 5)
    _ask(config, daemon, "cam2")  # port 6
    for _ in range(2):
        clock.now += 0.5
        daemon.step(clock.now, clock.wall())
    assert len(runner.processes) == 3 and "/checks/" in runner.processes[2].output_path
    assert not first.finished and held.proc is None
    daemon.shutdown()
    runner.close()


def test_without_a_cycle_checks_keep_to_the_caps(tmp_path) -> None:
    config = _config(tmp_path, streams=3, cap=4, per_host=1)  # one gateway: 127.0.0.1:5
    runner, clock = FakeRunner(), StepClock()
    daemon = _daemon(config, runner, clock)
    for camera in ("cam0", "cam1"):
        _ask(config, daemon, camera)
    _run_until(daemon, clock, lambda: runner.processes)
    for _ in range(4):
        clock.now += 0.5
        daemon.step(clock.now, clock.wall())
    assert len(runner.processes) == 1
    runner.processes[0].exit(1)
    _run_until(daemon, clock, lambda: len(runner.processes) == 2)
    daemon.shutdown()
    assert [c["camera"] for c in read_status(settings.status_path(config))["checks"]] == [
        "cam0", "cam1"]
    runner.close()


def test_a_restarted_recorder_runs_no_check_twice(tmp_path) -> None:
    config = _config(tmp_path)
    runner, clock = FakeRunner(), StepClock()
    daemon = _daemon(config, runner, clock)
    _ask(config, daemon, "cam0")
    _run_until(daemon, clock, lambda: runner.processes)
    runner.processes[0].exit(1)
    _run_until(daemon, clock, lambda: not daemon.checks.live)
    daemon.shutdown()
    again = _daemon(config, runner, clock)
    again.recover()
    for _ in range(3):
        clock.now += 0.5
        again.step(clock.now, clock.wall())
    assert len(runner.processes) == 1
    # still listed after the restart (a restart emptied the list)
    assert [c["status"] for c in again.snapshot(clock.now, clock.wall())["checks"]] == [
        st.CONNECTION_ERROR]
    again.shutdown()
    runner.close()


def test_a_check_of_a_camera_the_recorder_does_not_know_is_dropped(tmp_path) -> None:
    config = _config(tmp_path)
    runner, clock = FakeRunner(), StepClock()
    daemon = _daemon(config, runner, clock)
    _ask(config, daemon, "nope")
    for _ in range(3):
        clock.now += 0.5
        daemon.step(clock.now, clock.wall())
    assert not runner.processes and not daemon.checks.records()
    daemon.shutdown()
    assert json.loads(open(settings.status_path(config)).read())["checks_taken"] == 1


def test_a_check_never_records_through_a_symlinked_checks_folder(tmp_path) -> None:
    config = _config(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "checks").symlink_to(elsewhere)  # planted in the output folder
    runner, clock = FakeRunner(), StepClock()
    daemon = _daemon(config, runner, clock)
    request = _ask(config, daemon, "cam0")
    _run_until(daemon, clock, lambda: daemon.checks.finished)
    daemon.shutdown()
    assert not runner.processes and os.listdir(elsewhere) == []
    [check] = read_status(settings.status_path(config))["checks"]
    assert (check["check_id"], check["status"]) == (request["id"], st.RECORDING_ERROR)
    assert "检查目录无法创建" in check["error_message"]


def test_the_log_tells_a_check_from_a_cycles_task_and_names_the_camera(tmp_path,
                                                                      caplog) -> None:
    # A check was logged "task <its id> stream <i>" like the cycle's tasks: a grep for task 1
    # found check 1 too, and an outcome line named neither camera nor check.
    config = _config(tmp_path, streams=2, cap=4)
    request_start(settings.control_path(config), empty_status())
    runner, clock = FakeRunner(work_file=b"\0" * 1000), StepClock()
    daemon = _daemon(config, runner, clock)
    with caplog.at_level("INFO", logger="recorder.recording"):
        _run_until(daemon, clock, lambda: len(runner.processes) == 2)
        check_id = _ask(config, daemon, "cam1")["id"]
        _run_until(daemon, clock, lambda: len(runner.processes) == 3)
        for process in runner.processes:
            _finish(process, 5)
        _run_until(daemon, clock, lambda: daemon.cycle is None and not daemon.checks.live)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("task 0 stream 0 camera cam0: start rtsp://u:***@")
               for line in lines), lines
    assert f"check {check_id} camera cam1: 已完成 (4) 5.0s 125 frames" in lines, lines
    assert "task 1 stream 1 camera cam1: 已完成 (4) 5.0s 125 frames" in lines, lines
    daemon.shutdown()
    runner.close()


def test_checks_a_stop_cut_short_run_again_after_the_restart_once(tmp_path) -> None:
    # A check waiting or recording when the recorder stopped was cancelled for good: it left
    # the status's checks, was never queued again, and the restart emptied the list.
    config = _config(tmp_path, streams=3, cap=4, per_host=1)  # one gateway: one at a time
    runner, clock = FakeRunner(work_file=b"\0" * 1000), StepClock()
    daemon = _daemon(config, runner, clock)
    ids = [_ask(config, daemon, camera)["id"] for camera in ("cam0", "cam1", "cam2")]
    _run_until(daemon, clock, lambda: runner.processes)
    _finish(runner.processes[0], 5)  # cam0 checked
    _run_until(daemon, clock, lambda: len(runner.processes) == 2)  # cam1 records, cam2 waits
    daemon.shutdown()
    stopped = read_status(settings.status_path(config))["checks"]
    assert sorted((c["check_id"], c["status"]) for c in stopped) == [
        (ids[0], st.COMPLETED), (ids[1], st.CANCELLED), (ids[2], st.CANCELLED)]
    assert {c["error_message"] for c in stopped[1:]} == {"录制守护进程停止, 重启后重新检查"}
    again = _daemon(config, runner, clock)
    again.recover()
    status = again.snapshot(clock.now, clock.wall())
    assert [(c["check_id"], c["camera"], c["status"]) for c in status["checks"]] == [
        (ids[0], "cam0", st.COMPLETED), (ids[1], "cam1", st.PENDING),
        (ids[2], "cam2", st.PENDING)]
    for count in (3, 4):
        _run_until(again, clock, lambda: len(runner.processes) == count)
        _finish(runner.processes[-1], 5)
    _run_until(again, clock, lambda: not again.checks.live)
    again.shutdown()
    assert [os.path.dirname(process.output_path).rsplit("_", 1)[-1]
            for process in runner.processes[2:]] == ["cam1", "cam2"]
    final = read_status(settings.status_path(config))
    assert [(c["check_id"], c["status"]) for c in final["checks"]] == [
        (ids[0], st.COMPLETED), (ids[1], st.COMPLETED), (ids[2], st.COMPLETED)]
    assert final["checks_taken"] == ids[2]
    third = _daemon(config, runner, clock)  # what finished is not run a second time
    third.recover()
    for _ in range(3):
        clock.now += 0.5
        third.step(clock.now, clock.wall())
    assert len(runner.processes) == 4
    third.shutdown()
    assert [(kind, status) for _, kind, _, status, _ in _outcomes(config)] == [
        ("check", st.COMPLETED), ("check", st.CANCELLED), ("check", st.CANCELLED),
        ("check", st.COMPLETED), ("check", st.COMPLETED)]
    runner.close()


@pytest.mark.parametrize("config_now, why", [
    ("one stream", "录制守护进程停止; 摄像头已不在配置中, 未重新检查"),
    ("invalid", "录制守护进程停止; 重启时没有有效的配置, 未重新检查")])
def test_a_check_cut_short_that_cannot_run_again_says_why(tmp_path, config_now, why) -> None:
    config = _config(tmp_path, streams=2)
    runner, clock = FakeRunner(), StepClock()
    daemon = _daemon(config, runner, clock)
    request = _ask(config, daemon, "cam1")
    _run_until(daemon, clock, lambda: runner.processes)
    daemon.shutdown()
    with open(config, encoding="utf-8") as handle:
        data = json.load(handle)
    first_streams = data["streams"]
    data["streams"] = data["streams"][:1] if config_now == "one stream" else "nope"
    write_json_atomic(config, data)
    # A second start cannot run it; a third, with the camera back, does not either: it stays
    # 已取消 as the second start said (it ran a second ffmpeg for the same check_id).
    for streams in (data["streams"], first_streams):
        write_json_atomic(config, {**data, "streams": streams})
        _restarted(config, runner, clock).shutdown()
        assert len(runner.processes) == 1
        [check] = read_status(settings.status_path(config))["checks"]
        assert (check["check_id"], check["status"]) == (request["id"], st.CANCELLED)
        assert check["error_message"] == why
        # the camera's history (and its page, which shows it newest first) says so too, once;
        # the stop's row said 重启后重新检查
        with open_history(history_path(config)) as conn:
            rows = history_read.outcomes(conn, "cam1")
        assert [(row["status"], row["error"], row["clip"]) for row in rows] == [
            (st.CANCELLED, why, None), (st.CANCELLED, "录制守护进程停止, 重启后重新检查", None)]
    assert check["run_again"] is False
    runner.close()


def test_a_check_a_stop_cut_short_before_run_again_existed_runs_again(tmp_path) -> None:
    # A status written by a recorder from before the field: its stop's message says it.
    config, runner, clock, daemon, request = _check_recording(tmp_path)
    daemon.shutdown()
    status = read_status(settings.status_path(config))
    assert [check.pop("run_again") for check in status["checks"]] == [True]
    write_json_atomic(settings.status_path(config), status)
    again = _daemon(config, runner, clock)
    again.recover()
    _rerun_to_completion(config, again, runner, clock, request)
    runner.close()


def _rerun_to_completion(config: str, again: Daemon, runner: FakeRunner, clock: StepClock,
                         request: dict) -> None:
    """The restarted daemon ``again`` runs the check once more, to 已完成 under its own id."""
    _run_until(again, clock, lambda: len(runner.processes) == 2)
    _finish(runner.processes[1], 5)
    _run_until(again, clock, lambda: not again.checks.live)
    again.shutdown()
    [check] = read_status(settings.status_path(config))["checks"]
    assert (check["check_id"], check["status"]) == (request["id"], st.COMPLETED)


def _killed_while_recording(config: str, daemon: Daemon, runner: FakeRunner,
                            clock: StepClock) -> str:
    """The status and check folder a kill -9 of ``daemon`` recording cam0's check leaves (its
    work files: a partial clip, the thumbnail's and the figures'); the folder."""
    left = daemon.snapshot(clock.now, clock.wall())
    daemon.shutdown()
    write_json_atomic(settings.status_path(config), left)
    for suffix in ("", "-wal", "-shm"):  # without the verdict its stop wrote: a kill writes none
        if os.path.exists(history_path(config) + suffix):
            os.unlink(history_path(config) + suffix)
    folder = os.path.dirname(runner.processes[0].output_path)
    for name in os.listdir(folder):
        os.unlink(os.path.join(folder, name))
    for name in (".cam0.mp4.part", ".cam0.mp4.jpg.tmp", ".cam0.mp4.fig.tmp",
                 ".cam0.mp4.blur.tmp"):
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(b"\0" * 1000)
    return folder


def test_a_check_a_kill_left_recording_runs_again_after_the_restart(tmp_path) -> None:
    config, runner, clock, daemon, request = _check_recording(tmp_path)
    folder = _killed_while_recording(config, daemon, runner, clock)
    # ffprobe finds a playable partial clip in the work file
    runner.run_returncode, runner.run_stdout = 0, json.dumps(
        {"format": {"duration": "2.0"}, "streams": [{"codec_type": "video"}]})
    again = _daemon(config, runner, clock)
    again.recover()
    # Recovered as a killed cycle's tasks: the partial clip kept, the work files gone, and the
    # history has the attempt, 已取消 as the recovery of a killed cycle says
    assert sorted(os.listdir(folder)) == [".cam0.mp4.jpg", "cam0.mp4"]
    _rerun_to_completion(config, again, runner, clock, request)
    [killed, _again] = _outcomes(config)
    assert killed[:4] == ("cam0", "check", "checks/" + os.path.basename(folder), st.CANCELLED)
    assert killed[4].endswith(os.path.basename(folder) + "/cam0.mp4")
    conn = sqlite3.connect(history_path(config))
    try:
        assert conn.execute("SELECT error FROM outcomes ORDER BY ended").fetchone()[0] == \
            "录制守护进程意外退出, 任务中断"
    finally:
        conn.close()
    runner.close()


def test_a_check_a_kill_left_that_cannot_run_again_names_the_kill_and_no_lost_clip(
        tmp_path) -> None:
    config, runner, clock, daemon, request = _check_recording(tmp_path)
    folder = _killed_while_recording(config, daemon, runner, clock)  # nothing playable
    write_json_atomic(config, {"broken": True})
    again = _daemon(config, runner, clock)
    again.recover()
    again.shutdown()
    assert os.listdir(folder) == []
    [check] = read_status(settings.status_path(config))["checks"]
    assert (check["check_id"], check["status"], check["output_file"]) == (
        request["id"], st.CANCELLED, None)  # not the clip's name: no clip was left
    assert check["error_message"] == "录制守护进程意外退出; 重启时没有有效的配置, 未重新检查"
    assert len(runner.processes) == 1
    assert [row[:4] for row in _outcomes(config)] == [
        ("cam0", "check", "checks/" + os.path.basename(folder), st.CANCELLED)]
    with open_history(history_path(config)) as conn:  # the history says what the status says
        assert [row["error"] for row in history_read.outcomes(conn, "cam0")] == [
            check["error_message"]]
    runner.close()


def test_a_check_run_again_within_the_second_of_the_kill_records_into_a_folder_of_its_own(
        tmp_path) -> None:
    # The folder is named by the second the check is taken: a restart within the second of the
    # killed attempt ran it again into that attempt's folder, over the partial clip kept there.
    config, runner, clock, daemon, request = _check_recording(tmp_path)
    folder = _killed_while_recording(config, daemon, runner, clock)
    runner.run_returncode, runner.run_stdout = 0, json.dumps(
        {"format": {"duration": "2.0"}, "streams": [{"codec_type": "video"}]})
    again = _daemon(config, runner, clock)  # the clock not moved: the same second
    again.recover()
    _rerun_to_completion(config, again, runner, clock, request)
    rerun_folder = os.path.dirname(runner.processes[1].output_path)
    assert rerun_folder != folder and rerun_folder.endswith("_cam0")
    assert sorted(os.listdir(folder)) == [".cam0.mp4.jpg", "cam0.mp4"]  # the kept part, as kept
    assert [row[2] for row in _outcomes(config)] == [
        "checks/" + os.path.basename(folder), "checks/" + os.path.basename(rerun_folder)]
    runner.close()


def test_a_check_a_kill_cut_short_is_timed_in_the_history_at_the_kill_not_the_restart(
        tmp_path) -> None:
    # Its row ended at the restart, minutes or days after the kill; a killed cycle's rows take
    # the end of its report (the same fact: the last status's heartbeat).
    config, runner, clock, daemon, _request = _check_recording(tmp_path)
    _killed_while_recording(config, daemon, runner, clock)
    killed_at = read_status(settings.status_path(config))["heartbeat"]
    clock.now += 600  # restarted ten minutes later
    again = _daemon(config, runner, clock)
    again.recover()
    again.shutdown()
    conn = sqlite3.connect(history_path(config))
    try:
        [(ended, error)] = conn.execute(  # the killed attempt's (its re-run: stopped)
            "SELECT ended, error FROM outcomes ORDER BY id LIMIT 1").fetchall()
    finally:
        conn.close()
    assert error == "录制守护进程意外退出, 任务中断"
    assert ended == killed_at < clock.wall() - 600 + 1
    runner.close()


def test_a_check_whose_verdict_the_history_has_is_not_run_again_after_a_kill(tmp_path) -> None:
    # Killed after the history committed the verdict, before a status showed it: the restart
    # recovered the check as cut short (a second row, 已取消) and ran it once more.
    config, runner, clock, daemon, request = _check_recording(tmp_path)
    left = daemon.snapshot(clock.now, clock.wall())  # the last status: the check recording
    _finish(runner.processes[0], 5)
    _run_until(daemon, clock, lambda: not daemon.checks.live)
    daemon.history.writer.flush(None, clock.now, clock.wall(), force=True)  # committed
    [(_, _, cycle, status_code, clip)] = _outcomes(config)
    daemon.shutdown()
    write_json_atomic(settings.status_path(config), left)  # the kill: no later status
    _restarted(config, runner, clock).shutdown()
    assert len(runner.processes) == 1 and status_code == st.COMPLETED
    assert _outcomes(config) == [("cam0", "check", cycle, st.COMPLETED, clip)]
    [check] = read_status(settings.status_path(config))["checks"]
    assert (check["check_id"], check["status"], check["output_file"], check["run_again"]) == (
        request["id"], st.COMPLETED, clip, False)
    assert check["end_time"] != "" and check["frames_received"] == 125
    runner.close()


def test_a_killed_check_is_run_again_though_an_older_check_of_its_id_has_a_verdict(
        tmp_path) -> None:
    # status.json and control.json lost, history.sqlite3 kept: ids began again at 1, and the
    # history's row of an older check 1 (another camera, a week ago) was taken as its verdict.
    config, runner, clock, daemon, request = _check_recording(tmp_path)
    _killed_while_recording(config, daemon, runner, clock)
    conn = connect_writer(history_path(config))
    try:
        conn.executemany(
            "INSERT INTO outcomes (camera, cycle, kind, ended, status, check_id) VALUES "
            "(?, 'checks/x', 'check', ?, ?, ?)",
            [("cam9", clock.wall() + 60, st.COMPLETED, request["id"]),
             ("cam0", clock.wall() - 7 * 86400, st.COMPLETED, request["id"])])
    finally:
        conn.close()
    again = _daemon(config, runner, clock)
    again.recover()
    _rerun_to_completion(config, again, runner, clock, request)
    runner.close()


def test_a_killed_check_not_run_again_shows_the_kills_end_in_the_status_as_in_the_history(
        tmp_path) -> None:
    # Its camera removed: the status listed it 已取消 with no end_time and no run_seconds,
    # while its history row ended at the kill.
    config, runner, clock, daemon, _request = _check_recording(tmp_path)
    _killed_while_recording(config, daemon, runner, clock)
    killed_at = read_status(settings.status_path(config))["heartbeat"]
    with open(config, encoding="utf-8") as handle:
        edited = json.load(handle)
    edited["streams"][0]["output_filename"] = "cam9.mp4"  # cam0 removed
    write_json_atomic(config, edited)
    clock.now += 600
    again = _daemon(config, runner, clock)
    again.recover()
    again.shutdown()
    [check] = read_status(settings.status_path(config))["checks"]
    assert check["status"] == st.CANCELLED and check["camera"] == "cam0"
    with open_history(history_path(config)) as conn:
        [row] = history_read.outcomes(conn, "cam0")
    assert check["end_time"] == format_local(killed_at) == format_local(row["ended"])
    assert check["run_seconds"] == round(killed_at - parse_local(check["start_time"]), 3)
    runner.close()
