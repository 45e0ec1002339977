"""The three cycle reports: ``report_filename`` (JSON), ``report.txt`` and ``streams.csv``."""
from __future__ import annotations

import csv
import io
import json
import os

from shared import task_record
from shared import task_status as st
from shared.atomic import dump_json, write_text_atomic
from shared.status_file import completion_rate, interrupted_at
from shared.timefmt import format_local

# streams.csv's columns, each with the task record field it shows.
CSV_FIELDS = {"stream_index": "stream_index", "rtsp_url": "rtsp_url", "status_code": "status",
              "status_name": "status_name", "start_time": "start_time", "end_time": "end_time",
              "requested_seconds": "duration_seconds", "recorded_seconds": "progress",
              "bytes_received": "bytes_received", "frames_received": "frames_received",
              "error_message": "error_message", "quality": "quality"}
CSV_COLUMNS = tuple(CSV_FIELDS)
NOT_SCHEDULED = "未调度"
INTERRUPTED = "录制守护进程意外退出"
# Room held for the reports while a cycle records: the three files take about
# 1 KB per stream (JSON, text, CSV) plus a summary; the base also covers their
# rounding up to whole blocks and the folder growing.
RESERVE_NAME = ".reports.reserve"
RESERVE_BASE_BYTES = 64 * 1024
RESERVE_BYTES_PER_STREAM = 2048


def build_report(*, number: int, folder: str, start_time: str, end_time: str, window: int,
                 max_concurrent_streams: int, max_concurrent_used: int, schedule_info: str,
                 tasks: list[dict], not_scheduled: list[dict], interrupted: str) -> dict:
    """The JSON report's content (also the source of the other two): summary, plan, tasks."""
    stats = {**st.tally(task["status"] for task in tasks),
             "max_concurrent_used": max_concurrent_used}
    summary = {"cycle": number, "cycle_dir": folder, "start_time": start_time,
               "end_time": end_time, "total_duration": window,
               "max_concurrent_streams": max_concurrent_streams, **stats,
               "completion_rate": completion_rate(stats), "not_scheduled": len(not_scheduled),
               "interrupted": interrupted}
    return {"summary": summary, "schedule_info": schedule_info, "tasks": tasks,
            "not_scheduled": not_scheduled}


def recovered_report(old: dict, published: list[str], configured_max: int) -> dict:
    """The report of the cycle a killed recorder left, from its last status file.

    ``published``: the clips recovered from its work files. ``configured_max``
    stands in for the cycle's cap when the status file is older than that field.
    """
    kept = {os.path.basename(path) for path in published}
    killed_at = interrupted_at(old)  # its own end is not known: the kill's, as best known
    tasks = []
    for raw in old["tasks"]:
        record = task_record.from_stored(raw)
        clip = os.path.basename(record["output_file"] or "")
        tasks.append(task_record.interrupted(record, clip in kept, killed_at))
    return _status_report(old, tasks, format_local(killed_at), configured_max,
                          INTERRUPTED)


def ended_report(old: dict) -> dict:
    """The report of the cycle the last status ``old`` shows ended (its recorder could not
    write it: a full disk until its stop), as its end made it, from that status."""
    cycle = old["cycle"]
    tasks = [task_record.from_stored(raw) for raw in old["tasks"]]
    started, elapsed = cycle.get("started_at"), cycle.get("elapsed_seconds")
    end_time = str(cycle.get("end_time") or "") or (  # a status from before that field
        format_local(started + elapsed) if isinstance(started, (int, float))
        and isinstance(elapsed, (int, float)) else "")
    return _status_report(old, tasks, end_time, 0, str(cycle.get("interrupted") or ""))


def _status_report(old: dict, tasks: list[dict], end_time: str, configured_max: int,
                   interrupted: str) -> dict:
    cycle = old["cycle"]
    return build_report(
        number=old["current_cycle"], folder=cycle["dir"], start_time=cycle["start_time"],
        end_time=end_time, window=cycle["total_seconds"],
        max_concurrent_streams=cycle["max_concurrent_streams"] or configured_max,
        max_concurrent_used=old["stats"].get("max_concurrent_used", 0),
        schedule_info=old["schedule_info"], tasks=tasks, not_scheduled=old["not_scheduled"],
        interrupted=interrupted)


def written_report(cycle_dir: str, report_filename: str) -> dict:
    """The JSON report already in ``cycle_dir`` as it is ({} when there is none, it cannot be
    read, or it is not an object)."""
    try:
        with open(os.path.join(cycle_dir, report_filename), encoding="utf-8") as handle:
            written = json.load(handle)
    except (OSError, ValueError):
        return {}
    return written if isinstance(written, dict) else {}


def written_rows(cycle_dir: str, report_filename: str) -> tuple[dict | None, list]:
    """The summary and task rows of the JSON report already in ``cycle_dir`` (None and [] when
    there is none, or it cannot be read)."""
    written = written_report(cycle_dir, report_filename)
    summary = written.get("summary")
    return summary if isinstance(summary, dict) else None, report_rows(written, "tasks")


def report_rows(report: object, key: str) -> list:
    """A report's list under ``key`` (``tasks``, ``not_scheduled``); [] when a hand edit or a
    damaged file left something else there (each row still to be checked by its reader)."""
    rows = report.get(key) if isinstance(report, dict) else None
    return rows if isinstance(rows, list) else []


