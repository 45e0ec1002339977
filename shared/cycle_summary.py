"""The ``summary`` of a cycle's JSON report, read through the output tree's confined opens.

The recorder writes the summary first (recorder/reports.py::build_report), so
it is parsed from the head of the file and the tasks after it are not read:
a 1,000-stream report is about 1 MB, its summary well under 1 KB. A report
written otherwise is parsed whole. Parsed summaries are kept per worker by the
report's signature (a report is replaced by a rename, so a new one has a new inode).
"""
from __future__ import annotations

import json
import re
from typing import BinaryIO

from shared import output_tree
from shared.errors import PatrolError
from shared.file_cache import FileCache, stat_signature

# Read this much of a report first: the summary is in it unless its texts are huge.
HEAD_BYTES = 16 * 1024
# Every cycle of a 10,000-cycle output tree fits; beyond that the cache starts over.
MAX_CACHED = 20_000
_SUMMARY_KEY = re.compile(r'\s*\{\s*"summary"\s*:\s*')
_DECODER = json.JSONDecoder()
_CACHE = FileCache(max_entries=MAX_CACHED)


def _from_head(head: bytes) -> dict | None:
    """The summary object at the start of a report's first bytes; None when it is not all there."""
    text = head.decode("utf-8", errors="replace")  # a character cut at the end is after it
    found = _SUMMARY_KEY.match(text)
    if found is None:
        return None
    try:
        summary, _ = _DECODER.raw_decode(text, found.end())
    except ValueError:
        return None
    return summary if isinstance(summary, dict) else None


def _parse(handle: BinaryIO) -> dict | None:
    """The report's summary, None when the report is not JSON or has no summary object."""
    head = handle.read(HEAD_BYTES)
    summary = _from_head(head)
    if summary is not None:
        return summary
    try:
        report = json.loads(head + handle.read())
    except ValueError:
        return None
    summary = report.get("summary") if isinstance(report, dict) else None
    return summary if isinstance(summary, dict) else None


def _summary_at(root: output_tree.OpenRoot, cycle: str, report_name: str) -> dict | None:
    try:
        handle, info = output_tree.open_in_cycle_at(root, cycle, report_name)
    except (PatrolError, OSError):
        return None  # no report (yet), or not a regular file in a real cycle folder
    with handle:
        try:
            return _CACHE.get_version((root.path, cycle, report_name), stat_signature(info),
                                      lambda: _parse(handle))
        except OSError:
            return None


def read_summaries(out: output_tree.OutputDir, cycles: list[str],
                   report_name: str) -> dict[str, dict | None]:
    """Each cycle's report summary (read-only), None for a cycle without a readable report.

    :raises OutputRefused: the output folder resolves where the rule forbids.
    """
    with output_tree.opened_root(out) as root:
        return {cycle: _summary_at(root, cycle, report_name) if root else None
                for cycle in cycles}


def read_summary(out: output_tree.OutputDir, cycle: str, report_name: str) -> dict | None:
    """One cycle's report summary, as :func:`read_summaries` reads it."""
    return read_summaries(out, [cycle], report_name)[cycle]


def read_clip_verdicts(out: output_tree.OutputDir, cycle: str, report_name: str) -> dict[str, dict]:
    """The picture verdict (the task's ``quality``) of each clip the cycle's report names, by the
    clip's file name; empty without a readable report. The whole report is read (a cycle's
    page, one at a time).

    :raises OutputRefused: the output folder resolves where the rule forbids.
    """
    with output_tree.opened_root(out) as root:
        if not root:
            return {}
        try:
            handle, _ = output_tree.open_in_cycle_at(root, cycle, report_name)
        except (PatrolError, OSError):
            return {}
        with handle:
            try:
                report = json.load(handle)
            except (OSError, ValueError):
                return {}
    tasks = report.get("tasks") if isinstance(report, dict) else None
    if not isinstance(tasks, list):
        return {}
    return {str(task["output_file"]).rsplit("/", 1)[-1]: task["quality"] for task in tasks
            if isinstance(task, dict) and task.get("output_file")
            and isinstance(task.get("quality"), dict)}
