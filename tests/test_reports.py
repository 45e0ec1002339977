"""The cycle reports: the room reserved for them, and writing them into it."""
from __future__ import annotations

import json
from pathlib import Path

from recorder.reports import (RESERVE_BASE_BYTES, RESERVE_BYTES_PER_STREAM, RESERVE_NAME,
                              release_report_space, reserve_report_space, write_reports)

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
