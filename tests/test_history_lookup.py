"""The recorder's reads of its history at a start (recorder/history_lookup.py and its users):
the file migrated first, opened by an escaped URI; a killed check's verdict found by its id,
its camera and its time, not by a row of an earlier run of the ids."""
from __future__ import annotations

import logging
import os
import sqlite3

import pytest

from recorder.check_verdicts import committed_verdicts
from recorder.finished_task import FinishedTask
from recorder.history_import import has_every_task, not_in_history
from recorder.reports import build_report, write_reports
from shared import settings
from shared import task_record
from shared import task_status as st
from shared.history_schema import MIGRATIONS, SCHEMA_VERSION, connect_writer, history_path
from shared.timefmt import format_local

WALL = 1_760_000_000.0
CUT_SHORT = ("录制守护进程停止, 重启后重新检查",)


@pytest.fixture(autouse=True)
def _no_state_dir_env(monkeypatch) -> None:
    monkeypatch.delenv(settings.STATE_DIR_ENV, raising=False)


def _row(camera: str, ended: float, check_id: int | None, cycle: str = "checks/x",
         kind: str = "check") -> tuple:
    return (camera, cycle, kind, ended, st.COMPLETED, check_id)


def _write_rows(config: str, rows: list[tuple], version: int = SCHEMA_VERSION) -> None:
    """The history of ``config`` at schema ``version``, holding ``rows`` (see :func:`_row`)."""
    path = history_path(config)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for step in MIGRATIONS[:version]:
            for statement in (part for part in step.split(";") if part.strip()):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        for camera, cycle, kind, ended, status, check_id in rows:
            columns = "camera, cycle, kind, ended, status" + (", check_id" if version >= 3 else "")
            values = (camera, cycle, kind, ended, status) + ((check_id,) if version >= 3 else ())
            conn.execute(f"INSERT INTO outcomes ({columns}) VALUES "
                         f"({', '.join('?' * len(values))})", values)
    finally:
        conn.close()


def _check(check_id: int, camera: str, requested: float) -> dict:
    return {"check_id": check_id, "camera": camera, "requested_at": format_local(requested)}


def test_a_killed_check_is_not_given_the_verdict_of_an_earlier_check_of_its_id(tmp_path) -> None:
    # The status and control files lost, the history kept: ids start at 1 again, and the old
    # check 1 (another camera, and a week ago) has a verdict in the history.
    config = str(tmp_path / "config.json")
    _write_rows(config, [_row("yard", WALL - 7 * 86400, 1), _row("gate", WALL - 7 * 86400, 1)])
    assert committed_verdicts(config, [_check(1, "gate", WALL)], CUT_SHORT) == {}
    # ... while the check's own verdict, after it was asked, is found
    _write_rows_more(config, [_row("gate", WALL + 30, 1)])
    [(check_id, row)] = committed_verdicts(config, [_check(1, "gate", WALL)], CUT_SHORT).items()
    assert (check_id, row["camera"], row["ended"]) == (1, "gate", WALL + 30)


def test_a_verdict_within_the_hour_a_local_time_can_be_off_is_the_check_s(tmp_path) -> None:
    # In the DST fall-back hour the check's start, a local time read back, can be an hour
    # late: its verdict seemed older than the check, which then ran again
    config = str(tmp_path / "config.json")
    _write_rows(config, [_row("gate", WALL - 1800, 1)])
    assert list(committed_verdicts(config, [_check(1, "gate", WALL)], CUT_SHORT)) == [1]


def _write_rows_more(config: str, rows: list[tuple]) -> None:
    conn = connect_writer(history_path(config))
    try:
        conn.executemany("INSERT INTO outcomes (camera, cycle, kind, ended, status, check_id) "
                         "VALUES (?, ?, ?, ?, ?, ?)", rows)
    finally:
        conn.close()


def test_the_first_start_after_the_upgrade_migrates_before_the_verdicts_lookup(
        tmp_path, caplog) -> None:
    # A history of schema 2 (before check_id): the lookup was refused ("schema 2, expected 3")
    config = str(tmp_path / "config.json")
    _write_rows(config, [_row("gate", WALL - 60, None)], version=2)
    with caplog.at_level(logging.WARNING):
        assert committed_verdicts(config, [_check(1, "gate", WALL)], CUT_SHORT) == {}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    conn = sqlite3.connect(history_path(config))
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT camera, check_id FROM outcomes").fetchall() == [
            ("gate", None)]
    finally:
        conn.close()


def _finished(camera: str, ended: float, cycle: str) -> FinishedTask:
    return FinishedTask(camera=camera, name="", url="", alerts=False, cycle=cycle, ended=ended,
                        status=st.COMPLETED)


@pytest.mark.parametrize("folder", ["state?mode=rw", "st#ate", "a?b#c"])
def test_the_history_is_read_where_it_is_with_a_question_mark_or_hash_in_its_path(
        tmp_path, monkeypatch, folder) -> None:
    # file:{path}?mode=ro unescaped: '?' or '#' cut the path short, so another file was opened
    # (and created: read-write) and the history's rows were not seen.
    state = tmp_path / folder
    monkeypatch.setenv(settings.STATE_DIR_ENV, str(state))
    config = str(tmp_path / "config.json")
    name = "20251009_120000"
    _write_rows(config, [_row("gate", WALL, None, cycle=name, kind="cycle")])
    out = tmp_path / "output" / name
    out.mkdir(parents=True)
    write_reports(str(out), "rtsp_report.json", build_report(
        number=1, folder=name, start_time=format_local(WALL - 10), end_time=format_local(WALL),
        window=10, max_concurrent_streams=1, max_concurrent_used=1, schedule_info="",
        tasks=[task_record.build(
            task_id=0, stream_index=0, rtsp_url="rtsp://127.0.0.1:5/gate", output_file=None,
            duration_seconds=5, status=st.COMPLETED, start_wall=WALL - 5, end_wall=WALL,
            progress=5.0, bytes_received=1, frames_received=1, error_message="",
            planned_offset=0.0)], not_scheduled=[], interrupted=""))
    before = sorted(os.listdir(tmp_path))
    assert not_in_history(config, [_finished("gate", WALL, name)]) == []
    assert has_every_task(config, str(out), "rtsp_report.json")
    assert sorted(os.listdir(tmp_path)) == before  # no stray file made beside the state folder
    assert set(os.listdir(state)) <= {"history.sqlite3", "history.sqlite3-wal",
                                      "history.sqlite3-shm"}
