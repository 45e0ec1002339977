"""Camera passwords: masked in every answer, kept when a client sends the masked form back."""
from __future__ import annotations

import html
import json
import os
import re
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
    ("rtsp://h/x?access_token=a&key=b&api_key=c&sign=d&Signature=e&secret=f&apikey=g",
     "rtsp://h/x?access_token=***&key=***&api_key=***&sign=***&Signature=***&secret=***"
     "&apikey=***"),
    ("rtsp://10.0.0.5/plain", "rtsp://10.0.0.5/plain"),
])
def test_mask_credentials_and_back(url: str, masked: str) -> None:
    assert mask_credentials(url) == masked
    assert is_masked(masked) == (masked != url)
    assert unmask(masked, url) == url


def test_query_secrets_are_masked_in_text() -> None:
    url = "rtsp://u:pw1@h/x?token=tk9"
    text = mask_in_text(f"Opening {url} failed; Input #0, rtsp, from '{url}':", [url])
    assert "pw1" not in text and "tk9" not in text
    assert text.count("rtsp://u:***@h/x?token=***") == 2


def test_a_short_password_is_masked_where_it_stands_and_nowhere_else() -> None:
    # A password "404" blanked every 404 of the line: "HTTP *** Not Found", "port 8***".
    url = "rtsp://admin:404@127.0.0.1:8404/cam?password=404&channel=404"
    said = mask_in_text(f"{url}: Server returned 404 Not Found (HTTP 404)", [url])
    assert said == ("rtsp://admin:***@127.0.0.1:8404/cam?password=***&channel=404: "
                    "Server returned 404 Not Found (HTTP 404)")


@pytest.mark.parametrize("line", [
    "Opening 'rtsp://admin:404@cam/other' failed",  # the same account, another path
    "Redirected to rtsp://viewer:Xy7@cam:554/live?pwd=404&user=v",  # a URL not configured
    "Input from 'rtsps://u:p@ss@cam.example.com/live':",  # a password holding an '@'
])
def test_a_password_in_any_url_of_the_line_never_reaches_the_log(line: str) -> None:
    said = mask_in_text(line, ["rtsp://admin:404@cam/x"])
    assert not any(secret in said for secret in ("404", "Xy7", "p@ss")), said
    assert "***@" in said


def test_a_stored_secret_that_begins_like_the_mask_is_masked_all_the_same() -> None:
    from shared.alert_secrets import shown_webhook
    assert mask_credentials("rtsp://cam/x?password=***hunter2") == "rtsp://cam/x?password=***"
    assert shown_webhook("https://h/hook?access_token=***Zx9") == "https://h/hook?access_token=***"


@pytest.mark.parametrize("value", ["abcSECRET2", "***SECRET2", "abc:SECRET2", "***'SECRET2"])
def test_another_password_that_begins_like_the_configured_one_is_masked_whole(
        value: str) -> None:
    # The configured "abc" was masked to its own end: "password=***SECRET2", which the generic
    # pass then took for a value masked already.
    said = mask_in_text(f"Redirected to rtsp://cam2/y?password={value}&x=1: "
                        "Server returned 404 Not Found", ["rtsp://cam/x?password=abc"])
    assert said == ("Redirected to rtsp://cam2/y?password=***&x=1: "
                    "Server returned 404 Not Found"), said


def test_a_masked_query_secret_keeps_ffmpegs_colon_after_it() -> None:
    # The value pattern took "QueryPw9:" whole: the colon went with it, and the alert's
    # reason could not be told from the URL before it (shared.task_record.short_error).
    from shared.task_record import short_error
    url = "rtsp://auth:Auth9Pw@127.0.0.1:18704/live?password=QueryPw9"
    said = mask_in_text(f"{url}: Server returned 401 Unauthorized", [url])
    assert said == ("rtsp://auth:***@127.0.0.1:18704/live?password=***: "
                    "Server returned 401 Unauthorized")
    assert short_error(said, mask_credentials(url)) == "Server returned 401 Unauthorized"


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


