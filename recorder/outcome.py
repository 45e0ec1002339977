"""Classifying how a recording ended, from what really happened (SPEC "Task status codes")."""
from __future__ import annotations

import re
from dataclasses import dataclass

from shared import task_status as st

# A clip is complete when it is within this much of the requested length.
COMPLETE_TOLERANCE_SECONDS = 1.0
CLOCK_WENT_BACK_WARNING = "警告: 摄像机时间戳回跳, 已按收到的媒体时长结束录制"

_UNAVAILABLE = re.compile(r"404 Not Found|454 Session Not Found|\b404\b|\b454\b|"
                          r"no streams|does not contain any stream|"
                          r"Could not find codec parameters|Output file #0 does not contain",
                          re.IGNORECASE)
_CONNECTION = re.compile(r"Connection refused|No route to host|Network is unreachable|"
                         r"Name or service not known|Temporary failure in name resolution|"
                         r"Failed to resolve|401 Unauthorized|403 Forbidden|Connection reset|"
                         r"Invalid data found when processing input|Server returned 4|"
                         r"Server returned 5|method \w+ failed", re.IGNORECASE)
_TIMEOUT = re.compile(r"timed out|Connection timed out|Operation timed out", re.IGNORECASE)
# ffmpeg's lines once it has given up on the camera, its exit to follow: its last connection
# attempt failed, the server refused the stream (OPTIONS, DESCRIBE), its closing reason: ffmpeg
# 5.1 and 6.0 close with "URL: reason", ffmpeg 6.1 and later with "[in#0 @ 0x…] Error opening
# input: reason", "Error opening input file URL." (no reason: the next line gives it) and
# "Error opening input files: reason". ffmpeg 6 may put "in#0/" before "rtsp @" or "tcp @".
# Not one address's attempt (the next is tried), nor a SETUP's 461 (retried over TCP), nor a
# closing "Invalid data found when processing input" (its own I/O timeout, not the camera's).
_NOT_ITS_OWN_TIMEOUT = r"(?!Invalid data found)"
_GAVE_UP = re.compile(r"^(\[(in#\d+/)?tcp @ \w+\] Connection to \S+ failed: |"
                      r"\[(in#\d+/)?rtsp @ \w+\] method (OPTIONS|DESCRIBE) failed: [45]\d\d|"
                      rf"\w+://\S*: {_NOT_ITS_OWN_TIMEOUT}|"
                      rf"(\[in#\d+ @ \w+\] )?Error opening input( files)?: {_NOT_ITS_OWN_TIMEOUT})",
                      re.MULTILINE)


@dataclass(frozen=True)
class Observation:
    """What the task saw: the facts the verdict is drawn from."""

    requested_seconds: int
    recorded_seconds: float
    frames: int
    exit_code: int | None
    stderr: str
    last_line: str
    cancelled: bool = False
    connect_timeout: bool = False  # our watchdog: no connection within connection_timeout
    # ffmpeg ended on its own, the server's answer unseen, no sooner than its own I/O timeout
    # could fire (our watchdog, on time, would have fired first): the connection timed out.
    own_timeout_unanswered: bool = False
    read_timeout: bool = False     # our watchdog: no data for read_timeout while recording
    overstayed: bool = False       # our wall-clock guard ended it
    clock_went_back: bool = False  # our watchdog ended it past its length (-t never fired)
    # With the picture checks, ffmpeg's -t is checked on the decoded keyframes' times
    # only, so it fires up to a keyframe interval late: our watchdog ended it at its
    # length, gracefully (its file is as trustworthy as after -t).
    length_reached: bool = False
    write_failed: str = ""         # the clip could not be written (disk full, folder gone)
    clip_kept: bool = True         # a playable clip was published (False: no file was left)


def full_length(obs: Observation) -> bool:
    """True when media came and ffmpeg counted (about) the requested length of it."""
    return obs.frames > 0 and \
        obs.recorded_seconds >= obs.requested_seconds - COMPLETE_TOLERANCE_SECONDS


def needs_no_probe(obs: Observation) -> bool:
    """True when ffmpeg ended on its own with the full length: its file is kept without a probe.

    Probing would cost as much CPU as the recording itself; any other end is
    probed before its file is kept.
    """
    return ((obs.exit_code == 0 or obs.length_reached) and full_length(obs)
            and not obs.cancelled and not obs.write_failed)


def classify(obs: Observation) -> tuple[int, str]:
    """``(status code, error_message)`` for a finished task."""
    if obs.cancelled:
        return st.CANCELLED, "任务已取消"
    if obs.write_failed:
        return st.RECORDING_ERROR, obs.write_failed
    if full_length(obs):
        if not obs.clip_kept:
            return st.RECORDING_ERROR, "录制文件无法使用"
        return st.COMPLETED, CLOCK_WENT_BACK_WARNING if obs.clock_went_back else ""
    # Our watchdogs fire while ffmpeg is blocked waiting: whatever it said last
    # (often a decoder note from probing) is not why the task ended. Unless it had already
    # given up on the camera and was only starved of CPU before its exit: then its reason is.
    # ffmpeg's own I/O timeout, seen first by a late loop, is a connection timeout as well.
    if ((obs.connect_timeout or obs.own_timeout_unanswered)
            and not _GAVE_UP.search(obs.stderr)):
        return st.TIMEOUT, "连接超时: 服务器未在规定时间内响应"
    if obs.read_timeout:
        return st.TIMEOUT, "读取超时: 长时间未收到数据"
    reason = obs.last_line
    if obs.frames == 0 and obs.recorded_seconds == 0:
        if _UNAVAILABLE.search(obs.stderr):
            return st.STREAM_UNAVAILABLE, reason or "流不可用"
        if _TIMEOUT.search(obs.stderr):
            return st.TIMEOUT, reason
        if _CONNECTION.search(obs.stderr) or obs.exit_code not in (0, None):
            return st.CONNECTION_ERROR, reason or "连接失败"
        return st.STREAM_UNAVAILABLE, reason or "未收到任何媒体数据"
    if _TIMEOUT.search(obs.stderr):
        return st.TIMEOUT, reason
    if obs.overstayed:
        return st.TIMEOUT, reason or "录制超出预定时长, 已强制结束"
    summary = f"媒体流提前结束: 仅录制 {obs.recorded_seconds:.1f}秒 / {obs.requested_seconds}秒"
    return st.RECORDING_ERROR, f"{summary} ({reason})" if reason else summary
