"""A clip's picture verdicts as the console shows them: each issue's label and its measure."""
from __future__ import annotations

from collections.abc import Iterable

from shared.camera_view import parsed_quality
from shared.quality_verdicts import VERDICT_LABELS


def verdicts(quality: dict | None) -> dict | None:
    """``{"checked", "issues": [{"name", "label", "value", "threshold"}]}`` of a parsed
    ``quality`` object (shared/camera_view.py::outcome); None when there is none.

    A part of the wrong shape is left out rather than failing the page: the object
    comes from the history, written by another program.
    """
    if not isinstance(quality, dict):
        return None
    measures = quality.get("measures")
    measures = measures if isinstance(measures, dict) else {}
    issues = quality.get("issues")
    shown = []
    for name in issues if isinstance(issues, list) else []:
        if not isinstance(name, str):
            continue
        measure = measures.get(name)
        measure = measure if isinstance(measure, dict) else {}
        shown.append({"name": name, "label": VERDICT_LABELS.get(name, name),
                      "value": _number(measure.get("value")),
                      "threshold": _number(measure.get("threshold"))})
    return {"checked": quality.get("checked") is True, "issues": shown}


def last_issues(stored: Iterable[str | None]) -> dict | None:
    """Of outcomes' stored ``quality`` texts, newest first, the newest checked picture's quality
    object when it has issues (the overview card's warning); None when it has none, or when
    no picture among them was checked (a failed task, a probe, the checks off)."""
    for text in stored:
        quality = parsed_quality(text)
        if quality is not None and quality.get("checked") is True:
            shown = verdicts(quality)
            return quality if shown and shown["issues"] else None
    return None


def _number(value: object) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value
