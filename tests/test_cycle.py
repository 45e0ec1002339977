"""A cycle's bookkeeping: starts within the cap, every verdict published once, cancel."""
from __future__ import annotations

import collections
import json
import os
from collections.abc import Iterator

import pytest

from recorder.cycle import Cycle
from recorder.cycle_launcher import CycleLauncher
from recorder.daemon import Daemon
from recorder.pipe_watcher import PipeWatcher
from recorder.planner import Plan, PlannedTask
from recorder.reports import write_reports
from recorder.scheduler_state import SchedulerState
from recorder.space_gate import SpaceGate
from shared import settings
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.config import validate_config
from shared.global_settings import GlobalSettings
from shared.status_file import empty_status
from testkit.fake_runner import FakeProcess, FakeRunner, progress_block

WALL = 1_760_000_000.0


@pytest.fixture
def runner() -> Iterator[FakeRunner]:
    # Each "ffmpeg" writes its work file on start: publishing a verdict probes it
    # (the fake ffprobe finds no media in it), so the probes count the publishes.
    fake = FakeRunner(work_file=b"junk")
    yield fake
    fake.close()


def make_cycle(tmp_path, runner, offsets: list[float], cap: int, ports: list[int] | None = None,
               per_host: int = 0) -> Cycle:
    """A cycle of tasks at ``offsets``; task i's camera is on port ``ports[i]`` (default 5)."""
    ports = ports or [5] * len(offsets)
    streams = [{"rtsp_url": f"rtsp://127.0.0.1:{ports[i]}/cam{i}", "output_filename": f"c{i}.mp4",
                "duration_seconds": 5, "weight": 1.0} for i in range(len(offsets))]
    config = {"global_config": {"max_concurrent_streams": cap, "connection_timeout_seconds": 30,
                                "read_timeout_seconds": 30, "max_concurrent_per_host": per_host},
              "streams": streams}
    plan = Plan([PlannedTask(i, i, offset, 5) for i, offset in enumerate(offsets)], [], 60, cap)
    return Cycle(1, config, GlobalSettings.from_config(config["global_config"]), plan,
                 str(tmp_path), "./output/x", runner, {}, PipeWatcher(), 0.0, WALL)


def probes(runner: FakeRunner) -> collections.Counter:
    """How often each work file was probed (once per published verdict of a spawned task)."""
    return collections.Counter(argv[-1].rsplit("/", 1)[-1] for argv in runner.runs
                               if argv[0] == "ffprobe")


def tick_until_done(cycle: Cycle, now: float) -> None:
    """Tick with the cycle's clock a second further each round (a stop's grace runs out)."""
    watcher = cycle.tasks[0].watcher
    for _ in range(10):
        if cycle.done:
            return
        watcher.dispatch(0)
        cycle.tick(now, WALL + now)
        now += 1.0
    assert cycle.done, "the cycle never ended"


def test_cancel_stops_live_tasks_cancels_pending_ones_and_publishes_each_once(
        tmp_path, runner) -> None:
    cycle = make_cycle(tmp_path, runner, [0.0, 0.0, 10.0], cap=2)
    started = cycle.tick(0.5, WALL + 0.5)
    assert [t.planned.task_id for t in started] == [0, 1] and len(cycle.running) == 2
    assert [p.argv[p.argv.index("-i") + 1] for p in runner.processes] == [
        "rtsp://127.0.0.1:5/cam0", "rtsp://127.0.0.1:5/cam1"]
    assert cycle.seconds_to_next_start(0.5) == float("inf")  # the cap is reached
    cycle.cancel(1.0, WALL + 1)
    assert runner.signals == ["INT", "INT"]
    tick_until_done(cycle, 2.0)
    assert [t.status for t in cycle.tasks] == [st.CANCELLED] * 3
    assert all(t.finished for t in cycle.tasks) and cycle.end_wall is not None
    assert probes(runner) == {".c0.mp4.part": 1, ".c1.mp4.part": 1}
    assert not list(tmp_path.iterdir())  # no media in either: both work files removed
    assert cycle.stats()["max_concurrent_used"] == 2


def test_a_task_that_cannot_spawn_gets_its_verdict_and_the_next_one_starts(
        tmp_path, runner) -> None:
    class FailingFirst(FakeRunner):
        def spawn(self, argv: list[str]) -> FakeProcess:
            if "rtsp://127.0.0.1:5/cam0" in argv:
                raise OSError(11, "Resource temporarily unavailable")
            return super().spawn(argv)

    failing = FailingFirst(work_file=b"junk")
    cycle = make_cycle(tmp_path, failing, [0.0, 0.0], cap=1)
    started = cycle.tick(0.0, WALL)
    assert [t.planned.task_id for t in started] == [0, 1]
    assert cycle.tasks[0].status == st.CONNECTION_ERROR
    assert "无法启动 ffmpeg" in cycle.tasks[0].error_message
    assert [t.planned.task_id for t in cycle.running] == [1]
    failing.processes[0].exit(1)
    tick_until_done(cycle, 1.0)
    assert probes(failing) == {".c1.mp4.part": 1}


