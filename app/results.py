"""Results: the cycle folders and clips of the output tree, and their deletion."""
from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, jsonify

from app.context import output_dir
from app.errors import ApiError
from app.log_text import request_logger
from app.requests import query_int, query_text
from app.scheduler import status_view
from shared import output_tree, task_status
from shared.errors import Conflict, NotFound
from shared.status_file import may_still_write

log = request_logger(__name__)
bp = Blueprint("results", __name__, url_prefix="/api")


@bp.get("/timestamps")
def list_timestamps():
    out, _ = output_dir()
    cycles = output_tree.list_cycles(out)
    return jsonify(count=len(cycles), timestamps=cycles)


MAX_PAGE = 10_000
MAX_OFFSET = 10**9


def page_query(limit: int, order: str) -> dict:
    """``limit``, ``offset`` and ``order`` of a paged listing, these defaults when not given.

    :raises ApiError: 400 for a value out of its bounds (the console pages by the same rules).
    """
    given = query_text("order")
    # Only a missing order takes the default: "?order=" is a wrong value, like "?limit=".
    paging = {"order": order if given is None else given}
    if paging["order"] not in ("oldest", "newest"):
        raise ApiError(400, "参数 order 必须是 oldest 或 newest")
    paging["limit"] = query_int("limit", limit, 1, MAX_PAGE)
    paging["offset"] = query_int("offset", 0, 0, MAX_OFFSET)
    return paging


def _paging() -> dict | None:
    """The API's paging (every clip, oldest first, by default); None when none is given."""
    if all(query_text(name) is None for name in ("limit", "offset", "order")):
        return None
    return page_query(MAX_PAGE, "oldest")


@bp.get("/videos")
def list_videos():
    timestamp = query_text("timestamp")
    if timestamp is not None:
        return videos_of(timestamp)
    out, _ = output_dir()
    paging = _paging()
    if paging is None:
        videos = output_tree.list_videos(out)
        return jsonify(count=len(videos), videos=videos)
    videos = output_tree.page_of_videos(out, paging["offset"], paging["limit"],
                                        newest_first=paging["order"] == "newest")
    return jsonify(count=len(videos), videos=videos, **paging)


@bp.get("/videos/<path:timestamp>")
def videos_of(timestamp: str):
    out, _ = output_dir()
    paging = _paging()
    videos = output_tree.list_videos(out, timestamp)
    if paging is None:
        return jsonify(timestamp=timestamp, count=len(videos), videos=videos)
    if paging["order"] == "newest":
        videos.reverse()
    videos = videos[paging["offset"]:paging["offset"] + paging["limit"]]
    return jsonify(timestamp=timestamp, count=len(videos), videos=videos, **paging)


def recording_now(fresh: bool = False) -> tuple[str, set[str]]:
    """The cycle folder being recorded and the clip names still being written in it (cluster
    mode: by the cluster's workers, as its coordinator's status says, on any host; read up to
    a second ago unless ``fresh``)."""
    status, _ = status_view(fresh)
    cycle = status["cycle"]
    if not (cycle.get("running") and cycle.get("dir") and may_still_write(status)):
        return "", set()
    active = {str(task.get("output_file", "")).rsplit("/", 1)[-1] for task in status["tasks"]
              if task.get("status") in task_status.ACTIVE or task.get("status") == task_status.PENDING}
    return cycle["dir"], active


def clip_being_recorded(cycle: str, filename: str) -> bool:
    """Whether the recorder may still write this clip of a cycle (a request is refused, 409)."""
    return _said_again_by_a_fresh_read(
        lambda recording, active: cycle == recording and filename in active)


def cycle_being_recorded(cycle: str) -> bool:
    """Whether the recorder records this cycle now: its deletion is refused (409), and its
    console page says it is recorded and offers no delete (the one decision for both)."""
    return clips_being_written(cycle) is not None


def clips_being_written(cycle: str) -> set[str] | None:
    """None unless the recorder records this cycle now (:func:`cycle_being_recorded`), else the
    clip names it still writes in it, from the same read that says so: a later read may be of
    the next cycle (cycle_interval 0), whose clips have the same names."""
    recording, _ = recording_now()
    if cycle != recording:
        return None
    recording, active = recording_now(fresh=True)
    return active if cycle == recording else None


def _said_again_by_a_fresh_read(recorded: Callable[[str, set[str]], bool]) -> bool:
    """``recorded(*recording_now())``, checked again against the status read now before it says
    True: the one read up to a second ago (cluster mode) may name a clip that has just ended."""
    return recorded(*recording_now()) and recorded(*recording_now(fresh=True))


def remove_clip(out: output_tree.OutputDir, cycle: str, filename: str) -> None:
    """Delete one clip, unless the recorder may still write it (the API's and the console's rule),
    and log it: the one place either deletion is logged (README "the API logs its own actions").

    :raises Conflict: being recorded. :raises NotFound, UnsafePath, OSError: see delete_video.
    """
    if clip_being_recorded(cycle, filename):
        raise Conflict("该视频正在录制中, 不能删除")
    try:
        output_tree.delete_video(out, cycle, filename)
    except OSError as exc:
        log.error("delete failed: %s/%s: %s", cycle, filename, exc.strerror)
        raise
    log.info("deleted clip %s/%s", cycle, filename)


def remove_cycle(out: output_tree.OutputDir, timestamp: str) -> None:
    """Delete a cycle folder, unless it is being recorded, and log it (as :func:`remove_clip`).

    :raises Conflict: being recorded. :raises NotFound, UnsafePath, OSError: see delete_cycle.
    """
    output_tree.require_cycle(out, timestamp)
    if cycle_being_recorded(timestamp):
        raise Conflict("该时间戳目录正在录制中, 不能删除")
    try:
        output_tree.delete_cycle(out, timestamp)
    except OSError as exc:
        log.error("delete failed: %s: %s", timestamp, exc.strerror)
        raise
    log.info("deleted cycle %s", timestamp)


@bp.delete("/video")
def delete_video():
    path = query_text("path")
    if path is None or path == "":
        raise ApiError(400, "缺少参数 path")
    out, base = output_dir()
    cycle, filename = output_tree.video_location(out, path, base)
    try:
        remove_clip(out, cycle, filename)
    except NotFound:
        raise NotFound("文件不存在") from None
    except OSError:
        raise ApiError(500, "文件删除失败", success=False, path=path) from None  # logged
    return jsonify(success=True, path=path, message="文件删除成功")


@bp.delete("/timestamp/<path:timestamp>")
def delete_timestamp(timestamp: str):
    out, _ = output_dir()
    display = out.display_path(timestamp)
    try:
        remove_cycle(out, timestamp)
    except OSError:  # logged
        raise ApiError(500, "目录删除失败", success=False, timestamp=timestamp,
                       path=display) from None
    return jsonify(success=True, timestamp=timestamp, path=display, message="目录删除成功")
