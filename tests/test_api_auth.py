"""Access control (app/auth.py): an optional bearer token for writes, and for reads when asked."""
from __future__ import annotations

import hmac
import json
import re
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from app import auth, auth_throttle, create_app
from tests.helpers import (assert_error, file_digest, from_every_worker, snapshot_files,
                           token_server_setup, valid_config)
from testkit.servers import GunicornServer

TOKEN = "t0ken-" + "a1B2c3D4e5F6g7H8"
ORIGIN = "http://dashboard.example.com"
NEW_STREAM = {"rtsp_url": "rtsp://127.0.0.1:8554/cam9", "duration_seconds": 5}
_PARAM_RE = re.compile(r"<(?:[a-zA-Z_]+(?:\([^)]*\))?:)?([a-zA-Z_]+)>")
SAMPLE_ARGS = {"index": "0", "timestamp": "20251010_163000", "action": "stop"}

# (method, url, body): one request for every write route, valid enough to succeed when allowed.
WRITES: list[tuple[str, str, object]] = [
    ("put", "/api/config", valid_config()),
    ("put", "/api/config/global", {"poll_cycles": 5}),
    ("post", "/api/config/streams", NEW_STREAM),
    ("put", "/api/config/streams/0", {"duration_seconds": 9}),
    ("delete", "/api/config/streams/1", None),
    ("post", "/api/config/save", {"file_path": "copy.json"}),
    ("post", "/api/config/reload", None),
    ("delete", "/api/video?path=./output/20251010_163000/test_stream1.mp4", None),
    ("delete", "/api/timestamp/20251010_163000", None),
    ("post", "/api/scheduler/start", None),
    ("post", "/api/scheduler/stop", None),
]
READS = ["/api/config", "/api/config/global", "/api/config/streams", "/api/timestamps",
         "/api/videos", "/api/tasks", "/api/tasks/status", "/api/scheduler/status",
         "/api/scheduler/cycle", "/api/openapi.json"]


def _app(tmp_path: Path, config_path: Path, **access: object) -> Flask:
    flask_app = create_app({"CONFIG_PATH": str(config_path), "OUTPUT_DIR": "./output",
                            "OUTPUT_BASE": str(tmp_path), **access})
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def locked_app(tmp_path: Path, config_path: Path, output_root: Path) -> Flask:
    return _app(tmp_path, config_path, API_TOKEN=TOKEN)


@pytest.fixture
def locked_client(locked_app: Flask) -> FlaskClient:
    return locked_app.test_client()


@pytest.fixture
def sealed_client(tmp_path: Path, config_path: Path, output_root: Path) -> FlaskClient:
    return _app(tmp_path, config_path, API_TOKEN=TOKEN, API_PROTECT_READS=True).test_client()


@pytest.fixture
def world(tmp_path: Path, make_cycle, write_status) -> Path:
    """A cycle folder and a live recorder, so every write in WRITES can succeed."""
    make_cycle("20251010_163000")
    write_status(scheduler_running=False)
    return tmp_path


def _send(client: FlaskClient, method: str, url: str, body: object,
          authorization: str | None = None, **headers: str) -> object:
    if authorization is not None:
        headers["Authorization"] = authorization
    return getattr(client, method)(url, json=body, headers=headers)


def _assert_unauthorized(response, invalid_token: bool) -> None:
    assert_error(response, 401, "Authorization: Bearer")
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert ('error="invalid_token"' in challenge) is invalid_token


# --- settings -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("environ", "expected"), [
    ({}, {"API_TOKEN": None, "API_PROTECT_READS": False}),
    ({auth.TOKEN_ENV: ""}, {"API_TOKEN": None, "API_PROTECT_READS": False}),
    ({auth.TOKEN_ENV: TOKEN}, {"API_TOKEN": TOKEN, "API_PROTECT_READS": False}),
    ({auth.TOKEN_ENV: TOKEN, auth.PROTECT_READS_ENV: "1"},
     {"API_TOKEN": TOKEN, "API_PROTECT_READS": True}),
    ({auth.TOKEN_ENV: TOKEN, auth.PROTECT_READS_ENV: "Yes"},
     {"API_TOKEN": TOKEN, "API_PROTECT_READS": True}),
    ({auth.TOKEN_ENV: TOKEN, auth.PROTECT_READS_ENV: "0"},
     {"API_TOKEN": TOKEN, "API_PROTECT_READS": False}),
    ({auth.TOKEN_ENV: TOKEN, auth.PROTECT_READS_ENV: "off"},
     {"API_TOKEN": TOKEN, "API_PROTECT_READS": False}),
])
def test_settings_from_environment(environ: dict, expected: dict) -> None:
    assert auth.settings_from_environment(environ) == expected