@pytest.mark.parametrize("moved", [
    "rtsp://admin:***@127.0.0.2:8554/cam1",  # another host
    "rtsp://admin:***@127.0.0.1:18698/cam1",  # another port
    "rtsps://admin:***@127.0.0.1:8554/cam1",  # another scheme
    "rtsp://admin:***@127.0.0.2:18698/steal",  # the operator's test
])
def test_a_masked_password_is_not_moved_to_another_server(client: FlaskClient,
                                                          secret_config: Path, moved: str) -> None:
    # Whoever may edit but never read the password pointed the camera at a host of theirs,
    # and the stored password went into the new URL (config.json held it, ffmpeg sent it).
    before = secret_config.read_bytes()
    response = client.put("/api/config/streams/0", json={"rtsp_url": moved})
    assert_error(response, 400, "主机或端口")
    assert "streams[0].rtsp_url" in response.get_json()["message"]
    assert secret_config.read_bytes() == before


def test_a_masked_query_secret_is_not_moved_to_another_server(client: FlaskClient,
                                                              secret_config: Path) -> None:
    config = client.get("/api/config").get_json()
    assert config["streams"][1]["rtsp_url"].startswith("rtsp://127.0.0.1:8554/")
    config["streams"][1]["rtsp_url"] = config["streams"][1]["rtsp_url"].replace(
        "127.0.0.1:8554", "127.0.0.2:8554")
    before = secret_config.read_bytes()
    response = client.put("/api/config", json=config)
    assert_error(response, 400, "主机或端口")
    assert "streams[1].rtsp_url" in response.get_json()["message"]
    assert secret_config.read_bytes() == before


def test_a_masked_password_follows_a_new_path_on_the_same_server(client: FlaskClient,
                                                                  secret_config: Path) -> None:
    # Another channel of the same camera (README): the password goes where it went before.
    response = client.put("/api/config/streams/0",
                          json={"rtsp_url": "rtsp://admin:***@127.0.0.1:8554/cam1/sub"})
    assert response.status_code == 200
    assert stored_urls(secret_config)[0] == "rtsp://admin:s3cret@127.0.0.1:8554/cam1/sub"


@pytest.mark.parametrize(("masked", "stored", "restored"), [
    ("rtsp://a:***@h/y", "rtsp://a:pw@h:554/x", "rtsp://a:pw@h/y"),  # 554: the default port
    ("rtsp://a:***@H/x", "rtsp://a:pw@h/x", "rtsp://a:pw@H/x"),  # host names ignore case
    ("rtsp://a:***@h2/x", "rtsp://a:pw@h/x", None),
    ("rtsp://a:***@h:8554/x", "rtsp://a:pw@h/x", None),
    ("rtsp://h2/x?pwd=***", "rtsp://h/x?pwd=pw", None),
    ("redis://:***@evil:6379/0", "redis://:pw@10.0.0.9:6379/0", None),
    ("unix://:***@/tmp/evil.sock", "unix://:pw@/run/redis/redis.sock", None),
])
def test_unmask_gives_a_secret_back_to_its_own_server_only(masked: str, stored: str,
                                                           restored: str | None) -> None:
    assert unmask(masked, stored) == restored


def test_the_consoles_stream_form_does_not_move_a_password(client: FlaskClient,
                                                           secret_config: Path) -> None:
    page = client.get("/settings").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    etag = html.unescape(re.search(r'name="etag" value="([^"]+)"', page).group(1))
    before = secret_config.read_bytes()
    answer = client.post("/settings/streams/0", data={
        "csrf_token": csrf, "etag": etag, "rtsp_url": "rtsp://admin:***@127.0.0.2:18698/steal"})
    assert answer.status_code == 400 and "主机或端口" in answer.get_data(as_text=True)
    assert secret_config.read_bytes() == before


