"""The operator console (SPEC "Console"): server-rendered pages over the same shared/ reads as the API.

Jinja2 templates, htmx (vendored in static/, see the README) for the live
fragments; no build step. Pages: ``/``, ``/cameras/<id>``, ``/cycles``,
``/cycles/<ts>``, ``/tasks``, ``/settings``.
"""
from __future__ import annotations

import hashlib
import re

from flask import Blueprint, Flask

from app.console import access, texts

bp = Blueprint("console", __name__, template_folder="templates", static_folder="static",
               static_url_path="/console/static")
bp.before_request(access.guard)
HTMX_FILE = "htmx-2.0.11.min.js"


def dom_id(camera: str) -> str:
    """An HTML id for a camera whatever its name holds (htmx swaps cards by id)."""
    return "cam-" + hashlib.sha1(camera.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def size_text(value: int | None) -> str:
    """Bytes as an operator reads them (``1.5 GB``)."""
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if amount < 1024 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"  # pragma: no cover - the loop always returns


# The bidi controls (embeddings, overrides, isolates, the marks U+061C, U+200E, U+200F) and
# the paragraph separators, which end an isolate too (NEL U+0085, U+2029, the C0 ones).
_BIDI_CONTROLS = re.compile(
    "[\n\r\x1c-\x1e\x85\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2029]")


def isolated(text: str) -> str:
    """Text set apart from what surrounds it, for the places no element can hold ``dir="auto"``
    (a page's title, a confirmation's question): a name written right to left (Arabic, Hebrew)
    between U+2068 FIRST STRONG ISOLATE and U+2069 POP DIRECTIONAL ISOLATE. A bidi control or
    paragraph separator in it is shown as its code (``<U+202E>``): a U+2069 would end the
    isolate early and a U+202E turn the text after it around. The config refuses them in
    names and output_filename, but a camera id from before that rule may hold one (the
    history keeps it)."""
    return "\u2068" + _BIDI_CONTROLS.sub(lambda found: f"<U+{ord(found.group()):04X}>",
                                         text) + "\u2069"


def percent_text(value: float | None) -> str:
    """A share (0..1) as a percentage, ``-`` for none."""
    return "-" if value is None else f"{value * 100:.1f}%"


@bp.context_processor
def _template_helpers() -> dict:
    return {"_": texts.translator(), "lang": texts.language(), "csrf_token": access.csrf_token,
            "token_required": access.token_required(), "htmx_file": HTMX_FILE,
            "language_link": texts.language_link,
            "state_labels": texts.STATE_LABELS}


def init_app(app: Flask) -> None:
    """Register the console: its session, guard, filters and pages."""
    from app.console import (actions, cycle_page, overview, pages,  # noqa: F401  (routes)
                             settings_page)
    from app.console.quality import verdicts
    from shared.camera_state import camera_id
    access.init_app(app)
    app.add_template_filter(verdicts, "verdicts")
    app.add_template_filter(dom_id, "dom_id")
    app.add_template_filter(camera_id, "camera_id")
    app.add_template_filter(size_text, "size")
    app.add_template_filter(percent_text, "pct")
    app.add_template_filter(isolated, "isolated")
    app.register_blueprint(bp)
