"""What a restart after a kill -9 says: that the recorder died (until a new cycle begins), how
many interrupted cycles wait for a valid config, and nothing of the kind about a cycle that had
ended before the kill (the daemon recovered from files, or driven step by step with the fake
runner)."""
from __future__ import annotations

import json
import logging
import os
import sqlite3

import pytest

from recorder.daemon import Daemon
from recorder.held_recoveries import held_path
from shared import i18n, settings
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.history_schema import history_path
from shared.status_file import empty_status, read_status
from testkit.fake_runner import FakeRunner
from tests import test_daemon_poll_cycles as poll_cycles
from tests.test_daemon_history import StepClock
from tests.test_daemon_poll_cycles import _begin_cycle, _run_cycle
from tests.test_daemon_recover import (CYCLE, config, finished_before_the_kill,
                                       killed_mid_cycle, outcomes)

patrol = poll_cycles.patrol  # the fixture: one camera, refused, its runner and clock
KILLED = "录制守护进程意外退出"
NO_CONFIG = "没有有效的配置, 等待修复 config.json"


def _ended_before_the_kill(tmp_path, missing_from_history: bool) -> str:
    """A recorder killed in the pause after cycle CYCLE: its report written, its outcomes in
    the history (cam1's not when ``missing_from_history``: killed just before that write).
    config.json broken since. Returns the config's path."""
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, config("./output"))
    killed_mid_cycle(config_path, "./output")
    (tmp_path / "output" / CYCLE).mkdir(parents=True)
    finished_before_the_kill(config_path, live_cam0=True)
    Daemon(config_path).recover()  # its report and outcomes, as the cycle's end wrote them
    if missing_from_history:
        conn = sqlite3.connect(history_path(config_path))
        with conn:
            conn.execute("DELETE FROM outcomes WHERE camera = 'cam1'")
        conn.close()
    status_path = settings.status_path(config_path)
    status = json.loads(open(status_path, encoding="utf-8").read())
    status["cycle"].update(running=False, path=str(tmp_path / "output" / CYCLE),
                           report_filename="rtsp_report.json")  # it ended: the status says so
    write_json_atomic(status_path, status)
    (tmp_path / "config.json").write_text("{ broken", encoding="utf-8")
    return config_path


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The ERROR lines logged, but the broken config's own."""
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.ERROR and r.name != "recorder.config_watch"]


def _config_fixed(daemon: Daemon, tmp_path) -> None:
    write_json_atomic(str(tmp_path / "config.json"), config("./output"))
    daemon.config_watch.poll(force=True)
    daemon.history.step(1.0, 1e9, lambda: None)
    daemon.history.close(2.0, 1e9, lambda: None)


def test_a_cycle_that_ended_before_the_kill_is_neither_held_nor_called_recovered(
        tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    # Killed in the pause between cycles, restarted with a broken config: the finished cycle
    # was "held" (an ERROR) and later "recovered", though nothing of it was interrupted.
    config_path = _ended_before_the_kill(tmp_path, missing_from_history=False)
    caplog.clear()
    caplog.set_level(logging.INFO)
    daemon = Daemon(config_path)
    daemon.recover()
    assert not os.path.exists(held_path(config_path))
    assert _errors(caplog) == []
    assert KILLED in daemon.snapshot(0.0, 1e9)["message"]  # the kill itself is said
    _config_fixed(daemon, tmp_path)
    assert "recovered" not in caplog.text and "held" not in caplog.text
    assert outcomes(config_path) == [("cam0", CYCLE, st.COMPLETED),
                                     ("cam1", CYCLE, st.CONNECTION_ERROR)]


def test_its_tasks_the_history_had_not_written_still_go_in_once_a_config_is_loaded(
        tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    config_path = _ended_before_the_kill(tmp_path, missing_from_history=True)
    caplog.clear()
    caplog.set_level(logging.INFO)
    daemon = Daemon(config_path)
    daemon.recover()
    assert _errors(caplog) == []
    assert "ended before the kill" in caplog.text
    assert "interrupted cycle" not in daemon.snapshot(0.0, 1e9)["message"]
    _config_fixed(daemon, tmp_path)
    assert "recovered" not in caplog.text
    assert outcomes(config_path) == [("cam0", CYCLE, st.COMPLETED),
                                     ("cam1", CYCLE, st.CONNECTION_ERROR)]


def test_each_restart_without_a_valid_config_says_how_many_interrupted_cycles_wait(
        tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, config("./output"))
    killed_mid_cycle(config_path, "./output")
    (tmp_path / "output" / CYCLE).mkdir(parents=True)
    (tmp_path / "config.json").write_text("{ broken", encoding="utf-8")
    first = Daemon(config_path)
    first.recover()
    first.history.close(0.0, 1e9, lambda: None)
    # Restarted again (killed before its first status): its status shows no cycle any more.
    write_json_atomic(settings.status_path(config_path), {**empty_status(), "pid": 2,
                                                          "heartbeat": 1e9})
    caplog.clear()
    caplog.set_level(logging.INFO)
    daemon = Daemon(config_path)
    daemon.recover()

    assert f"1 interrupted cycle held in {held_path(config_path)} wait" in caplog.text
    assert CYCLE in caplog.text
    daemon.state.message = NO_CONFIG  # as the first step says
    message = daemon.snapshot(0.0, 1e9)["message"]
    assert message == f"{NO_CONFIG}; {KILLED}; 1 个中断的巡检等待有效的配置"
    assert i18n.english(message) == ("No valid config; waiting for config.json to be fixed; "
                                     "The recorder daemon exited unexpectedly; "
                                     "1 interrupted cycle waits for a valid config")
    write_json_atomic(config_path, config("./output"))
    daemon.step(1.0, 1e9)  # the config loaded: handed over, said no more
    assert "个中断的巡检" not in daemon.snapshot(1.0, 1e9)["message"]
    daemon.shutdown()


def test_after_a_kill_the_status_says_the_recorder_died_until_a_new_cycle_begins(
        patrol) -> None:
    killed, _, _ = patrol
    _run_cycle(*patrol)  # then killed in the pause: its status has a heartbeat
    runner, clock = FakeRunner(), StepClock()
    clock.now = patrol[2].now
    daemon = Daemon(killed.config_path, runner=runner, clock=clock,
                    free_space=lambda _path: None)
    try:
        daemon.recover()
        clock.now += 0.1
        daemon.publisher.publish(clock.now, clock.wall())
        assert read_status(settings.status_path(daemon.config_path))["message"] == KILLED
        _begin_cycle(daemon, runner, clock)
        assert daemon.snapshot(clock.now, clock.wall())["message"] == ""
    finally:
        daemon.shutdown()
        runner.close()


def test_after_a_clean_stop_the_status_says_nothing_of_the_kind(patrol) -> None:
    stopped, _, _ = patrol
    _run_cycle(*patrol)
    stopped.shutdown()
    daemon = Daemon(stopped.config_path, runner=FakeRunner(), clock=StepClock(),
                    free_space=lambda _path: None)
    daemon.recover()
    assert KILLED not in daemon.snapshot(0.0, 1e9)["message"]
    daemon.history.close(0.0, 1e9, lambda: None)
