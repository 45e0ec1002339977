"""Client addresses behind a reverse proxy: how many proxies' X-Forwarded-* headers to trust.

``RTSP_PATROL_PROXY_HOPS`` (default 0) is the number of proxies in front of gunicorn
that set ``X-Forwarded-For`` / ``X-Forwarded-Proto`` (deploy/nginx.conf: 1). With 0
the headers are ignored, so a client cannot choose its address; with N the address
the N-th proxy saw is the client's (Werkzeug's ProxyFix), so the wrong-token
throttle (app/auth_throttle.py) and the log lines count real clients, not nginx.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.auth import AccessSettingError

PROXY_HOPS_ENV = "RTSP_PATROL_PROXY_HOPS"
# More proxies than this in front of one API is a mistake, not a deployment.
MAX_PROXY_HOPS = 5


def hops_from_environment(environ: Mapping[str, str] = os.environ) -> int:
    """``RTSP_PATROL_PROXY_HOPS`` as an integer 0–5 (unset or empty: 0).

    :raises AccessSettingError: anything else (trusting the wrong hop would let
        clients pick their address, so the app refuses to start).
    """
    text = environ.get(PROXY_HOPS_ENV, "").strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) > MAX_PROXY_HOPS:
        raise AccessSettingError(
            f"{PROXY_HOPS_ENV} must be a whole number 0–{MAX_PROXY_HOPS}, not {text!r}")
    return int(text)


def init_app(app: Flask) -> None:
    """Trust ``app.config["PROXY_HOPS"]`` proxies' forwarded address and scheme (0: none)."""
    hops = app.config.get("PROXY_HOPS", 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