def test_a_masked_redis_password_is_not_moved_to_another_server(client: FlaskClient,
                                                                config_path: Path) -> None:
    config = valid_config()
    config["cluster"] = {"redis_url": "redis://:s3cret@127.0.0.1:6379/0"}
    write_json_atomic(str(config_path), config)
    shown = client.get("/api/config").get_json()
    shown["cluster"]["redis_url"] = shown["cluster"]["redis_url"].replace("127.0.0.1", "10.9.9.9")
    before = config_path.read_bytes()
    assert_error(client.put("/api/config", json=shown), 400, "主机或端口")
    assert config_path.read_bytes() == before


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


@pytest.mark.parametrize("hook", [
    {"url": "https://hook:***@127.0.0.2:18699/h?token=***", "secret": "***"},
    {"url": "https://hook:***@ops.example/h?token=***", "secret": "***"},  # as shown: kept
    {"url": "http://127.0.0.2:18699/h", "secret": "***"},
])
def test_a_masked_webhook_secret_is_not_moved_to_another_server(
        client: FlaskClient, alerts_config: Path, hook: dict) -> None:
    alerts = client.get("/api/config/global").get_json()["alerts"]
    kept = hook["url"] == alerts["webhooks"][0]["url"]
    alerts["webhooks"][0] = {**alerts["webhooks"][0], **hook}
    answer = client.put("/api/config/global", json={"alerts": alerts})
    assert answer.status_code == (200 if kept else 400), answer.get_json()
    assert stored_alerts(alerts_config) == ALERTS


QUERY_HOOK = "http://u:pw@127.0.0.1:18699/hook?access_token=QSECRET123"


@pytest.mark.parametrize("page", ["/api/config/global", "/api/config", "/settings"])
def test_a_webhooks_query_token_is_masked_wherever_shown(client: FlaskClient,
                                                         alerts_config: Path, page: str) -> None:
    # The operator's test: access_token was no secret parameter name, and showed in clear.
    hooks = [{"url": QUERY_HOOK}, {"url": "https://ops.example/h?code=c0de&sig=s1g&v=2"}]
    answer = client.put("/api/config/global", json={"alerts": {"webhooks": hooks}})
    assert answer.status_code == 200
    assert "QSECRET123" not in answer.get_data(as_text=True)
    body = client.get(page).get_data(as_text=True)
    for secret in ("QSECRET123", "pw@", "c0de", "s1g"):
        assert secret not in body, secret
    assert "access_token=***" in html.unescape(body)


def test_a_webhooks_masked_query_token_sent_back_keeps_the_stored_one(
        client: FlaskClient, alerts_config: Path) -> None:
    robots = [{"url": "https://oapi.example/robot/send?access_token=AAA"},
              {"url": "https://oapi.example/robot/send?access_token=BBB", "events": []},
              {"url": "https://oapi.example/multi?t=1&t=2"}]
    assert client.put("/api/config/global",
                      json={"alerts": {"webhooks": robots}}).status_code == 200
    shown = client.get("/api/config/global").get_json()["alerts"]
    assert [hook["url"] for hook in shown["webhooks"]] == [
        "https://oapi.example/robot/send?access_token=***",
        "https://oapi.example/robot/send?access_token=***",
        "https://oapi.example/multi?t=***&t=***"]
    assert client.put("/api/config/global", json={"alerts": shown}).status_code == 200
    assert stored_alerts(alerts_config)["webhooks"] == robots  # each robot its own token