def test_next_start_is_the_earliest_pending_offset(tmp_path, runner) -> None:
    cycle = make_cycle(tmp_path, runner, [0.0, 2.5, 4.0], cap=3)
    assert cycle.seconds_to_next_start(0.0) == 0.0
    cycle.tick(0.0, WALL)
    assert cycle.seconds_to_next_start(1.0) == 1.5
    cycle.cancel(1.0, WALL + 1)
    assert cycle.seconds_to_next_start(1.0) == float("inf")
    tick_until_done(cycle, 2.0)


def test_a_due_task_waits_for_a_slot_only_while_every_slot_is_taken(tmp_path, runner) -> None:
    cycle = make_cycle(tmp_path, runner, [0.0, 1.0, 3.0], cap=1)
    assert not cycle.waiting_for_slot(0.0)  # a slot is free
    cycle.tick(0.0, WALL)
    assert not cycle.waiting_for_slot(0.5)  # the next one is not due yet
    assert cycle.waiting_for_slot(1.0)  # due, and the only slot is taken
    cycle.cancel(1.5, WALL + 1.5)
    assert not cycle.waiting_for_slot(1.5)
    tick_until_done(cycle, 2.0)


def test_a_due_task_waits_while_its_gateway_is_at_its_cap(tmp_path, runner) -> None:
    # Tasks 0 and 2 share gateway 127.0.0.1:5; task 1 is on another one.
    cycle = make_cycle(tmp_path, runner, [0.0, 0.5, 1.0], cap=3, ports=[5, 6, 5], per_host=1)
    assert [t.planned.task_id for t in cycle.tick(1.0, WALL + 1)] == [0, 1]
    assert cycle.waiting_for_slot(1.0) and cycle.seconds_to_next_start(1.0) == float("inf")
    runner.processes[1].exit(1)  # the other gateway's task ending frees no slot of this one
    cycle.tasks[1].watcher.dispatch(0)
    assert cycle.tick(2.0, WALL + 2) == [] and cycle.waiting_for_slot(2.0)
    runner.processes[0].exit(1)
    cycle.tasks[0].watcher.dispatch(0)
    cycle.tick(3.0, WALL + 3)  # task 0's verdict is drawn: its gateway's slot is free
    assert [t.planned.task_id for t in cycle.tick(3.0, WALL + 3)] == [2]
    cycle.cancel(4.0, WALL + 4)
    tick_until_done(cycle, 5.0)


def test_a_gateway_whose_tasks_all_timed_out_is_skipped_for_the_rest_of_the_cycle(
        tmp_path, runner, caplog) -> None:
    # Tasks 0-4 on gateway 127.0.0.1:5 (it never answers), task 5 on another one.
    cycle = make_cycle(tmp_path, runner, [0.0, 0.0, 0.0, 1.0, 2.0, 0.0], cap=4,
                       ports=[5, 5, 5, 5, 5, 6])
    assert [t.planned.task_id for t in cycle.tick(0.0, WALL)] == [0, 1, 2, 5]
    cycle.tasks[0].watcher.dispatch(0)  # their ffmpeg started: the gateway was asked at 0
    cycle.tick(31.0, WALL + 31)  # past the connection timeout: the three are killed
    tick_until_done_or(cycle, 32.0, lambda: cycle.tasks[2].finished)
    assert [t.status for t in cycle.tasks[:3]] == [st.TIMEOUT] * 3
    assert [(t.status, t.error_message) for t in cycle.tasks[3:5]] == [
        (st.CONNECTION_ERROR, "网关无响应, 本轮跳过")] * 2
    assert len(runner.processes) == 4  # neither skipped task ever spawned ffmpeg
    assert "gateway 127.0.0.1:5 timed out 3 times" in caplog.text
    assert cycle.tasks[5].status == st.TIMEOUT  # its own verdict: one timeout skips nothing
    assert "网关无响应, 本轮跳过" in json.dumps(cycle.report(), ensure_ascii=False)
    cycle.cancel(40.0, WALL + 40)
    tick_until_done(cycle, 41.0)


