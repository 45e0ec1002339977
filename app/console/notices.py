"""A console form's outcome, said once on the page it leads to.

Kept in Flask's flashed messages (the signed session cookie), not in the URL: a reload, a
bookmark or the back button does not say it again.
"""
from __future__ import annotations

from flask import flash, get_flashed_messages, redirect, request


def noted_redirect(location: str, message: str):
    """A 303 to ``location``, whose page shows ``message`` once."""
    flash(message)
    return redirect(location, code=303)


def page_notice() -> str:
    """The outcome to show on this page (the latest, if several came), once; "" when none.
    Not taken by an htmx request (a page's own polling): the fragment it swaps in has no notice,
    and the page the form leads to, loading meanwhile in another tab, would lose it."""
    if request.headers.get("HX-Request"):
        return ""
    messages = get_flashed_messages()
    return messages[-1] if messages else ""
