"""The console's language: Chinese labels, English from shared/i18n.py's table on request.

``?lang=en`` (or ``?lang=zh``) switches and is kept in the session; without it
``Accept-Language`` decides, as it does for the JSON API (app/language.py).
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import request, session

from app.language import wants_english
from shared import i18n

LANGUAGES = ("zh", "en")
# Camera states (shared/camera_state.py) as the console labels them.
STATE_LABELS = {"online": "在线", "offline": "离线", "degraded": "降级", "unknown": "未知"}


def language() -> str:
    """``en`` or ``zh`` for this request (a ``?lang=`` choice is remembered)."""
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session["lang"] = chosen
        return chosen
    kept = session.get("lang")
    if kept in LANGUAGES:
        return kept
    return "en" if wants_english() else "zh"


def language_link(code: str, page: str | None = None) -> str:
    """The link to this page in language ``code``, every other query parameter kept (``next=``,
    ``offset=``…). ``page``: the page's own GET address, for one drawn in answer to a form at
    its POST-only URL; otherwise the link is relative, so the path stays as the browser has it."""
    kept = [] if page else [(name, value) for name, value in request.args.items(multi=True)
                            if name != "lang"]
    return (page or "") + "?" + urlencode([*kept, ("lang", code)])


def translator():
    """``_(text)``: a Chinese label or message as this request's language shows it."""
    if language() == "en":
        return _english
    return _same


def _english(text: str | None) -> str | None:
    """A text in English (one the table does not know stays as it is; none stays none)."""
    return i18n.english(text) if text else text


def _same(text: str | None) -> str | None:
    return text
