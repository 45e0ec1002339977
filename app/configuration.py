"""Configuration: read and edit config.json; every edit is written to the file at once."""
from __future__ import annotations

import os

from flask import Blueprint, jsonify

from app.context import config_file, control_file, current_config
from app.errors import ApiError
from app.requests import json_object
from shared import config as model
from shared.config_file import edit_config, load_config, replace_config, save_config_as
from shared.control_file import request_reload
from shared.errors import ConfigError

bp = Blueprint("configuration", __name__, url_prefix="/api/config")


def _stream_index(text: str, count: int) -> int:
    """A stream index from the URL; 404 ``无效的流索引: 5`` for anything else."""
    if text.isascii() and text.isdigit() and int(text) < count:
        return int(text)
    raise ApiError(404, f"无效的流索引: {text}")


def _edit_stream(text: str, change) -> tuple[int, dict]:
    """Apply ``change(config, index)`` to the stream named in the URL under the config lock."""
    found: dict = {}

    def apply(config: dict) -> dict:
        found["index"] = _stream_index(text, len(config["streams"]))
        found["stream"] = config["streams"][found["index"]]
        return change(config, found["index"])

    new = edit_config(config_file(), apply)
    return found["index"], {"old": found["stream"], "new": new}


@bp.get("")
def get_config():
    return jsonify(current_config())


@bp.put("")
def put_config():
    replace_config(config_file(), json_object())
    return jsonify(success=True, message="配置更新成功")


@bp.get("/global")
def get_global():
    return jsonify(current_config()["global_config"])


@bp.put("/global")
def put_global():
    changes = json_object()
    new = edit_config(config_file(), lambda config: model.with_global_update(config, changes))
    return jsonify(success=True, message="全局配置更新成功", updated_config=new["global_config"])


@bp.get("/streams")
def list_streams():
    streams = current_config()["streams"]
    return jsonify(count=len(streams),
                   streams=[{"index": i, **stream} for i, stream in enumerate(streams)])


@bp.post("/streams")
def add_stream():
    stream = json_object()
    new = edit_config(config_file(), lambda config: model.with_stream_added(config, stream))
    index = len(new["streams"]) - 1
    return jsonify(success=True, message="流配置添加成功", stream_index=index, index=index,
                   added_stream=new["streams"][index])


@bp.put("/streams/<path:index>")
def update_stream(index: str):
    changes = json_object()
    position, result = _edit_stream(
        index, lambda config, i: model.with_stream_updated(config, i, changes))
    return jsonify(success=True, message="流配置更新成功", stream_index=position, index=position,
                   updated_stream=result["new"]["streams"][position])


@bp.delete("/streams/<path:index>")
def delete_stream(index: str):
    position, result = _edit_stream(index, model.with_stream_removed)
    return jsonify(success=True, message="流配置删除成功", deleted_stream_index=position,
                   deleted_index=position, deleted_stream=result["old"])


@bp.post("/save")
def save():
    body = json_object(required=False) or {}
    unknown = sorted(set(body) - {"file_path"})
    if unknown:
        raise ConfigError(unknown[0], "是未知字段 (可能是拼写错误)")
    target = save_config_as(config_file(), body.get("file_path"))
    shown = os.path.basename(target)
    return jsonify(success=True, message="配置保存成功", saved_to=shown, file_path=shown)


@bp.post("/reload")
def reload():
    json_object(required=False)  # a body is optional, but a malformed one is still an error
    try:
        load_config(config_file())
    except ConfigError as exc:
        raise ApiError(400, f"配置重新加载失败: {exc.message}", config_error=exc.to_dict()) from None
    request_reload(control_file())
    shown = os.path.basename(config_file())
    return jsonify(success=True, message="配置重新加载成功", loaded_from=shown, file_path=shown)
