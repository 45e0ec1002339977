"""Events for the outbox (contract 3 of HEALTH_DESIGN): their JSON bodies and one row per receiver."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from recorder.finished_task import FinishedTask
from shared import event_names as ev
from shared import task_status as st
from shared.timefmt import format_local


def iso_time(epoch: float) -> str:
    """``epoch`` as ISO 8601 with the local offset (``2026-05-09T07:35:25+08:00``)."""
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


def camera_body(event: str, task: FinishedTask, since: float, failures: int, wall: float) -> dict:
    """The body of a camera event: ``since`` = when its run of failures began."""
    shown = task.name or task.camera
    who = f"摄像头 {shown} ({task.camera})" if task.name else f"摄像头 {task.camera}"
    if event == ev.CAMERA_OFFLINE:
        message = (f"{who} 离线: 自 {format_local(since)} 起连续 {failures} 次录制失败, "
                   f"最近一次: {st.status_name(task.status)} {task.error}".rstrip())
    else:
        message = f"{who} 已恢复: {format_local(task.ended)} 录制成功 (自 {format_local(since)} 起离线)"
    return {"event": event, "time": iso_time(wall), "message": message,
            "camera": {"id": task.camera, "name": shown, "url": task.url},
            "status": task.status, "status_name": st.status_name(task.status),
            "error": task.error, "since": iso_time(since), "consecutive_failures": failures}


def cycle_body(number: int, folder: str, counts: dict, wall: float) -> dict:
    """The body of ``cycle.finished``; ``counts`` as contract 3 lists them."""
    message = (f"第 {number} 轮巡检结束 ({folder}): 共 {counts['total_tasks']} 个任务, "
               f"完成 {counts['completed_tasks']}, 失败 {counts['failed_tasks']}, "
               f"取消 {counts['cancelled_tasks']}, 未调度 {counts['not_scheduled']}")
    return {"event": ev.CYCLE_FINISHED, "time": iso_time(wall), "message": message,
            "cycle": folder, "counts": counts}


def disk_low_body(free_mb: int, floor_mb: int, wall: float) -> dict:
    """The body of ``recorder.disk_low``."""
    message = f"录制服务器磁盘空间不足: 剩余 {free_mb} MB, 低于下限 {floor_mb} MB, 暂停新的巡检"
    return {"event": ev.DISK_LOW, "time": iso_time(wall), "message": message,
            "free_mb": free_mb, "floor_mb": floor_mb}


def config_error_body(error: dict, message: str, wall: float) -> dict:
    """The body of ``recorder.config_error``; ``error`` is the ConfigError's dict."""
    return {"event": ev.CONFIG_ERROR, "time": iso_time(wall),
            "message": f"配置文件有误, 录制继续使用上一个有效配置: {message}", "error": error}


def receivers(alerts: dict, event: str) -> list[str]:
    """The outbox targets of ``event`` under ``alerts`` (a webhook's ``events`` filters it)."""
    targets = [ev.WEBHOOK_TARGET + hook["url"] for hook in alerts.get("webhooks", ())
               if event in hook.get("events", ev.EVENTS)]
    return targets + [ev.NOTIFY_TARGET + url for url in alerts.get("notify", ())]


def enqueue(conn: sqlite3.Connection, body: dict, alerts: dict, wall: float) -> int:
    """Insert one outbox row per receiver of ``body``'s event; returns how many."""
    targets = receivers(alerts, body["event"])
    if targets:
        text = json.dumps(body, ensure_ascii=False)
        conn.executemany(
            "INSERT INTO outbox (event, created, target, body, attempts, next_attempt)"
            " VALUES (?, ?, ?, ?, 0, ?)", [(body["event"], wall, t, text, wall) for t in targets])
    return len(targets)