@pytest.mark.parametrize("url", [
    "http://u:***@127.0.0.2:18699/hook?access_token=***",  # another host
    "http://u:***@127.0.0.1:18700/hook?access_token=***",  # another port
    "http://u:***@127.0.0.1:18699/other?access_token=***",  # another path: another receiver
])
def test_a_webhooks_masked_query_token_is_not_moved(client: FlaskClient, alerts_config: Path,
                                                    url: str) -> None:
    assert client.put("/api/config/global",
                      json={"alerts": {"webhooks": [{"url": QUERY_HOOK}]}}).status_code == 200
    before = alerts_config.read_bytes()
    answer = client.put("/api/config/global", json={"alerts": {"webhooks": [{"url": url}]}})
    assert answer.status_code == 400 and "webhooks[0].url" in answer.get_json()["message"]
    assert alerts_config.read_bytes() == before


def test_webhook_urls_mask_every_query_value_and_back() -> None:
    url = "https://h/x?a=1&T=2&a=3&empty="
    shown = "https://h/x?a=***&T=***&a=***&empty=***"
    assert mask_credentials(url, every_query_value=True) == shown
    assert is_masked(shown, every_query_value=True) and not is_masked(shown)
    assert unmask(shown, url, every_query_value=True) == url
    assert unmask("https://h/x?b=***", url, every_query_value=True) is None


FEISHU = "https://open.feishu.cn/open-apis/bot/v2/hook/8f3b2c1a-1d2e-4f5a-9b8c-7d6e5f4a3b2c"
SLACK = "https://hooks.slack.com/services/T0ABC12345/B0DEF67890/aBcDeFgHiJkLmNoPqRsTuVwX1"


@pytest.mark.parametrize("page", ["/api/config/global", "/api/config", "/settings"])
def test_a_webhooks_token_in_its_path_is_masked_wherever_shown_and_kept_when_sent_back(
        client: FlaskClient, alerts_config: Path, page: str) -> None:
    # Feishu and Slack put the robot's key in the path: shown in clear (and logged), where
    # README promises every receiver token masked.
    hooks = [{"url": FEISHU}, {"url": SLACK}, {"url": "https://ops.example/patrol-hook"}]
    assert client.put("/api/config/global",
                      json={"alerts": {"webhooks": hooks}}).status_code == 200
    body = html.unescape(client.get(page).get_data(as_text=True))
    assert "8f3b2c1a" not in body and "aBcDeFgH" not in body
    assert "/open-apis/bot/v2/hook/***" in body and "/services/T0ABC12345/B0DEF67890/***" in body
    assert "https://ops.example/patrol-hook" in body
    shown = client.get("/api/config/global").get_json()["alerts"]
    assert client.put("/api/config/global", json={"alerts": shown}).status_code == 200
    assert stored_alerts(alerts_config)["webhooks"] == hooks


def test_a_webhooks_masked_path_token_is_not_moved_and_not_stored_as_a_mask(
        client: FlaskClient, alerts_config: Path) -> None:
    assert client.put("/api/config/global",
                      json={"alerts": {"webhooks": [{"url": FEISHU}]}}).status_code == 200
    before = alerts_config.read_bytes()
    for url in ("https://evil.example/open-apis/bot/v2/hook/***",
                "https://open.feishu.cn/open-apis/bot/v2/hook/***?extra=1"):
        answer = client.put("/api/config/global", json={"alerts": {"webhooks": [{"url": url}]}})
        assert answer.status_code == 400, (url, answer.get_json())
    assert alerts_config.read_bytes() == before


def test_a_webhooks_path_token_is_not_logged() -> None:
    from recorder.alert_receivers import shown_target
    assert shown_target(f"webhook {FEISHU}") == (
        "webhook https://open.feishu.cn/open-apis/bot/v2/hook/***")


LOOKALIKE_HOOKS = [{"url": "https://oapi.example/robot/send?access_token=AAA"},
                   {"url": "https://oapi.example/robot/send?access_token=BBB"}]


