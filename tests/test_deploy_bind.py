"""Where the API listens: 127.0.0.1 unless a token is configured or RTSP_PATROL_BIND says otherwise.

Checked three ways: the policy itself (app/bind.py), what gunicorn.conf.py hands
gunicorn (``--print-config``, which binds nothing), and real servers that log
which address they took and why.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from app.auth import TOKEN_ENV, TOKEN_FILE_ENV
from app.bind import BIND_ENV, bind_address, default_host
from testkit.servers import REPO_ROOT, GunicornServer, free_port

START_DEADLINE_SECONDS = 30.0


@pytest.mark.parametrize("environ, expected", [
    ({}, "127.0.0.1:8080"),
    ({TOKEN_ENV: "t" * 32}, "0.0.0.0:8080"),
    ({TOKEN_FILE_ENV: "/etc/rtsp-patrol/api-token"}, "0.0.0.0:8080"),
    ({BIND_ENV: "0.0.0.0:9000"}, "0.0.0.0:9000"),
    ({BIND_ENV: "127.0.0.1:9001", TOKEN_ENV: "t" * 32}, "127.0.0.1:9001"),
    ({BIND_ENV: "  ", TOKEN_ENV: ""}, "127.0.0.1:8080"),
])
def test_bind_address_policy(environ, expected):
    address, reason = bind_address(environ)
    assert address == expected
    assert reason  # always says why, for the log


def test_the_reasons_name_what_to_change():
    assert "no API token" in bind_address({})[1] and BIND_ENV in bind_address({})[1]
    assert bind_address({TOKEN_ENV: "x"})[1] == "an API token is configured"
    assert bind_address({BIND_ENV: "[::1]:8080"})[1] == f"set by {BIND_ENV}"
    assert default_host({})[0] == "127.0.0.1"


def _environ(**changes: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in (BIND_ENV, TOKEN_ENV, TOKEN_FILE_ENV, "GUNICORN_CMD_ARGS")}
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(changes)
    return env


def _gunicorn_bind(**changes: str) -> str:
    """The ``bind`` line of ``gunicorn -c gunicorn.conf.py --print-config`` under this environment."""
    out = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--print-config"],
        cwd=REPO_ROOT, env=_environ(**changes), capture_output=True, text=True, timeout=60,
        check=True).stdout
    return next(line.split("=", 1)[1].strip() for line in out.splitlines()
                if line.startswith("bind "))


@pytest.mark.integration
def test_gunicorn_conf_binds_loopback_without_a_token():
    assert _gunicorn_bind() == "['127.0.0.1:8080']"
    assert _gunicorn_bind(**{TOKEN_ENV: "t" * 32}) == "['0.0.0.0:8080']"
    assert _gunicorn_bind(**{BIND_ENV: "0.0.0.0:8080"}) == "['0.0.0.0:8080']"


@pytest.mark.integration
def test_gunicorn_logs_the_address_and_why(tmp_path):
    config = tmp_path / "config.json"
    config.write_text('{"global_config": {}, "streams": []}\n', encoding="utf-8")
    with GunicornServer(str(config), workers=1) as server:
        log = server.log()
    assert f"API bind 127.0.0.1:{server.port}: set by {BIND_ENV}" in log, log


@pytest.mark.integration
def test_under_gunicorn_the_apis_own_lines_are_logged_plain_with_time_level_and_logger(tmp_path):
    # Before, gunicorn set up only its own loggers: the API's INFO lines (a clip deleted) were
    # lost and its warnings came out bare.
    config = tmp_path / "config.json"
    config.write_text('{"global_config": {"output_directory": "./output"}, "streams": []}\n',
                      encoding="utf-8")
    cycle = tmp_path / "output" / "20261130_120000"
    cycle.mkdir(parents=True)
    (cycle / "cam0.mp4").write_bytes(b"a clip")
    with GunicornServer(str(config), workers=2) as server:
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/api/video?path=./output/20261130_120000/cam0.mp4",
            method="DELETE")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        log = server.log()
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO app\.results: deleted clip "
                     r"20261130_120000/cam0\.mp4$", log, re.MULTILINE), log


def _listening_hosts(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp writes them) listening on ``port``."""
    hosts = set()
    with open("/proc/net/tcp", encoding="ascii") as handle:
        for line in handle.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            host, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                hosts.add(host)
    return hosts


@pytest.mark.integration
@pytest.mark.parametrize("token, host_hex, reason", [
    (None, "0100007F", "loopback only, no API token is configured"),
    ("t" * 32, "00000000", "an API token is configured"),
])
def test_development_server_binds_by_the_same_rule(tmp_path, token, host_hex, reason):
    config = tmp_path / "config.json"
    config.write_text('{"global_config": {}, "streams": []}\n', encoding="utf-8")
    port = free_port()
    env = _environ(**({TOKEN_ENV: token} if token else {}))
    log_path = tmp_path / "app.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "--config", str(config), str(tmp_path / "out"), str(port)],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while not _listening_hosts(port) and process.poll() is None:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)  # a poll interval
        assert _listening_hosts(port) == {host_hex}, log_path.read_text()
        assert f"API bind {'0.0.0.0' if token else '127.0.0.1'}:{port}: {reason}" \
            in log_path.read_text()
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.integration
@pytest.mark.parametrize("setting, said", [
    ({TOKEN_FILE_ENV: "{tmp}/empty-token"}, "holds no token"),
    ({TOKEN_ENV: "with a space in it but long"}, "must be visible ASCII without spaces"),
    ({"RTSP_PATROL_PROXY_HOPS": "two"}, "RTSP_PATROL_PROXY_HOPS must be a whole number"),
])
def test_gunicorn_refuses_unusable_access_settings_in_one_line(tmp_path, setting, said):
    # Before, each worker failed to boot with a traceback of its own and the master halted
    # after them; an operator reading the journal saw a wall of tracebacks.
    (tmp_path / "empty-token").write_text("\n", encoding="utf-8")
    config = tmp_path / "config.json"
    config.write_text('{"global_config": {}, "streams": []}\n', encoding="utf-8")
    changes = {name: value.replace("{tmp}", str(tmp_path)) for name, value in setting.items()}
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], cwd=REPO_ROOT,
        env=_environ(RTSP_PATROL_CONFIG=str(config), **{BIND_ENV: f"127.0.0.1:{free_port()}"},
                     **changes),
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    refused = [line for line in done.stderr.splitlines() if "API not started: " in line]
    assert len(refused) == 1 and said in refused[0], done.stderr
    assert "Traceback" not in done.stderr and "Booting worker" not in done.stderr, done.stderr
