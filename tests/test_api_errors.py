"""Error handling: every failure is the JSON error shape, and the server keeps answering."""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import filelock
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import MAX_BODY_BYTES
from shared import config_file, locks
from tests.helpers import assert_error, file_digest, valid_config

JSON_WRITES: list[tuple[str, str]] = [
    ("put", "/api/config"),
    ("put", "/api/config/global"),
    ("post", "/api/config/streams"),
    ("put", "/api/config/streams/0"),
]


@pytest.fixture
def unchanged(client: FlaskClient, config_path: Path) -> Iterator[None]:
    """After the test: config.json is byte-for-byte unchanged and the server still answers."""
    digest = file_digest(config_path)
    yield
    assert file_digest(config_path) == digest
    response = client.get("/api/config")
    assert response.status_code == 200
    assert response.get_json() == valid_config()


def _send(client: FlaskClient, method: str, url: str, data: bytes | str,
          content_type: str = "application/json") -> TestResponse:
    return getattr(client, method)(url, data=data, content_type=content_type)


# --- routing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/api/nothing", "/api/scheduler/nothing", "/nothing",
                                 "/api/timestamps/", "/api//config"])
def test_unknown_route_is_json_404(client: FlaskClient, unchanged: None, url: str) -> None:
    assert_error(client.get(url), 404)


@pytest.mark.parametrize(("method", "url"), [
    ("patch", "/api/config"),
    ("delete", "/api/config"),
    ("post", "/api/config/global"),
    ("post", "/api/timestamps"),
    ("put", "/api/videos"),
    ("get", "/api/video"),
    ("get", "/api/scheduler/start"),
    ("delete", "/api/scheduler/stop"),
    ("get", "/api/config/save"),
])
def test_wrong_method_is_json_405(client: FlaskClient, unchanged: None, method: str,
                                  url: str) -> None:
    response = getattr(client, method)(url)
    assert_error(response, 405)
    assert method.upper() not in response.headers["Allow"]


# --- bodies ----------------------------------------------------------------------------------

BAD_BODIES: list[tuple[bytes, str]] = [
    (b"{", "JSON"),
    (b"{'max_concurrent_streams': 3}", "JSON"),
    (b'{"max_concurrent_streams": 3,}', "JSON"),
    (b'{"max_concurrent_streams": 3} trailing', "JSON"),
    (b'{"max_concurrent_streams": NaN}', "NaN"),
    (b'{"weight": Infinity}', "Infinity"),
    (b"[]", "JSON 对象"),
    (b'[{"max_concurrent_streams": 3}]', "JSON 对象"),
    (b'"text"', "JSON 对象"),
    (b"42", "JSON 对象"),
    (b"null", "JSON 对象"),
    (b"true", "JSON 对象"),
    (b"", "不能为空"),
    (b"   \n ", "不能为空"),
    (b"\xff\xfe{}", "UTF-8"),
    (b'{"a": "\xc3\x28"}', "UTF-8"),
    # A lone surrogate escape: valid JSON, but no file, file name or answer can hold it.
    (b'{"output_filename": "a\\ud800.mp4", "rtsp_url": "rtsp://h/x", "duration_seconds": 5}',
     "Unicode"),
    (b'{"output_directory": "./out\\udfff"}', "Unicode"),
    (b'{"\\ud800": 1}', "Unicode"),
    (b"[" * 50000 + b"]" * 50000, "JSON"),
]


@pytest.mark.parametrize(("method", "url"), JSON_WRITES)
@pytest.mark.parametrize(("data", "reason"), BAD_BODIES, ids=lambda v: repr(v)[:40])
def test_bad_body_is_400(client: FlaskClient, unchanged: None, method: str, url: str,
                         data: bytes, reason: str) -> None:
    assert_error(_send(client, method, url, data), 400, reason)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/octet-stream"])
def test_bad_body_is_400_whatever_the_content_type(client: FlaskClient, unchanged: None,
                                                   content_type: str) -> None:
    assert_error(_send(client, "put", "/api/config/global", b"{", content_type), 400)


