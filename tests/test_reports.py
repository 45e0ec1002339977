"""The cycle reports: the room reserved for them, and writing them into it."""
from __future__ import annotations

import json
import time
from pathlib import Path

from recorder.reports import (CSV_COLUMNS, RESERVE_BASE_BYTES, RESERVE_BYTES_PER_STREAM,
                              RESERVE_NAME, build_report, recovered_report,
                              release_report_space, reserve_report_space, write_reports)
from shared import task_record
from shared import task_status as st
from shared.status_file import empty_status

REPORT = {"summary": {"cycle": 1, "cycle_dir": "20250101_000000", "start_time": "", "end_time": "",
                      "total_duration": 10, "total_tasks": 0, "completed_tasks": 0,
                      "failed_tasks": 0, "cancelled_tasks": 0, "not_scheduled": 0,
                      "max_concurrent_used": 0, "completion_rate": 0.0, "interrupted": ""},
          "schedule_info": "调度方案: 0个任务", "tasks": [], "not_scheduled": []}


def test_the_reserve_holds_room_per_stream_and_writing_the_reports_releases_it(
        tmp_path: Path) -> None:
    reserve_report_space(str(tmp_path), 10)
    reserve = tmp_path / RESERVE_NAME
    assert reserve.stat().st_size == RESERVE_BASE_BYTES + 10 * RESERVE_BYTES_PER_STREAM
    assert reserve.stat().st_blocks * 512 >= reserve.stat().st_size  # really allocated
    write_reports(str(tmp_path), "rtsp_report.json", REPORT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.txt", "rtsp_report.json",
                                                         "streams.csv"]
    assert json.loads((tmp_path / "rtsp_report.json").read_text("utf-8")) == REPORT


def test_no_reserve_is_fine_and_a_symlink_in_its_place_is_not_followed(tmp_path: Path) -> None:
    release_report_space(str(tmp_path))  # nothing to release
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    cycle = tmp_path / "cycle"
    cycle.mkdir()
    (cycle / RESERVE_NAME).symlink_to(target)
    reserve_report_space(str(cycle), 1)
    assert target.read_text() == "keep"


def record(index: int, status: int, output_file: str | None, **extra) -> dict:
    """A finished task's record as the recorder builds it."""
    fields = dict(task_id=index, stream_index=index, rtsp_url=f"rtsp://u:pw@127.0.0.1:5/c{index}",
                  output_file=output_file, duration_seconds=5, status=status,
                  start_wall=1_760_000_000.0, end_wall=1_760_000_005.0, progress=5.0,
                  bytes_received=5000, frames_received=125, error_message="")
    fields.update(extra)
    return task_record.build(**fields)


def report_of(tasks: list[dict]) -> dict:
    return build_report(number=1, folder="20250101_000000", start_time="", end_time="", window=10,
                        max_concurrent_streams=4, max_concurrent_used=2,
                        schedule_info="调度方案: 2个任务", tasks=tasks,
                        not_scheduled=[{"stream_index": 9, "rtsp_url": "rtsp://h/x",
                                        "duration_seconds": 5, "reason": "窗口内放不下"}],
                        interrupted="")


def test_the_reports_name_only_clips_that_exist(tmp_path: Path) -> None:
    kept = record(0, st.COMPLETED, "./output/20250101_000000/c0.mp4")
    failed = record(1, st.CONNECTION_ERROR, None, error_message="Connection refused",
                    progress=0.0, frames_received=0)
    write_reports(str(tmp_path), "rtsp_report.json", report_of([kept, failed]))
    tasks = json.loads((tmp_path / "rtsp_report.json").read_text("utf-8"))["tasks"]
    assert [t["output_file"] for t in tasks] == ["./output/20250101_000000/c0.mp4", None]
    text = (tmp_path / "report.txt").read_text("utf-8")
    assert "-> ./output/20250101_000000/c0.mp4" in text
    assert "None" not in text and text.count("->") == 1
    csv_lines = (tmp_path / "streams.csv").read_text("utf-8").splitlines()
    assert csv_lines[0] == ",".join(CSV_COLUMNS)  # the CSV names no clip files at all
    assert csv_lines[1:] == [
        f"0,rtsp://u:***@127.0.0.1:5/c0,4,已完成,{kept['start_time']},{kept['end_time']},5,5.0,"
        "5000,125,,",  # the last column: the picture verdict, empty when not checked
        f"1,rtsp://u:***@127.0.0.1:5/c1,5,连接错误,{failed['start_time']},{failed['end_time']},5,"
        "0.0,5000,0,Connection refused,",
        "9,rtsp://h/x,,未调度,,,5,0,0,0,窗口内放不下,"]


