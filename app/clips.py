"""Clips over HTTP (SPEC "Clips over HTTP"): ``GET /api/clips/<cycle>/<file>`` with Range and ETag
(and the other preconditions of RFC 9110: app/preconditions.py).

A check's clips ("check now", ``<output>/checks/<YYYYMMDD_HHMMSS>_<camera>/``) are
served by the same route and rules at ``/api/clips/checks/<check>/<file>``, the
history's ``cycle`` of a check (``checks/<check>``) standing for the cycle.
Confined like deletion (shared/output_tree/reading.py's ``open_clip``): a clip directly
inside a cycle (or check) folder, never through a symlink. A clip the recorder may
still write is refused (409), as its deletion is. The file is streamed from its open
descriptor, so a worker holds one block of it at a time, whatever its size.
"""
from __future__ import annotations

from flask import Blueprint, request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from app.context import output_dir
from app.preconditions import answer_file
from app.requests import query_flag
from app.results import clip_being_recorded
from app.scheduler import local_status
from shared import output_tree, task_status
from shared.errors import Conflict, PreconditionFailed
from shared.status_file import may_still_write

bp = Blueprint("clips", __name__, url_prefix=output_tree.CLIPS_URL)

# Content types of shared/config.py's VIDEO_EXTENSIONS (the ones browsers know by these names).
CONTENT_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
                 ".mkv": "video/x-matroska", ".ts": "video/mp2t"}


def content_type(filename: str) -> str:
    """The Content-Type of a clip by its extension."""
    extension = filename[filename.rfind("."):].lower()
    return CONTENT_TYPES.get(extension, "application/octet-stream")


@bp.get("/<path:location>")
def get_clip(location: str):
    cycle, filename = output_tree.split_location(location)
    if _being_recorded(cycle, filename):
        raise Conflict("该视频正在录制中, 不能读取")
    out, _ = output_dir()
    clip, info = output_tree.open_clip(out, cycle, filename)
    response = send_file(clip, mimetype=content_type(filename), download_name=filename,
                         as_attachment=query_flag("download"), conditional=False, etag=False)
    response.content_length = info.st_size
    response.last_modified = int(info.st_mtime)
    # Published clips are never rewritten in place (the recorder renames them in):
    # inode, size and mtime name one version of the bytes.
    response.set_etag(f"{info.st_ino:x}-{info.st_size:x}-{info.st_mtime_ns:x}")
    try:
        return answer_file(response, request, info.st_size)
    except (PreconditionFailed, RequestedRangeNotSatisfiable):
        response.close()  # the clip's descriptor, at once
        raise


def _being_recorded(folder: str, filename: str) -> bool:
    """True when the recorder may still write this clip: a running cycle's or check's."""
    if not folder.startswith(output_tree.CHECKS_PREFIX):
        return clip_being_recorded(folder, filename)
    status = local_status()  # a check runs on the host whose API took it
    if not may_still_write(status):
        return False
    writing = {output_tree.clip_location(str(check.get("output_file") or ""))
               for check in status.get("checks", [])
               if check.get("status") in task_status.ACTIVE
               or check.get("status") == task_status.PENDING}
    return (folder, filename) in writing
