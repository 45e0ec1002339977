"""At start: finish what a killed predecessor left, its interrupted cycle's clips and report."""
from __future__ import annotations

import logging
import os

from recorder.clip_files import recover_work_files
from recorder.processes import ProcessRunner
from recorder.reports import recovered_report, write_reports
from shared import settings
from shared.config import GLOBAL_DEFAULTS
from shared.errors import PatrolError
from shared.global_settings import GlobalSettings

log = logging.getLogger(__name__)


def recover_interrupted_cycle(old: dict, config: GlobalSettings | None, config_path: str,
                              runner: ProcessRunner) -> str:
    """Publish the partial clips of the cycle ``old`` (the last status) shows running, and report it.

    Works without a valid config too: the status names the cycle's folder and report file.
    Returns why its report could not be written ("" when it was, or there was nothing to do).
    """
    cycle = old["cycle"]
    if not (cycle.get("running") and cycle.get("dir")):
        return ""
    cycle_dir = _interrupted_cycle_dir(cycle, old["tasks"], config, config_path)
    if cycle_dir is None or not os.path.isdir(cycle_dir):
        return ""
    published = recover_work_files(runner, cycle_dir)
    report_filename = cycle.get("report_filename") or (
        config.report_filename if config else GLOBAL_DEFAULTS["report_filename"])
    problem = ""
    try:
        configured_max = (config.max_concurrent_streams if config
                          else GLOBAL_DEFAULTS["max_concurrent_streams"])
        write_reports(cycle_dir, report_filename,
                      recovered_report(old, published, configured_max))
    except PatrolError as exc:
        problem = f"中断的巡检 {cycle['dir']} 报告写入失败: {exc}"
        log.error("cannot write the report of interrupted cycle %s: %s", cycle["dir"], exc)
    log.warning("recovered interrupted cycle %s: %d partial clips kept", cycle["dir"],
                len(published))
    return problem


def _interrupted_cycle_dir(cycle: dict, tasks: list[dict], config: GlobalSettings | None,
                           config_path: str) -> str | None:
    # Where the cycle's tasks wrote: an output_directory changed in the config
    # meanwhile applies to later cycles only. Only a folder of that cycle's name.
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
