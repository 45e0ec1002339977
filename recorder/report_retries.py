"""A cycle's reports a full disk (or a refused write) kept from being written: written again
on the contact sheets' schedule (recorder/retry_schedule.py), from the report the cycle's end
made; the status's ``report_problem`` goes once they are, or once the cycle's folder is gone
(deleted meanwhile: nothing left to report into). A stop tries each once more and names in
the log those still unwritten (a restart writes the last cycle's from its status:
recorder/unwritten_reports.py)."""
from __future__ import annotations

import logging
import os
from typing import NamedTuple

from recorder.reports import write_reports
from recorder.retry_schedule import RetrySchedule
from recorder.scheduler_state import SchedulerState
from shared.errors import PatrolError

log = logging.getLogger(__name__)


class FailedReports(NamedTuple):
    """What to write again: the cycle's folder, its report's file name and the report."""

    cycle_dir: str
    report_filename: str
    report: dict


class ReportRetries:
    """The cycles whose reports wait for another attempt (known by their folder's name)."""

    def __init__(self) -> None:
        self._schedule: RetrySchedule[FailedReports] = RetrySchedule("reports of cycle {}",
                                                                     "written")

    def failed(self, name: str, reports: FailedReports, why: str) -> None:
        """Cycle ``name``'s reports could not be written (``why``): tried again later."""
        self._schedule.failed(name, reports, why)

    def retry(self, now: float, state: SchedulerState) -> None:
        """Write again the reports whose pause is over at the loop's monotonic ``now``; one
        written takes its cycle's ``report_problem`` out of ``state`` (a later cycle's stays)."""
        for name, reports in self._schedule.due(now):
            failure = _attempt(name, reports, state)
            if failure is None:
                self._schedule.succeeded(name)
            elif failure:
                self._schedule.failed(name, reports, failure)
            else:  # nothing left to write into
                self._schedule.forget(name)

    def close(self, state: SchedulerState) -> None:
        """A stop: every report waiting is tried once more, whatever its pause; those still
        unwritten are named in the log (ERROR), their ``report_problem`` left in ``state``."""
        unwritten = []
        for name, reports in self._schedule.take_all():
            failure = _attempt(name, reports, state)
            if failure is None:
                log.info("reports of cycle %s: written at the stop", name)
            elif failure:
                unwritten.append(f"{name} ({failure})")
        if unwritten:
            log.error("reports not written by the stop (a restart writes those of the last "
                      "cycle from its status): %s", ", ".join(unwritten))

    def waiting(self) -> frozenset[str]:
        """The names of the cycle folders whose reports wait (retention leaves them)."""
        return frozenset(self._schedule.waiting())


def _attempt(name: str, reports: FailedReports, state: SchedulerState) -> str | None:
    """One attempt at cycle ``name``'s ``reports``: None when written, why when not, "" when
    its folder is gone (deleted meanwhile): nothing left to try. Written or gone, its
    ``report_problem`` is taken out of ``state``."""
    if not os.path.isdir(reports.cycle_dir):
        log.warning("reports of cycle %s: its folder %s is gone: not written again", name,
                    reports.cycle_dir)
        failure: str | None = ""
    else:
        try:
            write_reports(*reports)
            failure = None
        except PatrolError as exc:
            return str(exc) or type(exc).__name__
    if state.report_problem is not None and state.report_problem["cycle"] == name:
        state.report_problem = None
    return failure
