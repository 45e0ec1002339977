"""What a restart after a kill -9 says: nothing of an interrupted cycle about a cycle that had
ended before the kill (the daemon recovered from files)."""
from __future__ import annotations

import json
import logging
import os
import sqlite3

import pytest

from recorder.daemon import Daemon
from recorder.held_recoveries import held_path
from shared import settings
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.history_schema import history_path
from tests.test_daemon_recover import (CYCLE, config, finished_before_the_kill,
                                       killed_mid_cycle, outcomes)



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
    _config_fixed(daemon, tmp_path)
    assert "recovered" not in caplog.text
    assert outcomes(config_path) == [("cam0", CYCLE, st.COMPLETED),
                                     ("cam1", CYCLE, st.CONNECTION_ERROR)]
