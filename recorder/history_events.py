"""Events for the outbox (contract 3 of HEALTH_DESIGN): their JSON bodies and one row per receiver."""
from __future__ import annotations

import json
import sqlite3

from recorder.alert_pictures import with_picture
from recorder.alert_receivers import targets_for
from recorder.finished_task import FinishedTask
from shared import event_names as ev
from shared import task_status as st
from shared.task_record import short_error
from shared.timefmt import format_iso, format_local, parse_local

# The counts of a ``cycle.finished`` (contract 3), as a cycle's report summary has them too.
COUNT_KEYS = ("total_tasks", "completed_tasks", "failed_tasks", "cancelled_tasks",
              "not_scheduled")
RECOVERED_NOTE = "录制守护进程在本轮中意外退出，报告由重启后的恢复写出"
TAKEOVER_NOTE = "协调者在本轮中失联，报告由接管的录制守护进程写出"  # cluster mode


def camera_body(event: str, task: FinishedTask, since: float, failures: int, wall: float,
                picture: str | None = None) -> dict:
    """The body of a camera event: ``since`` = when its run of failures began; ``picture`` the
    thumbnail URL it links to (recorder/alert_pictures.py), None: none.

    Worded like the alert sender's reminders (recorder/alert_reminders.py on main).
    """
    label = task.name or task.camera
    error = short_error(task.error, task.url) if task.error else task.error
    if event == ev.CAMERA_OFFLINE:
        message = (f"摄像头「{label}」离线，自 {format_local(since)} 起连续 {failures} 次失败；"
                   f"最近状态：{st.status_name(task.status)}"
                   + (f"，{error}" if error else ""))
    else:
        message = (f"摄像头「{label}」已恢复，{format_local(task.ended)} 录制成功"
                   f"（自 {format_local(since)} 起离线，连续 {failures} 次失败）")
    return with_picture({
        "event": event, "time": format_iso(wall), "message": message,
        "camera": {"id": task.camera, "name": task.name or "", "url": task.url},
        "status": task.status, "status_name": st.status_name(task.status),
        "error": error, "since": format_iso(since), "consecutive_failures": failures}, picture)


def cycle_body(number: int, folder: str, counts: dict, wall: float,
               recovered_note: str = "") -> dict:
    """The body of ``cycle.finished``; ``counts`` as contract 3 lists them. ``recovered_note``:
    the cycle of a recorder killed while it ran, reported at its restart (RECOVERED_NOTE) or by
    the coordinator that took it over (TAKEOVER_NOTE); its message ends with that note."""
    message = (f"第 {number} 轮巡检结束（{folder}）：共 {counts['total_tasks']} 个任务，"
               f"完成 {counts['completed_tasks']}，失败 {counts['failed_tasks']}，"
               f"取消 {counts['cancelled_tasks']}，未调度 {counts['not_scheduled']}"
               + (f"；{recovered_note}" if recovered_note else ""))
    return {"event": ev.CYCLE_FINISHED, "time": format_iso(wall), "message": message,
            "cycle": folder, "counts": counts, "recovered": bool(recovered_note)}


def recovered_cycle_body(folder: str, report: dict, wall: float,
                         note: str = RECOVERED_NOTE) -> dict:
    """The ``cycle.finished`` of the cycle a killed recorder left, from the ``report`` its
    recovery (or a takeover: ``note``) wrote (``wall``: when the report's end is not known)."""
    summary = report.get("summary") if isinstance(report.get("summary"), dict) else {}
    counts = {key: summary.get(key) if isinstance(summary.get(key), int) else 0
              for key in COUNT_KEYS}
    number = summary.get("cycle") if isinstance(summary.get("cycle"), int) else 0
    return cycle_body(number, folder, counts, parse_local(summary.get("end_time")) or wall,
                      note)


def announced(conn: sqlite3.Connection, folder: str) -> bool:
    """True when the outbox has a ``cycle.finished`` of ``folder`` already (a recovery killed
    after its write, done again)."""
    return conn.execute(
        "SELECT 1 FROM outbox WHERE event = ? AND json_extract(body, '$.cycle') = ? LIMIT 1",
        (ev.CYCLE_FINISHED, folder)).fetchone() is not None


def disk_low_body(free_mb: int, floor_mb: int, wall: float) -> dict:
    """The body of ``recorder.disk_low``."""
    message = f"录制服务器磁盘空间不足：剩余 {free_mb} MB，低于下限 {floor_mb} MB，暂停新的巡检"
    return {"event": ev.DISK_LOW, "time": format_iso(wall), "message": message,
            "free_mb": free_mb, "floor_mb": floor_mb}


def config_error_body(error: dict, message: str, wall: float) -> dict:
    """The body of ``recorder.config_error``; ``error`` is the ConfigError's dict."""
    return {"event": ev.CONFIG_ERROR, "time": format_iso(wall),
            "message": f"配置文件有误，录制继续使用上一个有效配置：{message}", "error": error}


def enqueue(conn: sqlite3.Connection, body: dict, alerts: dict, wall: float) -> int:
    """Insert one outbox row per receiver of ``body``'s event; returns how many. A recovered
    cycle's ``cycle.finished`` is queued once: not when the outbox has one of its cycle (a
    recovery or takeover killed after its write and done again)."""
    targets = targets_for(body["event"], alerts)
    if targets and body.get("recovered") and announced(conn, body["cycle"]):
        return 0
    if targets:
        text = json.dumps(body, ensure_ascii=False)
        conn.executemany(
            "INSERT INTO outbox (event, created, target, body, attempts, next_attempt)"
            " VALUES (?, ?, ?, ?, 0, ?)", [(body["event"], wall, t, text, wall) for t in targets])
    return len(targets)