def test_one_answer_from_a_gateway_keeps_it_in_the_cycle(tmp_path, runner) -> None:
    cycle = make_cycle(tmp_path, runner, [0.0, 0.0, 0.0, 0.0, 1.0], cap=4)
    cycle.tick(0.0, WALL)
    runner.processes[0].exit(1)  # a refusal: the gateway answers
    cycle.tasks[0].watcher.dispatch(0)
    cycle.tick(1.0, WALL + 1)
    cycle.tick(31.0, WALL + 31)
    tick_until_done_or(cycle, 32.0, lambda: cycle.tasks[3].finished)
    assert [t.status for t in cycle.tasks[1:4]] == [st.TIMEOUT] * 3
    assert cycle.tasks[4].status != st.CONNECTION_ERROR and cycle.tasks[4].proc is not None
    cycle.cancel(40.0, WALL + 40)
    tick_until_done(cycle, 41.0)


def tick_until_done_or(cycle: Cycle, now: float, condition) -> None:
    watcher = cycle.tasks[0].watcher
    for _ in range(10):
        if condition():
            return
        watcher.dispatch(0)
        cycle.tick(now, WALL + now)
        now += 1.0
    assert condition()


def test_tally_counts_each_verdict_once() -> None:
    codes = [st.COMPLETED, st.COMPLETED, st.TIMEOUT, st.CONNECTION_ERROR, st.CANCELLED,
             st.RECORDING]
    assert st.tally(iter(codes)) == {"total_tasks": 6, "completed_tasks": 2, "failed_tasks": 2,
                                     "cancelled_tasks": 1}


def test_the_reports_of_a_cycle_name_only_the_clips_it_kept(tmp_path) -> None:
    # cam0 records its full length; cam1 is refused and leaves only junk behind.
    folder = tmp_path / "20250101_000000"
    folder.mkdir()
    runner = FakeRunner(work_file=b"clip")
    try:
        cycle = make_cycle(folder, runner, [0.0, 0.0], cap=2)
        cycle.tick(0.0, WALL)
        full, refused = runner.processes
        full.write(stdout=progress_block(125, 5.0, end=True))
        full.exit(0)
        refused.write(stderr="rtsp://127.0.0.1:5/cam1: Connection refused\n")
        refused.exit(1)
        tick_until_done(cycle, 0.5)
    finally:
        runner.close()
    assert [t.status for t in cycle.tasks] == [st.COMPLETED, st.CONNECTION_ERROR]
    write_reports(str(folder), "rtsp_report.json", cycle.report())
    report = json.loads((folder / "rtsp_report.json").read_text("utf-8"))
    assert [t["output_file"] for t in report["tasks"]] == ["./output/x/c0.mp4", None]
    assert (folder / "c0.mp4").exists() and not (folder / "c1.mp4").exists()
    assert "c1.mp4" not in (folder / "report.txt").read_text("utf-8")


def test_the_status_of_a_cycle_and_of_none_have_one_shape(tmp_path) -> None:
    empty = empty_status()
    daemon = Daemon(str(tmp_path / "config.json"))
    snapshot = daemon.snapshot(5.0, WALL + 5)
    live = {"pid", "heartbeat", "heartbeat_monotonic"}
    assert {k: v for k, v in snapshot.items() if k not in live} == {
        k: v for k, v in empty.items() if k not in live}


def test_a_task_whose_window_passed_during_a_pause_is_not_started(tmp_path, runner) -> None:
    # The recorder was stopped (SIGSTOP) from 1 s to 70 s into a 60 s window: the task
    # planned at 10 s must not start 60 s late, after its cycle's window ended.
    cycle = make_cycle(tmp_path, runner, [0.0, 10.0], cap=2)
    cycle.tick(0.5, WALL + 0.5)
    assert len(runner.processes) == 1
    cycle.tick(70.0, WALL + 70.0)
    assert len(runner.processes) == 1
    late = cycle.tasks[1]
    assert late.finished and late.status == st.CANCELLED
    assert late.error_message.startswith("未调度")
    assert late.as_dict()["output_file"] is None


def test_the_recorder_gives_each_recording_its_cameras_reference_picture(tmp_path) -> None:
    config = {"global_config": {"output_directory": "./output", "total_poll_duration_seconds": 10},
              "streams": [{"rtsp_url": "rtsp://127.0.0.1:5/c", "duration_seconds": 5,
                           "output_filename": "gate.mp4"}]}
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, config)
    config = validate_config(config)
    launcher = CycleLauncher(config_path, FakeRunner(), PipeWatcher(), SpaceGate(lambda _: None))
    cycle = launcher.open(config, GlobalSettings.from_config(config["global_config"]),
                          SchedulerState(), 0.0, 1_760_085_000.0)
    # Without it no reference was ever kept or compared: scene_changed never fired.
    assert cycle.tasks[0].picture.reference == os.path.join(
        settings.references_dir(config_path), "gate.jpg")
