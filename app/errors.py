"""Every error as ``{"error": <HTTP reason>, "message": <detail>}``; domain errors mapped to HTTP here only."""
from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from app.log_text import request_logger
from shared.errors import (Conflict, ConfigError, ConfigUnavailable, LockTimeout, NotFound,
                           PreconditionFailed, RecorderUnavailable, UnsafePath, WriteError)

log = request_logger(__name__)

# Messages for the errors Flask raises itself (routing, size limits).
_HTTP_MESSAGES = {
    400: "请求参数错误",
    404: "请求的资源不存在",
    405: "不支持的请求方法",
    413: "请求体过大",
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


def init_app(app: Flask) -> None:
    """Register the handlers that keep every answer JSON."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.message, **exc.extra)

    @app.errorhandler(ConfigError)
    def _config_error(exc: ConfigError):
        return error_response(400, exc.message)

    @app.errorhandler(ConfigUnavailable)
    def _config_unavailable(exc: ConfigUnavailable):
        return error_response(503, str(exc), config_error=exc.cause.to_dict())

    @app.errorhandler(UnsafePath)
    def _unsafe_path(exc: UnsafePath):
        return error_response(403, f"禁止访问: {exc}")

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound):
        return error_response(404, str(exc))

    @app.errorhandler(Conflict)
    def _conflict(exc: Conflict):
        return error_response(409, str(exc))

    @app.errorhandler(PreconditionFailed)
    def _precondition_failed(exc: PreconditionFailed):
        response = error_response(412, str(exc))
        if exc.current_tag:
            response.headers["ETag"] = exc.current_tag
        return response

    @app.errorhandler(RecorderUnavailable)
    def _recorder_unavailable(exc: RecorderUnavailable):
        return error_response(503, str(exc))

    @app.errorhandler(LockTimeout)
    def _lock_timeout(exc: LockTimeout):
        log.warning("lock wait timed out: %s", exc.lock_path)
        response = error_response(503, "文件被占用, 请稍后重试")
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(WriteError)
    def _write_error(exc: WriteError):
        log.error("write failed: %s", exc)
        return error_response(500, "写入文件失败")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = _HTTP_MESSAGES.get(status) or exc.description or ""
        response = error_response(status, message)
        if status == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):  # pragma: no cover - routed above
            return _http_error(exc)
        log.exception("unexpected error")
        return error_response(500, "服务器内部错误")
