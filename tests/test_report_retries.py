"""A cycle's reports that could not be written are written again on the contact sheets'
schedule (30 s after the failure, then 5 min after the second), and the status's
report_problem goes once they are (the daemon driven step by step, its folder taken away and
given back as a disk is filled and cleared)."""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from recorder.daemon import Daemon
from recorder.retry_schedule import ATTEMPTS, RETRY_DELAYS_SECONDS
from shared.atomic import write_json_atomic
from shared.status_file import read_status
from tests.test_retention import NOW, FakeDisk, idle_daemon

FIRST_PAUSE, SECOND_PAUSE = RETRY_DELAYS_SECONDS
REPORTS = ("report.txt", "rtsp_report.json", "streams.csv")


def _cycle_whose_reports_failed(tmp_path: Path):
    """A daemon whose one cycle (no streams) ended at 100.5 without its reports (a folder in
    the way of its JSON report: :func:`_fill` and :func:`_clear`); the cycle's folder."""
    daemon = idle_daemon(tmp_path, FakeDisk(10**12), poll_cycles=1)
    daemon.step(100.0, NOW)
    assert daemon.cycle is not None
    folder = daemon.cycle.dir
    _fill(folder)  # its reports cannot be written (a full disk, a refused write)
    daemon.step(100.5, NOW + 0.5)
    assert daemon.cycle is None and daemon.state.report_problem is not None
    return daemon, folder


def _fill(folder: str) -> None:
    """Reports cannot be written into ``folder`` (as on a full disk)."""
    os.makedirs(os.path.join(folder, "rtsp_report.json"))


def _clear(folder: str) -> None:
    """The disk cleared: reports can be written into ``folder`` again."""
    os.rmdir(os.path.join(folder, "rtsp_report.json"))


def _written(folder: str) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name in REPORTS)


def test_reports_that_could_not_be_written_are_written_a_pause_later(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="recorder.retry_schedule")
    daemon, folder = _cycle_whose_reports_failed(tmp_path)
    name = os.path.basename(folder)
    _clear(folder)
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
    _clear(folder)
    daemon.step(now + 10 * SECOND_PAUSE, NOW + now + 10 * SECOND_PAUSE)
    assert _written(folder) == []  # given up: not tried again
    daemon.shutdown()


def _report(folder: str) -> dict:
    with open(os.path.join(folder, "rtsp_report.json"), encoding="utf-8") as handle:
        return json.load(handle)


def test_a_stop_tries_the_waiting_reports_once_more(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    # The disk cleared and the recorder stopped before the 30 s retry: the reports were dropped
    caplog.set_level(logging.INFO)
    daemon, folder = _cycle_whose_reports_failed(tmp_path)
    _clear(folder)
    daemon.shutdown()
    assert _written(folder) == list(REPORTS)
    assert read_status(daemon.publisher.path)["report_problem"] is None
    assert f"reports of cycle {os.path.basename(folder)}: written at the stop" in caplog.text


def test_reports_a_stop_could_not_write_are_named_and_written_at_the_restart(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The restart found the cycle ended, returned no report_problem: the banner went away, and
    # the reports were never written.
    caplog.set_level(logging.INFO)
    daemon, folder = _cycle_whose_reports_failed(tmp_path)
    name = os.path.basename(folder)
    daemon.shutdown()  # the disk still full
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("reports not written by the stop" in line and name in line for line in errors)
    assert read_status(daemon.publisher.path)["report_problem"]["cycle"] == name
    _clear(folder)  # the operator frees space, and restarts
    again = Daemon(daemon.config_path, free_space=FakeDisk(10**12))
    again.recover()
    assert _written(folder) == list(REPORTS) and again.state.report_problem is None
    summary = _report(folder)["summary"]
    assert (summary["cycle"], summary["cycle_dir"], summary["interrupted"]) == (1, name, "")
    assert summary["end_time"] != "" and summary["start_time"] != ""
    again.shutdown()


def test_reports_still_unwritable_at_the_restart_keep_the_problem_and_are_retried(
        tmp_path: Path) -> None:
    daemon, folder = _cycle_whose_reports_failed(tmp_path)
    daemon.shutdown()
    again = Daemon(daemon.config_path, free_space=FakeDisk(10**12))
    again.recover()
    assert again.state.report_problem["cycle"] == os.path.basename(folder)
    again.step(200.0, NOW + 100)  # its pause begins
    _clear(folder)
    again.step(200.0 + FIRST_PAUSE, NOW + 100 + FIRST_PAUSE)
    assert _written(folder) == list(REPORTS) and again.state.report_problem is None
    again.shutdown()


def test_the_reports_of_a_cycle_a_stop_interrupted_say_so_when_the_restart_writes_them(
        tmp_path: Path) -> None:
    daemon = idle_daemon(tmp_path, FakeDisk(10**12), poll_cycles=1)
    daemon.step(100.0, NOW)
    folder = daemon.cycle.dir
    _fill(folder)
    daemon.shutdown()
    assert read_status(daemon.publisher.path)["report_problem"]["cycle"] == \
        os.path.basename(folder)
    _clear(folder)
    again = Daemon(daemon.config_path, free_space=FakeDisk(10**12))
    again.recover()
    assert _report(folder)["summary"]["interrupted"] == "录制守护进程停止"
    again.shutdown()


def test_a_cycle_folder_deleted_while_its_reports_wait_ends_their_retries(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    daemon, folder = _cycle_whose_reports_failed(tmp_path)
    name = os.path.basename(folder)
    shutil.rmtree(folder)  # the operator deleted the cycle
    daemon.step(101.0, NOW + 1.0)
    daemon.step(100.5 + FIRST_PAUSE, NOW + FIRST_PAUSE + 1.0)
    assert daemon.state.report_problem is None
    assert f"reports of cycle {name}: its folder {folder} is gone" in caplog.text
    assert f"attempt 2 of {ATTEMPTS} failed" not in caplog.text
    now = 100.5 + FIRST_PAUSE + 1.0
    daemon.step(now, NOW + now)
    daemon.step(now + SECOND_PAUSE + 1.0, NOW + now + SECOND_PAUSE + 1.0)
    assert "retried (attempt 3" not in caplog.text and not os.path.exists(folder)
    daemon.shutdown()


def test_a_restart_drops_the_problem_of_reports_whose_folder_is_gone(tmp_path: Path) -> None:
    daemon, folder = _cycle_whose_reports_failed(tmp_path)
    daemon.shutdown()
    shutil.rmtree(folder)
    again = Daemon(daemon.config_path, free_space=FakeDisk(10**12))
    again.recover()
    assert again.state.report_problem is None and not os.path.exists(folder)
    again.shutdown()


def test_a_restart_keeps_the_problem_of_an_earlier_cycle_still_without_reports(
        tmp_path: Path) -> None:
    # The last status no longer has that cycle's tasks: its reports cannot be made, but the
    # banner stays while its folder has none (it went away at the restart).
    daemon, folder = _cycle_whose_reports_failed(tmp_path)
    _clear(folder)
    daemon.shutdown()  # written at the stop
    earlier = os.path.join(os.path.dirname(folder), "20250101_000000")
    os.makedirs(earlier)
    status = read_status(daemon.publisher.path)
    status["report_problem"] = {"cycle": "20250101_000000", "reason": "磁盘已满",
                                "message": "第 1 轮 (20250101_000000) 报告写入失败: 磁盘已满"}
    write_json_atomic(daemon.publisher.path, status)
    again = Daemon(daemon.config_path, free_space=FakeDisk(10**12))
    again.recover()
    assert again.state.report_problem == status["report_problem"]
    again.shutdown()
