"""A cycle's reports that could not be written are written again on the contact sheets'
schedule (30 s after the failure, then 5 min after the second), and the status's
report_problem goes once they are (the daemon driven step by step, its folder taken away and
given back as a disk is filled and cleared)."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from recorder.retry_schedule import ATTEMPTS, RETRY_DELAYS_SECONDS
from shared.status_file import read_status
from tests.test_retention import NOW, FakeDisk, idle_daemon

FIRST_PAUSE, SECOND_PAUSE = RETRY_DELAYS_SECONDS
REPORTS = ("report.txt", "rtsp_report.json", "streams.csv")


def _cycle_whose_reports_failed(tmp_path: Path):
    """A daemon whose one cycle (no streams) ended at 100.5 without its reports (its folder
    gone); the folder, gone."""
    daemon = idle_daemon(tmp_path, FakeDisk(10**12), poll_cycles=1)
    daemon.step(100.0, NOW)
    assert daemon.cycle is not None
    folder = daemon.cycle.dir
    shutil.rmtree(folder)  # its reports cannot be written (a full disk, a refused write)
    daemon.step(100.5, NOW + 0.5)
    assert daemon.cycle is None and daemon.state.report_problem is not None
    return daemon, folder


def _written(folder: str) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name in REPORTS)


def test_reports_that_could_not_be_written_are_written_a_pause_later(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="recorder.retry_schedule")
    daemon, folder = _cycle_whose_reports_failed(tmp_path)
    name = os.path.basename(folder)
    os.makedirs(folder)  # the disk cleared
    daemon.step(101.0, NOW + 1.0)  # its pause began with the failure's step (100.5)
    daemon.step(100.5 + FIRST_PAUSE - 0.1, NOW + FIRST_PAUSE)  # not cleared in a second
    assert _written(folder) == [] and daemon.state.report_problem is not None
    daemon.step(100.5 + FIRST_PAUSE, NOW + FIRST_PAUSE + 1.0)
    daemon.step(101.5 + FIRST_PAUSE, NOW + FIRST_PAUSE + 2.0)  # the status's next beat

    assert _written(folder) == list(REPORTS)
    status = read_status(daemon.publisher.path)
    assert status["report_problem"] is None and "报告写入失败" not in status["message"]
    assert f"reports of cycle {name}: attempt 1 of {ATTEMPTS} failed" in caplog.text
    assert f"reports of cycle {name}: retried (attempt 2 of {ATTEMPTS})" in caplog.text
    assert f"reports of cycle {name}: attempt 2 of {ATTEMPTS} written" in caplog.text
    daemon.shutdown()


def test_reports_are_tried_a_bounded_number_of_times_then_given_up(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="recorder.retry_schedule")
    daemon, folder = _cycle_whose_reports_failed(tmp_path)
    name = os.path.basename(folder)
    now = 100.5 + FIRST_PAUSE  # the failure's step began the first pause
    daemon.step(now, NOW + now)  # the second attempt: still no folder
    daemon.step(now + 1.0, NOW + now + 1.0)  # the next step begins its pause
    now += 1.0 + SECOND_PAUSE
    daemon.step(now, NOW + now)  # the last attempt
    assert f"attempt 2 of {ATTEMPTS} failed" in caplog.text
    assert f"reports of cycle {name} not written after {ATTEMPTS} attempts" in caplog.text
    assert daemon.state.report_problem["cycle"] == name  # still said: never written
    os.makedirs(folder)
    daemon.step(now + 10 * SECOND_PAUSE, NOW + now + 10 * SECOND_PAUSE)
    assert _written(folder) == []  # given up: not tried again
    daemon.shutdown()
