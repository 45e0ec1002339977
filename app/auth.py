"""Access control: an optional bearer token for every write (and, when asked, every read).

The token comes from the process environment, never from config.json (which
the API itself edits): ``RTSP_PATROL_API_TOKEN``, or the first line of the file
named by ``RTSP_PATROL_API_TOKEN_FILE`` (so it need not sit in a systemd unit).
``RTSP_PATROL_API_PROTECT_READS=1`` closes reads too, except ``/api/health``
(load balancers probe it; it reveals nothing). Without a token the API is
open, as the seed describes. CORS preflights (OPTIONS) are always answered:
a browser sends them without credentials. Wrong tokens are logged, and an
address that sends too many waits (429, see app/auth_throttle.py).
"""
from __future__ import annotations

import hmac
import os
import re
from collections.abc import Mapping

from flask import Flask, request

from app import auth_throttle
from app.console.access import signed_in
from app.errors import error_response
from app.log_text import request_logger
from shared.regular_file import open_regular_file

log = request_logger(__name__)

TOKEN_ENV = "RTSP_PATROL_API_TOKEN"
TOKEN_FILE_ENV = "RTSP_PATROL_API_TOKEN_FILE"
PROTECT_READS_ENV = "RTSP_PATROL_API_PROTECT_READS"
READ_METHODS = frozenset({"GET", "HEAD"})
# Endpoints open even when reads are protected: they read nothing.
OPEN_ENDPOINTS = frozenset({"health.health"})
# Visible ASCII only: anything else cannot travel in an HTTP header unchanged.
_TOKEN_RE = re.compile(r"^[\x21-\x7e]+$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
MIN_TOKEN_LENGTH = 16
REALM = 'Bearer realm="rtsp-patrol"'


class AccessSettingError(ValueError):
    """The access settings are unusable; the app refuses to start rather than run open."""


def settings_from_environment(environ: Mapping[str, str] = os.environ) -> dict:
    """``API_TOKEN`` (str or None) and ``API_PROTECT_READS`` (bool) from the environment.

    :raises AccessSettingError: both token settings given, an unreadable or empty
        token file, or a protect-reads value that is not a yes/no.
    """
    token = environ.get(TOKEN_ENV) or None
    token_file = environ.get(TOKEN_FILE_ENV) or None
    if token and token_file:
        raise AccessSettingError(f"set {TOKEN_ENV} or {TOKEN_FILE_ENV}, not both")
    if token_file:
        token = _read_token_file(token_file)
    protect = environ.get(PROTECT_READS_ENV, "").strip().lower()
    if protect not in _TRUE | _FALSE:
        raise AccessSettingError(f"{PROTECT_READS_ENV} must be 1 or 0, not {protect!r}")
    return {"API_TOKEN": token, "API_PROTECT_READS": protect in _TRUE}


def check_token_format(token: str | None) -> None:
    """:raises AccessSettingError: the token has characters a header cannot carry."""
    if token is not None and not _TOKEN_RE.match(token):
        raise AccessSettingError("the API token must be visible ASCII without spaces")


def _read_token_file(path: str) -> str:
    try:
        handle, _ = open_regular_file(path, follow_symlinks=True)  # a FIFO must not hang
        with handle:
            token = handle.readline().decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AccessSettingError(f"cannot read {TOKEN_FILE_ENV} {path}: {exc}") from None
    if not token:
        raise AccessSettingError(f"{TOKEN_FILE_ENV} {path} holds no token")
    return token


def _bearer(header: str | None) -> bytes | None:
    """The credentials of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    scheme, _, credentials = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip().encode("utf-8", "replace")


def init_app(app: Flask) -> None:
    """Check every request against ``API_TOKEN`` / ``API_PROTECT_READS`` as set at creation.

    :raises AccessSettingError: the token has characters a header cannot carry.
    """
    token = app.config.get("API_TOKEN") or None
    protect_reads = bool(app.config.get("API_PROTECT_READS"))
    if token is None:
        if protect_reads:
            log.warning("%s is set but no token is: the API is open", PROTECT_READS_ENV)
        return
    check_token_format(token)
    if len(token) < MIN_TOKEN_LENGTH:
        log.warning("the API token is shorter than %d characters", MIN_TOKEN_LENGTH)
    expected = token.encode("ascii")
    # Counts per worker: the API's Bearer tokens, and apart the console's sign-in form.
    app.extensions[auth_throttle.THROTTLE_KEY] = auth_throttle.throttles()
    throttle = app.extensions[auth_throttle.THROTTLE_KEY][auth_throttle.API]

    @app.before_request
    def _require_token():
        if not _needs_token(protect_reads) or _console_session():
            return None
        client = request.remote_addr or "-"
        wait = throttle.retry_after(client)
        if wait:
            return _too_many(wait)
        given = _bearer(request.headers.get("Authorization"))
        # compare_digest: the time taken does not tell how much of a guess was right.
        if given is not None and hmac.compare_digest(given, expected):
            return None
        return _refused(client, given is not None, throttle.failed(client))


def _console_session() -> bool:
    """The console guards its own pages (app/console/access.py); a signed-in console may read
    the API too (a ``<video>`` cannot send a Bearer header). Writes keep the Bearer rule."""
    if request.blueprint == "console":
        return True
    return request.method in READ_METHODS and signed_in()


def _needs_token(protect_reads: bool) -> bool:
    if request.method == "OPTIONS":
        return False  # CORS preflight: answered by Flask and flask-cors, changes nothing
    if request.method in READ_METHODS:
        return protect_reads and request.endpoint not in OPEN_ENDPOINTS
    return True


def _refused(client: str, wrong: bool, now_throttled: bool):
    auth_throttle.log_refused(client, wrong, now_throttled)
    response = error_response(401, "需要有效的 API 令牌 (Authorization: Bearer <token>)")
    response.headers["WWW-Authenticate"] = REALM + ', error="invalid_token"' if wrong else REALM
    return response


def _too_many(wait: int):
    response = error_response(429, auth_throttle.wait_message(auth_throttle.API, wait))
    response.headers["Retry-After"] = str(wait)
    return response
