"""Debian's nginx with deploy/nginx.conf as shipped (only its ports changed), in front of a test API.

It runs as a non-daemon on a free loopback port, every file it writes in a folder
of the test's own (``root``), and is stopped gracefully on exit.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from testkit.servers import REPO_ROOT, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE = Path(REPO_ROOT, "deploy", "nginx.conf")
START_DEADLINE_SECONDS = 30.0

# The smallest main config that keeps every file nginx writes in ``root``.
MAIN_CONF = """\
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 768; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/site.conf;
}}
"""


def site_on_ports(text: str, listen_port: int, api_port: int) -> str:
    """deploy/nginx.conf with only its ports changed (loopback, free ports)."""
    replacements = [("listen 80;", f"listen 127.0.0.1:{listen_port};"),
                    ("listen [::]:80;", ""),
                    ("server 127.0.0.1:8080;", f"server 127.0.0.1:{api_port};")]
    for old, new in replacements:
        assert text.count(old) == 1, f"deploy/nginx.conf no longer has exactly one {old!r}"
        text = text.replace(old, new)
    return text


def write_config(root: Path, listen_port: int, api_port: int) -> list[str]:
    """The site and main config in ``root``; the nginx command line that uses them."""
    (root / "site.conf").write_text(
        site_on_ports(SITE.read_text(encoding="utf-8"), listen_port, api_port), encoding="utf-8")
    (root / "nginx.conf").write_text(MAIN_CONF.format(root=root), encoding="utf-8")
    return [NGINX, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")]


def answers_health(port: int, timeout: float) -> bool:
    """True when ``GET /api/health`` on ``port`` answers 200 within ``timeout``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class NginxServer:
    """nginx in front of the API on ``api_port``, as a context manager; ``port`` is its own."""

    def __init__(self, root: Path, api_port: int) -> None:
        if not os.access(NGINX, os.X_OK):
            raise RuntimeError("nginx is missing: `make deps` installs it (apt-get install nginx)")
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.argv = write_config(self.root, self.port, api_port)
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "NginxServer":
        check = subprocess.run(self.argv + ["-t"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
        self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while not answers_health(self.port, 5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("nginx did not come up:\n" + self.error_log())
            time.sleep(0.05)  # a poll interval

    def error_log(self) -> str:
        """nginx's error log so far."""
        path = self.root / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Graceful stop (SIGQUIT: finish what is in flight), then a kill if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
