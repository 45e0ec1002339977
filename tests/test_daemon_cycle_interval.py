"""The pause after a cycle follows cycle_interval_seconds as it is now: an edit made while the
scheduler waits shortens or lengthens the wait for the next cycle, and the status says when
that one is due (the daemon driven step by step, with the fake runner and the test's clock)."""
from __future__ import annotations

import json
import logging

import pytest

from shared.atomic import write_json_atomic
from shared.status_file import read_status
from shared.timefmt import format_local
from tests import test_daemon_poll_cycles as poll_cycles
from tests.test_daemon_poll_cycles import INTERVAL, _begin_cycle, _end_cycle

patrol = poll_cycles.patrol  # the fixture: one camera, refused, 3 cycles 20 s apart


def _edit_interval(daemon, seconds: int) -> None:
    with open(daemon.config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    config["global_config"]["cycle_interval_seconds"] = seconds
    write_json_atomic(daemon.config_path, config)


def _step(daemon, clock, seconds: float = 0.5) -> None:
    clock.now += seconds
    daemon.step(clock.now, clock.wall())


def _next_cycle_time(daemon) -> str:
    return read_status(daemon.publisher.path)["next_cycle_time"]


def _ended_cycle(daemon, runner, clock) -> float:
    """Run a cycle; the time it ended."""
    _begin_cycle(daemon, runner, clock)
    assert _next_cycle_time(daemon) == ""  # a cycle runs: nothing is due
    _end_cycle(daemon, runner, clock)
    return clock.now


@pytest.mark.parametrize("edited", [5, 60])
def test_an_interval_edited_during_the_pause_moves_the_next_cycle(
        patrol, edited: int, caplog: pytest.LogCaptureFixture) -> None:
    daemon, runner, clock = patrol
    caplog.set_level(logging.INFO, logger="recorder.daemon")
    ended = _ended_cycle(daemon, runner, clock)
    _step(daemon, clock, 1.0)
    assert _next_cycle_time(daemon) == format_local(clock.wall() - clock.now + ended + INTERVAL)
    _edit_interval(daemon, edited)
    _step(daemon, clock)
    due = ended + edited
    assert _next_cycle_time(daemon) == format_local(clock.wall() - clock.now + due)
    assert f"cycle_interval_seconds is {edited} now: the next cycle is due at " \
           f"{format_local(clock.wall() - clock.now + due)}" in caplog.messages
    while len(runner.processes) < 2:
        assert clock.now < ended + 100, "the next cycle never began"
        _step(daemon, clock)
    assert due <= clock.now <= due + 0.5  # not at the interval the last cycle ran with
    assert caplog.messages.count(f"cycle_interval_seconds is {edited} now: the next cycle is "
                                 f"due at {format_local(clock.wall() - clock.now + due)}") == 1


def test_a_retry_is_not_moved_by_the_interval(patrol) -> None:
    daemon, runner, clock = patrol
    _ended_cycle(daemon, runner, clock)
    daemon.state.retry_at(clock.now + 300)  # e.g. waiting for disk space
    _edit_interval(daemon, 1)
    for _ in range(10):
        _step(daemon, clock)
    assert len(runner.processes) == 1 and daemon.state.next_cycle_at == pytest.approx(
        clock.now - 5 + 300)


def test_no_time_is_shown_while_the_recorder_retries_rather_than_pauses(patrol) -> None:
    daemon, runner, clock = patrol
    _ended_cycle(daemon, runner, clock)
    _step(daemon, clock)
    assert _next_cycle_time(daemon) != ""
    daemon.state.retry_at(clock.now + 60)  # a standby, a disk below its floor: the message says
    daemon.state.message = "磁盘剩余空间不足"
    _step(daemon, clock)
    assert _next_cycle_time(daemon) == ""


def test_the_log_says_an_interval_edit_applies_to_the_pause_at_once(
        patrol, caplog: pytest.LogCaptureFixture) -> None:
    # It said "config changed; applies from the next cycle", and then moved the pause at once.
    daemon, runner, clock = patrol
    caplog.set_level(logging.INFO, logger="recorder.config_watch")
    _ended_cycle(daemon, runner, clock)
    _step(daemon, clock, 1.0)
    _edit_interval(daemon, 5)
    _step(daemon, clock)
    changed = [m for m in caplog.messages if m.startswith("config changed")]
    assert changed == ["config changed; cycle_interval_seconds 5 applies at once, to the pause "
                       "before the next cycle"]
