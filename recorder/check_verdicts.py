"""At start: the verdicts the history has committed of checks the last status still shows
waiting or recording (a kill -9 after the history's write and before the status showed it).

Such a check reached its verdict: it is not run again, and its record takes the verdict from
its history row (the rows of a check name it: ``check_id``, shared/history_schema.py).
"""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Collection

from recorder.history_lookup import read_history
from shared import task_record
from shared.camera_view import parsed_quality
from shared.timefmt import format_local

log = logging.getLogger(__name__)
_COLUMNS = ("check_id", "status", "error", "started", "ended", "bytes", "frames",
            "clip_seconds", "clip", "quality")


def committed_verdicts(config_path: str, check_ids: Collection[int],
                       cut_short: Collection[str]) -> dict[int, dict]:
    """Of the checks ``check_ids``, those whose newest history row is a verdict (not one a stop
    or a kill cut short to be run again: an error in ``cut_short``), with that row by id."""
    if not check_ids:
        return {}
    newest: dict[int, dict] = {}
    try:
        with read_history(config_path) as conn:
            if conn is None:
                return {}
            marks = ", ".join("?" * len(check_ids))
            for values in conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM outcomes WHERE "
                                       f"check_id IN ({marks}) ORDER BY id", list(check_ids)):
                row = dict(zip(_COLUMNS, values))
                newest[row["check_id"]] = row
    except sqlite3.Error as exc:  # the attempt is recovered as any other a kill cut short
        log.warning("cannot read the history for the verdicts of the checks a kill cut short:"
                    " %s", exc)
        return {}
    return {check: row for check, row in newest.items() if row["error"] not in cut_short}


def with_verdict(record: dict, row: dict) -> dict:
    """A check's ``record`` as its committed history ``row`` ended it."""
    progress = row["clip_seconds"]
    return {**record, **task_record.status_fields(row["status"]), "error_message": row["error"],
            "start_time": format_local(row["started"]), "end_time": format_local(row["ended"]),
            "bytes_received": row["bytes"], "frames_received": row["frames"],
            "progress": record["progress"] if progress is None else progress,
            "output_file": row["clip"], "run_again": False,
            "quality": parsed_quality(row["quality"]) or task_record.unchecked_quality()}
