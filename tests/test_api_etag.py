"""ETag / If-Match on /api/config*: no lost update between a hand edit, another client and us."""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import filelock
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from shared import config_file, locks
from tests.helpers import assert_error, file_digest, valid_config

READS = ["/api/config", "/api/config/global", "/api/config/streams"]
NEW_STREAM = {"rtsp_url": "rtsp://127.0.0.1:8554/cam9", "duration_seconds": 5}

# (method, url, JSON body or None): every request that writes, or acts on, config.json.
WRITES: list[tuple[str, str, object]] = [
    ("put", "/api/config", {**valid_config(), "streams": valid_config()["streams"][:1]}),
    ("put", "/api/config/global", {"poll_cycles": 5}),
    ("post", "/api/config/streams", NEW_STREAM),
    ("put", "/api/config/streams/1", {"duration_seconds": 7}),
    ("delete", "/api/config/streams/0", None),
    ("post", "/api/config/save", None),
    ("post", "/api/config/save", {"file_path": "copy.json"}),
    ("post", "/api/config/reload", None),
]
WRITE_IDS = [f"{method} {url}" + (" as" if body and "file_path" in body else "")
             for method, url, body in WRITES]


def tag_of(path: Path) -> str:
    return '"' + hashlib.sha256(path.read_bytes()).hexdigest()[:32] + '"'


def send(client: FlaskClient, method: str, url: str, body: object,
         if_match: str | None = None) -> TestResponse:
    headers = {} if if_match is None else {"If-Match": if_match}
    return getattr(client, method)(url, json=body, headers=headers)


def hand_edit(path: Path) -> None:
    """What an editor saving config.json does: same meaning, other bytes, no lock."""
    path.write_text(path.read_text(encoding="utf-8").replace("\n", "\n ", 1), encoding="utf-8")


