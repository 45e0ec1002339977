"""The console's access: a signed session cookie after one token entry, and CSRF tokens on forms.

With an API token configured, every console page asks for the token once
(``/login``) and then keeps ``signed_in`` in Flask's signed session cookie
(HttpOnly, SameSite=Strict). The signing secret comes from
``RTSP_PATROL_SECRET_KEY`` or is generated once into the state folder (mode 0600),
so every gunicorn worker and restart shares it. Every console POST carries the
session's CSRF token (form field or ``X-CSRF-Token`` header, as htmx sends it).
The JSON API keeps its Bearer rule (app/auth.py); a signed-in session may only read it
(a ``<video>`` element cannot send a header).
"""
from __future__ import annotations

import hmac
import logging
import os
import secrets

from flask import Flask, abort, current_app, redirect, request, session, url_for

from app.auth_throttle import THROTTLE_KEY, FailureThrottle, log_refused
from shared import settings
from shared.atomic import write_bytes_once

SECRET_ENV = "RTSP_PATROL_SECRET_KEY"
SECRET_FILE = "console_secret"
SIGNED_IN = "signed_in"
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Console endpoints open without signing in: the sign-in page itself and htmx/CSS.
OPEN_ENDPOINTS = frozenset({"console.login", "console.static"})

log = logging.getLogger(__name__)


def secret_key(config_file: str) -> str:
    """The session signing secret: the environment's, else the state folder's (made once, 0600).

    A state folder this process may not write (a read-only API user) must not keep the API
    from starting: the secret is then this process's own, and the log says what that costs.
    """
    given = os.environ.get(SECRET_ENV)
    if given:
        return given
    path = os.path.join(settings.state_dir(config_file), SECRET_FILE)
    try:
        return _stored_secret(path)
    except OSError as exc:
        log.warning("console secret %s cannot be read or made (%s); using one of this process "
                    "only: set %s so sign-ins and forms work across workers and restarts",
                    path, exc.strerror or exc, SECRET_ENV)
        return secrets.token_hex(32)


def _stored_secret(path: str) -> str:
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Of workers starting together one makes it, whole; the others read that one.
    write_bytes_once(path, (secrets.token_hex(32) + "\n").encode("ascii"), mode=0o600)
    return _read_secret(path)


def _read_secret(path: str) -> str:
    """The secret in ``path``. :raises FileNotFoundError: :raises RuntimeError: not a secret."""
    try:
        with open(path, encoding="ascii") as handle:
            found = handle.read().strip()
    except UnicodeDecodeError:
        found = ""
    if not found:
        raise RuntimeError(f"console secret {path} is empty or damaged; remove it")
    return found


def token_required() -> bool:
    """True when an API token is configured (the console then asks for it)."""
    return bool(current_app.config.get("API_TOKEN"))


def signed_in() -> bool:
    """True when this session entered the token (or none is needed)."""
    return not token_required() or bool(session.get(SIGNED_IN))


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    if CSRF_KEY not in session:
        session[CSRF_KEY] = secrets.token_urlsafe(32)
    return session[CSRF_KEY]


def _csrf_ok() -> bool:
    given = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = session.get(CSRF_KEY)
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def guard():
    """Before a console request: sign-in first, then a valid CSRF token on any POST."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not signed_in():
        if request.headers.get("HX-Request"):
            abort(401)
        return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
    if request.method == "POST" and not _csrf_ok():
        abort(403)
    return None


def check_token(given: str) -> int | None:
    """None when ``given`` is the API token; else the seconds its address must wait before
    trying again (0: none, it may retry now). Wrong guesses count with the API's (one
    throttle, app/auth.py) and are logged as the API's are."""
    client = request.remote_addr or "-"
    throttle: FailureThrottle = current_app.extensions[THROTTLE_KEY]
    wait = throttle.retry_after(client)
    if wait:
        return wait
    expected = current_app.config["API_TOKEN"].encode("ascii")
    if hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected):
        return None
    log_refused(client, True, throttle.failed(client))
    return throttle.retry_after(client)


def init_app(app: Flask) -> None:
    """Session cookie settings and its secret."""
    app.secret_key = secret_key(app.config["CONFIG_PATH"])
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict")
