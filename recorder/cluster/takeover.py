"""A coordinator that takes the lock reports the cycle its dead predecessor left unreported.

The predecessor's last status is in Redis (lead.py mirrors it for a minute); a coordinator
restarted on its own state folder also has its own from before (recovery leaves such a cycle,
the workers', to this). Its tasks that ended on a worker get their outcome; the rest are
reported as single-box recovery reports an interrupted cycle's (cancelled, 录制守护进程意外退出,
任务中断), and their jobs still queued are cancelled: nobody would read them. The report is
written at once, so one exists even if this coordinator dies too.
A job a worker is still recording ends its clip later: the :class:`OrphanCycle` returned names
those jobs, and recorder/cluster/late_outcomes.py writes the report again with their outcomes
once they are in (or their timeout has passed), then hands it to the camera history.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from redis import Redis
from redis.exceptions import RedisError
from rq.job import JobStatus

from recorder.cluster import cycle_claim, link
from recorder.cluster.outage import OUTAGE
from recorder.picture_check import outcome_held_to_reference
from recorder.reports import (recovered_report, with_known_verdicts, write_reports,
                              written_rows)
from shared import task_record
from shared import task_status as st
from shared.cluster_status import status_key
from shared.counts import counted
from shared.errors import PatrolError
from shared.global_settings import GlobalSettings
from shared.status_file import status_from

log = logging.getLogger(__name__)
_WAITING = {status.value for status in link.WAITING}  # as read_tasks gives them
_STARTED = JobStatus.STARTED.value
# A worker's stored outcome as the coordinator takes it in (its picture held against the
# camera's reference, as every outcome a coordinator follows: recorder/picture_check.py).
Holding = Callable[[dict], dict]


def _as_stored(outcome: dict) -> dict:
    return outcome


def _nothing() -> None:
    pass


@dataclass
class OrphanCycle:
    """A dead coordinator's cycle, reported at a takeover, and its jobs a worker still records."""

    connection: Redis
    queue: str
    status: dict  # its last status, each task as reported
    path: str
    report_filename: str
    configured_max: int
    recording: dict[int, str]  # stream index -> job: started on a worker, no outcome yet
    deadline: float  # monotonic: a job without an outcome by then stays interrupted
    held: Holding  # what the coordinator makes of a late outcome
    owner: str = ""  # the taker's lock owner, its claim on the cycle's reports
    announce: bool = True  # its cycle.finished is the taker's to send (none was sent)
    followed: int = field(init=False)  # how many jobs were recording at the takeover

    def __post_init__(self) -> None:
        self.followed = len(self.recording)

    @property
    def name(self) -> str:
        """The cycle's folder name."""
        return self.status["cycle"]["dir"]

    def report(self) -> dict:
        """The cycle's report as its tasks stand (unfinished ones interrupted)."""
        return recovered_report(self.status, [], self.configured_max)

    def retire(self) -> None:
        """Its report is final: what its jobs left in Redis goes soon (:func:`link.retire`);
        with Redis away it stays its day."""
        jobs = [link.job_id(self.queue, self.name, task["stream_index"])
                for task in self.status["tasks"]]
        try:
            link.retire(self.connection, self.queue, jobs)
        except RedisError as exc:
            OUTAGE.failed(exc)

    def handed_over(self) -> None:
        """Its final report is in the history, its cycle.finished sent: no later takeover (this
        one dead, the coordinator back) reports it again (recorder/cluster/cycle_claim.py)."""
        cycle_claim.settle_or_note(self.connection, self.queue, self.name, self.owner,
                                   cycle_claim.REPORTED)