def with_known_verdicts(tasks: list[dict], rows: list) -> list[dict]:
    """``tasks`` (a status, maybe older than the report) with the verdicts a report written
    since already has (``rows``: its tasks; a cluster's workers' outcomes, read while Redis
    still kept them): reporting the cycle again never undoes one."""
    known = {row["stream_index"]: row for row in rows if isinstance(row, dict)
             and type(row.get("stream_index")) is int and type(row.get("status")) is int
             and row["status"] in st.FINISHED
             and row.get("error_message") != task_record.INTERRUPTED_MESSAGE}
    return [task_record.with_verdict(task, known[task["stream_index"]])
            if type(task.get("stream_index")) is int and task["stream_index"] in known
            and task.get("status") not in st.FINISHED else task for task in tasks]


def _unscheduled_row(entry: dict) -> dict:
    """A stream left out of the plan, in the record fields the CSV shows."""
    return {"stream_index": entry["stream_index"], "rtsp_url": entry["rtsp_url"], "status": "",
            "status_name": NOT_SCHEDULED, "start_time": "", "end_time": "",
            "duration_seconds": entry["duration_seconds"], "progress": 0, "bytes_received": 0,
            "frames_received": 0, "error_message": entry["reason"]}


def csv_rows(tasks: list[dict], not_scheduled: list[dict]) -> list[dict]:
    """One row per stream of the cycle, scheduled or not, by stream index."""
    records = tasks + [_unscheduled_row(entry) for entry in not_scheduled]
    rows = [{column: record.get(field) for column, field in CSV_FIELDS.items()}
            for record in records]
    for row in rows:  # the picture verdict (README "Picture checks") in a word
        row["quality"] = task_record.quality_text(row["quality"])
    return sorted(rows, key=lambda row: row["stream_index"])


def render_csv(rows: list[dict]) -> str:
    """``streams.csv`` text (UTF-8 with BOM off; Excel users can import it)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def render_text(report: dict) -> str:
    """``report.txt``: the summary and one line per task, for a human."""
    s = report["summary"]
    lines = [
        f"RTSP 巡检报告 - 第 {s['cycle']} 轮 ({s['cycle_dir']})",
        f"开始: {s['start_time']}  结束: {s['end_time']}  窗口: {s['total_duration']}秒",
        f"任务: {s['total_tasks']}  完成: {s['completed_tasks']}  失败: {s['failed_tasks']}  "
        f"取消: {s['cancelled_tasks']}  未调度: {s['not_scheduled']}  "
        f"最大并发: {s['max_concurrent_used']}  完成率: {s['completion_rate']:.0%}",
    ]
    if s.get("interrupted"):
        lines.append(f"注意: 本轮被中断 ({s['interrupted']})")
    lines += _quality_summary(report["tasks"])
    lines += ["", report["schedule_info"], ""]
    for t in report["tasks"]:
        clip = f" -> {t['output_file']}" if t["output_file"] else ""  # no clip was kept
        detail = f"  {t['error_message']}" if t["error_message"] else ""
        verdict = task_record.quality_text(t.get("quality"))
        detail += f"  画面: {verdict}" if verdict not in ("", "ok") else ""
        lines.append(f"[{t['status']}] {t['status_name']}  流 {t['stream_index']}  "
                     f"{t['progress']}/{t['duration_seconds']}秒  {t['bytes_received']}字节  "
                     f"{t['rtsp_url']}{clip}{detail}")
    for u in report["not_scheduled"]:
        lines.append(f"[-] {NOT_SCHEDULED}  流 {u['stream_index']}  {u['rtsp_url']}  {u['reason']}")
    return "\n".join(lines) + "\n"


def _quality_summary(tasks: list[dict]) -> list[str]:
    """The picture checks' line: how many pictures were good, and each issue's count."""
    verdicts = [task_record.quality_text(t.get("quality")) for t in tasks]
    checked = [v for v in verdicts if v]
    if not checked:
        return []
    issues: dict[str, int] = {}
    for verdict in checked:
        for issue in verdict.split("+") if verdict != "ok" else ():
            issues[issue] = issues.get(issue, 0) + 1
    found = "  ".join(f"{name}: {count}" for name, count in issues.items())
    return [f"画面检查: {len(checked)} 路  正常: {checked.count('ok')}"
            + (f"  问题: {found}" if found else "")]


def reserve_report_space(cycle_dir: str, streams: int) -> None:
    """Hold the room the reports will need, so a disk our clips fill still takes the reports.

    The hidden file is released by :func:`write_reports`; failing to make it
    only loses that guarantee.
    """
    size = RESERVE_BASE_BYTES + RESERVE_BYTES_PER_STREAM * streams
    path = os.path.join(cycle_dir, RESERVE_NAME)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    except OSError:
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError:
        release_report_space(cycle_dir)
    finally:
        os.close(fd)


def release_report_space(cycle_dir: str) -> None:
    """Give the reserved room back (nothing reserved is fine)."""
    try:
        os.unlink(os.path.join(cycle_dir, RESERVE_NAME))
    except OSError:
        pass


def write_reports(cycle_dir: str, report_filename: str, report: dict) -> None:
    """Write the three reports atomically into the cycle folder, in the room reserved for them.

    :raises WriteError:
    """
    release_report_space(cycle_dir)
    write_text_atomic(os.path.join(cycle_dir, report_filename), dump_json(report))
    write_text_atomic(os.path.join(cycle_dir, "report.txt"), render_text(report))
    write_text_atomic(os.path.join(cycle_dir, "streams.csv"),
                      render_csv(csv_rows(report["tasks"], report["not_scheduled"])))
