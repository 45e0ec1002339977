"""Reading request input strictly: JSON object bodies and query parameters."""
from __future__ import annotations

import json
import re

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.errors import ApiError
from shared import strict_json

# An entity tag in a list: optional weakness prefix, then a quoted opaque string.
_ENTITY_TAG_RE = re.compile(r'(W/)?("[^"]*")')
# A config is 3 levels deep; deeper bodies are refused before any recursive code
# (validation, copying, encoding) can run out of stack on them.
MAX_BODY_DEPTH = 32


def init_app(app: Flask) -> None:
    """Refuse a body sent without Content-Length (chunked) that reaches MAX_CONTENT_LENGTH.

    Werkzeug stops reading such a body at the limit without a word: a JSON or form body of
    more than 1 MB was cut there, and what was left of it applied. Read whole here, once (the
    views read the same bytes from the cache), so that it is refused like one that says its
    length.
    """

    @app.before_request
    def _refuse_cut_body() -> None:
        if request.content_length is not None:
            return  # too long a declared length is refused by Werkzeug before any view
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        if limit is not None and len(request.get_data(cache=True)) >= limit:
            raise RequestEntityTooLarge()


def _too_deep(data: object, limit: int) -> bool:
    """True when ``data`` nests lists or objects more than ``limit`` levels (no recursion)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)
    return False


def json_object(required: bool = True) -> dict | None:
    """The request body as a JSON object; None for an empty optional body.

    :raises ApiError: 400 for an empty required body, malformed JSON or a non-object.
    """
    raw = request.get_data(cache=True)
    if not raw.strip() and required:
        raise ApiError(400, "请求体不能为空, 需要 JSON 对象")
    if not raw:
        # Only no body at all is an empty optional body: whitespace is no JSON
        # document, so it is refused like any other malformed body.
        return None
    try:
        data = strict_json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ApiError(400, "请求体必须是 UTF-8 编码的 JSON") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"请求体不是有效的 JSON: {exc.msg} (第{exc.lineno}行第{exc.colno}列)") from None
    except RecursionError:
        raise ApiError(400, f"请求体 JSON 嵌套过深 (最多 {MAX_BODY_DEPTH} 层)") from None
    except ValueError as exc:
        raise ApiError(400, f"请求体不是有效的 JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "请求体必须是 JSON 对象")
    if _too_deep(data, MAX_BODY_DEPTH):
        raise ApiError(400, f"请求体 JSON 嵌套过深 (最多 {MAX_BODY_DEPTH} 层)")
    try:
        # A "\ud800" escape parses to a lone surrogate, which no file name, file
        # or answer can hold: refuse it here, once, for every body.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "请求体不是有效的 JSON: 含有无效的 Unicode 字符 (单独的代理项)") from None
    return data


def query_text(name: str) -> str | None:
    """A query parameter given at most once (a repeated one is ambiguous, so refused)."""
    values = request.args.getlist(name)
    if len(values) > 1:
        raise ApiError(400, f"参数 {name} 只能出现一次")
    return values[0] if values else None


def query_int(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter in [low, high] (ASCII digits only); ``default`` when absent.

    :raises ApiError: 400 for anything else, ``"?limit="`` included.
    """
    text = query_text(name)
    if text is None:
        return default
    if text.isascii() and text.isdigit() and low <= int(text) <= high:
        return int(text)
    raise ApiError(400, f"参数 {name} 必须是 {low} 到 {high} 之间的整数")


def query_flag(name: str) -> bool:
    """A ``1``/``0`` query parameter; False when absent."""
    text = query_text(name)
    if text not in (None, "0", "1"):
        raise ApiError(400, f"参数 {name} 必须是 1 或 0")
    return text == "1"


def if_match() -> frozenset[str] | None:
    """The ``If-Match`` header as quoted strong tags (``"*"`` for any); None when absent.

    Weak tags (``W/"…"``) never match: a write needs the exact bytes the client saw.
    """
    header = request.headers.get("If-Match")
    if header is None:
        return None
    if header.strip() == "*":
        return frozenset({"*"})
    # Unquoted garbage yields no tag at all, so it matches nothing (412), as a stale tag would.
    return frozenset(tag for weak, tag in _ENTITY_TAG_RE.findall(header) if not weak)
