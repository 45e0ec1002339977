"""At start: the verdicts the history has committed of checks the last status still shows
waiting or recording (a kill -9 after the history's write and before the status showed it).

Such a check reached its verdict: it is not run again, and its record takes the verdict from
its history row (the rows of a check name it: ``check_id``, shared/history_schema.py). Check ids
start at 1 again when the status and control files are lost while the history keeps its rows: a
row is the check's only when its camera is the check's and it ended after the check began (its
record's ``start_time``; one the status shows waiting: after it was asked, ``requested_at``).
"""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Collection

from recorder.history_lookup import read_history
from shared import task_record
from shared.camera_view import parsed_quality
from shared.timefmt import format_local, parse_local

log = logging.getLogger(__name__)
_COLUMNS = ("check_id", "camera", "status", "error", "started", "ended", "bytes", "frames",
            "clip_seconds", "clip", "quality")


# A local time read back (mktime) can be an hour late in the DST fall-back hour: a verdict
# that much before the check's start as read is still its (same camera and check id).
_LOCAL_TIME_SLACK = 3600.0


def committed_verdicts(config_path: str, records: Collection[dict],
                       cut_short: Collection[str]) -> dict[int, dict]:
    """Of the checks ``records`` (their status records), those whose newest history row is a
    verdict (not one a stop or a kill cut short to be run again: an error in ``cut_short``),
    with that row by check id. A row of the same id of another camera, or ended before the
    check began (an earlier run of the ids), is not the check's."""
    asked = {record["check_id"]: (record["camera"], parse_local(record.get("start_time"))
                                  or parse_local(record["requested_at"])) for record in records}
    if not asked:
        return {}
    newest: dict[int, dict] = {}
    try:
        with read_history(config_path) as conn:
            if conn is None:
                return {}
            marks = ", ".join("?" * len(asked))
            for values in conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM outcomes WHERE "
                                       f"check_id IN ({marks}) ORDER BY id", list(asked)):
                row = dict(zip(_COLUMNS, values))
                camera, since = asked[row["check_id"]]
                if row["camera"] == camera and since is not None and \
                        row["ended"] >= since - _LOCAL_TIME_SLACK:
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
