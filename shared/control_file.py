"""The control file: what the API asks of the recorder.

Format (JSON object, written atomically under ``control.json.lock``)::

    {
      "version": 1,
      "scheduler_running": true,     # desired state; survives restarts of both processes
      "start_generation": 3,         # bumped by every accepted POST /api/scheduler/start
      "reload_generation": 7,        # bumped by every successful POST /api/config/reload
      "check_generation": 4,         # the id of the last check requested (POST .../check)
      "checks": [                    # check requests the recorder may not have taken yet
        {"id": 4, "camera": "gate", "probe": false, "requested_at": "2025-10-11 14:47:08"}
      ],
      "changed_at": "2025-10-11 14:47:08",
      "cluster_version": 5           # cluster mode: the cluster's desired state taken last
    }

A check request is taken by the recorder once, in id order: the status file's
``checks_taken`` says up to which id it has taken them, and the API drops
those from ``checks`` when it next writes. Files written before checks existed
(no ``check_generation``, no ``checks``) read as "no check requested".

The recorder remembers the generations it has acted on and reacts when they
change. A missing or unreadable file means "stopped, nothing requested" to a
recorder that starts; one that has read a valid file keeps that state when the
file is deleted or damaged behind its back, and writes it back
(:func:`restore_control`), so the desired state survives such damage.
"""
from __future__ import annotations

import os
from collections.abc import Callable

from shared.atomic import read_json, write_json_atomic
from shared.clock import SYSTEM_CLOCK
from shared import task_status as st
from shared.errors import Conflict
from shared.locks import locked
from shared.timefmt import format_local

VERSION = 1
DEFAULT: dict = {"version": VERSION, "scheduler_running": False, "start_generation": 0,
                 "reload_generation": 0, "check_generation": 0, "checks": [], "changed_at": "",
                 "cluster_version": 0}


def read_control(path: str) -> dict:
    """The current control state; defaults for a missing or damaged file."""
    return load_control(path) or dict(DEFAULT)


def load_control(path: str) -> dict | None:
    """The control state, or None when the file is missing or damaged (not one we wrote)."""
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("scheduler_running"), bool):
        return None
    control = dict(DEFAULT)
    control["scheduler_running"] = data["scheduler_running"]
    for key in ("start_generation", "reload_generation", "check_generation", "cluster_version"):
        value = data.get(key)
        if _count(value):
            control[key] = value
    control["checks"] = [check_request(item) for item in data.get("checks") or []
                         if _is_request(item)] if isinstance(data.get("checks"), list) else []
    if isinstance(data.get("changed_at"), str):
        control["changed_at"] = data["changed_at"]
    return control


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_request(item: object) -> bool:
    return (isinstance(item, dict) and _count(item.get("id"))
            and isinstance(item.get("camera"), str) and bool(item["camera"]))


def check_request(item: dict) -> dict:
    """A check request with exactly its four fields (a valid one: see the module's format)."""
    return {"id": item["id"], "camera": item["camera"], "probe": item.get("probe") is True,
            "requested_at": item.get("requested_at") if isinstance(
                item.get("requested_at"), str) else ""}


def update_control(path: str, change: Callable[[dict], None]) -> dict:
    """Change the control file under its lock; returns the new state. :raises LockTimeout, WriteError:"""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with locked(path):
        control = read_control(path)
        change(control)
        control["changed_at"] = format_local(SYSTEM_CLOCK.wall())
        write_json_atomic(path, control)
        return control


def restore_control(path: str, state: dict) -> bool:
    """Write ``state`` back if the file is (still, under its lock) missing or damaged.

    Returns True when it wrote. :raises LockTimeout, WriteError:
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with locked(path):
        if load_control(path) is not None:
            return False  # the API wrote a new state meanwhile: that one counts
        changed_at = format_local(SYSTEM_CLOCK.wall())
        write_json_atomic(path, {**DEFAULT, **state, "changed_at": changed_at})
        return True


def request_start(path: str, status: dict) -> dict:
    """Desire the scheduler running, as a fresh start (:func:`start_change`).

    :raises Conflict: the scheduler is already running (or about to).
    """
    return update_control(path, start_change(status))


def start_change(status: dict) -> Callable[[dict], None]:
    """The change of a desired state (control.json's, or the cluster's) that asks a fresh start.

    ``status`` is the recorder's last status: a start it has not picked up yet
    counts as running too, so two quick starts do not restart it twice.
    The change raises :class:`Conflict`: the scheduler is already running (or about to).
    """
    def change(control: dict) -> None:
        pending = status.get("start_generation", 0) < control["start_generation"]
        if control["scheduler_running"] and (status.get("scheduler_running") or pending):
            raise Conflict("调度器已经在运行中")
        control["scheduler_running"] = True
        # A file rebuilt from the defaults (deleted, damaged) counts from 0 again; the
        # recorder reacts to a generation other than the one it acted on, so go past that.
        acted_on = status.get("start_generation", 0)
        acted_on = acted_on if isinstance(acted_on, int) else 0
        control["start_generation"] = max(control["start_generation"], acted_on) + 1
    return change


def request_stop(path: str) -> dict:
    """Desire the scheduler stopped."""
    return update_control(path, stop_change)


def stop_change(control: dict) -> None:
    """The change of a desired state that asks the scheduler stopped."""
    control["scheduler_running"] = False


def request_reload(path: str) -> dict:
    """Ask the recorder to re-read config.json."""
    def change(control: dict) -> None:
        control["reload_generation"] += 1
    return update_control(path, change)


def _taken(status: dict) -> int:
    """Up to which request id the recorder of ``status`` has taken the checks."""
    taken = status.get("checks_taken", 0)
    return taken if _count(taken) else 0


def being_checked(control: dict, status: dict) -> set[str]:
    """The cameras with a check requested in ``control`` and not yet taken by the recorder of
    ``status``, or running there."""
    taken = _taken(status)
    running = {check.get("camera") for check in status.get("checks", [])
               if isinstance(check, dict) and check.get("status") not in st.FINISHED}
    return running | {item["camera"] for item in control["checks"] if item["id"] > taken}


def request_check(path: str, status: dict, camera: str, probe: bool) -> dict:
    """Ask the recorder to check ``camera`` now (``probe``: connect and read only); the request.

    ``status`` is the recorder's last status: requests up to its ``checks_taken``
    are dropped, and a camera with a request pending or a check running there is refused.

    :raises Conflict: that camera is being checked already.
    """
    taken = _taken(status)
    made: list[dict] = []

    def change(control: dict) -> None:
        pending = [item for item in control["checks"] if item["id"] > taken]
        if camera in being_checked(control, status):
            raise Conflict(f"摄像头 {camera} 正在检查中")
        control["check_generation"] = max(control["check_generation"], taken) + 1
        made.append({"id": control["check_generation"], "camera": camera, "probe": probe,
                     "requested_at": format_local(SYSTEM_CLOCK.wall())})
        control["checks"] = pending + made
    update_control(path, change)
    return made[0]
