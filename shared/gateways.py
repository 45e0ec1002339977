"""A stream's gateway: the ``host:port`` its RTSP URL pulls from, the key of the per-gateway cap."""
from __future__ import annotations

from urllib.parse import urlsplit

# The port a URL without one reaches (RTSP over TLS has its own), for every scheme a
# config's URLs use: rtsp://cam/ and rtsp://cam:554/ are one server.
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443,
                 "redis": 6379, "rediss": 6379}


def gateway_key(url: str) -> str:
    """``rtsp://u:p@Cam.Example:8554/x`` → ``cam.example:8554``; the scheme's port when none."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or DEFAULT_PORTS.get(parts.scheme.lower(), 554)
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets, so the port stays readable
        host = f"[{host}]"
    return f"{host}:{port}"
