"""The control file: what the API asks of the recorder.

Format (JSON object, written atomically under ``control.json.lock``)::

    {
      "version": 1,
      "scheduler_running": true,     # desired state; survives restarts of both processes
      "start_generation": 3,         # bumped by every accepted POST /api/scheduler/start
      "reload_generation": 7,        # bumped by every successful POST /api/config/reload
      "changed_at": "2025-10-11 14:47:08"
    }

The recorder remembers the generations it has acted on and reacts when they
change. A missing or unreadable file means "stopped, nothing requested".
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable

from shared.atomic import read_json, write_json_atomic
from shared.errors import Conflict
from shared.locks import locked
from shared.timefmt import format_local

VERSION = 1
DEFAULT: dict = {"version": VERSION, "scheduler_running": False, "start_generation": 0,
                 "reload_generation": 0, "changed_at": ""}


def read_control(path: str) -> dict:
    """The current control state; defaults for a missing or damaged file."""
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return dict(DEFAULT)
    if not isinstance(data, dict):
        return dict(DEFAULT)
    control = dict(DEFAULT)
    if isinstance(data.get("scheduler_running"), bool):
        control["scheduler_running"] = data["scheduler_running"]
    for key in ("start_generation", "reload_generation"):
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            control[key] = value
    if isinstance(data.get("changed_at"), str):
        control["changed_at"] = data["changed_at"]
    return control


def update_control(path: str, change: Callable[[dict], None]) -> dict:
    """Change the control file under its lock; returns the new state. :raises LockTimeout, WriteError:"""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with locked(path):
        control = read_control(path)
        change(control)
        control["changed_at"] = format_local(time.time())
        write_json_atomic(path, control)
        return control


def request_start(path: str, status: dict) -> dict:
    """Desire the scheduler running, as a fresh start.

    ``status`` is the recorder's last status: a start it has not picked up yet
    counts as running too, so two quick starts do not restart it twice.

    :raises Conflict: the scheduler is already running (or about to).
    """
    def change(control: dict) -> None:
        pending = status.get("start_generation", 0) < control["start_generation"]
        if control["scheduler_running"] and (status.get("scheduler_running") or pending):
            raise Conflict("调度器已经在运行中")
        control["scheduler_running"] = True
        control["start_generation"] += 1
    return update_control(path, change)


def request_stop(path: str) -> dict:
    """Desire the scheduler stopped."""
    return update_control(path, lambda control: control.update(scheduler_running=False))


def request_reload(path: str) -> dict:
    """Ask the recorder to re-read config.json."""
    def change(control: dict) -> None:
        control["reload_generation"] += 1
    return update_control(path, change)
