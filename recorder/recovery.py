"""At start: finish what a killed predecessor left, its interrupted cycle's clips, report and history."""
from __future__ import annotations

import logging
import os

from recorder.clip_files import recover_work_files
from recorder.held_recoveries import HeldCycle, held_path, hold
from recorder.history_import import has_every_task, import_cycle
from recorder.processes import ProcessRunner
from recorder.reports import (INTERRUPTED, build_report, recovered_report,
                              with_known_verdicts, write_reports, written_rows)
from shared import settings
from shared.config import GLOBAL_DEFAULTS
from shared.counts import counted
from shared.errors import ConfigError, PatrolError
from shared.global_settings import GlobalSettings
from shared.output_tree import OutputDir, cycle_names_in
from shared.status_file import report_problem
from shared.timefmt import cycle_order

log = logging.getLogger(__name__)


def recover_cycles(old: dict, config: GlobalSettings | None, config_path: str,
                   runner: ProcessRunner, wall: float,
                   queue: str = "") -> tuple[dict | None, int]:
    """Finish what a killed recorder left: the cycle its status shows, and one made after it.

    ``queue``: the cluster queue of the config now ("" in single-box mode); a cycle that ran
    on it is the workers' to finish and the takeover's to report, not this recovery's.

    Returns why a report could not be written (a status ``report_problem``, None when none
    failed) and the number of the last cycle (numbers keep growing across restarts). Runs
    before the recorder's own history writes (their cached camera states are read after it).
    """
    number = int(old.get("current_cycle") or 0)
    problem = recover_interrupted_cycle(old, config, config_path, runner, wall, queue)
    recover_finished_cycle_history(old, config, config_path, wall)
    # Cluster mode: the output folder is shared, and a cycle folder without a report there may
    # be another coordinator's live cycle (this recorder a standby, or restarted after a
    # takeover): it is not this recovery's.
    if not queue and recover_unpublished_cycle(old["cycle"].get("dir") or "", number + 1, config,
                                               config_path, runner, wall):
        number += 1
    return problem, number


def left_to_takeover(old: dict, queue: str) -> bool:
    """True when the cycle ``old`` shows running was recorded by the cluster workers of
    ``queue``: they may still be writing its clips, and the outcomes are theirs, in Redis, so
    its files are theirs and its final report and history the coordinator's that takes the
    lock (recorder/cluster/takeover.py). A cycle of a queue the config names no more is
    recovered as a single-box one."""
    cycle = old["cycle"]
    return bool(queue and cycle.get("running") and cycle.get("dir")
                and cycle.get("cluster_queue") == queue)


def recover_interrupted_cycle(old: dict, config: GlobalSettings | None, config_path: str,
                              runner: ProcessRunner, wall: float,
                              queue: str = "") -> dict | None:
    """Publish the partial clips of the cycle ``old`` (the last status) shows running, report
    it, and put the report's finished tasks into the history (those not there yet).

    A cycle the cluster workers of ``queue`` recorded (:func:`left_to_takeover`) is only
    reported, its unfinished tasks interrupted and its files untouched (workers may still
    write them): so it has a report even if no takeover ever follows; the takeover writes it
    again with their outcomes and feeds the history.

    Works without a valid config too: the status names the cycle's folder and report file.
    Returns why its report could not be written (a status ``report_problem``; None when it
    was, or there was nothing to do).
    """
    cycle = old["cycle"]
    if not (cycle.get("running") and cycle.get("dir")):
        return None
    cycle_dir = cycle_folder(cycle, old["tasks"], config, config_path)
    if cycle_dir is None or not os.path.isdir(cycle_dir):
        return None
    workers = left_to_takeover(old, queue)
    published = [] if workers else recover_work_files(runner, cycle_dir)
    report_filename = cycle.get("report_filename") or (
        config.report_filename if config else GLOBAL_DEFAULTS["report_filename"])
    problem = None
    try:
        configured_max = (config.max_concurrent_streams if config
                          else GLOBAL_DEFAULTS["max_concurrent_streams"])
        if workers:  # a takeover may have reported it whole since: never undone
            old = {**old, "tasks": with_known_verdicts(
                old["tasks"], written_rows(cycle_dir, report_filename)[1])}
        write_reports(cycle_dir, report_filename,
                      recovered_report(old, published, configured_max))
        if not workers:  # with its cycle.finished, which the killed recorder never sent
            _into_history(config_path, cycle_dir, report_filename, wall, announce=True)
    except PatrolError as exc:
        problem = report_problem(cycle["dir"], str(exc),
                                 f"中断的巡检 {cycle['dir']} 报告写入失败: {exc}")
        log.error("cannot write the report of interrupted cycle %s: %s", cycle["dir"], exc)
    if workers:
        log.warning("interrupted cycle %s was recorded by the cluster's workers (queue %s): "
                    "reported interrupted, its clips left to them; the coordinator that takes "
                    "the lock reports it again with their outcomes", cycle["dir"], queue)
    else:
        log.warning("recovered interrupted cycle %s: %s kept", cycle["dir"],
                    counted(len(published), "partial clip"))
    return problem


