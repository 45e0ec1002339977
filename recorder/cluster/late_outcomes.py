"""The clips a dead coordinator's workers were still recording at a takeover, followed to their end.

The takeover reports the orphan cycle at once, those tasks interrupted (recorder/cluster/
takeover.py). Each pass of the new coordinator's loop then reads their outcomes, one round trip
for all of them, never waiting for one; once every one is in, or their deadline (the latest
job's timeout from the takeover) has passed, the cycle's reports are written again with what
came in, and the cycle goes to the camera history. A task that never got an outcome stays
interrupted.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable

from redis.exceptions import RedisError

from recorder.cluster.outage import OUTAGE
from recorder.cluster.takeover import OrphanCycle, read_outcomes
from recorder.reports import write_reports
from shared import task_record
from shared.counts import counted
from shared.errors import PatrolError

log = logging.getLogger(__name__)
READ_SECONDS = 1.0  # how often the missing outcomes are read (a loop step may come sooner)
# Called once a cycle's outcomes are final: its folder name, its report, whether its
# cycle.finished is to be sent (not when its coordinator's clean stop sent it), and what to call
# once the history has committed them (the claim then says reported; never called: it lapses).
Reported = Callable[[str, dict, bool, Callable[[], None]], None]
# Called then too, for its contact sheet: its folder's path and its report.
Sheet = Callable[[str, dict], None]


class LateOutcomes:
    """The orphan cycles whose recording jobs have not all ended yet."""

    def __init__(self, on_reported: Reported = lambda name, report, announce, written: None,
                 on_sheet: Sheet = lambda path, report: None) -> None:
        self.on_reported, self.on_sheet = on_reported, on_sheet
        self.pending: list[OrphanCycle] = []
        self._read = float("-inf")  # monotonic time of the last read

    def follow(self, orphan: OrphanCycle) -> None:
        """Wait for ``orphan``'s recording jobs; none: its report is final now."""
        if orphan.recording:
            self.pending.append(orphan)
        else:
            orphan.retire()
            self._hand_over(orphan, orphan.report(), written=True)

    def step(self, now: float) -> None:
        """Read the outcomes still missing (at most every READ_SECONDS); report each cycle whose
        wait is over. A Redis outage is logged and the read tried again next time; ``now`` = inf
        (a clean stop): every cycle is reported with what came in, Redis away or not."""
        if not self.pending or now - self._read < READ_SECONDS:
            return
        self._read = now
        for orphan in list(self.pending):
            try:
                readings = read_outcomes(orphan.connection, orphan.queue,
                                         list(orphan.recording.values()))
            except RedisError as exc:
                OUTAGE.failed(exc)
                if now != math.inf:  # read again next pass, past the deadline too: an outcome
                    continue         # stored in time must not be lost to an outage
                readings = {}
            _take(orphan, readings)
            if orphan.recording and now < orphan.deadline:
                continue
            self.pending.remove(orphan)
            self._report(orphan)

    def _report(self, orphan: OrphanCycle) -> None:
        report, written = orphan.report(), False
        try:
            write_reports(orphan.path, orphan.report_filename, report)
            orphan.retire()
            written = True
        except PatrolError as exc:
            log.error("cannot write the report of cycle %s again with its late outcomes: %s",
                      orphan.name, exc)
        log.warning("cycle %s left by the dead coordinator: reported again, %s in, %s "
                    "without one left interrupted", orphan.name,
                    counted(orphan.followed - len(orphan.recording), "late outcome"),
                    counted(len(orphan.recording), "task"))
        self._hand_over(orphan, report, written)

    def _hand_over(self, orphan: OrphanCycle, report: dict, written: bool) -> None:
        """``orphan``'s final report to the history (with its cycle.finished), and to its
        contact sheet when it is the report in its folder (``written``); its claim says it is
        reported once the history has committed them (a taker killed before: the claim lapses
        and a later takeover reports the cycle)."""
        self.on_reported(orphan.name, report, orphan.announce, orphan.handed_over)
        if written:
            self.on_sheet(orphan.path, report)


def _take(orphan: OrphanCycle, readings: dict) -> None:
    """Put the outcomes that came in into ``orphan``'s tasks; their jobs are followed no more."""
    ended = {index for index, job in orphan.recording.items()
             if job in readings and readings[job][1] is not None}
    if not ended:
        return
    orphan.status["tasks"] = [
        task_record.with_verdict(task, orphan.held(
            readings[orphan.recording[task["stream_index"]]][1]))
        if task["stream_index"] in ended else task for task in orphan.status["tasks"]]
    for index in ended:
        del orphan.recording[index]
