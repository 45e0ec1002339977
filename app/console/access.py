"""The console's access: a signed session cookie after one token entry, and CSRF tokens on forms.

With an API token configured, every console page asks for the token once
(``/login``) and then keeps a keyed hash of it in Flask's signed session cookie
(HttpOnly, SameSite=Lax, 24 hours; a changed token ends every sign-in) with a random session
id: signing out lists that id for every worker (app/console/sign_outs.py), so a copy of the
cookie ends with it. The signing secret comes from
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
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, redirect, request, session, url_for

from app.auth_throttle import SIGN_IN, THROTTLE_KEY, FailureThrottle, log_refused
from app.console.sign_outs import SignOuts, SignOutsUnreadable, sign_outs_path
from shared import settings
from shared.atomic import write_bytes_once
from shared.clock import SYSTEM_CLOCK
from shared.errors import PatrolError

SECRET_ENV = "RTSP_PATROL_SECRET_KEY"
SECRET_FILE = "console_secret"
SIGNED_IN = "signed_in"
SIGNED_IN_AT = "signed_in_at"
SESSION_ID = "session_id"
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# How long a sign-in lasts: a working day and night, so that a sign-out that could not be
# recorded (see sign_out) leaves a copied cookie usable so long at most.
SESSION_HOURS = 24
# Where init_app keeps this app's sign-outs (app/console/sign_outs.py).
SIGN_OUTS_KEY = "rtsp_patrol_console_sign_outs"
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


def token_mark() -> str:
    """What a signed-in session keeps of the token: a keyed hash, never the token. A session
    signed in with another token (the token changed since) is signed in no more."""
    token = current_app.config["API_TOKEN"].encode("ascii")
    return hmac.new(current_app.secret_key.encode(), b"console sign-in\0" + token,
                    "sha256").hexdigest()


def signed_in() -> bool:
    """True when this session entered the token in force (or none is needed) less than
    :data:`SESSION_HOURS` ago: counted from the sign-in, not renewed by use (Flask re-signs
    the cookie at each answer, so its own expiry slides with every page polled), and was not
    signed out since (in any worker). A cookie without a session id (made before sign-outs
    were shared) could not be signed out: it counts as signed out."""
    if not token_required():
        return True
    kept, since = session.get(SIGNED_IN), session.get(SIGNED_IN_AT)
    session_id = session.get(SESSION_ID)
    return (isinstance(kept, str) and hmac.compare_digest(kept, token_mark())
            and isinstance(since, (int, float))
            and 0 <= SYSTEM_CLOCK.wall() - since < SESSION_HOURS * 3600
            and isinstance(session_id, str)
            and not current_app.extensions[SIGN_OUTS_KEY].is_ended(session_id))


def sign_in() -> None:
    """A new session for the operator who entered the token (none of the old session's
    keys is kept but its language: no fixation), for :data:`SESSION_HOURS`."""
    _clear_session()
    session[SIGNED_IN] = token_mark()
    session[SIGNED_IN_AT] = int(SYSTEM_CLOCK.wall())
    session[SESSION_ID] = secrets.token_urlsafe(18)
    session.permanent = True


def sign_out() -> bool:
    """End this session for every copy of its cookie (every worker refuses its id), then
    clear it here but for its language. False when the sign-out could not be recorded
    (logged): copies of the cookie then stay valid until the sign-in expires."""
    session_id, since = session.get(SESSION_ID), session.get(SIGNED_IN_AT)
    _clear_session()
    if not isinstance(session_id, str) or not isinstance(since, (int, float)):
        return True  # nothing any copy could use
    sign_outs: SignOuts = current_app.extensions[SIGN_OUTS_KEY]
    try:
        sign_outs.end(session_id, since, SYSTEM_CLOCK.wall())
    except (SignOutsUnreadable, PatrolError, OSError) as exc:
        log.error("a console sign-out could not be recorded in %s (%s): copies of that "
                  "session's cookie stay valid until %d hours after its sign-in",
                  sign_outs.path, exc, SESSION_HOURS)
        return False
    return True


def _clear_session() -> None:
    """Forget every key of the session but its language."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


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
        back = url_for("console.login", next=_page_to_return_to())
        if request.headers.get("HX-Request"):  # htmx: the whole page goes to the sign-in
            return "", 401, {"HX-Redirect": back}
        return redirect(back)
    if request.method == "POST" and not _csrf_ok():
        abort(403)
    return None


def _page_to_return_to() -> str:
    """The page to come back to after signing in: this one for a page (GET), the page the
    form or the htmx request came from otherwise (a POST's own URL answers GET with 405)."""
    if request.method == "GET" and not request.headers.get("HX-Request"):
        return request.full_path.rstrip("?")
    came_from = urlsplit(request.headers.get("HX-Current-URL") or request.referrer or "")
    if came_from.netloc == request.host and came_from.path.startswith("/"):
        return came_from.path + (f"?{came_from.query}" if came_from.query else "")
    return url_for("console.overview")


def check_token(given: str) -> int | None:
    """None when ``given`` is the API token; else the seconds its address must wait before
    trying again (0: none, it may retry now). Wrong guesses are counted apart from the API's
    Bearer tokens (app/auth_throttle.py) and logged as those are."""
    client = request.remote_addr or "-"
    throttle: FailureThrottle = current_app.extensions[THROTTLE_KEY][SIGN_IN]
    wait = throttle.retry_after(client)
    if wait:
        return wait
    expected = current_app.config["API_TOKEN"].encode("ascii")
    if hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected):
        return None
    log_refused(client, True, throttle.failed(client), SIGN_IN)
    return throttle.retry_after(client)


def init_app(app: Flask) -> None:
    """Session cookie settings, its secret and the shared sign-outs."""
    app.secret_key = secret_key(app.config["CONFIG_PATH"])
    app.extensions[SIGN_OUTS_KEY] = SignOuts(sign_outs_path(app.config["CONFIG_PATH"]),
                                             SESSION_HOURS * 3600)
    # Lax, not Strict: a link in an alert (a web chat, a webmail) opens signed in; every POST
    # still needs the session's CSRF token, and Lax sends no cookie with another site's POST.
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
                      SESSION_REFRESH_EACH_REQUEST=False)
