"""Behind nginx (app/proxy.py): the client's own address counts, and only when a proxy is trusted."""
from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path

import pytest
from flask import Flask

from app import auth_throttle, create_app, proxy
from app.auth import AccessSettingError
from testkit.nginx import NginxServer
from testkit.servers import GunicornServer

TOKEN = "proxy-t0ken-a1B2c3D4e5F6"
WRONG = {"Authorization": "Bearer wrong"}


def _app(tmp_path: Path, config_path: Path, hops: int) -> Flask:
    flask_app = create_app({"CONFIG_PATH": str(config_path), "OUTPUT_DIR": "./output",
                            "OUTPUT_BASE": str(tmp_path), "API_TOKEN": TOKEN,
                            "PROXY_HOPS": hops})
    flask_app.config["TESTING"] = True
    return flask_app


def _post_from(client, forwarded_for: str):
    return client.post("/api/scheduler/stop", headers={**WRONG, "X-Forwarded-For": forwarded_for},
                       environ_base={"REMOTE_ADDR": "127.0.0.1"})


@pytest.mark.parametrize("text, hops", [("", 0), ("0", 0), ("1", 1), (" 2 ", 2), ("5", 5)])
def test_hops_from_the_environment(text: str, hops: int) -> None:
    assert proxy.hops_from_environment({proxy.PROXY_HOPS_ENV: text}) == hops
    assert proxy.hops_from_environment({}) == 0


@pytest.mark.parametrize("text", ["-1", "6", "one", "1.5", "0x1"])
def test_an_unusable_hop_count_stops_the_app(text: str, tmp_path: Path, config_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(proxy.PROXY_HOPS_ENV, text)
    with pytest.raises(AccessSettingError, match=proxy.PROXY_HOPS_ENV):
        create_app({"CONFIG_PATH": str(config_path)})


def test_with_a_trusted_proxy_each_forwarded_client_is_throttled_apart(
        tmp_path: Path, config_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = _app(tmp_path, config_path, hops=1).test_client()
    for _ in range(auth_throttle.FAILURE_LIMIT):
        assert _post_from(client, "198.51.100.1").status_code == 401
    assert _post_from(client, "198.51.100.1").status_code == 429
    assert _post_from(client, "198.51.100.2").status_code == 401
    assert "throttling 198.51.100.1" in caplog.text and "from 127.0.0.1" not in caplog.text


def test_without_a_trusted_proxy_the_header_is_ignored(tmp_path: Path, config_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    client = _app(tmp_path, config_path, hops=0).test_client()
    for _ in range(auth_throttle.FAILURE_LIMIT):
        assert _post_from(client, "198.51.100.1").status_code == 401
    # A client cannot step out of its count by naming another address.
    assert _post_from(client, "198.51.100.2").status_code == 429
    assert "throttling 127.0.0.1" in caplog.text and "198.51.100" not in caplog.text


def _post_through(port: int, source: str, spoofed: str) -> int:
    """POST with a wrong token to nginx on ``port`` from the loopback address ``source``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                            source_address=(source, 0))
    try:
        connection.request("POST", "/api/scheduler/stop", body=b"",
                           headers={**WRONG, "X-Forwarded-For": spoofed})
        return connection.getresponse().status
    finally:
        connection.close()


def _loopback_alias_works() -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.2", 0))
            return True
        except OSError:
            return False


@pytest.mark.integration
def test_through_nginx_the_throttle_counts_the_real_client(tmp_path: Path,
                                                         config_path: Path) -> None:
    """deploy/nginx.conf + RTSP_PATROL_PROXY_HOPS=1 (deploy/environment): two clients on two
    loopback addresses are counted apart, and a forged X-Forwarded-For changes nothing."""
    if not _loopback_alias_works():
        pytest.skip("127.0.0.2 cannot be bound here")
    config_path.write_text(json.dumps({"global_config": {}, "streams": []}), encoding="utf-8")
    env = {"RTSP_PATROL_API_TOKEN": TOKEN, proxy.PROXY_HOPS_ENV: "1"}
    # One worker: the counts live in each worker's memory (app/auth_throttle.py).
    with GunicornServer(str(config_path), workers=1, env=env) as api, \
            NginxServer(tmp_path / "nginx", api.port) as nginx:
        for _ in range(auth_throttle.FAILURE_LIMIT):
            assert _post_through(nginx.port, "127.0.0.2", "203.0.113.9") == 401
        assert _post_through(nginx.port, "127.0.0.2", "203.0.113.10") == 429
        assert _post_through(nginx.port, "127.0.0.3", "127.0.0.2") == 401
        log = api.log()
    assert "throttling 127.0.0.2" in log and "throttling 203.0.113" not in log
    # gunicorn's access log keeps what nginx forwarded beside its own peer (nginx).
    assert "forwarded=203.0.113.9, 127.0.0.2" in log
