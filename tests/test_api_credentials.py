"""Camera passwords: masked in every answer, kept when a client sends the masked form back."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from shared import atomic
from shared.atomic import write_json_atomic
from shared.urls import is_masked, mask_credentials, mask_in_text, unmask
from tests.helpers import assert_error, valid_config

SECRET_URL = "rtsp://admin:s3cret@127.0.0.1:8554/cam1"
TOKEN_URL = "rtsp://127.0.0.1:8554/cam2?user=view&password=t0psecret&channel=1"


@pytest.fixture
def secret_config(config_path: Path) -> Path:
    config = valid_config()
    config["streams"][0]["rtsp_url"] = SECRET_URL
    config["streams"][1]["rtsp_url"] = TOKEN_URL
    write_json_atomic(str(config_path), config)
    return config_path


def stored_urls(path: Path) -> list[str]:
    return [s["rtsp_url"] for s in json.loads(path.read_text(encoding="utf-8"))["streams"]]


@pytest.mark.parametrize(("url", "masked"), [
    ("rtsp://admin:s3cret@10.0.0.5:554/S/101", "rtsp://admin:***@10.0.0.5:554/S/101"),
    ("rtsp://admin@10.0.0.5/x", "rtsp://***@10.0.0.5/x"),
    ("rtsps://u:p@ss@cam.example.com/live", "rtsps://u:***@cam.example.com/live"),
    ("rtsp://h/x?password=a&pwd=b&PassWd=c&token=d&user=e",
     "rtsp://h/x?password=***&pwd=***&PassWd=***&token=***&user=e"),
    ("rtsp://h/x?mypassword=a", "rtsp://h/x?mypassword=a"),
    ("rtsp://10.0.0.5/plain", "rtsp://10.0.0.5/plain"),
])
def test_mask_credentials_and_back(url: str, masked: str) -> None:
    assert mask_credentials(url) == masked
    assert is_masked(masked) == (masked != url)
    assert unmask(masked, url) == url


def test_query_secrets_are_masked_in_text() -> None:
    url = "rtsp://u:pw1@h/x?token=tk9"
    text = mask_in_text(f"Opening {url} failed; token tk9", [url])
    assert "pw1" not in text and "tk9" not in text and "rtsp://u:***@h/x?token=***" in text


@pytest.mark.parametrize("endpoint", ["/api/config", "/api/config/streams"])
def test_reads_mask_passwords(client: FlaskClient, secret_config: Path, endpoint: str) -> None:
    body = client.get(endpoint).get_data(as_text=True)
    assert "s3cret" not in body and "t0psecret" not in body
    assert "rtsp://admin:***@127.0.0.1:8554/cam1" in body and "password=***" in body


def test_write_answers_mask_passwords(client: FlaskClient, secret_config: Path) -> None:
    answers = [client.put("/api/config/streams/0", json={"duration_seconds": 9}),
               client.post("/api/config/streams",
                           json={"rtsp_url": "rtsp://a:n3w@127.0.0.1/x", "duration_seconds": 5}),
               client.delete("/api/config/streams/1")]
    for response in answers:
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        assert "s3cret" not in text and "n3w" not in text and "t0psecret" not in text


def test_config_sent_back_masked_keeps_the_stored_passwords(client: FlaskClient,
                                                            secret_config: Path) -> None:
    config = client.get("/api/config").get_json()
    config["global_config"]["poll_cycles"] = 3
    assert client.put("/api/config", json=config).status_code == 200
    assert stored_urls(secret_config) == [SECRET_URL, TOKEN_URL]


def test_stream_sent_back_masked_keeps_its_password(client: FlaskClient,
                                                    secret_config: Path) -> None:
    stream = client.get("/api/config/streams").get_json()["streams"][0]
    response = client.put("/api/config/streams/0", json={"rtsp_url": stream["rtsp_url"],
                                                         "duration_seconds": 9})
    assert response.status_code == 200
    assert stored_urls(secret_config)[0] == SECRET_URL


def test_matching_is_by_output_filename_not_position(client: FlaskClient,
                                                     secret_config: Path) -> None:
    config = client.get("/api/config").get_json()
    config["streams"].reverse()
    assert client.put("/api/config", json=config).status_code == 200
    assert stored_urls(secret_config) == [TOKEN_URL, SECRET_URL]


def test_a_new_password_replaces_the_stored_one(client: FlaskClient, secret_config: Path) -> None:
    config = client.get("/api/config").get_json()
    config["streams"][0]["rtsp_url"] = "rtsp://admin:n3w@127.0.0.1:8554/cam1"
    assert client.put("/api/config", json=config).status_code == 200
    assert stored_urls(secret_config) == ["rtsp://admin:n3w@127.0.0.1:8554/cam1", TOKEN_URL]


def test_a_masked_password_with_nothing_stored_is_refused(client: FlaskClient,
                                                          secret_config: Path) -> None:
    before = secret_config.read_bytes()
    response = client.post("/api/config/streams", json={
        "rtsp_url": "rtsp://x:***@127.0.0.1/new", "duration_seconds": 5,
        "output_filename": "new.mp4"})
    assert_error(response, 400, "***")
    assert secret_config.read_bytes() == before


def test_saved_copies_keep_real_passwords(client: FlaskClient, secret_config: Path,
                                          tmp_path: Path) -> None:
    assert client.post("/api/config/save", json={"file_path": "copy.json"}).status_code == 200
    assert stored_urls(tmp_path / "copy.json") == [SECRET_URL, TOKEN_URL]


@pytest.mark.parametrize(("config_mode", "old_copy_mode", "copy_mode"), [
    (0o600, None, 0o600),
    (0o640, None, 0o640),
    (0o600, 0o644, 0o600),  # a world-readable old copy is replaced by a private one
    (0o640, 0o604, 0o600),  # nor wider than the old copy: both the config's and its bits
    (0o400, None, 0o600),  # the owner can always rewrite it
    (0o644, None, 0o600),  # a new copy under a strict umask (0077): narrowed by it too
], ids=["600", "640", "600-over-644", "640-over-604", "400", "644-umask-077"])
def test_a_saved_copy_is_never_readable_by_more_than_the_config(
        client: FlaskClient, secret_config: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, config_mode: int, old_copy_mode: int | None,
        copy_mode: int) -> None:
    # the units set no UMask; the last case's operator set 0077
    monkeypatch.setattr(atomic, "NEW_FILE_MODE", 0o600 if config_mode == 0o644 else 0o666)
    secret_config.chmod(config_mode)
    copy = tmp_path / "backup.json"
    if old_copy_mode is not None:
        copy.write_text("{}", encoding="utf-8")
        copy.chmod(old_copy_mode)
    fsync = os.fsync
    written = []

    def watching(fd: int) -> None:  # the temp file holds the passwords by now
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_size:
            written.append(stat.S_IMODE(info.st_mode))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", watching)
    assert client.post("/api/config/save", json={"file_path": "backup.json"}).status_code == 200
    assert written == [copy_mode]
    assert stat.S_IMODE(copy.stat().st_mode) == copy_mode
    assert stored_urls(copy) == [SECRET_URL, TOKEN_URL]
    assert stat.S_IMODE(secret_config.stat().st_mode) == config_mode


ALERTS = {"webhooks": [{"url": "https://hook:pw9@ops.example/h?token=tk7", "secret": "hm4c",
                        "events": ["camera.offline"]}, {"url": "http://127.0.0.1:9/plain"}],
          "notify": ["dingtalk://SEC0a1b@5d6e7f/", "mailtos://u:mailpw@example.com?to=a@b",
                     "dingtalk://other/"]}


@pytest.fixture
def alerts_config(config_path: Path) -> Path:
    config = valid_config()
    config["global_config"]["alerts"] = ALERTS
    write_json_atomic(str(config_path), config)
    return config_path


def stored_alerts(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))["global_config"]["alerts"]


@pytest.mark.parametrize("endpoint", ["/api/config", "/api/config/global"])
def test_reads_mask_the_alert_receivers_secrets(client: FlaskClient, alerts_config: Path,
                                                endpoint: str) -> None:
    body = client.get(endpoint).get_data(as_text=True)
    for secret in ("pw9", "tk7", "hm4c", "SEC0a1b", "5d6e7f", "mailpw", "other"):
        assert secret not in body, secret
    alerts = client.get("/api/config").get_json()["global_config"]["alerts"]
    assert alerts["notify"] == ["dingtalk://***", "mailtos://***", "dingtalk://***"]
    assert alerts["webhooks"][0]["secret"] == "***"
    assert alerts["webhooks"][1] == {"url": "http://127.0.0.1:9/plain"}


def test_alert_secrets_sent_back_masked_are_kept(client: FlaskClient, alerts_config: Path) -> None:
    config = client.get("/api/config").get_json()
    del config["global_config"]["alerts"]["notify"][1]  # the e-mail receiver removed
    assert client.put("/api/config", json=config).status_code == 200
    # Two masked dingtalk URLs look alike: each takes the stored one of its rank.
    assert stored_alerts(alerts_config) == {**ALERTS, "notify": [ALERTS["notify"][0],
                                                                 ALERTS["notify"][2]]}
    shown = client.get("/api/config/global").get_json()["alerts"]
    answer = client.put("/api/config/global", json={"alerts": shown})
    assert answer.status_code == 200 and "hm4c" not in answer.get_data(as_text=True)
    assert stored_alerts(alerts_config)["webhooks"] == ALERTS["webhooks"]


def test_a_masked_alert_secret_without_a_stored_one_is_refused(client: FlaskClient,
                                                               alerts_config: Path) -> None:
    answer = client.put("/api/config/global", json={"alerts": {
        "webhooks": [{"url": "http://127.0.0.1:9/new", "secret": "***"}]}})
    assert answer.status_code == 400
    assert "webhooks[0].secret" in answer.get_json()["message"]
    assert stored_alerts(alerts_config) == ALERTS
