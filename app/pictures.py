"""Pictures (README "Picture checks"): each clip's thumbnail, each cycle's contact sheet, and
setting a camera's reference picture from its latest thumbnail."""
from __future__ import annotations

import os

from flask import Blueprint, Response, jsonify, request

from app.context import cached_config, config_file, output_dir
from app.errors import ApiError
from app.log_text import request_logger
from app.preconditions import answer_file
from shared import output_tree, settings
from shared.atomic import write_bytes_atomic
from shared.camera_roster import camera_id
from shared.clip_names import MAX_CONTACT_SHEET_PAGES, contact_sheet_name, thumbnail_name
from shared.errors import NotFound, UnsafePath, WriteError
from shared.reference_file import is_symlink_refused, read_reference

log = request_logger(__name__)
bp = Blueprint("pictures", __name__, url_prefix="/api")


def _jpeg(cycle: str, name: str) -> Response:
    out, _ = output_dir()
    return _picture(*output_tree.read_picture(out, cycle, name))


def _picture(data: bytes, mtime: float) -> Response:
    """A JPEG answer, kept by the client but asked again each time (ETag, Last-Modified)."""
    response = Response(data, mimetype="image/jpeg")
    response.last_modified = mtime
    response.set_etag(f"{int(mtime * 1000)}-{len(data)}")
    response.cache_control.no_cache = True  # kept, but asked again each time (ETag)
    return answer_file(response, request, len(data))  # RFC 9110's preconditions, as a clip's


@bp.get("/thumbnails/<timestamp>/<clip>")
def thumbnail(timestamp: str, clip: str):
    return _jpeg(timestamp, thumbnail_name(clip))


@bp.get(f"/thumbnails/{output_tree.CHECKS_FOLDER}/<check>/<clip>")
def check_thumbnail(check: str, clip: str):
    """The thumbnail of a check's clip (``checks/<check>/``), by the same rules."""
    return _jpeg(output_tree.CHECKS_PREFIX + check, thumbnail_name(clip))


@bp.get("/contact_sheets/<timestamp>")
def contact_sheet(timestamp: str):
    return _jpeg(timestamp, contact_sheet_name(1))


@bp.get("/contact_sheets/<timestamp>/<int:page>")
def contact_sheet_page(timestamp: str, page: int):
    """A page of a cycle's contact sheet (``contact_sheet_pages`` in ``/api/timestamps``)."""
    if not 1 <= page <= MAX_CONTACT_SHEET_PAGES:
        raise NotFound("文件不存在")
    return _jpeg(timestamp, contact_sheet_name(page))


def _clip_of(camera: str) -> str:
    """The clip name (``output_filename``) of a configured camera. :raises NotFound:"""
    for stream in cached_config()["streams"]:
        if camera_id(stream["output_filename"]) == camera:
            return stream["output_filename"]
    raise NotFound(f"摄像机不存在: {camera}")


def reference_path(camera: str) -> str:
    """Where a configured camera's reference picture is kept (there or not). :raises NotFound:"""
    _clip_of(camera)  # only a configured camera's id names a file
    return _reference_file(camera)


def _reference_file(camera: str) -> str:
    """Where the reference picture of ``camera``, a configured camera's id, is kept."""
    return settings.reference_picture(settings.references_dir(config_file()), camera)


@bp.get("/cameras/<camera>/reference")
def reference(camera: str):
    """The camera's reference picture, what ``scene_changed`` compares each picture with; never
    a file a symlink at its name points to (403), nor one that is not a regular file (500)."""
    try:
        data, info = read_reference(reference_path(camera))
        return _picture(data, info.st_mtime)
    except FileNotFoundError:
        raise NotFound(f"摄像机 {camera} 还没有参考画面") from None
    except OSError as exc:
        if is_symlink_refused(exc):
            log.warning("reference of %s refused: a symlink at %s", camera, exc.filename)
            raise UnsafePath("不能读取符号链接") from None
        log.error("reference of %s not readable: %s", camera, exc)
        raise ApiError(500, "参考画面读取失败") from None


@bp.post("/cameras/<camera>/reference")
def set_reference(camera: str):
    """The camera's newest thumbnail, of a cycle or a check (output_tree.latest_thumbnail),
    becomes its reference picture."""
    clip = _clip_of(camera)
    out, _ = output_dir()
    latest = output_tree.latest_thumbnail(out, clip)
    if latest is None:
        raise NotFound(f"摄像机 {camera} 还没有缩略图")
    cycle, data = latest
    path = _reference_file(camera)  # the camera checked above
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_bytes_atomic(path, data)
    except (OSError, WriteError) as exc:
        log.error("reference of %s not written: %s", camera, exc)
        raise ApiError(500, "参考画面写入失败", success=False) from None
    log.info("reference picture of camera %s set from %s", camera, cycle)
    return jsonify(success=True, camera=camera, timestamp=cycle,
                   thumbnail=output_tree.thumbnail_url(cycle, clip), message="参考画面已更新")
