"""CORS: ``*`` on every /api answer, and preflights answered 204 No Content."""
from __future__ import annotations

from flask import Flask, Response, request
from flask_cors import CORS


def init_app(app: Flask) -> None:
    """Allow any origin; browsers may read the headers our clients need."""
    # "*" on every answer, preflights included (not the caller's Origin echoed back).
    # Browsers hide response headers from scripts unless they are exposed.
    CORS(app, resources={r"/api/*": {"origins": "*"}}, send_wildcard=True,
         expose_headers=["ETag", "Retry-After", "WWW-Authenticate"])

    @app.after_request
    def _no_content_for_options(response: Response) -> Response:
        # Flask answers OPTIONS itself with 200 and an empty body, which is neither
        # JSON nor "no content": say what it is.
        if request.method == "OPTIONS" and response.status_code == 200 and not response.data:
            response.status_code = 204
            response.headers.pop("Content-Type", None)
            response.headers.pop("Content-Length", None)
        return response
