"""A file's answer to a GET or HEAD as RFC 9110 asks: its preconditions, then its Range.

Preconditions in the RFC's order (§13.2.2): ``If-Match``, else ``If-Unmodified-Since`` (412
when it fails); ``If-None-Match``, else ``If-Modified-Since`` (304). Then a ``Range`` of a
GET (§14.2), only while its ``If-Range`` holds (§13.1.5: the same strong tag, or exactly the
``Last-Modified`` date): one byte range is answered 206, or 416 when it starts beyond the
file; a Range we do not serve (bad syntax, another unit, several ranges) is ignored, as the
RFC asks of a server that does not support it, and the whole file is answered (200). The
syntax is the RFC's (§14.1.1, §14.1.2): no white space around the ``=`` or the ``-``.
"""
from __future__ import annotations

import re
from datetime import datetime

from flask import Request, Response
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import parse_date, parse_etags, quote_etag

from shared.errors import PreconditionFailed

FILE_CHANGED = "文件已被修改 (If-Match 或 If-Unmodified-Since 不满足)"
# RFC 9110 §14.1.2 (int-range, suffix-range): "bytes = 0-9" or "bytes=0 - 9" does not parse.
_INT_RANGE = re.compile(r"\A([0-9]+)-([0-9]*)\Z")
_SUFFIX_RANGE = re.compile(r"\A-([0-9]+)\Z")
# More digits than any file's length: such a position is only compared, never used.
_MAX_DIGITS = 20


def answer_file(response: Response, request: Request, length: int) -> Response:
    """``response``, the whole file of ``length`` bytes with its ``ETag`` and ``Last-Modified``
    set, made 304 or 206 as the request asks (or left as it is: 200).

    :raises PreconditionFailed: ``If-Match`` or ``If-Unmodified-Since`` fails (412).
    :raises RequestedRangeNotSatisfiable: one byte range, starting beyond the file (416).
    """
    tag, _ = response.get_etag()
    modified = response.last_modified
    response.accept_ranges = "bytes"
    headers = request.headers
    if "If-Match" in headers:
        if not parse_etags(headers["If-Match"]).contains(tag):  # strong comparison, or "*"
            raise PreconditionFailed(quote_etag(tag), FILE_CHANGED)
    elif _later(modified, parse_date(headers.get("If-Unmodified-Since"))):
        raise PreconditionFailed(quote_etag(tag), FILE_CHANGED)
    if "If-None-Match" in headers:
        if parse_etags(headers["If-None-Match"]).contains_weak(tag):
            return _not_modified(response)
    elif _not_later(modified, parse_date(headers.get("If-Modified-Since"))):
        return _not_modified(response)
    if request.method == "GET" and "Range" in headers and length > 0 \
            and _if_range_holds(headers.get("If-Range"), tag, modified):
        span = byte_span(headers["Range"], length)
        if span is not None:
            start, stop = span
            # Werkzeug sends the part (206, Content-Range), from a range already checked.
            response.make_conditional({"REQUEST_METHOD": "GET",
                                       "HTTP_RANGE": f"bytes={start}-{stop - 1}"},
                                      accept_ranges=True, complete_length=length)
    return response


def byte_span(header: str, length: int) -> tuple[int, int] | None:
    """``(start, stop)`` of the one byte range ``header`` asks of ``length`` bytes (``length``
    > 0); None for a Range not served (bad syntax, another unit, several ranges).

    :raises RequestedRangeNotSatisfiable: a valid range that starts beyond the file, or a
        suffix of 0 bytes (``bytes=-0``).
    """
    unit, equals, spec = header.strip(" \t").partition("=")  # a field value's own OWS aside
    if not equals or unit.lower() != "bytes" or "," in spec:
        return None
    whole = _INT_RANGE.fullmatch(spec)
    if whole is not None:
        first = _position(whole.group(1))
        last = _position(whole.group(2)) if whole.group(2) else None
        if last is not None and last < first:
            return None  # invalid: the RFC has it ignored
        if first >= length:
            raise RequestedRangeNotSatisfiable(length=length)
        return first, length if last is None else min(last + 1, length)
    suffix = _SUFFIX_RANGE.fullmatch(spec)
    if suffix is None:
        return None
    wanted = _position(suffix.group(1))
    if wanted == 0:
        raise RequestedRangeNotSatisfiable(length=length)
    return max(0, length - wanted), length  # a suffix longer than the file is all of it


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_DIGITS else 10 ** _MAX_DIGITS


def _later(modified: datetime | None, since: datetime | None) -> bool:
    """True when both dates are known (an unreadable date is ignored) and ``modified`` is
    later than ``since``."""
    return modified is not None and since is not None and modified > since


def _not_later(modified: datetime | None, since: datetime | None) -> bool:
    return modified is not None and since is not None and modified <= since


def _if_range_holds(value: str | None, tag: str | None, modified: datetime | None) -> bool:
    """True without ``If-Range``; else when it is our tag, strongly, or our date exactly."""
    if value is None:
        return True
    value = value.strip(" \t")
    if value.startswith(('"', "W/")):  # an entity tag: a weak one never matches strongly
        return tag is not None and value == quote_etag(tag)
    date = parse_date(value)
    return date is not None and modified is not None and date == modified


def _not_modified(response: Response) -> Response:
    response.status_code = 304  # Werkzeug sends no body, and closes the file
    return response