def test_a_masked_webhook_that_could_be_either_of_two_lookalikes_is_refused(
        client: FlaskClient, alerts_config: Path) -> None:
    assert client.put("/api/config/global",
                      json={"alerts": {"webhooks": LOOKALIKE_HOOKS}}).status_code == 200
    config = client.get("/api/config").get_json()
    del config["global_config"]["alerts"]["webhooks"][0]  # the first robot removed
    answer = client.put("/api/config", json=config)
    assert answer.status_code == 400  # the second must not go out with the first one's token
    assert "webhooks[0].url" in answer.get_json()["message"]
    assert "完整" in answer.get_json()["message"]
    assert stored_alerts(alerts_config)["webhooks"] == LOOKALIKE_HOOKS
    config["global_config"]["alerts"]["webhooks"][0] = LOOKALIKE_HOOKS[1]  # given in full
    assert client.put("/api/config", json=config).status_code == 200
    assert stored_alerts(alerts_config)["webhooks"] == LOOKALIKE_HOOKS[1:]


def test_lookalike_webhooks_told_apart_by_their_other_fields_keep_their_tokens(
        client: FlaskClient, alerts_config: Path) -> None:
    hooks = [{**LOOKALIKE_HOOKS[0], "events": ["camera.offline"]},
             {**LOOKALIKE_HOOKS[1], "events": ["cycle.finished"]}]
    assert client.put("/api/config/global", json={"alerts": {"webhooks": hooks}}).status_code == 200
    shown = client.get("/api/config/global").get_json()["alerts"]
    assert client.put("/api/config/global", json={"alerts": shown}).status_code == 200
    assert stored_alerts(alerts_config)["webhooks"] == hooks  # sent back as read
    shown["webhooks"].reverse()  # reordered, or their events swapped: it cannot be told
    answer = client.put("/api/config/global", json={"alerts": shown})
    assert answer.status_code == 400 and "webhooks[0].url" in answer.get_json()["message"]
    assert stored_alerts(alerts_config)["webhooks"] == hooks
    # one given in full, the other masked: the masked one is the one left
    shown["webhooks"][0] = hooks[1]
    del shown["webhooks"][1]["events"]
    assert client.put("/api/config/global", json={"alerts": shown}).status_code == 200
    assert stored_alerts(alerts_config)["webhooks"] == [hooks[1], LOOKALIKE_HOOKS[0]]


def test_a_masked_notify_url_that_could_be_either_of_two_is_refused(
        client: FlaskClient, alerts_config: Path) -> None:
    shown = client.get("/api/config/global").get_json()["alerts"]
    del shown["notify"][0]  # the first dingtalk receiver removed: the other looks the same
    answer = client.put("/api/config/global", json={"alerts": shown})
    assert answer.status_code == 400 and "notify[1]" in answer.get_json()["message"]
    assert stored_alerts(alerts_config) == ALERTS


def test_streams_with_the_same_masked_url_keep_their_passwords_when_one_goes_or_they_move(
        client: FlaskClient, config_path: Path) -> None:
    config = valid_config()
    urls = ["rtsp://admin:one@127.0.0.1:8554/cam", "rtsp://admin:two@127.0.0.1:8554/cam"]
    for stream, url in zip(config["streams"], urls):
        stream["rtsp_url"] = url
    write_json_atomic(str(config_path), config)
    shown = client.get("/api/config").get_json()
    masked = "rtsp://admin:***@127.0.0.1:8554/cam"
    assert [stream["rtsp_url"] for stream in shown["streams"][:2]] == [masked] * 2
    shown["streams"][:2] = shown["streams"][1::-1]  # reordered
    assert client.put("/api/config", json=shown).status_code == 200
    assert stored_urls(config_path)[:2] == urls[::-1]
    shown["streams"][0]["output_filename"] = "renamed.mp4"  # then told apart by name only
    answer = client.put("/api/config", json=shown)
    assert answer.status_code == 400 and "streams[0].rtsp_url" in answer.get_json()["message"]
    assert stored_urls(config_path)[:2] == urls[::-1]
    del shown["streams"][0]  # the one with password "two" removed
    assert client.put("/api/config", json=shown).status_code == 200
    assert stored_urls(config_path)[0] == urls[0]