def recover_finished_cycle_history(old: dict, config: GlobalSettings | None, config_path: str,
                                   wall: float) -> None:
    """The last cycle ``old`` shows finished: its report's tasks not in the history yet.

    A kill in the moment between its report and the history's last write of it
    (handed over in the same step) would lose them otherwise.
    """
    cycle = old["cycle"]
    if cycle.get("running") or not cycle.get("dir"):
        return
    place = report_place(old, config, config_path)
    # Ended before the kill (in the pause), its outcomes all written: nothing to put back, and
    # nothing to hold for a valid config when there is none (the cycle was not interrupted).
    if place is not None and os.path.isdir(place[0]) \
            and not has_every_task(config_path, *place):
        _into_history(config_path, *place, wall)


def report_place(old: dict, config: GlobalSettings | None,
                 config_path: str) -> tuple[str, str] | None:
    """The folder of the cycle of the last status ``old`` and its report's file name; None
    when either is unknown."""
    cycle = old["cycle"]
    cycle_dir = cycle_folder(cycle, old["tasks"], config, config_path)
    report_filename = cycle.get("report_filename") or (config.report_filename if config else "")
    return (cycle_dir, report_filename) if cycle_dir is not None and report_filename else None


def _into_history(config_path: str, cycle_dir: str, report_filename: str, wall: float,
                  announce: bool = False) -> None:
    # The history commits outcomes in batches (recorder/history_writer.py): a kill -9
    # loses the last one. The report just written has them; the import adds each
    # task not in the history yet, so a second recovery or --import-history adds none.
    try:
        import_cycle(config_path, cycle_dir, report_filename, wall, announce)
    except ConfigError as exc:  # the cameras and alert receivers are the config's: held
        hold(config_path, HeldCycle(cycle_dir, report_filename, announce))
        if announce:  # an interrupted cycle
            log.error("no valid config at the restart (%s): the tasks of cycle %s's report and "
                      "its cycle.finished are held in %s and go out once a valid config is "
                      "loaded", exc.message, os.path.basename(cycle_dir), held_path(config_path))
        else:  # killed in the moment between its end and the history's last write of it
            log.warning("no valid config at the restart (%s): cycle %s ended before the kill, "
                        "some of its tasks not in the history yet: noted in %s, they go in "
                        "once a valid config is loaded", exc.message,
                        os.path.basename(cycle_dir), held_path(config_path))
    except PatrolError as exc:
        log.error("cannot put the tasks of cycle %s's report into the history: %s",
                  os.path.basename(cycle_dir), exc)


def cycle_folder(cycle: dict, tasks: list[dict], config: GlobalSettings | None,
                 config_path: str) -> str | None:
    """Where the cycle of a status (its ``cycle`` and ``tasks``) wrote; None when unknown."""
    # An output_directory changed in the config meanwhile applies to later cycles only.
    # Only a folder of that cycle's name.
    name = cycle["dir"]
    path = str(cycle.get("path") or "")
    if path and os.path.basename(path) == name:
        return path
    for task in tasks:
        written = os.path.dirname(str(task.get("output_file") or ""))
        if written and os.path.basename(written) == name:
            return settings.resolve_output_dir(written, config_path)
    if config is None:
        return None
    root = settings.resolve_output_dir(config.output_directory, config_path)
    return os.path.join(root, name)


def recover_unpublished_cycle(last_dir: str, number: int, config: GlobalSettings | None,
                              config_path: str, runner: ProcessRunner, wall: float) -> bool:
    """Report a cycle folder made after the last status write (a kill between the two).

    The status names no task of it, so its report lists none; the clips its work
    files hold are kept. It sends its ``cycle.finished`` as an interrupted cycle does (its
    counts all 0). True when there was such a folder (it took ``number``).
    """
    if config is None:
        return False
    root = settings.resolve_output_dir(config.output_directory, config_path)
    try:
        names = cycle_names_in(OutputDir(config.output_directory, root, config_path))
    except (OSError, PatrolError) as exc:  # unreadable, or refused by the output rule
        log.error("cannot look for an unpublished cycle in %s: %s", root, exc)
        return False
    newest = names[-1] if names else ""
    folder = os.path.join(root, newest)
    if not newest or (last_dir and cycle_order(newest) <= cycle_order(last_dir)) \
            or os.path.exists(os.path.join(folder, config.report_filename)):
        return False
    published = recover_work_files(runner, folder)
    report = build_report(number=number, folder=newest, start_time="", end_time="",
                          window=config.total_poll_duration_seconds,
                          max_concurrent_streams=config.max_concurrent_streams,
                          max_concurrent_used=0, schedule_info="", tasks=[], not_scheduled=[],
                          interrupted=INTERRUPTED)
    try:
        write_reports(folder, config.report_filename, report)
        _into_history(config_path, folder, config.report_filename, wall, announce=True)
    except PatrolError as exc:
        log.error("cannot write the report of unpublished cycle %s: %s", newest, exc)
    log.warning("recovered cycle %s, made just before the recorder was killed: %s kept",
                newest, counted(len(published), "clip"))
    return True
