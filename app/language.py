"""English on request: ``Accept-Language: en`` adds English beside the Chinese of an answer.

Nothing the seed defined changes, whatever the header says: ``message``,
``status_name`` and the rest keep their Chinese, and an English reader finds
``message_en``, ``status_name_en`` (each task), and ``reason_en``/``message_en``
in ``config_error``. Without the header, or when a client prefers Chinese or
names no language we speak, answers stay byte for byte what they were. The
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


def wants_english() -> bool:
    """True when the request's ``Accept-Language`` prefers English (``en``, ``en-US``…) to Chinese.

    The ranges are taken by quality (q=0 excludes one), in header order on a tie;
    the first that is English or Chinese decides; ``*`` means the default, Chinese.
    """
    for tag, quality in request.accept_languages:
        primary = tag.split("-", 1)[0].lower()
        if quality <= 0:
            continue
        if primary == ENGLISH:
            return True
        if primary in (CHINESE, "*"):
            return False
    return False


def english_body(body: dict) -> dict:
    """An answer's JSON with English beside its Chinese (a pure function of the body)."""
    answer = i18n.beside(body, _MESSAGE_KEYS)
    if isinstance(answer.get("config_error"), dict):
        answer["config_error"] = i18n.beside(answer["config_error"], _CONFIG_ERROR_KEYS)
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
