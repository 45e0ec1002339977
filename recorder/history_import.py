"""``python -m recorder --import-history`` (and recovery): cycle reports on disk into the history, each task once."""
from __future__ import annotations

import json
import logging
import os
import sqlite3

from recorder.finished_task import FinishedTask
from recorder.history_events import RECOVERED_NOTE, enqueue, recovered_cycle_body
from recorder.history_lookup import read_history
from recorder.history_outcomes import CameraStates, write_outcomes
from recorder.history_store import HistoryStore
from shared import settings
from shared import task_status as st
from shared.camera_roster import stream_of_record
from shared.camera_state import camera_id
from shared.config_file import load_config
from shared.counts import counted
from shared.errors import PatrolError
from shared.global_settings import GlobalSettings
from shared.history_schema import history_path
from shared.output_tree import OutputDir, cycle_names_in
from shared.regular_file import open_regular_file
from shared.timefmt import parse_local
from shared.urls import mask_credentials

log = logging.getLogger(__name__)
# A live write keeps sub-second times, a report whole seconds: a task already
# in the history is found within this much of its report's end time.
_SAME_TASK_SECONDS = 1.0


def _finished(cycle: str, start: float | None, record: dict, streams: list[dict],
              live: bool, cycle_end: float | None = None) -> FinishedTask | None:
    """A report's task as a history record; None when it cannot be placed.

    ``live``: a task the recorder finished but did not write (recovery), whose
    camera events are raised as they would have been; the past raises none.
    ``cycle_end``: the end of a task cancelled before it started, which has none of its own
    (a cycle a killed recorder left: 已取消 录制守护进程意外退出), as the cycle's.
    """
    status = record.get("status")
    ended = parse_local(record.get("end_time")) or (cycle_end if status == st.CANCELLED
                                                    else None)
    stream = stream_of_record(record, streams)
    clip = record.get("output_file") or None
    if ended is None or status not in st.FINISHED or (stream is None and clip is None):
        return None
    offset = record.get("planned_offset")
    return FinishedTask(
        camera=camera_id(stream["output_filename"] if stream else os.path.basename(clip)),
        name=stream.get("name", "") if stream else None,
        url=mask_credentials(str(record.get("rtsp_url", ""))),
        alerts=live and stream is not None and stream.get("alerts", True), cycle=cycle,
        ended=ended, status=status, error=str(record.get("error_message") or ""),
        planned_start=start + offset if start is not None and isinstance(offset, (int, float))
        else None, started=parse_local(record.get("start_time")),
        bytes=int(record.get("bytes_received") or 0),
        frames=int(record.get("frames_received") or 0),
        clip_seconds=record.get("progress") if isinstance(record.get("progress"), (int, float))
        else None, clip=clip, quality=_quality(record.get("quality")), from_report=True)


def _quality(value: object) -> dict | None:
    """A report task's ``quality`` object; None when the report has none (written before the
    picture checks) or a damaged one."""
    return value if isinstance(value, dict) else None


def _known(conn: sqlite3.Connection, task: FinishedTask) -> bool:
    return conn.execute(
        "SELECT 1 FROM outcomes WHERE camera = ? AND ended BETWEEN ? AND ? AND cycle = ? LIMIT 1",
        (task.camera, task.ended - _SAME_TASK_SECONDS, task.ended + _SAME_TASK_SECONDS,
         task.cycle)).fetchone() is not None


def not_in_history(config_path: str, tasks: list[FinishedTask]) -> list[FinishedTask]:
    """``tasks`` less those the history already has (as the import tells them); all of them
    when it has no file yet, or cannot be read (logged)."""
    try:
        with read_history(config_path) as conn:
            return tasks if conn is None else [task for task in tasks if not _known(conn, task)]
    except sqlite3.Error as exc:
        log.warning("cannot read the history to leave out what it has: %s", exc)
        return tasks


def has_every_task(config_path: str, folder: str, report_filename: str) -> bool:
    """True when the history has an outcome for each task of the report of the cycle in
    ``folder`` (a cycle that ended before a kill, its last batch committed: nothing to put
    back). Told without the config: a cycle's every task has one outcome of its own."""
    report = read_report(os.path.join(folder, report_filename))
    if report is None:
        return False
    try:
        with read_history(config_path) as conn:
            if conn is None:
                return False
            [(known,)] = conn.execute("SELECT COUNT(*) FROM outcomes WHERE cycle = ? AND "
                                      "kind = 'cycle'", (os.path.basename(folder),)).fetchall()
    except sqlite3.Error as exc:
        log.warning("cannot read the history to leave out what it has: %s", exc)
        return False
    return known >= sum(isinstance(task, dict) for task in report["tasks"])


