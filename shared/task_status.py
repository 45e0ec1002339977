"""Task status codes 0-9 and their names, as in SPEC "Task status codes", and in English (no dependencies)."""
from __future__ import annotations

from collections.abc import Iterable

PENDING = 0
CONNECTING = 1
CONNECTED = 2
RECORDING = 3
COMPLETED = 4
CONNECTION_ERROR = 5
RECORDING_ERROR = 6
TIMEOUT = 7
CANCELLED = 8
STREAM_UNAVAILABLE = 9

NAMES: dict[int, str] = {
    PENDING: "等待中",
    CONNECTING: "连接中",
    CONNECTED: "已连接",
    RECORDING: "录制中",
    COMPLETED: "已完成",
    CONNECTION_ERROR: "连接错误",
    RECORDING_ERROR: "录制错误",
    TIMEOUT: "超时",
    CANCELLED: "已取消",
    STREAM_UNAVAILABLE: "流不可用",
}
# English names, for answers to Accept-Language: en (shared/i18n.py); the Chinese
# names above stay the ones every file and default answer carries.
NAMES_EN: dict[int, str] = {
    PENDING: "pending",
    CONNECTING: "connecting",
    CONNECTED: "connected",
    RECORDING: "recording",
    COMPLETED: "completed",
    CONNECTION_ERROR: "connection error",
    RECORDING_ERROR: "recording error",
    TIMEOUT: "timeout",
    CANCELLED: "cancelled",
    STREAM_UNAVAILABLE: "stream unavailable",
}
UNKNOWN_NAME = "未知"
UNKNOWN_NAME_EN = "unknown"

ACTIVE = frozenset({CONNECTING, CONNECTED, RECORDING})
FAILED = frozenset({CONNECTION_ERROR, RECORDING_ERROR, TIMEOUT, STREAM_UNAVAILABLE})
FINISHED = frozenset({COMPLETED, CANCELLED}) | FAILED


def status_name(code: int) -> str:
    """The Chinese name of ``code`` (``"未知"`` for a code we never write)."""
    return NAMES.get(code, UNKNOWN_NAME)


def tally(statuses: Iterable[int]) -> dict[str, int]:
    """A cycle's task counters as SPEC names them: total, completed, failed, cancelled."""
    codes = list(statuses)
    return {"total_tasks": len(codes), "completed_tasks": codes.count(COMPLETED),
            "failed_tasks": sum(code in FAILED for code in codes),
            "cancelled_tasks": codes.count(CANCELLED)}
