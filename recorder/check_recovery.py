"""At start: a check a killed recorder left waiting or recording, recovered as its cycles are.

Its partial clip is kept when playable (the cycle recovery's code, recorder/clip_files.py), its
work files removed; it is 已取消 :data:`~shared.task_record.INTERRUPTED_MESSAGE` in its record
(``output_file`` the clip kept, or null) and in the history (a row of kind ``check``/``probe``).
"""
from __future__ import annotations

import logging
import os
from dataclasses import replace

from recorder.check_folders import CHECKS_FOLDER
from recorder.clip_files import recover_work_files
from recorder.finished_task import FinishedTask
from recorder.processes import ProcessRunner
from shared import settings
from shared import task_record
from shared import task_status as st
from shared.output_tree import is_check_folder_name
from shared.timefmt import parse_local

log = logging.getLogger(__name__)


def recover_killed_check(record: dict, runner: ProcessRunner, config_path: str,
                         killed_at: float, name: str | None = None) -> tuple[dict, FinishedTask]:
    """``record`` (a check's, read back, waiting or recording when its recorder was killed)
    after the recovery of its folder, and its history row, ended ``killed_at`` (the best known
    time of the kill: shared/status_file.py::interrupted_at). ``name``: its camera's display
    name, None when its stream is not configured (the history keeps the name it knows)."""
    clip = str(record["output_file"] or "")
    folder = settings.resolve_output_dir(os.path.dirname(clip), config_path) if clip else ""
    kept = recover_work_files(runner, folder) if _a_check_folder(folder) else []
    record = task_record.interrupted(
        record, os.path.basename(clip) in {os.path.basename(path) for path in kept}, killed_at)
    log.warning("check %d: camera %s was cut short by a kill of the recorder: %s",
                record["check_id"], record["camera"],
                f"partial clip {record['output_file']} kept" if record["output_file"]
                else "no clip kept")
    cycle = f"{CHECKS_FOLDER}/{os.path.basename(folder)}" if record["kind"] == "check" else ""
    return record, _row(record, cycle, killed_at, name)


def not_run_again_row(record: dict, wall: float, why: str) -> FinishedTask:
    """The history row that says a check a stop cut short (``record``, its row written then) is
    not run again, and ``why``, decided at ``wall``: what it recorded stays in the stop's row."""
    clip = str(record["output_file"] or "")
    cycle = f"{CHECKS_FOLDER}/{os.path.basename(os.path.dirname(clip))}" \
        if clip and record["kind"] == "check" else ""
    return replace(_row({**record, "error_message": why}, cycle, wall), started=None, bytes=0,
                   frames=0, clip=None)


def _row(record: dict, cycle: str, ended: float, name: str | None = None) -> FinishedTask:
    """A check's history row, 已取消 at ``ended``, from its ``record``."""
    return FinishedTask(
        camera=record["camera"], name=name, url=record["rtsp_url"], alerts=False, cycle=cycle,
        ended=ended, status=st.CANCELLED, error=record["error_message"], kind=record["kind"],
        started=parse_local(record.get("start_time")), bytes=int(record["bytes_received"] or 0),
        frames=int(record["frames_received"] or 0), clip=record["output_file"],
        quality=record.get("quality") if isinstance(record.get("quality"), dict) else None,
        check_id=record["check_id"], from_report=True)


def _a_check_folder(folder: str) -> bool:
    """Only a folder named as a check's, in a checks folder: a status names it, nothing else."""
    return bool(folder) and is_check_folder_name(os.path.basename(folder)) \
        and os.path.basename(os.path.dirname(folder)) == CHECKS_FOLDER and os.path.isdir(folder)