def test_a_webhook_given_in_full_with_its_secret_masked_keeps_its_own_secret(
        client: FlaskClient, alerts_config: Path) -> None:
    hooks = [{**LOOKALIKE_HOOKS[0], "secret": "sa"}, {**LOOKALIKE_HOOKS[1], "secret": "sb"}]
    assert client.put("/api/config/global", json={"alerts": {"webhooks": hooks}}).status_code == 200
    shown = client.get("/api/config/global").get_json()["alerts"]
    sent = [{**hooks[1], "secret": "***"}, shown["webhooks"][0]]  # B in full first, A as shown
    assert client.put("/api/config/global",
                      json={"alerts": {"webhooks": sent}}).status_code == 200
    assert stored_alerts(alerts_config)["webhooks"] == hooks[::-1]


def test_a_lookalike_webhook_masked_only_in_part_is_not_given_anothers_password(
        client: FlaskClient, alerts_config: Path) -> None:
    hooks = [{"url": "https://u:pw1@hooks.example/h?token=t1"},
             {"url": "https://u:pw2@hooks.example/h?token=t2"}]
    assert client.put("/api/config/global", json={"alerts": {"webhooks": hooks}}).status_code == 200
    sent = [{"url": "https://u:***@hooks.example/h?token=t2"},
            {"url": "https://u:***@hooks.example/h?token=***"}]
    answer = client.put("/api/config/global", json={"alerts": {"webhooks": sent}})
    assert answer.status_code == 400 and "webhooks[0].url" in answer.get_json()["message"]
    assert stored_alerts(alerts_config)["webhooks"] == hooks


def test_swapping_the_events_of_two_lookalike_webhooks_is_not_silently_undone(
        client: FlaskClient, alerts_config: Path) -> None:
    hooks = [{**LOOKALIKE_HOOKS[0], "events": ["cycle.finished"]},
             {**LOOKALIKE_HOOKS[1], "events": ["camera.offline"]}]
    assert client.put("/api/config/global", json={"alerts": {"webhooks": hooks}}).status_code == 200
    shown = client.get("/api/config/global").get_json()["alerts"]
    shown["webhooks"][0]["events"], shown["webhooks"][1]["events"] = (
        shown["webhooks"][1]["events"], shown["webhooks"][0]["events"])
    answer = client.put("/api/config/global", json={"alerts": shown})
    assert answer.status_code == 400  # an edit, or a reorder: the user is told, nothing lost
    assert "webhooks[0].url" in answer.get_json()["message"]
    assert "完整" in answer.get_json()["message"]
    assert stored_alerts(alerts_config)["webhooks"] == hooks
    shown["webhooks"][0]["url"] = hooks[0]["url"]  # given in full: the swap is kept
    assert client.put("/api/config/global", json={"alerts": shown}).status_code == 200
    assert stored_alerts(alerts_config)["webhooks"] == [
        {**hooks[0], "events": ["camera.offline"]}, {**hooks[1], "events": ["cycle.finished"]}]


def test_editing_one_lookalike_webhook_in_place_keeps_both_secrets(
        client: FlaskClient, alerts_config: Path) -> None:
    """Sent in the stored order with the URLs masked as read, one lookalike's events edited:
    each is the stored one at its place (was 400 until both URLs were given in full)."""
    hooks = [{**LOOKALIKE_HOOKS[0], "secret": "hmacA1", "events": ["cycle.finished"]},
             {**LOOKALIKE_HOOKS[1], "secret": "hmacB2", "events": ["camera.offline"]}]
    assert client.put("/api/config/global", json={"alerts": {"webhooks": hooks}}).status_code == 200
    shown = client.get("/api/config/global").get_json()["alerts"]
    shown["webhooks"][0]["events"] = ["cycle.finished", "camera.recovered"]
    answer = client.put("/api/config/global", json={"alerts": shown})
    assert answer.status_code == 200
    for secret in ("AAA", "BBB", "hmacA1", "hmacB2"):
        assert secret not in answer.get_data(as_text=True)
    hooks[0]["events"] = ["cycle.finished", "camera.recovered"]
    assert stored_alerts(alerts_config)["webhooks"] == hooks
    config = client.get("/api/config").get_json()  # the other one, through PUT /api/config
    del config["global_config"]["alerts"]["webhooks"][1]["events"]
    assert client.put("/api/config", json=config).status_code == 200
    del hooks[1]["events"]
    assert stored_alerts(alerts_config)["webhooks"] == hooks