@pytest.mark.parametrize("url", ["/api/config/save", "/api/config/reload"])
@pytest.mark.parametrize("data", [b"{", b"[]", b"null", b"\xff", b'{"file_path": "\\udc80.json"}'],
                         ids=repr)
def test_optional_bodies_still_must_be_objects(client: FlaskClient, unchanged: None, url: str,
                                               data: bytes) -> None:
    assert_error(_send(client, "post", url, data), 400)


@pytest.mark.parametrize(("method", "url"), [*JSON_WRITES, ("post", "/api/config/save")])
def test_oversized_body_is_413(client: FlaskClient, unchanged: None, method: str,
                               url: str) -> None:
    body = b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    assert_error(_send(client, method, url, body), 413)


@pytest.mark.parametrize(("method", "url"), JSON_WRITES)
def test_oversized_chunked_body_is_413_not_cut(client: FlaskClient, unchanged: None,
                                              method: str, url: str) -> None:
    # No Content-Length (chunked, as gunicorn passes it on): Werkzeug stopped reading at the
    # limit, and a valid JSON object before it was applied with the rest cut off.
    body = b'{"poll_cycles": 7}' + b" " * MAX_BODY_BYTES + b"NOT JSON"
    response = getattr(client, method)(url, input_stream=io.BytesIO(body),
                                       content_type="application/json",
                                       environ_overrides={"wsgi.input_terminated": True})
    assert_error(response, 413)


