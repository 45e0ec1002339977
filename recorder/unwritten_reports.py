"""At start: the reports the last run could not write (a full disk until its stop, or a restart
before their retry), named by its last status's ``report_problem``. Those of the cycle that
status shows ended are written from it (its tasks as they ended), and retried as the cycle's end
would have when they fail again; those of an earlier cycle (the status no longer has its tasks)
keep the problem while its folder has no reports. A folder deleted meanwhile ends the problem.
An interrupted cycle's are recorder/recovery.py's (it writes them in any case)."""
from __future__ import annotations

import logging
import os

from recorder.recovery import report_place
from recorder.report_retries import FailedReports, ReportRetries
from recorder.reports import ended_report, write_reports
from shared import settings
from shared.config import OTHER_REPORTS
from shared.errors import PatrolError
from shared.global_settings import GlobalSettings
from shared.status_file import report_problem_in
from shared.timefmt import is_cycle_name

log = logging.getLogger(__name__)


def resume_unwritten(old: dict, config: GlobalSettings | None, config_path: str,
                     retries: ReportRetries) -> dict | None:
    """The ``report_problem`` to keep from the last status ``old`` after writing what it can
    of the reports it names (None: none missing now); those that fail again go to
    ``retries``."""
    problem = report_problem_in(old)
    if problem is None or not is_cycle_name(problem["cycle"]):
        return None
    name, cycle = problem["cycle"], old["cycle"]
    shown = cycle.get("dir") == name
    if shown and cycle.get("running"):  # interrupted: reported by the recovery
        return None
    place = report_place(old, config, config_path) if shown else _place(name, config,
                                                                        config_path)
    if place is None:  # where it is not known (no valid config): kept as it was
        return problem
    folder, report_filename = place
    if not os.path.isdir(folder):
        log.warning("reports of cycle %s: its folder %s is gone: no longer missing", name,
                    folder)
        return None
    if all(os.path.isfile(os.path.join(folder, file))
           for file in (report_filename, *OTHER_REPORTS)):
        return None
    if not shown or cycle.get("cluster_queue"):  # a takeover's to report in cluster mode
        log.error("reports of cycle %s are missing (not written by the last run), and the last "
                  "status no longer has its tasks: %s", name, problem["message"])
        return problem
    reports = FailedReports(folder, report_filename, ended_report(old))
    try:
        write_reports(*reports)
    except PatrolError as exc:
        retries.failed(name, reports, str(exc))
        return {**problem, "reason": str(exc)}
    log.warning("reports of cycle %s, not written by the last run, written from its last status",
                name)
    return None


def _place(name: str, config: GlobalSettings | None,
           config_path: str) -> tuple[str, str] | None:
    """The folder of cycle ``name`` in the output folder of ``config`` and its report's file
    name; None without a config."""
    if config is None:
        return None
    root = settings.resolve_output_dir(config.output_directory, config_path)
    return os.path.join(root, name), config.report_filename
