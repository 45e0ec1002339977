"""Hostile things at config.json, its lock path, the state files and the API token file: a FIFO,
a directory, mode 000."""
from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

import recorder.config_watch
import recorder.daemon
from app import auth
from recorder.held_recoveries import held_cycles, held_path
from recorder.history_import import read_report
from shared import settings
from shared.atomic import write_json_atomic
from shared.config_file import load_config
from shared.control_file import load_control, request_reload, request_start
from shared.errors import ConfigError
from shared.status_file import empty_status, read_status
from tests.helpers import assert_error, file_digest, valid_config

NOW = 1_760_000_000.0
# Only a guard against hanging forever: a FIFO read blocks until a writer comes.
HANG_GUARD_SECONDS = 30.0


def finishes(action: Callable[[], object], fifo: Path) -> tuple[bool, object]:
    """Run ``action``; (False, None) if it blocked (the FIFO is then opened to release it)."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = action()
        except Exception as exc:  # noqa: BLE001 - handed to the test as a value
            outcome["value"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_SECONDS)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # EOF for the stuck reader
        thread.join()
        return False, None
    return True, outcome["value"]


def plant_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def test_a_fifo_at_config_json_is_refused_at_once(config_path: Path) -> None:
    plant_fifo(config_path)
    done, error = finishes(lambda: load_config(str(config_path)), config_path)
    assert done, "load_config hung on a FIFO"
    assert isinstance(error, ConfigError) and "不是普通文件" in error.message


@pytest.mark.parametrize(("method", "url", "body"), [
    ("get", "/api/config", None), ("get", "/api/config/streams", None),
    ("put", "/api/config/global", {"poll_cycles": 3}), ("post", "/api/config/reload", None)])
def test_the_api_answers_a_fifo_with_json(app: Flask, config_path: Path, method: str,
                                          url: str, body: object) -> None:
    plant_fifo(config_path)
    done, response = finishes(lambda: getattr(app.test_client(), method)(url, json=body),
                              config_path)
    assert done, f"{method} {url} hung on a FIFO"
    status = 400 if url.endswith("/reload") else 503
    assert_error(response, status, "不是普通文件")


def test_a_whole_config_replaces_a_fifo(app: Flask, config_path: Path) -> None:
    plant_fifo(config_path)
    done, response = finishes(lambda: app.test_client().put("/api/config", json=valid_config()),
                              config_path)
    assert done and response.status_code == 200
    assert stat.S_ISREG(os.stat(config_path).st_mode)


def started_daemon(tmp_path: Path) -> recorder.daemon.Daemon:
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {"cycle_interval_seconds": 0,
                                                 "min_free_space_mb": 0}, "streams": []})
    request_start(settings.control_path(config), empty_status())
    daemon = recorder.daemon.Daemon(config)
    daemon.step(10.0, NOW)
    assert daemon.config_watch.config is not None
    return daemon


def test_the_recorder_keeps_its_config_when_a_fifo_is_planted(tmp_path: Path) -> None:
    daemon = started_daemon(tmp_path)
    good = daemon.config_watch.config
    plant_fifo(Path(daemon.config_path))
    done, _ = finishes(lambda: daemon.step(11.0, NOW + 1), Path(daemon.config_path))
    assert done, "the recorder's loop hung on a FIFO"
    assert daemon.config_watch.config == good and daemon.state.running
    assert "不是普通文件" in read_status(daemon.publisher.path)["config_error"]["reason"]


def test_the_recorder_sees_a_chmod_that_makes_the_config_readable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tests run as root, whom mode 000 does not stop: refuse such a file as any
    # other user's open would, through the loader the daemon calls.
    real = recorder.config_watch.load_config_in_rule

    def as_another_user(path: str) -> dict:
        if not os.stat(path).st_mode & 0o444:
            raise ConfigError("", "无法读取配置文件: Permission denied", file="config.json")
        return real(path)

    monkeypatch.setattr(recorder.config_watch, "load_config_in_rule", as_another_user)
    daemon = started_daemon(tmp_path)
    os.chmod(daemon.config_path, 0)
    request_reload(settings.control_path(daemon.config_path))
    daemon.step(11.0, NOW + 1)
    assert daemon.config_watch.error is not None
    os.chmod(daemon.config_path, 0o644)  # the fix: nothing else changes
    daemon.step(12.0, NOW + 2)
    assert daemon.config_watch.error is None
    assert read_status(daemon.publisher.path)["config_error"] is None


@pytest.mark.parametrize(("method", "url", "body"), [
    ("put", "/api/config", valid_config()), ("put", "/api/config/global", {"poll_cycles": 3})])
def test_a_write_leaves_a_mode_000_config_readable(client: FlaskClient, config_path: Path,
                                                   method: str, url: str, body: object) -> None:
    os.chmod(config_path, 0)
    assert getattr(client, method)(url, json=body).status_code == 200
    assert stat.S_IMODE(os.stat(config_path).st_mode) & 0o600 == 0o600
    assert client.get("/api/config").status_code == 200


def test_a_kept_mode_gains_only_owner_read_write(client: FlaskClient, config_path: Path) -> None:
    os.chmod(config_path, 0o640)
    assert client.put("/api/config/global", json={"poll_cycles": 3}).status_code == 200
    assert stat.S_IMODE(os.stat(config_path).st_mode) == 0o640


@pytest.mark.parametrize(("method", "url", "body"), [
    ("put", "/api/config", valid_config()), ("put", "/api/config/global", {"poll_cycles": 3}),
    ("post", "/api/config/streams", {"rtsp_url": "rtsp://127.0.0.1/x", "duration_seconds": 5}),
    ("delete", "/api/config/streams/0", None), ("post", "/api/config/save", None)])
def test_a_directory_at_the_lock_path_is_a_503_with_a_message(
        client: FlaskClient, config_path: Path, method: str, url: str, body: object) -> None:
    (config_path.parent / "config.json.lock").mkdir()
    digest = file_digest(config_path)
    response = getattr(client, method)(url, json=body)
    assert_error(response, 503, "config.json.lock")
    assert "Retry-After" not in response.headers  # waiting does not help; removing it does
    assert file_digest(config_path) == digest


def plant_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def test_a_folder_at_config_json_is_refused_as_not_a_file(config_path: Path) -> None:
    plant_folder(config_path)
    with pytest.raises(ConfigError, match="不是普通文件"):
        load_config(str(config_path))


@pytest.mark.parametrize(("method", "url", "body", "status"), [
    ("get", "/api/config", None, 503), ("get", "/api/config/streams", None, 503),
    ("put", "/api/config/global", {"poll_cycles": 3}, 503),
    ("post", "/api/config/reload", None, 400)])
def test_the_api_answers_a_folder_at_config_json_with_json(app: Flask, config_path: Path,
                                                           method: str, url: str, body: object,
                                                           status: int) -> None:
    # Every route answered 500 with an IsADirectoryError traceback.
    plant_folder(config_path)
    response = getattr(app.test_client(), method)(url, json=body)
    assert_error(response, status, "不是普通文件")
    assert app.test_client().get("/api/timestamps").status_code == 200


def test_the_recorder_keeps_its_config_when_a_folder_is_planted(tmp_path: Path) -> None:
    daemon = started_daemon(tmp_path)
    good = daemon.config_watch.config
    plant_folder(Path(daemon.config_path))
    daemon.step(11.0, NOW + 1)
    assert daemon.config_watch.config == good and daemon.state.running
    assert "不是普通文件" in read_status(daemon.publisher.path)["config_error"]["reason"]


@pytest.mark.parametrize("name", ["status.json", "control.json"])
def test_a_fifo_in_the_state_folder_is_read_as_missing_at_once(tmp_path: Path, name: str) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    read = {"status.json": read_status, "control.json": load_control}[name]
    done, value = finishes(lambda: read(str(fifo)), fifo)
    assert done, f"reading {name} hung on a FIFO"
    assert value == {"status.json": empty_status(), "control.json": None}[name]


def test_a_fifo_as_the_api_token_file_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "token"
    os.mkfifo(fifo)
    done, error = finishes(
        lambda: auth.settings_from_environment({auth.TOKEN_FILE_ENV: str(fifo)}), fifo)
    assert done, "reading the token file hung on a FIFO"
    assert isinstance(error, auth.AccessSettingError) and "not a regular file" in str(error)


def test_a_fifo_as_the_held_recoveries_note_is_read_as_none_held_at_once(tmp_path: Path) -> None:
    config_path = str(tmp_path / "config.json")
    fifo = Path(held_path(config_path))
    fifo.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(fifo)
    done, value = finishes(lambda: held_cycles(config_path), fifo)
    assert done, "reading held_recoveries.json hung on a FIFO"
    assert value == []


def test_a_fifo_as_a_cycle_report_is_read_as_unreadable_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "report.json"
    os.mkfifo(fifo)
    done, value = finishes(lambda: read_report(str(fifo)), fifo)
    assert done, "reading a cycle's report hung on a FIFO"
    assert value is None


def test_a_symlink_as_a_cycle_report_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"tasks": []}', encoding="utf-8")
    (tmp_path / "report.json").symlink_to(elsewhere)
    assert read_report(str(elsewhere)) == {"tasks": []}
    assert read_report(str(tmp_path / "report.json")) is None
