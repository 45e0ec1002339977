"""The demo's own config: made from the example once, and checked against the camera's port.

``.demo/config.json`` is copied from the tracked example on the first run, with the
demo camera's port; after that it is the user's (cameras added through the API live
in it) and is never made again, so a later ``--camera-port`` does not reach it.
"""
from __future__ import annotations

import ipaddress
import json
import os
from urllib.parse import urlsplit

from shared.atomic import write_bytes_once
from shared.gateways import DEFAULT_PORTS
from shared.urls import mask_credentials

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE_CONFIG = os.path.join(ROOT, "config.json")
EXAMPLE_CAMERA_PORT = 8554


def prepare_demo_dir(demo_dir: str, camera_port: int) -> str:
    """The demo's config, copied from the example on the first run (camera port applied)."""
    os.makedirs(demo_dir, exist_ok=True)
    config_path = os.path.join(demo_dir, "config.json")
    if not os.path.exists(config_path):
        with open(EXAMPLE_CONFIG, encoding="utf-8") as handle:
            text = handle.read()
        text = text.replace(f"rtsp://127.0.0.1:{EXAMPLE_CAMERA_PORT}/",
                            f"rtsp://127.0.0.1:{camera_port}/")
        # Both make targets may prepare it at once: one makes it, whole.
        if write_bytes_once(config_path, text.encode("utf-8"), or_replace=True):
            print(f"run_demo: created {config_path} from the example config.json", flush=True)
    return config_path


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def streams_off_the_camera_port(config: object, camera_port: int) -> list[tuple[str, int]]:
    """The streams of ``config`` on this machine but not on ``camera_port``: "name URL" (masked)
    and the port."""
    found = []
    streams = config.get("streams") if isinstance(config, dict) else None
    for index, stream in enumerate(streams if isinstance(streams, list) else []):
        url = stream.get("rtsp_url") if isinstance(stream, dict) else None
        if not isinstance(url, str):
            continue
        parts = urlsplit(url)
        try:
            port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 554)
        except ValueError:
            continue
        if _is_loopback(parts.hostname or "") and port != camera_port:
            name = stream.get("output_filename", f"streams[{index}]")
            found.append((f"{name} {mask_credentials(url)}", port))
    return found


def camera_port_warning(config_path: str, camera_port: int) -> str | None:
    """What to tell when the demo config has cameras on this machine at another port; None if not.

    A demo config made for another ``--camera-port`` keeps that port (cameras added
    through the API live in it, so it is not made again), and every task of the demo
    camera's then fails with 连接错误. The URLs are not rewritten: a loopback URL on
    another port may as well be a camera of the user's own.
    """
    try:
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return None  # the recorder and the API report a broken config themselves
    elsewhere = streams_off_the_camera_port(config, camera_port)
    if not elsewhere:
        return None
    ports = sorted({port for _, port in elsewhere})
    their_port = str(ports[0]) if len(ports) == 1 else "N"
    lines = [f"warning: the demo camera listens on port {camera_port}, but {config_path} "
             "has cameras on this machine at another port:",
             *(f"  {stream}" for stream, _ in elsewhere),
             "if they are the demo camera's, each of their tasks fails (连接错误): change their "
             f"port to {camera_port} (console /settings),",
             f'or run with their port (make run DEMO_ARGS="--camera-port {their_port}"), or '
             f"delete {config_path} to have it made again from the example"]
    return "".join(f"run_demo: {line}\n" for line in lines)
