"""Conditional GETs: ``If-None-Match`` with the current ``ETag`` is answered 304 Not Modified."""
from __future__ import annotations

from flask import Flask, Response, request


def init_app(app: Flask) -> None:
    """Answer 304 to a GET or HEAD whose ``If-None-Match`` names the answer's ``ETag``."""

    @app.after_request
    def _not_modified(response: Response) -> Response:
        if (request.method in ("GET", "HEAD") and response.status_code == 200
                and "ETag" in response.headers and "If-None-Match" in request.headers):
            # Weak comparison, as RFC 9110 asks for If-None-Match; "*" matches any tag.
            return response.make_conditional(request)
        return response
