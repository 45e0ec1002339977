"""Configuration: read and edit config.json; every edit is written to the file at once.

Every answer carries the file's ``ETag``; a write with ``If-Match`` happens only
while the file still has that tag (else 412), so no edit is lost unseen.
Camera passwords are masked in every answer; a masked one sent back keeps the
stored one (shared/credentials.py).
"""
from __future__ import annotations

import os

from flask import Blueprint, Response, jsonify

from app.context import config_file, control_file, current_config_tagged
from app.errors import ApiError
from app.requests import if_match, json_object
from shared import config_edits
from shared.config_file import (edit_config, read_config_checked, replace_config, save_config_as,
                                written_etag)
from shared.control_file import request_reload
from shared.credentials import masked_config, masked_global, masked_stream
from shared.errors import ConfigError

bp = Blueprint("configuration", __name__, url_prefix="/api/config")


def _stream_index(text: str, count: int) -> int:
    """A stream index from the URL; 404 ``无效的流索引: 5`` for anything else."""
    if text.isascii() and text.isdigit() and int(text) < count:
        return int(text)
    raise ApiError(404, f"无效的流索引: {text}")


def _tagged(response: Response, tag: str) -> Response:
    response.headers["ETag"] = tag
    return response


def _edit(change) -> dict:
    """``edit_config`` of this app's file, conditional on the request's ``If-Match``."""
    return edit_config(config_file(), change, if_match=if_match())


def _edit_stream(text: str, change) -> tuple[int, dict]:
    """Apply ``change(config, index)`` to the stream named in the URL under the config lock."""
    found: dict = {}

    def apply(config: dict) -> dict:
        found["index"] = _stream_index(text, len(config["streams"]))
        found["stream"] = config["streams"][found["index"]]
        return change(config, found["index"])

    new = _edit(apply)
    return found["index"], {"old": found["stream"], "new": new}


@bp.get("")
def get_config():
    config, tag = current_config_tagged()
    return _tagged(jsonify(masked_config(config)), tag)


@bp.put("")
def put_config():
    new = replace_config(config_file(), json_object(), if_match=if_match())
    return _tagged(jsonify(success=True, message="配置更新成功"), written_etag(new))


@bp.get("/global")
def get_global():
    config, tag = current_config_tagged()
    return _tagged(jsonify(masked_global(config["global_config"])), tag)


@bp.put("/global")
def put_global():
    changes = json_object()
    new = _edit(lambda config: config_edits.with_global_update(config, changes))
    return _tagged(jsonify(success=True, message="全局配置更新成功",
                           updated_config=masked_global(new["global_config"])),
                   written_etag(new))


@bp.get("/streams")
def list_streams():
    config, tag = current_config_tagged()
    streams = config["streams"]
    return _tagged(jsonify(count=len(streams),
                           streams=[{"index": i, **masked_stream(stream)}
                                    for i, stream in enumerate(streams)]),
                   tag)


@bp.post("/streams")
def add_stream():
    stream = json_object()
    new = _edit(lambda config: config_edits.with_stream_added(config, stream))
    index = len(new["streams"]) - 1
    added = masked_stream(new["streams"][index])
    return _tagged(jsonify(success=True, message="流配置添加成功", stream_index=index, index=index,
                           added_stream=added), written_etag(new))


@bp.put("/streams/<path:index>")
def update_stream(index: str):
    changes = json_object()
    position, result = _edit_stream(
        index, lambda config, i: config_edits.with_stream_updated(config, i, changes))
    updated = masked_stream(result["new"]["streams"][position])
    return _tagged(jsonify(success=True, message="流配置更新成功", stream_index=position,
                           index=position, updated_stream=updated),
                   written_etag(result["new"]))


@bp.delete("/streams/<path:index>")
def delete_stream(index: str):
    position, result = _edit_stream(index, config_edits.with_stream_removed)
    return _tagged(jsonify(success=True, message="流配置删除成功", deleted_stream_index=position,
                           deleted_index=position, deleted_stream=masked_stream(result["old"])),
                   written_etag(result["new"]))


@bp.post("/save")
def save():
    body = json_object(required=False) or {}
    unknown = sorted(set(body) - {"file_path"})
    if unknown:
        raise ConfigError(unknown[0], "是未知字段 (可能是拼写错误)")
    target, tag = save_config_as(config_file(), body.get("file_path"), if_match=if_match())
    shown = os.path.basename(target)
    return _tagged(jsonify(success=True, message="配置保存成功", saved_to=shown, file_path=shown),
                   tag)


@bp.post("/reload")
def reload():
    json_object(required=False)  # a body is optional, but a malformed one is still an error
    try:
        _, tag = read_config_checked(config_file(), if_match=if_match())
    except ConfigError as exc:
        raise ApiError(400, f"配置重新加载失败: {exc.message}", config_error=exc.to_dict()) from None
    request_reload(control_file())
    shown = os.path.basename(config_file())
    return _tagged(jsonify(success=True, message="配置重新加载成功", loaded_from=shown,
                           file_path=shown), tag)