@pytest.mark.parametrize("edit", ["both edited", "masked in part", "one removed"])
def test_lookalike_webhooks_that_are_not_at_their_places_are_still_refused(
        client: FlaskClient, alerts_config: Path, edit: str) -> None:
    """Two edited could be a reorder as well (which hook is which cannot be told); a URL
    masked only in part is no stored one's; one removed leaves either (3082360, 10abf5d)."""
    hooks = [{"url": "https://u:pw1@hooks.example/h?token=t1", "events": ["cycle.finished"]},
             {"url": "https://u:pw2@hooks.example/h?token=t2", "events": ["camera.offline"]}]
    assert client.put("/api/config/global", json={"alerts": {"webhooks": hooks}}).status_code == 200
    shown = client.get("/api/config/global").get_json()["alerts"]["webhooks"]
    shown[1]["events"] = ["camera.recovered"]
    if edit == "both edited":
        shown[0]["events"] = ["recorder.disk_low"]
    elif edit == "masked in part":
        shown[1]["url"] = "https://u:***@hooks.example/h?token=t1"
    else:
        del shown[0]
    answer = client.put("/api/config/global", json={"alerts": {"webhooks": shown}})
    assert answer.status_code == 400 and "完整地址" in answer.get_json()["message"]
    assert stored_alerts(alerts_config)["webhooks"] == hooks


def test_a_new_webhook_url_with_a_masked_secret_is_told_the_secret_is_missing(
        client: FlaskClient, alerts_config: Path) -> None:
    """A new URL, given in full, that looks like two stored ones with other secrets: the
    secret cannot be told, not the address (it said 请填写完整地址, give the full URL)."""
    hooks = [{**LOOKALIKE_HOOKS[0], "secret": "sa"}, {**LOOKALIKE_HOOKS[1], "secret": "sb"}]
    assert client.put("/api/config/global", json={"alerts": {"webhooks": hooks}}).status_code == 200
    shown = client.get("/api/config/global").get_json()["alerts"]
    shown["webhooks"].append({"url": "https://oapi.example/robot/send?access_token=CCC",
                              "secret": "***"})
    answer = client.put("/api/config/global", json={"alerts": shown},
                        headers={"Accept-Language": "en"})
    assert answer.status_code == 400
    body = answer.get_json()
    assert "webhooks[2].secret" in body["message"]
    assert "请填写完整的密钥" in body["message"] and "完整地址" not in body["message"]
    assert "give the secret in full" in body["message_en"] and "URL" in body["message_en"]
    assert "full URL" not in body["message_en"]
    assert stored_alerts(alerts_config)["webhooks"] == hooks


def test_a_webhook_url_masked_in_part_with_a_masked_secret_is_told_to_give_the_url(
        client: FlaskClient, alerts_config: Path) -> None:
    """A URL masked only in part (``?access_token=AAA***``) is what is missing (README): it was
    refused at its secret with 请填写完整的密钥, give the secret in full."""
    hooks = [{**LOOKALIKE_HOOKS[0], "secret": "sa"}, {**LOOKALIKE_HOOKS[1], "secret": "sb"}]
    assert client.put("/api/config/global", json={"alerts": {"webhooks": hooks}}).status_code == 200
    shown = client.get("/api/config/global").get_json()["alerts"]
    shown["webhooks"].append({"url": "https://oapi.example/robot/send?access_token=AAA***",
                              "secret": "***"})
    answer = client.put("/api/config/global", json={"alerts": shown})
    assert answer.status_code == 400
    message = answer.get_json()["message"]
    assert "webhooks[2].url" in message and "请填写完整地址" in message
    assert "完整的密钥" not in message
    assert stored_alerts(alerts_config)["webhooks"] == hooks


