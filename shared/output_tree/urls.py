"""Where the API serves what the output tree holds: clips, thumbnails, contact sheets."""
from __future__ import annotations

from urllib.parse import quote


THUMBNAIL_ROUTE = "/api/thumbnails/"
CONTACT_SHEET_ROUTE = "/api/contact_sheets/"


def contact_sheet_url(cycle: str, page: int = 1) -> str:
    """Where the API serves a page of a cycle's contact sheet (app/pictures.py)."""
    return CONTACT_SHEET_ROUTE + cycle + ("" if page == 1 else f"/{page}")


def thumbnail_url(cycle: str, clip: str) -> str:
    """Where the API serves a clip's thumbnail (app/pictures.py); ``cycle`` may be a check's folder."""
    return f"{THUMBNAIL_ROUTE}{quote(cycle, safe='/')}/{quote(clip, safe='')}"


CLIPS_URL = "/api/clips"


def clip_url(cycle: str, filename: str) -> str:
    """Where the API serves a clip (SPEC "Clips over HTTP"), the name percent-encoded."""
    return f"{CLIPS_URL}/{quote(cycle, safe='/')}/{quote(filename, safe='')}"