def test_chunked_body_under_the_limit_is_read(client: FlaskClient, config_path: Path) -> None:
    response = client.put("/api/config/global", input_stream=io.BytesIO(b'{"poll_cycles": 3}'),
                          content_type="application/json",
                          environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 200, response.get_json()
    assert client.get("/api/config/global").get_json()["poll_cycles"] == 3


def test_an_integer_of_thousands_of_digits_is_refused_in_our_words(
        client: FlaskClient, config_path: Path) -> None:
    # Python's own error was answered: "Exceeds the limit (4300 digits) for integer string
    # conversion …; use sys.set_int_max_str_digits() to increase the limit".
    body = b'{"poll_cycles": ' + b"7" * 5000 + b"}"
    response = client.put("/api/config/global", data=body, content_type="application/json",
                          headers={"Accept-Language": "en"})
    said = assert_error(response, 400)
    assert "7777" not in config_path.read_text(encoding="utf-8")
    assert said["message"] == "请求体不是有效的 JSON: 整数不能超过 100 位"
    assert said["message_en"] == ("The request body is not valid JSON: an integer may have "
                                  "100 digits at most")
    config_path.write_text('{"global_config": {"poll_cycles": ' + "7" * 5000 + '},'
                           ' "streams": []}', encoding="utf-8")
    answer = client.get("/api/config")
    assert "整数不能超过 100 位" in answer.get_json()["message"] and "sys." not in answer.text


def test_body_just_under_the_limit_is_read(client: FlaskClient, unchanged: None) -> None:
    padding = MAX_BODY_BYTES - 100
    body = b'{"pad": "' + b"x" * padding + b'"}'
    # Read and parsed (not 413): rejected by validation for its unknown key.
    assert_error(_send(client, "put", "/api/config/global", body), 400, "pad")


def test_body_with_a_utf8_bom_is_accepted(client: FlaskClient, config_path: Path) -> None:
    response = _send(client, "put", "/api/config/global",
                     b'\xef\xbb\xbf{"poll_cycles": 3}')
    assert response.status_code == 200
    assert client.get("/api/config/global").get_json()["poll_cycles"] == 3


# --- unexpected failures ---------------------------------------------------------------------

def test_unexpected_exception_is_json_500_without_internals(
        client: FlaskClient, unchanged: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals /etc/shadow Traceback")

    monkeypatch.setattr("shared.output_tree.list_cycles", explode)
    response = client.get("/api/timestamps")
    body = assert_error(response, 500)
    assert body == {"error": "Internal Server Error", "message": "服务器内部错误"}
    text = response.get_data(as_text=True)
    assert "secret" not in text and "Traceback" not in text and "RuntimeError" not in text
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    monkeypatch.undo()
    assert client.get("/api/timestamps").status_code == 200


def test_failing_route_is_json_500(app: Flask, config_path: Path) -> None:
    def boom() -> str:
        raise KeyError("internal key name")

    app.add_url_rule("/api/_boom", "boom", boom)
    client = app.test_client()
    response = client.get("/api/_boom")
    assert assert_error(response, 500)["message"] == "服务器内部错误"
    assert "internal key name" not in response.get_data(as_text=True)
    assert client.get("/api/config").status_code == 200


def test_write_failure_is_json_500_and_file_unchanged(
        client: FlaskClient, config_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    digest = file_digest(config_path)

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    body = assert_error(client.put("/api/config/global", json={"poll_cycles": 5}), 500)
    monkeypatch.undo()
    assert "No space" not in body["message"]
    assert file_digest(config_path) == digest
    assert client.get("/api/config/global").get_json()["poll_cycles"] == -1


def test_lock_held_elsewhere_is_503_with_retry_after(
        client: FlaskClient, config_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_file, "locked",
                        lambda path: locks.locked(path, timeout=0.05))
    digest = file_digest(config_path)
    other_process = filelock.FileLock(locks.lock_path_for(str(config_path)))
    with other_process:
        response = client.put("/api/config/global", json={"poll_cycles": 5})
    body = assert_error(response, 503, "文件被占用")
    assert response.headers["Retry-After"] == "1"
    assert str(config_path) not in body["message"]
    assert file_digest(config_path) == digest
    assert client.put("/api/config/global", json={"poll_cycles": 5}).status_code == 200


# --- CORS ------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/api/config", "/api/timestamps", "/api/tasks",
                                 "/api/openapi.json"])
@pytest.mark.parametrize("origin", [None, "http://dashboard.example.com"])
def test_cors_on_normal_answers(client: FlaskClient, url: str, origin: str | None) -> None:
    headers = {"Origin": origin} if origin else {}
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_on_errors(client: FlaskClient) -> None:
    headers = {"Origin": "http://dashboard.example.com"}
    for response, status in ((client.get("/api/nothing", headers=headers), 404),
                             (client.delete("/api/video?path=../x", headers=headers), 403),
                             (client.put("/api/config/global", data=b"{", headers=headers,
                                         content_type="application/json"), 400)):
        assert response.status_code == status
        assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(("url", "method"), [("/api/config", "PUT"),
                                             ("/api/config/streams/0", "DELETE"),
                                             ("/api/video", "DELETE"),
                                             ("/api/scheduler/start", "POST")])
def test_cors_preflight(client: FlaskClient, unchanged: None, url: str, method: str) -> None:
    response = client.options(url, headers={
        "Origin": "http://dashboard.example.com",
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "Content-Type",
    })
    assert response.status_code == 204 and response.data == b""
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert method in response.headers["Access-Control-Allow-Methods"]
    assert "content-type" in response.headers["Access-Control-Allow-Headers"].lower()


def test_every_error_shape_is_json_utf8(client: FlaskClient) -> None:
    response = client.delete("/api/config/streams/9")
    assert response.mimetype == "application/json"
    assert "无效的流索引" in response.get_data(as_text=True)  # not \\u escapes
    assert response.get_json() == {"error": "Not Found", "message": "无效的流索引: 9"}


@pytest.mark.parametrize("depth", [33, 400, 500, 900, 5000])
@pytest.mark.parametrize(("method", "url"), [
    ("put", "/api/config"), ("put", "/api/config/global"), ("put", "/api/config/streams/0"),
    ("post", "/api/config/streams")])
def test_deeply_nested_bodies_are_400_at_any_depth(client: FlaskClient, config_path: Path,
                                                   method: str, url: str, depth: int) -> None:
    digest = file_digest(config_path)
    body = '{"poll_cycles": ' + "[" * depth + "]" * depth + "}"
    response = getattr(client, method)(url, data=body, content_type="application/json")
    assert_error(response, 400, "嵌套过深")
    assert file_digest(config_path) == digest