@pytest.mark.parametrize("kind", ["webhook", "notify"])
def test_a_url_masked_in_part_is_refused_when_no_lookalikes_differ(
        client: FlaskClient, alerts_config: Path, kind: str) -> None:
    """One stored hook, its URL sent back masked only in part (``?access_token=AAA***``) with
    its secret as ``***``: it was saved as sent, the *** in the token, and alerts went to a
    broken token. Refused at the URL (README); a notify URL likewise."""
    alerts = {"webhooks": [{"url": "https://hooks.example.com/send?access_token=AAABBBCCC",
                            "secret": "s1"}],
              "notify": ["dingtalk://SEC0a1b@5d6e7f/"]}
    assert client.put("/api/config/global", json={"alerts": alerts}).status_code == 200
    shown = client.get("/api/config/global").get_json()["alerts"]
    if kind == "webhook":
        shown["webhooks"][0]["url"] = "https://hooks.example.com/send?access_token=AAA***"
        where = "webhooks[0].url"
    else:
        shown["notify"][0] = "dingtalk://SEC0***"
        where = "notify[0]"
    answer = client.put("/api/config/global", json={"alerts": shown},
                        headers={"Accept-Language": "en"})
    assert answer.status_code == 400
    body = answer.get_json()
    assert where in body["message"] and "请填写完整地址" in body["message"]
    assert "full URL" in body["message_en"]
    assert stored_alerts(alerts_config) == alerts


@pytest.mark.parametrize("place", [0, 1, 2])
def test_a_new_lookalike_webhook_sent_masked_is_the_one_named_wherever_it_stands(
        client: FlaskClient, alerts_config: Path, place: int) -> None:
    """A new lookalike, its URL masked, put before or between the two stored ones sent back as
    read: the 400 named webhooks[2].url, the stored B, not the new one (README: it names it)."""
    assert client.put("/api/config/global",
                      json={"alerts": {"webhooks": LOOKALIKE_HOOKS}}).status_code == 200
    shown = client.get("/api/config/global").get_json()["alerts"]
    shown["webhooks"].insert(place, {"url": "https://oapi.example/robot/send?access_token=***",
                                     "events": ["camera.offline"]})
    answer = client.put("/api/config/global", json={"alerts": shown})
    assert answer.status_code == 400
    message = answer.get_json()["message"]
    assert f"webhooks[{place}].url" in message and "请填写完整地址" in message
    assert stored_alerts(alerts_config)["webhooks"] == LOOKALIKE_HOOKS


def test_a_new_lookalike_webhook_sent_masked_after_the_stored_ones_is_the_one_named(
        client: FlaskClient, alerts_config: Path) -> None:
    """Two stored lookalikes sent back as read and a third added after them, its URL masked:
    the 400 named webhooks[0].url, an entry left as it was."""
    assert client.put("/api/config/global",
                      json={"alerts": {"webhooks": LOOKALIKE_HOOKS}}).status_code == 200
    shown = client.get("/api/config/global").get_json()["alerts"]
    shown["webhooks"].append({"url": "https://oapi.example/robot/send?access_token=***"})
    answer = client.put("/api/config/global", json={"alerts": shown})
    assert answer.status_code == 400
    message = answer.get_json()["message"]
    assert "webhooks[2].url" in message and "webhooks[0]" not in message
    assert stored_alerts(alerts_config)["webhooks"] == LOOKALIKE_HOOKS
