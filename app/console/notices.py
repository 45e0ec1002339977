"""A console form's outcome, said once on the page it leads to.

Kept in Flask's flashed messages (the signed session cookie), not in the URL: a reload, a
bookmark or the back button does not say it again.
"""
from __future__ import annotations

from flask import flash, get_flashed_messages, redirect, request


# The flash category of an outcome that is a refusal (shown in red), not a success.
FAILED = "failed"


def noted_redirect(location: str, message: str, failed: bool = False):
    """A 303 to ``location``, whose page shows ``message`` once (``failed``: as a refusal)."""
    flash(message, FAILED if failed else "message")
    return redirect(location, code=303)


def page_notice() -> str:
    """The outcome to show on this page (the latest, if several came), once; "" when none.
    Not taken by an htmx request (a page's own polling): the fragment it swaps in has no notice,
    and the page the form leads to, loading meanwhile in another tab, would lose it."""
    if request.headers.get("HX-Request"):
        return ""
    messages = get_flashed_messages()
    return messages[-1] if messages else ""


def page_notice_failed() -> bool:
    """Whether this page's notice (:func:`page_notice`) says that a form was refused."""
    if request.headers.get("HX-Request"):
        return False
    messages = get_flashed_messages(with_categories=True)
    return bool(messages) and messages[-1][0] == FAILED