def test_a_summary_counts_the_tasks_it_lists() -> None:
    summary = report_of([record(0, st.COMPLETED, "c0.mp4"), record(1, st.TIMEOUT, None),
                         record(2, st.CANCELLED, None)])["summary"]
    assert summary == {"cycle": 1, "cycle_dir": "20250101_000000", "start_time": "",
                       "end_time": "", "total_duration": 10, "max_concurrent_streams": 4,
                       "total_tasks": 3, "completed_tasks": 1, "failed_tasks": 1,
                       "cancelled_tasks": 1, "max_concurrent_used": 2, "completion_rate": 0.3333,
                       "not_scheduled": 1, "interrupted": ""}


def test_a_recovered_report_has_the_same_summary_and_names_only_recovered_clips() -> None:
    old = empty_status()
    old.update(current_cycle=3, schedule_info="调度方案: 3个任务",
               cycle={**old["cycle"], "dir": "20250101_000000", "running": True,
                      "start_time": "2025-01-01 00:00:00", "total_seconds": 30,
                      "max_concurrent_streams": 7},
               tasks=[record(0, st.RECORDING, "./out/20250101_000000/c0.mp4", end_wall=None),
                      record(1, st.RECORDING, "./out/20250101_000000/c1.mp4", end_wall=None),
                      record(2, st.STREAM_UNAVAILABLE, None)])
    report = recovered_report(old, ["/abs/out/20250101_000000/c0.mp4"], configured_max=2)
    assert set(report["summary"]) == set(report_of([])["summary"])
    assert report["summary"]["max_concurrent_streams"] == 7
    assert report["summary"]["interrupted"] and report["summary"]["cancelled_tasks"] == 2
    assert [(t["status_name"], t["output_file"]) for t in report["tasks"]] == [
        ("已取消", "./out/20250101_000000/c0.mp4"), ("已取消", None), ("流不可用", None)]
    # its end is not known: the last task's end stands in (it was left empty)
    assert report["summary"]["end_time"] == max(t["end_time"] for t in report["tasks"]) != ""
    # ... or the last status's heartbeat, when later: when the kill came, as best known
    killed = {**old, "heartbeat": 1_760_000_025.5}
    killed_report = recovered_report(killed, [], 2)
    kill_time = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_760_000_025))
    assert killed_report["summary"]["end_time"] == kill_time
    # the tasks the kill cut short ended then too, as a killed check's record does
    assert [t["end_time"] for t in killed_report["tasks"][:2]] == [kill_time, kill_time]
    assert [t["run_seconds"] for t in killed_report["tasks"][:2]] == [25.5, 25.5]
    assert killed_report["tasks"][2]["end_time"] == report["tasks"][2]["end_time"]
    del old["cycle"]["max_concurrent_streams"]  # a status file written before that field
    old["cycle"] = {**empty_status()["cycle"], **old["cycle"]}
    assert recovered_report(old, [], configured_max=2)["summary"]["max_concurrent_streams"] == 2


def test_the_picture_verdict_is_a_csv_column_and_a_line_of_the_text_report(tmp_path: Path) -> None:
    def task(index: int, quality: dict) -> dict:
        return task_record.build(
            task_id=index, stream_index=index, rtsp_url="rtsp://127.0.0.1/c", output_file=None,
            duration_seconds=5, status=st.COMPLETED, start_wall=None, end_wall=None,
            progress=5.0, bytes_received=1, frames_received=1, error_message="", quality=quality)

    tasks = [task(0, {"checked": True, "issues": [], "measures": {}}),
             task(1, {"checked": True, "issues": ["black", "low_fps"], "measures": {}}),
             task(2, task_record.unchecked_quality())]
    report = build_report(number=1, folder="c", start_time="", end_time="", window=10,
                          max_concurrent_streams=1, max_concurrent_used=1, schedule_info="",
                          tasks=tasks, not_scheduled=[], interrupted="")
    write_reports(str(tmp_path), "rtsp_report.json", report)
    rows = (tmp_path / "streams.csv").read_text("utf-8").splitlines()
    assert CSV_COLUMNS[-1] == "quality"
    assert [row.rsplit(",", 1)[1] for row in rows] == ["quality", "ok", "black+low_fps", ""]
    text = (tmp_path / "report.txt").read_text("utf-8")
    assert "画面检查: 2 路  正常: 1  问题: black: 1  low_fps: 1" in text
    assert text.count("画面: black+low_fps") == 1
