"""``python -m recorder --import-history``: past cycle reports into the history, each cycle once."""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator

from recorder.history_import import import_history
from recorder.reports import build_report, write_reports
from shared import task_record
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.history_schema import history_path
from shared.timefmt import cycle_name, format_local

WALL = 1_760_000_000.0
STREAMS = [{"rtsp_url": "rtsp://u:pw@127.0.0.1:5/gate", "duration_seconds": 5,
            "output_filename": "gate.mp4", "name": "东门"},
           {"rtsp_url": "rtsp://127.0.0.1:5/door", "duration_seconds": 5,
            "output_filename": "door.mp4"}]


def write_cycle(out: str, start: float, statuses: tuple[int, int]) -> str:
    name = cycle_name(start)
    os.makedirs(os.path.join(out, name))
    tasks = [task_record.build(
        task_id=i, stream_index=i, rtsp_url=stream["rtsp_url"],
        output_file=f"./output/{name}/{stream['output_filename']}" if status == st.COMPLETED
        else None, duration_seconds=5, status=status, start_wall=start + i,
        end_wall=start + i + 5, progress=5.0, bytes_received=1000, frames_received=125,
        error_message="" if status == st.COMPLETED else "连接失败", planned_offset=float(i))
        for i, (stream, status) in enumerate(zip(STREAMS, statuses))]
    write_reports(os.path.join(out, name), "rtsp_report.json", build_report(
        number=1, folder=name, start_time=format_local(start), end_time=format_local(start + 9),
        window=10, max_concurrent_streams=2, max_concurrent_used=2, schedule_info="",
        tasks=tasks, not_scheduled=[], interrupted=""))
    return name


def config_of_streams(tmp_path) -> str:
    """config.json, of the two cameras of STREAMS, in ``tmp_path``."""
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {}, "streams": STREAMS})
    return config


@contextlib.contextmanager
def edited_report(out: str, name: str) -> Iterator[dict]:
    """The JSON report of cycle ``name``, written back as the block left it."""
    path = os.path.join(out, name, "rtsp_report.json")
    with open(path, encoding="utf-8") as handle:
        report = json.load(handle)
    yield report
    write_json_atomic(path, report)


def rows(config: str, sql: str) -> list[tuple]:
    conn = sqlite3.connect(history_path(config))
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_reports_are_imported_once_and_give_each_camera_its_state(tmp_path) -> None:
    config = config_of_streams(tmp_path)
    out = str(tmp_path / "output")
    first = write_cycle(out, WALL, (st.COMPLETED, st.CONNECTION_ERROR))
    write_cycle(out, WALL + 60, (st.CONNECTION_ERROR, st.CONNECTION_ERROR))
    os.makedirs(os.path.join(out, cycle_name(WALL + 120)))  # no report: left out
    counts = import_history(config, WALL + 200)
    assert (counts["imported"], counts["tasks"], counts["unreadable"]) == (2, 4, 1)
    assert rows(config, "SELECT camera, cycle, status, clip FROM outcomes ORDER BY id")[:2] == [
        ("gate", first, st.COMPLETED, f"./output/{first}/gate.mp4"),
        ("door", first, st.CONNECTION_ERROR, None)]
    assert rows(config, "SELECT id, name, url, consecutive_failures, offline_since IS NOT NULL"
                        " FROM cameras ORDER BY id") == [
        ("door", "", "rtsp://127.0.0.1:5/door", 2, 1),
        ("gate", "东门", "rtsp://u:***@127.0.0.1:5/gate", 1, 0)]
    assert rows(config, "SELECT count(*) FROM outbox") == [(0,)]  # the past raises no alert
    assert import_history(config, WALL + 300)["already"] == 2
    assert rows(config, "SELECT count(*) FROM outcomes") == [(4,)]


