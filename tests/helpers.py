"""Helpers shared by the API tests (plain functions and constants; fixtures live in conftest.py)."""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from werkzeug.test import TestResponse

from app.auth import TOKEN_ENV

if TYPE_CHECKING:
    from testkit.servers import GunicornServer

VALID_CONFIG: dict[str, Any] = {
    "global_config": {
        "total_poll_duration_seconds": 60,
        "max_concurrent_streams": 2,
        "output_directory": "./output",
        "report_filename": "rtsp_report.json",
        "connection_timeout_seconds": 10,
        "read_timeout_seconds": 15,
        "poll_cycles": -1,
        "cycle_interval_seconds": 30,
    },
    "streams": [
        {"rtsp_url": "rtsp://127.0.0.1:8554/cam1", "duration_seconds": 15, "weight": 1.0,
         "output_filename": "test_stream1.mp4"},
        {"rtsp_url": "rtsp://127.0.0.1:8554/cam2", "duration_seconds": 20, "weight": 1.5,
         "output_filename": "test_stream2.mp4"},
    ],
}

REPORT_FILES: dict[str, bytes] = {
    "rtsp_report.json": b'{"summary": {}}\n',
    "report.txt": "巡检报告\n".encode("utf-8"),
    "streams.csv": b"stream_index,status\n0,4\n",
}
DEFAULT_CLIPS: dict[str, bytes] = {"test_stream1.mp4": b"\x00\x00\x00\x18ftypisom" + b"a" * 100}


class MakeCycle(Protocol):
    """The ``make_cycle`` fixture: build ``output/<name>/`` with clips and report files."""

    def __call__(self, name: str, files: dict[str, bytes] | None = None,
                 reports: bool = True) -> Path: ...


class WriteStatus(Protocol):
    """The ``write_status`` fixture: write the recorder's status file, fresh or stale."""

    def __call__(self, *, stale: bool = False, **overrides: Any) -> dict: ...


ERROR_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                 405: "Method Not Allowed", 409: "Conflict", 412: "Precondition Failed",
                 413: "Request Entity Too Large", 416: "Requested Range Not Satisfiable",
                 500: "Internal Server Error",
                 503: "Service Unavailable"}


def valid_config() -> dict[str, Any]:
    """A fresh copy of the fixture config (tests may mutate it)."""
    return copy.deepcopy(VALID_CONFIG)


def assert_error(response: TestResponse, status: int, contains: str | None = None) -> dict:
    """``response`` is the JSON error shape ``{"error": <reason>, "message": <detail>}`` with ``status``."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict)
    assert body["error"] == ERROR_REASONS[status]
    assert isinstance(body["message"], str) and body["message"]
    if contains is not None:
        assert contains in body["message"], body["message"]
    return body


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (to prove it is byte-for-byte unchanged)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot_files(root: Path) -> dict[str, bytes | str]:
    """Every file and symlink under ``root`` (not following links): content, or ``-> target``."""
    found: dict[str, bytes | str] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink():
                found[str(path)] = "-> " + os.readlink(path)
            elif path.is_file():
                found[str(path)] = path.read_bytes()
    return found


@contextlib.contextmanager
def mounted_tmpfs(mount_point: Path, size: int) -> Iterator[Path]:
    """``mount_point`` (made here) as a tmpfs of ``size`` bytes of its own, unmounted afterwards.

    Skips where mounting is not allowed (not root, or a container without the right:
    CI runs the tests as root); any other mount failure fails the test.
    """
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the tests as root)")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                             str(mount_point)], capture_output=True, text=True)
    if result.returncode != 0:
        if "permission denied" in result.stderr.lower() or "not permitted" in result.stderr.lower():
            pytest.skip(f"mount is not permitted here: {result.stderr.strip()}")
        pytest.fail(f"cannot mount a tmpfs: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=True)


# --- under gunicorn -----------------------------------------------------------------------------

# Each access-log line names the worker that answered: "ACCESS <pid> status METHOD path".
ACCESS_LOG_FORMAT = 'ACCESS %(p)s %(s)s "%(m)s %(U)s"'
_ACCESS_RE = re.compile(r'ACCESS <(\d+)> (\d{3}) "(\w+) (\S+)"')


def token_server_setup(tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, dict[str, str]]:
    """For a GunicornServer with an API token: a valid config.json in ``tmp_path``, a new
    token, and the server's env (the token; each access-log line naming its worker). The
    requests go to 127.0.0.1 directly, whatever proxy the shell names."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(valid_config(), indent=2) + "\n", encoding="utf-8")
    token = secrets.token_urlsafe(32)
    return config_path, token, {
        TOKEN_ENV: token, "GUNICORN_CMD_ARGS": f"--access-logformat '{ACCESS_LOG_FORMAT}'"}


def answers_by_worker(server: GunicornServer, method: str, path: str,
                      since: int = 0) -> dict[int, set[int]]:
    """Statuses each worker pid answered to ``method path``, from the access log after ``since``."""
    found: dict[int, set[int]] = {}
    for pid, status, seen_method, seen_path in _ACCESS_RE.findall(server.log()[since:]):
        if (seen_method, seen_path) == (method, path):
            found.setdefault(int(pid), set()).add(int(status))
    return found


def from_every_worker(server: GunicornServer, send: Callable[[], object], method: str,
                      path: str, rounds: int = 10) -> dict[int, set[int]]:
    """Call ``send()`` 40 times per round from 8 threads until every worker has answered one.

    Returns the statuses each worker gave (only answers to these calls).
    """
    workers = server.worker_pids()
    since = len(server.log())
    answers: dict[int, set[int]] = {}
    for _ in range(rounds):
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: send(), range(40)))
        answers = answers_by_worker(server, method, path, since)
        if set(workers) <= set(answers):
            break
    else:
        pytest.fail(f"some worker never answered: {workers} vs {answers}")
    assert server.worker_pids() == workers, "a worker was replaced"
    return answers
