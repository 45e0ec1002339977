"""Slow clients must not take the API down: 50 connections that never finish a request.

Half of them send nothing, half send a request line and then dribble one header
byte now and then, never ending the headers (slowloris). Meanwhile
``/api/health`` must answer within 1 s, again and again for longer than
gunicorn's 5 s wait for a first byte, both straight from gunicorn
(gunicorn.conf.py as shipped, 4 workers) and through nginx with
deploy/nginx.conf as shipped (only its ports changed), started by the test as a
non-daemon on free loopback ports in tmp_path.
"""
from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.nginx import NginxServer, write_config
from testkit.servers import GunicornServer

pytestmark = pytest.mark.integration

SLOW_CLIENTS = 50
ANSWER_WITHIN_SECONDS = 1.0
# Longer than gthread's 5 s wait for a first byte, shorter than nginx's 10 s header timeout.
PROBE_SECONDS = 8.0
PROBE_INTERVAL_SECONDS = 0.5
DRIBBLE_INTERVAL_SECONDS = 1.0


def health_within(port: int, timeout: float) -> float:
    """Seconds ``GET /api/health`` took on a new connection; raises when it took over ``timeout``."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.settimeout(max(timeout - (time.monotonic() - started), 0.001))
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b'"status":"ok"' in answer.replace(b" ", b""), answer[-200:]
    return elapsed


class SlowClients:
    """``count`` connections to ``port`` that never complete a request, until closed."""

    def __init__(self, port: int, count: int) -> None:
        self.sockets = [socket.create_connection(("127.0.0.1", port), timeout=5)
                        for _ in range(count)]
        self.dribblers = self.sockets[::2]
        for sock in self.dribblers:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._dribble, daemon=True)
        self._thread.start()

    def _dribble(self) -> None:
        while not self._stop.wait(DRIBBLE_INTERVAL_SECONDS):
            for sock in self.dribblers:
                try:
                    sock.sendall(b"a")
                except OSError:
                    pass  # dropped by the server: that is its right

    def close(self) -> None:
        """Stop dribbling and close every connection."""
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def assert_health_answers_under_slow_clients(port: int) -> None:
    """Open the slow clients, then probe /api/health for PROBE_SECONDS: every answer within 1 s."""
    clients = SlowClients(port, SLOW_CLIENTS)
    timings = []
    try:
        deadline = time.monotonic() + PROBE_SECONDS
        while time.monotonic() < deadline:
            try:
                timings.append(health_within(port, ANSWER_WITHIN_SECONDS))
            except OSError as exc:  # socket.timeout included
                pytest.fail(f"/api/health did not answer within {ANSWER_WITHIN_SECONDS} s "
                            f"after {len(timings)} answers with {SLOW_CLIENTS} slow clients: {exc!r}")
            time.sleep(PROBE_INTERVAL_SECONDS)  # the pace of a load balancer's probe
    finally:
        clients.close()
    assert len(timings) >= PROBE_SECONDS / (PROBE_INTERVAL_SECONDS + ANSWER_WITHIN_SECONDS)
    assert max(timings) < ANSWER_WITHIN_SECONDS, timings


@pytest.fixture
def api(tmp_path: Path) -> Iterator[GunicornServer]:
    config = tmp_path / "config.json"
    config.write_text('{"global_config": {}, "streams": []}\n', encoding="utf-8")
    with GunicornServer(str(config), workers=4) as server:
        server.wait_for_workers()
        yield server
        print("---- gunicorn log (tail) ----\n" + server.log()[-4000:])


@pytest.fixture
def nginx(tmp_path: Path, api: GunicornServer) -> Iterator[int]:
    """nginx with deploy/nginx.conf in front of ``api``; yields its port."""
    with NginxServer(tmp_path / "nginx", api.port) as server:
        yield server.port


def test_site_config_passes_nginx_t(tmp_path):
    argv = write_config(tmp_path, 1, 2)
    check = subprocess.run(argv + ["-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def test_health_answers_through_nginx_with_50_slow_clients(nginx):
    assert_health_answers_under_slow_clients(nginx)


def test_health_answers_from_bare_gunicorn_with_50_slow_clients(api):
    assert_health_answers_under_slow_clients(api.port)
