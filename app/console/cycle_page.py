"""``/cycles/<ts>``: one cycle's clips, verdicts and reports; followed while it is recorded.

While the recorder records the cycle, the page asks every 2 s for its part again
(``/cycles/<ts>/live?version=``): 204 while nothing it shows changed, else the part
redrawn; once the cycle has ended the part comes without its poll.
"""
from __future__ import annotations

import hashlib
import json
import os

from flask import make_response, render_template, request

from app.console import bp
from app.console.pages import report_names
from app.context import cached_config, output_dir
from app.results import clips_being_written
from app.scheduler import status_view
from shared import cycle_summary, output_tree
from shared.errors import NotFound
from shared.status_file import report_problem_of
from shared.timefmt import is_cycle_name


def _cycle_view(timestamp: str) -> dict:
    """What the cycle's page shows, with ``recording`` (the recorder records it now: no delete),
    ``writing`` (its clips still being written) and ``version``, a tag of all of it."""
    if not is_cycle_name(timestamp):  # a page to read: an unknown cycle, not a refused delete
        raise NotFound(f"时间戳目录不存在: {timestamp}")
    config = cached_config()
    out = output_dir(config)[0]
    folder = output_tree.require_cycle(out, timestamp)
    names = report_names(config)
    record = output_tree.cycle_record(out, timestamp) or {}
    writing = clips_being_written(timestamp)  # as a delete decides it: then refused (409)
    recording = writing is not None
    status, _ = status_view()
    view = {"timestamp": timestamp, "videos": output_tree.list_videos(out, timestamp),
            "contact_sheets": [output_tree.contact_sheet_url(timestamp, page) for page
                               in range(1, record.get("contact_sheet_pages", 0) + 1)],
            "verdicts": cycle_summary.read_clip_verdicts(out, timestamp, names[0]),
            "reports": [name for name in names if os.path.isfile(os.path.join(folder, name))],
            "summary": cycle_summary.read_summary(out, timestamp, names[0]),
            "recording": recording, "writing": sorted(writing or ()),
            "report_problem": report_problem_of(status, timestamp)}
    shown = json.dumps(view, sort_keys=True, default=str).encode("utf-8", "surrogatepass")
    return {**view, "version": hashlib.sha1(shown).hexdigest()[:16]}


@bp.get("/cycles/<timestamp>")
def cycle_page(timestamp: str):
    return render_template("console/cycle.html", **_cycle_view(timestamp))


@bp.get("/cycles/<timestamp>/live")
def cycle_live(timestamp: str):
    """The page's followed part again, or 204 while it still shows what ``version`` tags."""
    view = _cycle_view(timestamp)
    if request.args.get("version") == view["version"]:
        return make_response("", 204)
    return render_template("console/_cycle.html", live=True, **view)