def test_token_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    settings = auth.settings_from_environment({auth.TOKEN_FILE_ENV: str(path)})
    assert settings["API_TOKEN"] == TOKEN


@pytest.mark.parametrize("case", ["both", "missing file", "empty file", "bad protect value"])
def test_unusable_settings_refuse_to_start(tmp_path: Path, case: str) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    environ = {
        "both": {auth.TOKEN_ENV: TOKEN, auth.TOKEN_FILE_ENV: str(empty)},
        "missing file": {auth.TOKEN_FILE_ENV: str(tmp_path / "nope")},
        "empty file": {auth.TOKEN_FILE_ENV: str(empty)},
        "bad protect value": {auth.TOKEN_ENV: TOKEN, auth.PROTECT_READS_ENV: "maybe"},
    }[case]
    with pytest.raises(auth.AccessSettingError):
        auth.settings_from_environment(environ)


@pytest.mark.parametrize("token", ["with space", "tab\there", "ünïcode-token-123456"])
def test_a_token_a_header_cannot_carry_is_refused(tmp_path: Path, config_path: Path,
                                                  token: str) -> None:
    with pytest.raises(auth.AccessSettingError):
        _app(tmp_path, config_path, API_TOKEN=token)


def test_create_app_reads_the_environment(tmp_path: Path, config_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    monkeypatch.setenv(auth.TOKEN_FILE_ENV, str(path))
    monkeypatch.setenv(auth.PROTECT_READS_ENV, "1")
    client = create_app({"CONFIG_PATH": str(config_path)}).test_client()
    _assert_unauthorized(client.get("/api/config"), invalid_token=False)
    assert client.get("/api/config",
                      headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_broken_token_file_stops_the_app_from_starting(tmp_path: Path, config_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auth.TOKEN_FILE_ENV, str(tmp_path / "missing"))
    with pytest.raises(auth.AccessSettingError):
        create_app({"CONFIG_PATH": str(config_path)})


# --- without a token: as before -----------------------------------------------------------------

@pytest.mark.parametrize(("method", "url", "body"), WRITES, ids=[f"{m} {u}" for m, u, _ in WRITES])
def test_without_a_token_writes_stay_open(client: FlaskClient, world: Path, method: str, url: str,
                                          body: object) -> None:
    response = _send(client, method, url, body)
    assert response.status_code == 200, response.get_json()
    assert "WWW-Authenticate" not in response.headers


# --- with a token -------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "url", "body"), WRITES, ids=[f"{m} {u}" for m, u, _ in WRITES])
@pytest.mark.parametrize(("authorization", "invalid"), [
    (None, False),
    ("", False),
    (f"Basic {TOKEN}", False),
    (f"Bearer {TOKEN}x", True),
    (f"Bearer {TOKEN[:-1]}", True),
    (f"Bearer x{TOKEN}", True),
    ("Bearer " + "A" * len(TOKEN), True),
    (f"Bearer {TOKEN} {TOKEN}", True),
])
def test_writes_need_the_token(locked_client: FlaskClient, world: Path, config_path: Path,
                               method: str, url: str, body: object, authorization: str | None,
                               invalid: bool) -> None:
    before = snapshot_files(world)
    response = _send(locked_client, method, url, body, authorization)
    _assert_unauthorized(response, invalid_token=invalid)
    assert snapshot_files(world) == before  # config, control file, clips: all untouched


@pytest.mark.parametrize(("method", "url", "body"), WRITES, ids=[f"{m} {u}" for m, u, _ in WRITES])
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_writes_with_the_token_work(locked_client: FlaskClient, world: Path, method: str,
                                    url: str, body: object, scheme: str) -> None:
    response = _send(locked_client, method, url, body, f"{scheme} {TOKEN}")
    assert response.status_code == 200, response.get_json()


def test_every_write_route_is_guarded(locked_app: Flask, locked_client: FlaskClient,
                                      world: Path) -> None:
    # Enumerated from the URL map, so a route added later is covered without editing this test.
    guarded = 0
    for rule in locked_app.url_map.iter_rules():
        url = _PARAM_RE.sub(lambda m: SAMPLE_ARGS.get(m.group(1), "x"), rule.rule)
        for method in sorted((rule.methods or set()) - {"GET", "HEAD", "OPTIONS"}):
            response = locked_client.open(url, method=method, json={})
            if rule.endpoint.startswith("console.") and rule.endpoint != "console.login":
                # The console's own guard: no session, so to the sign-in page (app/console/access.py).
                assert response.status_code == 302, (method, url, response.status_code)
                assert "/login" in response.headers["Location"]
                continue
            assert response.status_code == 401, (method, url, response.status_code)
            guarded += 1
    assert guarded >= 11
    # Methods no route has are still writes: refused before the 405 could tell anything.
    assert locked_client.patch("/api/config", json={}).status_code == 401


@pytest.mark.parametrize("url", READS)
def test_reads_stay_open_by_default(locked_client: FlaskClient, url: str) -> None:
    assert locked_client.get(url).status_code == 200


@pytest.mark.parametrize("url", READS)
def test_protected_reads_need_the_token(sealed_client: FlaskClient, url: str) -> None:
    _assert_unauthorized(sealed_client.get(url), invalid_token=False)
    _assert_unauthorized(sealed_client.get(url, headers={"Authorization": "Bearer nope"}),
                         invalid_token=True)
    assert sealed_client.head(url).status_code == 401
    assert sealed_client.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_protect_reads_without_a_token_stays_open(tmp_path: Path, config_path: Path) -> None:
    client = _app(tmp_path, config_path, API_TOKEN=None, API_PROTECT_READS=True).test_client()
    assert client.get("/api/config").status_code == 200
    assert client.put("/api/config/global", json={"poll_cycles": 5}).status_code == 200


@pytest.mark.parametrize("fixture", ["locked_client", "sealed_client"])
@pytest.mark.parametrize(("url", "method"), [("/api/config", "PUT"), ("/api/config", "GET"),
                                             ("/api/config/streams/0", "DELETE"),
                                             ("/api/scheduler/start", "POST")])
def test_cors_preflight_needs_no_token(request: pytest.FixtureRequest, config_path: Path,
                                       fixture: str, url: str, method: str) -> None:
    client = request.getfixturevalue(fixture)
    digest = file_digest(config_path)
    response = client.options(url, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "Authorization, Content-Type, If-Match"})
    assert response.status_code == 204 and response.data == b""  # No Content, not an empty 200
    assert "Content-Type" not in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "if-match" in allowed
    assert file_digest(config_path) == digest


def test_401_carries_the_cors_header(sealed_client: FlaskClient) -> None:
    for response in (sealed_client.get("/api/config", headers={"Origin": ORIGIN}),
                     sealed_client.put("/api/config/global", json={}, headers={"Origin": ORIGIN})):
        assert response.status_code == 401
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "www-authenticate" in response.headers["Access-Control-Expose-Headers"].lower()


def test_the_comparison_is_constant_time_on_bytes(locked_client: FlaskClient,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert _send(locked_client, "put", "/api/config/global", {},
                 f"Bearer {TOKEN}").status_code == 200
    assert _send(locked_client, "put", "/api/config/global", {}, "Bearer wrong").status_code == 401
    assert len(seen) == 2
    assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in seen)
    assert seen[0][1] == TOKEN.encode()


def test_the_token_never_appears_in_answers_or_logs(locked_client: FlaskClient,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    response = _send(locked_client, "put", "/api/config/global", {}, f"Bearer {TOKEN}x")
    assert response.status_code == 401
    assert TOKEN not in response.get_data(as_text=True)
    assert "refused PUT /api/config/global" in caplog.text
    assert TOKEN not in caplog.text


def test_health_stays_open_when_reads_are_protected(sealed_client: FlaskClient) -> None:
    response = sealed_client.get("/api/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert sealed_client.head("/api/health").status_code == 200
    assert sealed_client.post("/api/health").status_code == 401  # only reads are open


def test_a_request_cannot_forge_a_log_line(locked_client: FlaskClient,
                                           caplog: pytest.LogCaptureFixture) -> None:
    response = locked_client.post("/api/scheduler/stop%0aFORGED-LINE%0d%1b[2J\u2028X")
    assert response.status_code == 401
    refused = [r.getMessage() for r in caplog.records if "refused POST" in r.getMessage()]
    assert len(refused) == 1
    assert refused[0] == ("refused POST /api/scheduler/stop\\nFORGED-LINE\\r\\x1b[2J\\u2028X "
                          "from 127.0.0.1: no API token")
    assert not any(line.startswith("FORGED-LINE") for line in caplog.text.splitlines())


def test_repeated_wrong_tokens_are_slowed_down_per_address(locked_client: FlaskClient,
                                                          config_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    digest = file_digest(config_path)
    other = {"REMOTE_ADDR": "192.0.2.7"}
    for _ in range(auth_throttle.FAILURE_LIMIT):
        _assert_unauthorized(_send(locked_client, "put", "/api/config/global", {}, "Bearer x"),
                             invalid_token=True)
    assert caplog.text.count("refused PUT /api/config/global") == auth_throttle.FAILURE_LIMIT
    assert "throttling 127.0.0.1" in caplog.text
    for authorization in ("Bearer x", f"Bearer {TOKEN}"):  # even the right token waits now
        response = _send(locked_client, "put", "/api/config/global", {}, authorization)
        assert response.status_code == 429 and response.get_json()["error"] == "Too Many Requests"
        assert 1 <= int(response.headers["Retry-After"]) <= auth_throttle.WINDOW_SECONDS
    assert file_digest(config_path) == digest
    # Another address is not affected, and reads that need no token stay open.
    response = locked_client.put("/api/config/global", json={}, environ_base=other,
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert locked_client.get("/api/config").status_code == 200


def _serves_a_file(operation: dict) -> bool:
    """A clip or a picture: its GET evaluates If-Match and If-Unmodified-Since (329c1e5)."""
    content = operation["responses"]["200"].get("content", {})
    return any(kind.get("schema", {}).get("format") == "binary" for kind in content.values())


def test_openapi_documents_401_and_412(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    assert document["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    files = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "401" in operation["responses"], (path, method)
            is_config_write = path.startswith("/api/config") and method != "get"
            files += _serves_a_file(operation)
            assert ("412" in operation["responses"]) is (
                is_config_write or _serves_a_file(operation)), (path, method)
            if is_config_write:
                assert "If-Match" in [p["name"] for p in operation["parameters"]]
            if path.startswith("/api/config"):
                assert "ETag" in operation["responses"]["200"]["headers"]
    assert files == 6  # a clip, the reference, two thumbnails, two contact sheet routes


# --- under gunicorn -----------------------------------------------------------------------------

@pytest.mark.integration
def test_every_gunicorn_worker_enforces_the_token(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    config_path, token, env = token_server_setup(tmp_path, monkeypatch)
    with GunicornServer(str(config_path), workers=4, env=env) as server:
        server.wait_for_workers()
        path = "/api/config/global"
        digest = file_digest(config_path)
        responses: list[requests.Response] = []

        def put(authorization: str) -> None:
            responses.append(requests.put(
                server.url(path), json={"poll_cycles": 7}, timeout=30,
                headers={"Connection": "close", "Authorization": authorization}))

        # The token first: wrong guesses from this address end in 429 for a while.
        accepted = from_every_worker(server, lambda: put(f"Bearer {token}"), "PUT", path)
        # Every worker let the token through. Under a loaded disk a write may still find
        # the lock busy for its whole wait: that is a 503 with Retry-After, not a refusal.
        assert all(401 not in statuses for statuses in accepted.values()), accepted
        assert all(r.status_code == 200 or (r.status_code == 503 and "Retry-After" in r.headers)
                   for r in responses), [r.status_code for r in responses]
        assert 200 in {r.status_code for r in responses}
        assert json.loads(config_path.read_text())["global_config"]["poll_cycles"] == 7

        digest = file_digest(config_path)
        responses.clear()
        refused = from_every_worker(server, lambda: put("Bearer guess"), "PUT", path)
        # Each worker counts the guesses it saw: 401 until its limit, then 429.
        assert all(401 in statuses and statuses <= {401, 429}
                   for statuses in refused.values()), refused
        assert all(r.json()["error"] in ("Unauthorized", "Too Many Requests") for r in responses)
        assert file_digest(config_path) == digest
        assert requests.get(server.url(path), timeout=30).status_code == 200  # reads stay open
        assert token not in server.log()


@pytest.mark.integration
def test_gunicorn_refuses_to_start_open_with_a_missing_token_file(tmp_path: Path) -> None:
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(valid_config()), encoding="utf-8")
    server = GunicornServer(str(config_path), workers=1,
                            env={auth.TOKEN_FILE_ENV: str(tmp_path / "missing-token")})
    with pytest.raises(RuntimeError, match="exited"):
        server.start()
    assert server.pid is None
