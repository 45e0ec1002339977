"""A coordinator that takes the lock reports the cycle its dead predecessor left unreported.

The predecessor's last status is in Redis (lead.py mirrors it). Its tasks that ended on a worker
get their outcome; the rest are reported as single-box recovery reports an interrupted cycle's
(cancelled, 录制守护进程中断), and their jobs still queued are cancelled: nobody would read them.
A job a worker is recording still ends its clip; the report was written without it.
"""
from __future__ import annotations

import json
import logging
import os

from redis import Redis
from redis.exceptions import RedisError

from recorder.cluster import link
from recorder.cluster.outage import OUTAGE
from recorder.reports import recovered_report, write_reports
from shared import task_record
from shared import task_status as st
from shared.cluster_status import status_key
from shared.errors import PatrolError
from shared.global_settings import GlobalSettings
from shared.status_file import status_from

log = logging.getLogger(__name__)
# Tasks read per round trip at a takeover (two commands each).
SETTLE_BATCH = 1000
_WAITING = {status.value for status in link.WAITING}  # as read_tasks gives them


def report_orphan_cycle(connection: Redis, queue: str, settings: GlobalSettings) -> None:
    """Write the reports of the cycle the last coordinator's status shows running, if it has none."""
    try:
        raw = connection.get(status_key(queue))
        old = status_from(json.loads(raw)) if raw else None
        if old is None or not _unreported(old["cycle"], settings):
            return
        tasks = settled(connection, queue, old["cycle"]["dir"], old["tasks"])
    except RedisError as exc:
        OUTAGE.failed(exc)
        return
    cycle = old["cycle"]
    try:
        write_reports(cycle["path"], cycle.get("report_filename") or settings.report_filename,
                      recovered_report({**old, "tasks": tasks}, [],
                                       settings.max_concurrent_streams))
    except PatrolError as exc:
        log.error("cannot write the report of cycle %s left by the last coordinator: %s",
                  cycle["dir"], exc)
        return
    log.warning("took over from a dead coordinator: reported its cycle %s (%d tasks, %d ended)",
                cycle["dir"], len(tasks), sum(t["status"] in st.FINISHED for t in tasks))


def _unreported(cycle: dict, settings: GlobalSettings) -> bool:
    path = str(cycle.get("path") or "")
    report = os.path.join(path, cycle.get("report_filename") or settings.report_filename)
    return bool(cycle.get("running") and cycle.get("dir") and os.path.isdir(path)
                and not os.path.exists(report))


def settled(connection: Redis, queue: str, cycle_name: str, tasks: list[dict]) -> list[dict]:
    """``tasks`` with the outcomes their workers stored; the jobs still queued cancelled.

    Read in one round trip per SETTLE_BATCH tasks, not one per task: a takeover of a cycle of
    tens of thousands of tasks must not outlast the lock it just took.
    """
    open_jobs = {task["stream_index"]: link.job_id(queue, cycle_name, task["stream_index"])
                 for task in tasks if task["status"] not in st.FINISHED}
    jobs = list(open_jobs.values())
    readings: dict = {}
    for start in range(0, len(jobs), SETTLE_BATCH):
        readings.update(link.read_tasks(connection, queue, jobs[start:start + SETTLE_BATCH]))
    return [_settled(connection, task, open_jobs.get(task["stream_index"]), readings)
            for task in tasks]


def _settled(connection: Redis, task: dict, job: str | None, readings: dict) -> dict:
    """``task`` with its job's outcome; its job cancelled when still queued."""
    if job is None:
        return task
    _, outcome, status = readings[job]
    if outcome is None:
        if status in _WAITING:  # taken by no worker yet: nobody would read its outcome
            link.cancel_queued(connection, job)
        return task
    ours = {name: task.get(name) for name in ("task_id", "stream_index", "rtsp_url",
                                              "duration_seconds", "planned_offset",
                                              "start_offset")}
    return task_record.from_stored({**outcome, **ours})