def left_statuses(connection: Redis, queue: str, left: dict | None = None) -> list[dict]:
    """The statuses a new coordinator takes over from: the last coordinator's (mirrored in
    Redis) and ``left``, this recorder's own from before it was restarted (recovery leaves a
    cluster cycle to the takeover; the mirror is gone STATUS_TTL_SECONDS after its coordinator
    died, or with a Redis restart). Empty with Redis away (logged)."""
    try:
        raw = connection.get(status_key(queue))
    except RedisError as exc:
        OUTAGE.failed(exc)
        return []
    statuses = [status_from(json.loads(raw))] if raw else []
    if left is not None and all(old["cycle"].get("dir") != left["cycle"].get("dir")
                                for old in statuses):
        statuses.append(left)
    return statuses


def report_orphan_cycles(connection: Redis, queue: str, settings: GlobalSettings, now: float,
                         statuses: list[dict], references_dir: str | None,
                         keep: Callable[[], None],
                         owner: str) -> tuple[list[OrphanCycle], list[dict]]:
    """Write the reports of the cycles ``statuses`` (:func:`left_statuses`) show running without
    one; each outcome its workers stored held against the camera's reference picture in
    ``references_dir`` (None: not held), as the dead coordinator would have.

    ``keep()`` is called before each task is settled (a thumbnail read on the shared mount, a
    queued job cancelled) and before each report is written: it keeps the coordinator's lock,
    or raises to stop the takeover (coordinator_lock.LockLost). ``owner``: the taker's lock
    owner, its claim on the reports (recorder/cluster/cycle_claim.py: a coordinator that came
    back and is reporting its cycle keeps it). Returns those cycles (``now``, monotonic, starts
    the wait for their jobs a worker still records), and the statuses to try again later: their
    coordinator is writing the reports (it may die doing so), Redis was away, or the report
    could not be written.
    """
    orphans, again = [], []
    for old in statuses:
        orphan = _report_orphan(connection, queue, settings, now, old, references_dir, keep,
                                owner)
        if orphan is _AGAIN:
            again.append(old)
        elif orphan is not None:
            orphans.append(orphan)
    return orphans, again


_AGAIN = object()  # _report_orphan: not reported now, to be tried again


def _report_orphan(connection: Redis, queue: str, settings: GlobalSettings, now: float,
                   old: dict, references_dir: str | None,
                   keep: Callable[[], None], owner: str):
    """Report the cycle ``old`` shows running, if it has no report yet: its OrphanCycle; None:
    it has one, or its coordinator wrote it; _AGAIN: to be tried again."""
    cycle = old["cycle"]

    def held(outcome: dict) -> dict:
        return outcome_held_to_reference(outcome, cycle["path"], references_dir,
                                         settings.quality)
    try:
        reported = _unreported(cycle, settings)
        if reported is None:
            return None
        take = cycle_claim.claim_takeover(connection, queue, cycle["dir"], owner)
    except RedisError as exc:
        OUTAGE.failed(exc)
        return _AGAIN
    if take is cycle_claim.Take.OWN:
        return None
    if take not in (cycle_claim.Take.TAKEN, cycle_claim.Take.LEFT):
        log.warning("cycle %s not taken over: its coordinator %s", cycle["dir"],
                    "is writing its reports (tried again)" if take is cycle_claim.Take.BUSY
                    else "wrote its reports")
        return _AGAIN if take is cycle_claim.Take.BUSY else None
    try:
        orphan = _settled_orphan(connection, queue, settings, now, old, reported, held, keep)
        if orphan is not None:
            orphan.owner, orphan.announce = owner, take is cycle_claim.Take.TAKEN
    except Exception:  # the lock lost meanwhile (LockLost), or anything unforeseen
        cycle_claim.settle_or_note(connection, queue, cycle["dir"], owner, "")  # let go
        raise
    if orphan is None:  # not reported: its claim let go, for the coordinator back or a retry
        cycle_claim.settle_or_note(connection, queue, cycle["dir"], owner, "")
        return _AGAIN
    tasks = orphan.status["tasks"]
    log.warning("took over from a dead coordinator: reported its cycle %s (%s, %d ended, "
                "%d still recording)", cycle["dir"], counted(len(tasks), "task"),
                sum(t["status"] in st.FINISHED for t in tasks), len(orphan.recording))
    return orphan


