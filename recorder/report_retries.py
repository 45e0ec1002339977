"""A cycle's reports a full disk (or a refused write) kept from being written: written again
on the contact sheets' schedule (recorder/retry_schedule.py), from the report the cycle's end
made; the status's ``report_problem`` goes once they are."""
from __future__ import annotations

from typing import NamedTuple

from recorder.reports import write_reports
from recorder.retry_schedule import RetrySchedule
from recorder.scheduler_state import SchedulerState
from shared.errors import PatrolError


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
            try:
                write_reports(*reports)
            except PatrolError as exc:
                self._schedule.failed(name, reports, str(exc))
                continue
            self._schedule.succeeded(name)
            if state.report_problem is not None and state.report_problem["cycle"] == name:
                state.report_problem = None

    def waiting(self) -> frozenset[str]:
        """The names of the cycle folders whose reports wait (retention leaves them)."""
        return frozenset(self._schedule.waiting())
