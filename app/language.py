"""English on request: ``Accept-Language: en`` adds English beside the Chinese of an answer.

Nothing the seed defined changes, whatever the header says: ``message``,
``status_name`` and the rest keep their Chinese, and an English reader finds
``message_en``, ``status_name_en`` (each task), and ``reason_en``/``message_en``
in ``config_error`` and ``report_problem``. Without the header, or when a client prefers
Chinese or names no language we speak, answers stay byte for byte what they were. The
translations are shared/i18n.py's table; views know nothing of this.
"""
from __future__ import annotations

import json

from flask import Flask, Response, request

from shared import i18n, task_record

# Language ranges (RFC 9110) we answer; "*" and anything else get the default.
ENGLISH, CHINESE = "en", "zh"
_MESSAGE_KEYS = ("message",)
_CONFIG_ERROR_KEYS = ("reason", "message")


def _quality(params: list[str]) -> float:
    """The ``q`` of a language range's parameters (1 when absent; 0, i.e. refused, when unreadable)."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def _preference(header: str, language: str) -> tuple[float, int]:
    """How much ``header`` wants ``language``: the best (quality, earliness) of the ranges naming it.

    A range names it by its primary subtag (``en-US`` names ``en``); ``*``
    counts only for a language no other range names.
    """
    named: list[tuple[float, int]] = []
    wildcard: list[tuple[float, int]] = []
    for index, item in enumerate(header.split(",")):
        tag, *params = item.split(";")
        primary = tag.strip().split("-", 1)[0].lower()
        if primary in (language, "*"):
            (named if primary == language else wildcard).append((_quality(params), -index))
    return max(named or wildcard or [(0.0, 0)])


def wants_english() -> bool:
    """True when the request's ``Accept-Language`` prefers English (``en``, ``en-US``…) to Chinese.

    The higher quality wins (q=0 refuses a language), the earlier range on a
    tie; a header naming neither, or none at all, gets the default, Chinese.
    """
    header = request.headers.get("Accept-Language", "")
    english = _preference(header, ENGLISH)
    return english[0] > 0 and english > _preference(header, CHINESE)


def english_body(body: dict) -> dict:
    """An answer's JSON with English beside its Chinese (a pure function of the body)."""
    answer = i18n.beside(body, _MESSAGE_KEYS)
    for key in ("config_error", "report_problem"):  # each {"reason", "message", …}
        if isinstance(answer.get(key), dict):
            answer[key] = i18n.beside(answer[key], _CONFIG_ERROR_KEYS)
    if isinstance(answer.get("tasks"), list):
        answer["tasks"] = [task_record.with_english_name(task) if isinstance(task, dict) else task
                           for task in answer["tasks"]]
    return answer


def init_app(app: Flask) -> None:
    """Say that answers vary with ``Accept-Language``, and add English where it is asked for."""

    @app.after_request
    def _english(response: Response) -> Response:
        response.vary.add("Accept-Language")
        if not wants_english() or response.direct_passthrough or not response.is_json:
            return response
        body = response.get_json(silent=True)
        if isinstance(body, dict):
            # Encoded as jsonify does (compact, UTF-8), so only the added fields differ.
            response.set_data(json.dumps(english_body(body), ensure_ascii=False,
                                         separators=(",", ":")) + "\n")
        return response