def test_the_command_imports_and_exits(tmp_path) -> None:
    config = config_of_streams(tmp_path)
    write_cycle(str(tmp_path / "output"), WALL, (st.COMPLETED, st.COMPLETED))
    done = subprocess.run([sys.executable, "-m", "recorder", "--config", config,
                           "--import-history"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "history import: 1 cycle (2 tasks) imported" in done.stderr
    assert rows(config, "SELECT count(*) FROM outcomes") == [(2,)]


def test_the_quality_of_a_report_task_is_imported_and_an_old_report_has_none(tmp_path) -> None:
    config = config_of_streams(tmp_path)
    out = str(tmp_path / "output")
    name = write_cycle(out, WALL, (st.COMPLETED, st.CONNECTION_ERROR))
    black = {"checked": True, "issues": ["black"],
             "measures": {"black": {"value": 1.0, "threshold": 0.9}, "keyframes": {"value": 4}}}
    with edited_report(out, name) as report:
        report["tasks"][0]["quality"] = black
        del report["tasks"][1]["quality"]  # written before the picture checks
    import_history(config, WALL + 200)
    stored = rows(config, "SELECT camera, quality FROM outcomes ORDER BY id")
    assert [camera for camera, _ in stored] == ["gate", "door"]
    # The history keeps the verdicts and the measure behind each (not the keyframe count).
    assert json.loads(stored[0][1]) == {**black, "measures": {"black": black["measures"]["black"]}}
    assert stored[1][1] is None


def test_a_cycle_partly_in_the_history_gets_only_its_missing_tasks(tmp_path) -> None:
    # Recovery after a kill -9: the live history had committed some of the cycle's tasks.
    config = config_of_streams(tmp_path)
    write_cycle(str(tmp_path / "output"), WALL, (st.COMPLETED, st.CONNECTION_ERROR))
    import_history(config, WALL + 200)
    conn = sqlite3.connect(history_path(config))
    with conn:
        conn.execute("DELETE FROM outcomes WHERE camera = 'door'")
    conn.close()
    counts = import_history(config, WALL + 300)
    assert (counts["imported"], counts["tasks"], counts["already"]) == (1, 1, 0)
    assert rows(config, "SELECT camera FROM outcomes ORDER BY id") == [("gate",), ("door",)]
    assert import_history(config, WALL + 400)["already"] == 1


def test_a_task_cancelled_before_it_started_is_imported_at_the_cycles_end(tmp_path) -> None:
    # A killed recorder's cycle: its report lists the tasks never started as 已取消 with no
    # end of their own; they were left out of the history, which README says holds what the
    # report lists.
    config = config_of_streams(tmp_path)
    out = str(tmp_path / "output")
    name = write_cycle(out, WALL, (st.COMPLETED, st.COMPLETED))
    with edited_report(out, name) as report:
        report["tasks"][1].update(status=st.CANCELLED, start_time=None, end_time=None,
                                  error_message="录制守护进程意外退出", output_file=None)
    assert import_history(config, WALL + 200)["tasks"] == 2
    assert rows(config, "SELECT camera, status, error, ended FROM outcomes ORDER BY id")[1] == (
        "door", st.CANCELLED, "录制守护进程意外退出", WALL + 9)


def test_a_removed_cameras_clip_stays_its_own_though_another_camera_has_its_url(tmp_path) -> None:
    # cam1 and cam2 shared an RTSP URL; cam1 was removed after its cycle: its task, clip
    # .../cam1.mp4, was filed under cam2, the one configured stream of that URL.
    url = "rtsp://127.0.0.1:5/same"
    out = str(tmp_path / "output")
    name = cycle_name(WALL)
    os.makedirs(os.path.join(out, name))
    tasks = [task_record.build(
        task_id=i, stream_index=i, rtsp_url=url, output_file=f"./output/{name}/{camera}.mp4",
        duration_seconds=5, status=st.COMPLETED, start_wall=WALL + i, end_wall=WALL + i + 5,
        progress=5.0, bytes_received=1000, frames_received=125, error_message="",
        planned_offset=float(i)) for i, camera in enumerate(("cam1", "cam2"))]
    write_reports(os.path.join(out, name), "rtsp_report.json", build_report(
        number=1, folder=name, start_time=format_local(WALL), end_time=format_local(WALL + 9),
        window=10, max_concurrent_streams=2, max_concurrent_used=2, schedule_info="",
        tasks=tasks, not_scheduled=[], interrupted=""))
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {}, "streams": [
        {"rtsp_url": url, "duration_seconds": 5, "output_filename": "cam2.mp4"}]})
    assert import_history(config, WALL + 200)["tasks"] == 2
    assert rows(config, "SELECT camera, clip FROM outcomes ORDER BY started") == [
        ("cam1", f"./output/{name}/cam1.mp4"), ("cam2", f"./output/{name}/cam2.mp4")]
