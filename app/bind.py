"""Where the API listens by default: loopback only, unless a token guards it or the operator says so.

An open API (no token) lets anyone who reaches it delete clips and rewrite the
config, so without a token it listens on 127.0.0.1 only. ``RTSP_PATROL_BIND``
(``host:port``, as gunicorn's ``-b``) always wins. gunicorn.conf.py and
``python -m app`` both ask here, and log the answer with its reason.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from app.auth import TOKEN_ENV, TOKEN_FILE_ENV

BIND_ENV = "RTSP_PATROL_BIND"
DEFAULT_PORT = 8080
LOOPBACK = "127.0.0.1"
EVERY_ADDRESS = "0.0.0.0"


def default_host(environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """The host to listen on when nobody named one, and why (a phrase for the log)."""
    if environ.get(TOKEN_ENV) or environ.get(TOKEN_FILE_ENV):
        return EVERY_ADDRESS, "an API token is configured"
    return LOOPBACK, f"loopback only, no API token is configured ({TOKEN_ENV})"


def bind_address(environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """gunicorn's bind (``host:port``): ``$RTSP_PATROL_BIND``, else :func:`default_host` on 8080; and why."""
    explicit = environ.get(BIND_ENV, "").strip()
    if explicit:
        return explicit, f"set by {BIND_ENV}"
    host, reason = default_host(environ)
    if host == LOOPBACK:
        reason += f"; {BIND_ENV}=0.0.0.0:{DEFAULT_PORT} listens on every address"
    return f"{host}:{DEFAULT_PORT}", reason
