"""Every error as ``{"error": <HTTP reason>, "message": <detail>}``; domain errors mapped to HTTP here only."""
from __future__ import annotations

import os

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from app.log_text import request_logger
from shared.errors import (Conflict, ConfigError, ConfigUnavailable, LockTimeout, LockUnusable,
                           NotFound, PreconditionFailed, RecorderUnavailable, UnsafePath,
                           WriteError)

log = request_logger(__name__)

# Messages for the errors Flask raises itself (routing, size limits).
_HTTP_MESSAGES = {
    400: "请求参数错误",
    404: "请求的资源不存在",
    405: "不支持的请求方法",
    413: "请求体过大",
    416: "请求的字节范围超出文件",
    500: "服务器内部错误",
}


class ApiError(Exception):
    """An error a view raises to answer ``status`` with ``message`` (and optional extra fields)."""

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def error_response(status: int, message: str, **extra: object):
    """The JSON error body every failure uses."""
    body = {"error": HTTP_STATUS_CODES.get(status, "Unknown Error"), "message": message, **extra}
    response = jsonify(body)
    response.status_code = status
    return response


def _api_error(exc: ApiError):
    return error_response(exc.status, exc.message, **exc.extra)


def _config_error(exc: ConfigError):
    return error_response(400, exc.message)


def _config_unavailable(exc: ConfigUnavailable):
    return error_response(503, str(exc), config_error=exc.cause.to_dict())


def _unsafe_path(exc: UnsafePath):
    return error_response(403, f"禁止访问: {exc}")


def _not_found(exc: NotFound):
    return error_response(404, str(exc))


def _conflict(exc: Conflict):
    return error_response(409, str(exc))


def _precondition_failed(exc: PreconditionFailed):
    response = error_response(412, str(exc))
    if exc.current_tag:
        response.headers["ETag"] = exc.current_tag
    return response


def _recorder_unavailable(exc: RecorderUnavailable):
    return error_response(503, str(exc))


def _lock_timeout(exc: LockTimeout):
    log.warning("lock wait timed out: %s", exc.lock_path)
    response = error_response(503, "文件被占用, 请稍后重试")
    response.headers["Retry-After"] = "1"
    return response


def _lock_unusable(exc: LockUnusable):
    # No Retry-After: waiting does not help, an administrator must remove what is there.
    log.error("cannot lock %s: %s", exc.lock_path, exc.reason)
    name = os.path.basename(exc.lock_path)
    return error_response(503, f"无法写入: 锁文件 {name} 无法使用 ({exc.reason}), 请管理员删除或修复它")


def _write_error(exc: WriteError):
    log.error("write failed: %s", exc)
    return error_response(500, "写入文件失败")


def _http_error(exc: HTTPException):
    status = exc.code or 500
    message = _HTTP_MESSAGES.get(status) or exc.description or ""
    response = error_response(status, message)
    for name, value in exc.get_headers():  # Allow of a 405, Content-Range of a 416, …
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _unexpected(exc: Exception):
    if isinstance(exc, HTTPException):  # pragma: no cover - routed to _http_error
        return _http_error(exc)
    log.exception("unexpected error")
    return error_response(500, "服务器内部错误")


_HANDLERS = ((ApiError, _api_error), (ConfigError, _config_error),
             (ConfigUnavailable, _config_unavailable), (UnsafePath, _unsafe_path),
             (NotFound, _not_found), (Conflict, _conflict),
             (PreconditionFailed, _precondition_failed),
             (RecorderUnavailable, _recorder_unavailable), (LockTimeout, _lock_timeout),
             (LockUnusable, _lock_unusable), (WriteError, _write_error),
             (HTTPException, _http_error), (Exception, _unexpected))


def init_app(app: Flask) -> None:
    """Register the handlers that keep every answer JSON."""
    for error, handler in _HANDLERS:
        app.register_error_handler(error, handler)
