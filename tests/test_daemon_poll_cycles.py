"""A run of poll_cycles ends as its last cycle does: the scheduler stops then, not a
cycle_interval_seconds later (the daemon driven step by step, with the fake runner)."""
from __future__ import annotations

import logging

import pytest

from recorder.daemon import Daemon
from shared import settings
from shared.atomic import write_json_atomic
from shared.control_file import request_start, request_stop
from shared.status_file import empty_status, read_status
from testkit.fake_runner import FakeRunner
from tests.test_daemon_history import StepClock

INTERVAL = 20


@pytest.fixture
def patrol(tmp_path, request):
    """A daemon asked to run 3 cycles of one camera, 20 s apart, with its runner and clock
    (other global settings: parametrize it indirectly with them)."""
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {
        "cycle_interval_seconds": INTERVAL, "min_free_space_mb": 0,
        "total_poll_duration_seconds": 10, "poll_cycles": 3, **getattr(request, "param", {})},
        "streams": [{"rtsp_url": "rtsp://127.0.0.1:5/gate", "duration_seconds": 5,
                     "output_filename": "gate.mp4"}]})
    request_start(settings.control_path(config), empty_status())
    runner, clock = FakeRunner(), StepClock()
    daemon = Daemon(config, runner=runner, clock=clock, free_space=lambda _path: None)
    yield daemon, runner, clock
    daemon.shutdown()
    runner.close()


def _run_cycle(daemon: Daemon, runner: FakeRunner, clock: StepClock) -> None:
    """Step until the next cycle's camera is started, refuse it, step until that cycle ended."""
    _begin_cycle(daemon, runner, clock)
    _end_cycle(daemon, runner, clock)


def _begin_cycle(daemon: Daemon, runner: FakeRunner, clock: StepClock) -> None:
    while len(runner.processes) <= daemon.state.cycles_done:
        assert clock.now < 200, "the cycle never began"
        clock.now += 0.5
        daemon.step(clock.now, clock.wall())


def _end_cycle(daemon: Daemon, runner: FakeRunner, clock: StepClock) -> None:
    done = daemon.state.cycles_done
    runner.processes[-1].write(stderr="Connection refused\n")
    runner.processes[-1].exit(1)
    while daemon.state.cycles_done == done:
        assert clock.now < 200, "the cycle never ended"
        daemon.watcher.dispatch(0)
        clock.now += 0.5
        daemon.step(clock.now, clock.wall())


def test_the_scheduler_stops_in_the_step_its_last_cycle_ends(
        patrol, caplog: pytest.LogCaptureFixture) -> None:
    daemon, runner, clock = patrol
    caplog.set_level(logging.INFO, logger="recorder.scheduler_state")
    _run_cycle(daemon, runner, clock)
    _run_cycle(daemon, runner, clock)
    assert daemon.state.running  # between cycles: the next one is due after the interval
    _run_cycle(daemon, runner, clock)
    # Before, "all 3 cycles done" came when a 4th cycle was due, 20 s after the 3rd ended.
    assert not daemon.state.running
    assert daemon.state.message == "已完成全部 3 轮巡检"
    assert daemon.state.finished_generation == daemon.control.start_generation
    assert "all 3 cycles done; scheduler stopped" in caplog.messages
    ended = clock.now
    clock.now += 1.0
    daemon.step(clock.now, clock.wall())
    status = read_status(daemon.publisher.path)
    assert status["scheduler_running"] is False and status["finished_generation"] == 1
    while clock.now < ended + 2 * INTERVAL:  # and nothing more happens
        clock.now += 1.0
        daemon.step(clock.now, clock.wall())
    assert len(runner.processes) == 3 and caplog.messages.count(
        "all 3 cycles done; scheduler stopped") == 1


def test_a_stop_during_the_last_cycle_ends_as_a_stop(patrol) -> None:
    daemon, runner, clock = patrol
    _run_cycle(daemon, runner, clock)
    _run_cycle(daemon, runner, clock)
    _begin_cycle(daemon, runner, clock)
    request_stop(daemon.control.path)  # cancels the last cycle, which counts as run
    _end_cycle(daemon, runner, clock)
    while daemon.state.running:
        assert clock.now < 200, "the scheduler never stopped"
        clock.now += 0.5
        daemon.step(clock.now, clock.wall())
    assert daemon.state.message == "调度器已停止"
    assert daemon.state.finished_generation is None  # a restart follows the control file
