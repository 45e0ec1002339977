"""The status file's content, built from the daemon's parts (format in shared/status_file.py)."""
from __future__ import annotations

import os

from recorder.checks import Checks
from recorder.cycle import Cycle
from recorder.scheduler_state import SchedulerState
from shared.cluster_config import cluster_queue
from shared.errors import ConfigError
from shared.status_file import empty_status
from shared.timefmt import format_local


def build_status(state: SchedulerState, start_generation: int, config_error: ConfigError | None,
                 running: Cycle | None, last: Cycle | None, now: float, wall: float,
                 checks: list[dict] | None = None, checks_taken: int = 0) -> dict:
    """What the status file shows now: the running cycle, else the last one; the checks."""
    status = empty_status()
    status.update({
        "pid": os.getpid(), "heartbeat": wall, "heartbeat_monotonic": now,
        "scheduler_running": state.running, "start_generation": start_generation,
        "finished_generation": state.finished_generation,
        "start_time": format_local(state.start_wall),
        "end_time": format_local(state.end_wall) if not state.running else "",
        "current_cycle": state.last_cycle_number,
        "config_error": config_error.to_dict() if config_error else None,
        "message": state.status_message, "report_problem": state.report_problem,
        "standby": state.standby_now(),
        "checks": checks or [], "checks_taken": checks_taken,
        # Only during the pause after a cycle: a retry's time (a standby, a disk below its
        # floor, no valid config) would say "now" each second while the message says why.
        "next_cycle_time": (state.next_cycle_time(now, wall) if state.running and running is None
                            and state.paused_from is not None else ""),
    })
    cycle = running or last
    if cycle is not None:
        status.update(_cycle_fields(cycle, cycle is running, now, wall))
    return status


def _cycle_fields(cycle: Cycle, running: bool, now: float, wall: float) -> dict:
    elapsed = (now - cycle.started) if running else ((cycle.end_wall or wall) - cycle.start_wall)
    view = {"dir": cycle.name, "running": running, "start_time": format_local(cycle.start_wall),
            "started_at": cycle.start_wall, "elapsed_seconds": int(max(0, elapsed)),
            "total_seconds": cycle.plan.window,
            # What a restarted recorder needs to finish this cycle without a valid config.
            "path": cycle.dir, "report_filename": cycle.settings.report_filename,
            "max_concurrent_streams": cycle.plan.max_concurrent,
            # ... and to write the reports of one that ended without them (a full disk until
            # its stop): recorder/unwritten_reports.py.
            "end_time": format_local(cycle.end_wall) if not running else "",
            "interrupted": cycle.interrupted,
            # Cluster mode: the workers record this cycle; a restarted recorder leaves its
            # files to them and its final report to the takeover (recorder/recovery.py).
            "cluster_queue": cluster_queue(cycle.config)}
    return {"current_cycle": cycle.number, "cycle": view, "stats": cycle.stats(),
            "tasks": [t.as_dict() for t in cycle.tasks], "schedule_info": cycle.plan.describe(),
            "not_scheduled": cycle.not_scheduled()}


def fingerprint(state: SchedulerState, config_error: ConfigError | None,
                cycle: Cycle | None, checks: Checks) -> tuple:
    """What, when it changes, is worth publishing before the next heartbeat."""
    return (state.running, state.status_message, state.standby_now(), bool(config_error),
            state.next_cycle_at,
            tuple(t.status for t in cycle.tasks) if cycle else (),
            tuple(check["status"] for check in checks.records()))
