"""Fixtures for the API tests: a config file, an output tree and a status file, all under tmp_path.

Nothing here touches the repository's own config.json: every test gets its
own folder, config, output tree and state folder.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import auth, create_app, proxy
from shared import settings
from shared.atomic import write_json_atomic
from shared.status_file import STALE_AFTER_SECONDS, empty_status
from tests.helpers import DEFAULT_CLIPS, REPORT_FILES, MakeCycle, WriteStatus, valid_config

# The RTSP test cameras (camera_server, hanging_port, closing_port, refusing_port) for the
# recorder tests.
pytest_plugins = ["tests.camera_fixtures"]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The settings module reads these; a developer's shell must not redirect the tests.
    for name in (settings.CONFIG_ENV, settings.STATE_DIR_ENV, settings.OUTPUT_DIR_ENV,
                 auth.TOKEN_ENV, auth.TOKEN_FILE_ENV, auth.PROTECT_READS_ENV,
                 proxy.PROXY_HOPS_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """tmp_path/config.json holding a valid config with two 127.0.0.1 streams."""
    path = tmp_path / "config.json"
    write_json_atomic(str(path), valid_config())
    return path


@pytest.fixture
def output_root(tmp_path: Path) -> Path:
    """The output folder the app serves (tmp_path/output), created empty."""
    root = tmp_path / "output"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture
def app(tmp_path: Path, config_path: Path, output_root: Path) -> Flask:
    flask_app = create_app({"CONFIG_PATH": str(config_path), "OUTPUT_DIR": "./output",
                            "OUTPUT_BASE": str(tmp_path)})
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as test_client:
        yield test_client


@pytest.fixture
def make_cycle(output_root: Path) -> MakeCycle:
    """Build ``output/<name>/`` with clips (``files``) and, by default, the three report files."""

    def build(name: str, files: dict[str, bytes] | None = None, reports: bool = True) -> Path:
        folder = output_root / name
        folder.mkdir(parents=True, exist_ok=True)
        for filename, content in (DEFAULT_CLIPS if files is None else files).items():
            (folder / filename).write_bytes(content)
        if reports:
            for filename, content in REPORT_FILES.items():
                (folder / filename).write_bytes(content)
        return folder

    return build


@pytest.fixture
def status_path(config_path: Path) -> Path:
    return Path(settings.status_path(str(config_path)))


@pytest.fixture
def control_path(config_path: Path) -> Path:
    return Path(settings.control_path(str(config_path)))


@pytest.fixture
def write_status(status_path: Path) -> WriteStatus:
    """Write the recorder's status file (format of shared/status_file.py).

    The heartbeat is fresh (now) unless ``stale=True``; ``overrides`` replace
    top-level keys (``cycle`` and ``stats`` are merged into the defaults).
    """

    def write(*, stale: bool = False, **overrides: Any) -> dict:
        age = 10 * STALE_AFTER_SECONDS + 60 if stale else 0.0
        status = empty_status()
        status.update(pid=os.getpid(), heartbeat=time.time() - age,
                      heartbeat_monotonic=time.monotonic() - age)
        for key, value in overrides.items():
            if isinstance(status.get(key), dict) and isinstance(value, dict):
                status[key] = {**status[key], **value}
            else:
                status[key] = value
        status_path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(str(status_path), status)
        return status

    return write
