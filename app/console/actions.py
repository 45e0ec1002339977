"""The console's writes outside the settings: deleting clips and cycles, sign-in and sign-out.

Deletions go through app/results.py's rules (409 for what is being recorded),
answered as small HTML fragments for htmx with the API's status codes.
"""
from __future__ import annotations

from flask import make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from app.auth_throttle import SIGN_IN, wait_message
from app.cameras import check_camera
from app.console import access, bp, texts
from app.console.notices import noted_redirect, page_notice, page_notice_failed
from app.context import output_dir
from app.errors import ApiError
from app.pictures import set_reference
from app.results import remove_clip, remove_cycle
from shared.errors import (Conflict, ConfigUnavailable, NotFound, PatrolError,
                           PreconditionFailed, RecorderUnavailable, UnsafePath)

SIGN_OUT_NOT_RECORDED = ("已在此浏览器退出, 但服务器未能记录这次退出: "
                         "此登录的其他副本在过期前仍然有效")
# Domain errors as the API answers them (app/errors.py), here as HTML.
_STATUS = ((Conflict, 409), (NotFound, 404), (UnsafePath, 403), (PreconditionFailed, 412),
           (ConfigUnavailable, 503), (RecorderUnavailable, 503))


def status_of(exc: Exception) -> int:
    """The HTTP status the API gives this error."""
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, HTTPException):
        return exc.code or 500
    return next((status for kind, status in _STATUS if isinstance(exc, kind)), 500)


def message_of(exc: Exception) -> str:
    """The error's message as the API words it (``禁止访问: …`` for a refused path)."""
    if isinstance(exc, UnsafePath):
        return f"禁止访问: {exc}"
    if isinstance(exc, (ApiError,)):
        return exc.message
    if isinstance(exc, HTTPException):
        return exc.description or ""
    return str(exc)


@bp.errorhandler(PatrolError)
@bp.errorhandler(ApiError)
@bp.errorhandler(HTTPException)
def console_error(exc: Exception):
    """Errors of console pages as HTML (a fragment for htmx, a page otherwise)."""
    status = status_of(exc)
    if not request.headers.get("HX-Request"):
        return render_template("console/error.html", status=status,
                               message=message_of(exc)), status
    response = make_response(render_template("console/_error.html", status=status,
                                             message=message_of(exc)), status)
    # Whatever the element asked to replace, the message goes to the page's error slot.
    response.headers.update({"HX-Retarget": "#console-error", "HX-Reswap": "innerHTML"})
    return response


@bp.post("/cycles/<timestamp>/clips/<filename>/delete")
def delete_clip(timestamp: str, filename: str):
    try:
        remove_clip(output_dir()[0], timestamp, filename)  # which logs it
    except OSError:
        raise ApiError(500, "文件删除失败") from None  # the API's answer (logged)
    return ""  # htmx removes the clip's row


@bp.post("/cycles/<timestamp>/delete")
def delete_cycle(timestamp: str):
    try:
        remove_cycle(output_dir()[0], timestamp)  # which logs it
    except OSError:
        raise ApiError(500, "目录删除失败") from None
    response = make_response("")
    response.headers["HX-Redirect"] = url_for("console.cycles_page")
    return response


@bp.post("/cameras/<camera>/check")
def check_camera_now(camera: str):
    """The camera page's "check now" (``?probe=1``: "quick probe") form."""
    return _back_to_camera(camera, check_camera)


@bp.post("/cameras/<camera>/reference")
def set_camera_reference(camera: str):
    """The camera page's "set as reference" form: its latest thumbnail becomes the reference."""
    return _back_to_camera(camera, set_reference)


def _back_to_camera(camera: str, view):
    """Run the API's ``view`` for ``camera``; back to the camera's page with its message, a
    refusal (being checked already: 409, recorder down: 503) too, never a bare error page at
    the form's POST-only URL."""
    page = url_for("console.camera_page", camera=camera)
    try:
        answer = view(camera).get_json()
    except (PatrolError, ApiError) as exc:  # no such camera: its page says so in turn
        return noted_redirect(page, message_of(exc), failed=True)
    return noted_redirect(page, answer["message"])


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never ``//host`` or a scheme) may follow the sign-in; nothing
    with a space, control character or backslash either, since browsers drop tabs and line
    breaks from a Location (``/<tab>/host`` is ``//host`` to them) and read ``\\`` as ``/``."""
    if (target and target.startswith("/") and not target.startswith("//")
            and all(ch > " " and ch not in "\x7f\\" for ch in target)):
        return target
    return url_for("console.overview")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET" and access.signed_in():  # nothing to ask: on to the page
        return redirect(_safe_next(request.args.get("next")), code=303)
    if request.method == "GET" or not access.token_required():
        # A form's outcome said here (a sign-out that could not be recorded, another page's
        # notice): a refusal as the error, a success as a notice.
        notice, failed = page_notice(), page_notice_failed()
        return render_template("console/login.html",
                               error=texts.translator()(notice) if notice and failed else None,
                               notice="" if failed else notice,
                               next=_safe_next(request.args.get("next")))
    wait = access.check_token(request.form.get("token", ""))
    if wait is not None:
        said = texts.translator()(wait_message(SIGN_IN, wait) if wait else "令牌不正确")
        page = render_template("console/login.html", error=said,
                               next=_safe_next(request.form.get("next")))
        return (page, 429, {"Retry-After": str(wait)}) if wait else (page, 401)
    access.sign_in()
    return redirect(_safe_next(request.form.get("next")), code=303)


@bp.post("/logout")
def logout():
    if access.sign_out():
        return redirect(url_for("console.login"), code=303)
    return noted_redirect(url_for("console.login"), SIGN_OUT_NOT_RECORDED, failed=True)
