"""The status file: what the recorder is doing, for the API to show.

Format (JSON object, written atomically by the recorder at least once a second)::

    {
      "version": 1,
      "pid": 1234,
      "heartbeat": 1760165228.5,            # time.time() of the write
      "heartbeat_monotonic": 81234.2,       # time.monotonic(): system-wide on Linux, immune to clock steps
      "scheduler_running": true,            # the scheduler is running cycles
      "start_generation": 3,                # the control file's start_generation last acted on
      "finished_generation": 3,             # the start whose poll_cycles all ran (null if none)
      "start_time": "2025-10-11 14:47:08",  # scheduler start ("" until started)
      "end_time": "",                       # scheduler end ("" while running)
      "current_cycle": 1,                   # 1-based number of the current/last cycle, 0 before any
      "cycle": {                            # the current or last cycle
        "dir": "20251011_144708",           # its folder under the output directory
        "running": true,
        "start_time": "2025-10-11 14:47:08",
        "started_at": 1760165228.0,         # time.time() at its start
        "elapsed_seconds": 25,
        "total_seconds": 60,
        "max_concurrent_streams": 2,        # its plan's cap (for the report of a cycle cut short)
        "end_time": "",                     # once it ended (for its reports, when a full disk
        "interrupted": ""                   # kept them unwritten): its end; why it was cut short
      },
      "stats": {"total_tasks": 2, "completed_tasks": 1, "failed_tasks": 0,
                "cancelled_tasks": 0, "max_concurrent_used": 2},
      "schedule_info": "调度方案: 2个任务\\n任务 0: 0秒开始, 持续 15秒\\n...",
      "tasks": [ {a task's record: shared/task_record.py} ],
      "not_scheduled": [ {"stream_index": 3, "rtsp_url": "rtsp://***@…", "reason": "…"} ],
      "config_error": null,                 # or {"file", "line", "field", "reason", "message"}
      "message": "",                        # why the recorder is idle, when it is; and
                                            # report_problem's message, when there is one
      "report_problem": null,               # or {"cycle", "reason", "message"}: the cycle
                                            # whose reports could not be written (a later
                                            # cycle's written reports clear it), why, and
                                            # the status message's words for it
      "standby": null,                      # cluster mode, another recorder coordinating:
                                            # {"coordinator": its lock's owner "host:pid:id",
                                            #  "since": local time this one began to wait}
      "checks": [ {a task's record, plus "check_id", "camera", "kind" ("check" or "probe"),
                   "requested_at"} ],      # camera checks: the last finished, running, waiting
      "checks_taken": 4                     # the last check request (control file) taken
    }
"""
from __future__ import annotations

import os

from shared.atomic import read_json
from shared.clock import SYSTEM_CLOCK
from shared.timefmt import parse_local

VERSION = 1
# The recorder writes at least once a second; three missed beats mean it is gone.
STALE_AFTER_SECONDS = 5.0
STATS_KEYS = ("total_tasks", "completed_tasks", "failed_tasks", "cancelled_tasks",
              "max_concurrent_used")


def empty_status() -> dict:
    """The status shown when no recorder has ever written one."""
    return {
        "version": VERSION, "pid": None, "heartbeat": None, "heartbeat_monotonic": None,
        "scheduler_running": False, "start_generation": 0, "finished_generation": None,
        "start_time": "", "end_time": "", "current_cycle": 0,
        "cycle": {"dir": "", "running": False, "start_time": "", "started_at": None,
                  "elapsed_seconds": 0, "total_seconds": 0, "max_concurrent_streams": 0},
        "stats": {key: 0 for key in STATS_KEYS},
        "schedule_info": "", "tasks": [], "not_scheduled": [], "config_error": None,
        "message": "", "report_problem": None, "standby": None, "checks": [], "checks_taken": 0,
        "next_cycle_time": "",  # when the next cycle is due, while the scheduler waits for it
    }


def read_status(path: str) -> dict:
    """The last status the recorder wrote, completed with defaults; empty when missing or damaged."""
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return empty_status()
    return status_from(data)


def status_from(data: object) -> dict:
    """A status as the recorder wrote it (a file's, or cluster mode's copy in Redis), completed
    with defaults."""
    status = empty_status()
    if not isinstance(data, dict):
        return status
    for key, default in status.items():
        value = data.get(key, default)
        if isinstance(default, dict) and isinstance(value, dict):
            status[key] = {**default, **value}
        elif default is None or isinstance(value, type(default)):
            status[key] = value
    for key in ("tasks", "checks"):
        if not all(isinstance(task, dict) for task in status[key]):
            status[key] = []
    return status


def report_problem(cycle: str, reason: str, message: str) -> dict:
    """The status's ``report_problem``: the cycle folder whose reports could not be written,
    why (the write's error), and the status message's words for it."""
    return {"cycle": cycle, "reason": reason, "message": message}


def report_problem_in(status: dict) -> dict | None:
    """The status's ``report_problem`` (whichever cycle's), its three keys strings; else None."""
    problem = status.get("report_problem")
    if not (isinstance(problem, dict) and problem.get("cycle")):
        return None
    return {key: str(problem.get(key) or "") for key in ("cycle", "reason", "message")}


def report_problem_of(status: dict, cycle: str) -> dict | None:
    """The status's ``report_problem`` when it is ``cycle``'s (a folder name), else None."""
    problem = report_problem_in(status)
    return problem if problem and cycle and problem["cycle"] == cycle else None


def interrupted_at(status: dict) -> float | None:
    """The best known time a recorder killed after writing ``status`` was cut short: the later of
    its last heartbeat and the latest end of a task or check the status shows (None when it
    shows neither). A killed cycle's report ends then, and so do the history rows of the tasks
    and checks the kill cut short."""
    beat = status.get("heartbeat")
    known = [beat] if isinstance(beat, (int, float)) and not isinstance(beat, bool) else []
    known += [parse_local(record.get("end_time")) for key in ("tasks", "checks")
              for record in status.get(key) or () if isinstance(record, dict)]
    return max((when for when in known if when is not None), default=None)


def is_alive(status: dict, now_monotonic: float | None = None, now_wall: float | None = None) -> bool:
    """True when the recorder's heartbeat is recent."""
    beat = status.get("heartbeat_monotonic")
    if isinstance(beat, (int, float)):
        now = SYSTEM_CLOCK.monotonic() if now_monotonic is None else now_monotonic
        return 0 <= now - beat <= STALE_AFTER_SECONDS
    beat = status.get("heartbeat")
    if isinstance(beat, (int, float)):
        now = SYSTEM_CLOCK.wall() if now_wall is None else now_wall
        return abs(now - beat) <= STALE_AFTER_SECONDS
    return False


def may_still_write(status: dict) -> bool:
    """True while the recorder that wrote ``status`` may still write its cycle folder.

    A fresh heartbeat says so; so does its process still existing with a stale one
    (paused by SIGSTOP, a frozen VM, a loop stuck on slow storage): its ffmpeg
    children and the cycle's report may still write, so the folder is not free.
    """
    if is_alive(status):
        return True
    pid = status.get("pid")
    if status.get("heartbeat") is None or not isinstance(pid, int) or pid <= 0:
        return False  # stopped cleanly (it says so), or never ran
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user (the API need not run as the recorder)
    return True


def completion_rate(stats: dict) -> float:
    """Completed / total, rounded for display (0.0 with no tasks)."""
    total = stats.get("total_tasks") or 0
    return round((stats.get("completed_tasks") or 0) / total, 4) if total else 0.0