@pytest.mark.parametrize("url", READS)
def test_reads_carry_the_tag_of_the_bytes_on_disk(client: FlaskClient, config_path: Path,
                                                  url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["ETag"] == tag_of(config_path)
    assert not response.headers["ETag"].startswith("W/")


def test_every_read_has_the_same_tag_and_it_follows_a_hand_edit(client: FlaskClient,
                                                                config_path: Path) -> None:
    before = {client.get(url).headers["ETag"] for url in READS}
    assert len(before) == 1
    hand_edit(config_path)
    after = {client.get(url).headers["ETag"] for url in READS}
    assert after == {tag_of(config_path)} and after != before


@pytest.mark.parametrize(("method", "url", "body"), WRITES, ids=WRITE_IDS)
def test_a_stale_tag_is_412_and_changes_nothing(client: FlaskClient, config_path: Path,
                                                control_path: Path, tmp_path: Path,
                                                method: str, url: str, body: object) -> None:
    stale = client.get("/api/config").headers["ETag"]
    hand_edit(config_path)
    digest = file_digest(config_path)
    response = send(client, method, url, body, if_match=stale)
    assert_error(response, 412, "If-Match")
    assert response.headers["ETag"] == tag_of(config_path)
    assert file_digest(config_path) == digest
    assert not control_path.exists()  # reload asked nothing of the recorder
    assert not (tmp_path / "copy.json").exists()


@pytest.mark.parametrize(("method", "url", "body"), WRITES, ids=WRITE_IDS)
@pytest.mark.parametrize("condition", ["current", "star", "none", "list"])
def test_a_matching_or_absent_condition_writes_and_returns_the_new_tag(
        client: FlaskClient, config_path: Path, method: str, url: str, body: object,
        condition: str) -> None:
    current = client.get("/api/config").headers["ETag"]
    if_match = {"current": current, "star": "*", "none": None,
                "list": f'"0123", W/"4567", {current}'}[condition]
    response = send(client, method, url, body, if_match=if_match)
    assert response.status_code == 200, response.get_json()
    assert response.headers["ETag"] == tag_of(config_path)
    assert client.get("/api/config").headers["ETag"] == response.headers["ETag"]


@pytest.mark.parametrize("if_match", ['W/"{tag}"', "{bare}", '""', "", '"*"'])
def test_weak_malformed_or_empty_tags_never_match(client: FlaskClient, config_path: Path,
                                                  if_match: str) -> None:
    tag = client.get("/api/config").headers["ETag"]
    digest = file_digest(config_path)
    response = send(client, "put", "/api/config/global", {"poll_cycles": 5},
                    if_match=if_match.format(tag=tag.strip('"'), bare=tag.strip('"') + "x"))
    assert_error(response, 412)
    assert file_digest(config_path) == digest


def test_the_returned_tag_chains_edits(client: FlaskClient, config_path: Path) -> None:
    tag = client.get("/api/config").headers["ETag"]
    for cycles in (3, 4, 5):
        response = send(client, "put", "/api/config/global", {"poll_cycles": cycles}, if_match=tag)
        assert response.status_code == 200
        assert response.headers["ETag"] != tag
        tag = response.headers["ETag"]
    # A client still holding an older tag loses: its edit would undo the others unseen.
    first = tag_of(config_path)
    assert send(client, "put", "/api/config/global", {"poll_cycles": 9},
                if_match='"' + "0" * 32 + '"').status_code == 412
    assert tag_of(config_path) == first
    assert client.get("/api/config/global").get_json()["poll_cycles"] == 5


def test_hand_edit_between_read_and_write_is_kept(client: FlaskClient, config_path: Path) -> None:
    seen = client.get("/api/config/streams")
    tag = seen.headers["ETag"]
    edited = valid_config()
    edited["streams"][0]["duration_seconds"] = 42
    config_path.write_text(__import__("json").dumps(edited), encoding="utf-8")
    response = send(client, "delete", "/api/config/streams/1", None, if_match=tag)
    assert_error(response, 412)
    on_disk = client.get("/api/config").get_json()
    assert on_disk["streams"][0]["duration_seconds"] == 42 and len(on_disk["streams"]) == 2


def test_a_missing_file_matches_no_tag_but_can_be_replaced_unconditionally(
        client: FlaskClient, config_path: Path) -> None:
    config_path.unlink()
    assert_error(send(client, "put", "/api/config", valid_config(), if_match="*"), 412)
    assert not config_path.exists()
    response = send(client, "put", "/api/config", valid_config())
    assert response.status_code == 200
    assert response.headers["ETag"] == tag_of(config_path)


def test_a_broken_file_can_be_repaired_conditionally(client: FlaskClient,
                                                     config_path: Path) -> None:
    config_path.write_text("{ broken", encoding="utf-8")
    assert client.get("/api/config").status_code == 503
    response = send(client, "put", "/api/config", valid_config(), if_match=tag_of(config_path))
    assert response.status_code == 200
    assert client.get("/api/config").get_json() == valid_config()


def test_the_comparison_happens_under_the_lock(app: Flask, config_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Another writer holds the lock and changes the file while our request waits for it:
    # the request must compare against the file as it is once it holds the lock.
    waiting = threading.Event()

    def announcing_lock(path: str, timeout: float | None = None):
        waiting.set()
        return locks.locked(path, timeout)

    monkeypatch.setattr(config_file, "locked", announcing_lock)
    tag = app.test_client().get("/api/config").headers["ETag"]
    result: dict = {}

    def request_in_worker() -> None:
        result["response"] = send(app.test_client(), "put", "/api/config/global",
                                  {"poll_cycles": 5}, if_match=tag)

    other_writer = filelock.FileLock(locks.lock_path_for(str(config_path)))
    with other_writer:
        worker = threading.Thread(target=request_in_worker)
        worker.start()
        assert waiting.wait(10)
        hand_edit(config_path)
        digest = file_digest(config_path)
    worker.join(10)
    assert not worker.is_alive()
    assert_error(result["response"], 412)
    assert file_digest(config_path) == digest


def test_the_tag_is_exposed_to_browser_scripts(client: FlaskClient) -> None:
    response = client.get("/api/config", headers={"Origin": "http://dashboard.example.com"})
    exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "retry-after", "www-authenticate"} <= exposed


def test_preflight_allows_if_match(client: FlaskClient) -> None:
    response = client.options("/api/config/global", headers={
        "Origin": "http://dashboard.example.com", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "Content-Type, If-Match"})
    assert response.status_code == 204
    assert "if-match" in response.headers["Access-Control-Allow-Headers"].lower()


@pytest.mark.parametrize("url", READS)
@pytest.mark.parametrize("form", ["{tag}", "W/{tag}", '"other", {tag}', "*"])
def test_if_none_match_with_the_current_tag_is_304(client: FlaskClient, config_path: Path,
                                                  url: str, form: str) -> None:
    header = form.format(tag=tag_of(config_path))
    response = client.get(url, headers={"If-None-Match": header, "Origin": "http://a.example"})
    assert response.status_code == 304 and response.data == b""
    assert response.headers["ETag"] == tag_of(config_path)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert client.head(url, headers={"If-None-Match": header}).status_code == 304


@pytest.mark.parametrize("url", READS)
def test_if_none_match_with_an_old_tag_gets_the_new_body(client: FlaskClient, config_path: Path,
                                                         url: str) -> None:
    old = tag_of(config_path)
    hand_edit(config_path)
    response = client.get(url, headers={"If-None-Match": old})
    assert response.status_code == 200 and response.get_json()
    assert response.headers["ETag"] == tag_of(config_path)


def test_if_none_match_does_not_touch_writes_or_untagged_reads(client: FlaskClient,
                                                               config_path: Path) -> None:
    tag = tag_of(config_path)
    response = client.put("/api/config/global", json={"poll_cycles": 5},
                          headers={"If-None-Match": tag})
    assert response.status_code == 200
    assert client.get("/api/health", headers={"If-None-Match": "*"}).status_code == 200