def _settled_orphan(connection: Redis, queue: str, settings: GlobalSettings, now: float,
                    old: dict, reported: list, held: Holding,
                    keep: Callable[[], None]) -> OrphanCycle | None:
    """The cycle ``old`` with what its workers stored, its report written; None: Redis away,
    or the report could not be written."""
    cycle = old["cycle"]
    try:
        tasks, recording = settle(connection, queue, cycle["dir"],
                                  with_known_verdicts(old["tasks"], reported), held, keep)
        timeouts = link.job_timeouts(connection, list(recording.values())) if recording else {}
    except RedisError as exc:
        OUTAGE.failed(exc)
        return None
    orphan = OrphanCycle(connection, queue, {**old, "tasks": tasks}, cycle["path"],
                         cycle.get("report_filename") or settings.report_filename,
                         settings.max_concurrent_streams, recording,
                         now + max((t or 0 for t in timeouts.values()), default=0), held)
    keep()
    try:
        write_reports(orphan.path, orphan.report_filename, orphan.report())
    except PatrolError as exc:
        log.error("cannot write the report of cycle %s left by the last coordinator: %s",
                  cycle["dir"], exc)
        return None
    return orphan


def _unreported(cycle: dict, settings: GlobalSettings) -> list | None:
    """The cycle ``cycle`` shows running has no report (``[]``), or only an interrupted one (a
    restarted coordinator's recovery, a takeover's: its task rows): settled again with what is
    in now. None: it has a whole report, or one we cannot read (left as it is)."""
    path = str(cycle.get("path") or "")
    report_filename = cycle.get("report_filename") or settings.report_filename
    if not (cycle.get("running") and cycle.get("dir") and os.path.isdir(path)):
        return None
    if not os.path.exists(os.path.join(path, report_filename)):
        return []
    summary, rows = written_rows(path, report_filename)
    return rows if summary is not None and summary.get("interrupted") else None


def settle(connection: Redis, queue: str, cycle_name: str, tasks: list[dict],
           held: Holding = _as_stored, keep: Callable[[], None] = _nothing
           ) -> tuple[list[dict], dict[int, str]]:
    """``tasks`` with the outcomes their workers stored (each as ``held`` takes it in), the jobs
    still queued cancelled; and the jobs a worker is still recording (RQ's status started, no
    outcome yet) by stream index. ``keep()`` before each task (:func:`report_orphan_cycles`).

    Read in one round trip per link.BATCH tasks, not one per task: a takeover of a cycle of
    tens of thousands of tasks must not outlast the lock it just took.
    """
    open_jobs = {task["stream_index"]: link.job_id(queue, cycle_name, task["stream_index"])
                 for task in tasks if task["status"] not in st.FINISHED}
    readings = read_outcomes(connection, queue, list(open_jobs.values()))
    recording = {index: job for index, job in open_jobs.items()
                 if readings[job][1] is None and readings[job][2] == _STARTED}
    settled = []
    for task in tasks:
        keep()
        settled.append(_settled(connection, task, open_jobs.get(task["stream_index"]), readings,
                                held))
    return settled, recording


def read_outcomes(connection: Redis, queue: str, jobs: list[str]) -> dict:
    """:func:`link.read_tasks` of ``jobs``, link.BATCH a round trip."""
    readings: dict = {}
    for start in range(0, len(jobs), link.BATCH):
        readings.update(link.read_tasks(connection, queue, jobs[start:start + link.BATCH]))
    return readings


def _settled(connection: Redis, task: dict, job: str | None, readings: dict,
             held: Holding) -> dict:
    """``task`` with its job's outcome; its job cancelled when still queued."""
    if job is None:
        return task
    _, outcome, status = readings[job]
    if outcome is None:
        if status in _WAITING:  # taken by no worker yet: nobody would read its outcome
            link.cancel_queued(connection, job)
        return task
    return task_record.with_verdict(task, held(outcome))