def read_report(path: str) -> dict | None:
    """The cycle report at ``path``, or None: missing, not valid, or not a regular file (a
    symlink or a FIFO planted at the name is refused at once, never followed or waited on)."""
    try:
        handle, _ = open_regular_file(path)
        with handle:
            report = json.load(handle)
    except (OSError, ValueError):
        return None
    ok = isinstance(report, dict) and isinstance(report.get("tasks"), list)
    return report if ok else None


def report_tasks(name: str, report: dict, streams: list[dict], live: bool) -> list[FinishedTask]:
    """The finished tasks of cycle ``name``'s ``report`` that can be placed, as history records
    (``live``: with their camera events, as :func:`_finished` says)."""
    summary = report.get("summary") if isinstance(report.get("summary"), dict) else {}
    start, end = parse_local(summary.get("start_time")), parse_local(summary.get("end_time"))
    tasks = [_finished(name, start, raw, streams, live, end) for raw in report["tasks"]
             if isinstance(raw, dict)]
    return [task for task in tasks if task is not None]


def recovered_cycle(name: str, report: dict, streams: list[dict], wall: float,
                    note: str = RECOVERED_NOTE) -> tuple[list[FinishedTask], dict]:
    """What a cycle its recorder never ended leaves for the history, from the ``report`` a
    recovery or a cluster takeover (``note``: TAKEOVER_NOTE) wrote: its finished tasks (with
    their camera events) and its ``cycle.finished`` (``recovered``), to be written in one
    transaction, each once (enqueue leaves a recovered cycle.finished the outbox has)."""
    return (report_tasks(name, report, streams, live=True),
            recovered_cycle_body(name, report, wall, note))


def import_history(config_path: str, wall: float) -> dict:
    """Import every cycle report's tasks not yet in the history, oldest first; returns the counts.

    :raises ConfigError: the config cannot be read.
    """
    config = load_config(config_path)
    g = GlobalSettings.from_config(config["global_config"])
    root = settings.resolve_output_dir(g.output_directory, config_path)
    names = _cycle_names(OutputDir(g.output_directory, root, config_path))
    return _import(config_path, config["streams"], g, [(root, name) for name in names],
                   g.report_filename, None, wall)


def import_cycle(config_path: str, folder: str, report_filename: str, wall: float,
                 announce: bool = False) -> dict:
    """The tasks of one cycle's report (``folder``) not yet in the history; returns the counts.

    Recovery's step after a kill -9: the interrupted cycle's outcomes that had not
    been committed yet come back from the report it just wrote, with the camera
    events they raise (the killed recorder had not written those either), and, with
    ``announce`` (the cycle was cut short by the kill), its ``cycle.finished``: in the same
    transaction, so a recovery killed in turn and done again queues it once.

    :raises ConfigError: the config cannot be read.
    """
    config = load_config(config_path)
    g = GlobalSettings.from_config(config["global_config"])
    root, name = os.path.split(folder)
    return _import(config_path, config["streams"], g, [(root, name)], report_filename,
                   g.alerts, wall, announce)


def _import(config_path: str, streams: list[dict], g: GlobalSettings,
            cycles: list[tuple[str, str]], report_filename: str, alerts: dict | None,
            wall: float, announce: bool = False) -> dict:
    """Each cycle's new tasks in one transaction of its own (a task already there is left).

    ``alerts`` None: history only (the past); else the events are queued too, and with
    ``announce`` each cycle's ``cycle.finished`` unless the outbox has it already.
    """
    store, states = HistoryStore(history_path(config_path)), CameraStates()
    counts = {"imported": 0, "already": 0, "unreadable": 0, "failed": 0, "tasks": 0}
    for root, name in cycles:
        report = read_report(os.path.join(root, name, report_filename))
        if report is None:
            counts["unreadable"] += 1
            continue
        tasks, finished = (recovered_cycle(name, report, streams, wall)
                           if announce and alerts is not None
                           else (report_tasks(name, report, streams, alerts is not None), None))
        new: list[FinishedTask] = []

        def work(conn: sqlite3.Connection) -> None:
            new[:] = [task for task in tasks if not _known(conn, task)]
            write_outcomes(conn, states, new, g.offline_after_failures, alerts, wall)
            if finished is not None:  # once: enqueue leaves one the outbox has
                enqueue(conn, finished, alerts, wall)

        written = store.write(work, 0.0, wall)
        states.settle(written)
        counts["failed" if not written else "imported" if new else "already"] += 1
        counts["tasks"] += len(new) if written else 0
    store.close()
    log.info("history import: %s (%s) imported, %d already there, %d without a readable "
             "report, %d failed", counted(counts["imported"], "cycle"),
             counted(counts["tasks"], "task"), counts["already"], counts["unreadable"],
             counts["failed"])
    return counts


def _cycle_names(out: OutputDir) -> list[str]:
    """The cycle folders to import, oldest first (the output tree's one scan)."""
    try:
        return cycle_names_in(out)
    except (OSError, PatrolError) as exc:  # unreadable, or refused by the output rule
        log.error("history import: cannot list %s: %s", out.root, exc)
        return []
