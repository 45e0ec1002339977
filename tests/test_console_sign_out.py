"""Console sign-out (app/console/access.py, app/console/sign_outs.py): it ends every copy of
the session's cookie, in every worker, and an unreadable record of sign-outs signs out all."""
from __future__ import annotations

import errno
import json
import logging
import os
import re
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.console import access
from app.console.sign_outs import sign_outs_path
from shared.clock import SYSTEM_CLOCK
from tests.helpers import from_every_worker, token_server_setup
from testkit.recorder_process import wait_for
from testkit.servers import GunicornServer

TOKEN = "console-sign-out-token-0123456789"


def _app(tmp_path: Path, config_path: Path) -> Flask:
    """An API worker of this config (each call: another worker sharing the state folder)."""
    return create_app({"CONFIG_PATH": str(config_path), "OUTPUT_DIR": "./output",
                       "OUTPUT_BASE": str(tmp_path), "API_TOKEN": TOKEN,
                       "API_PROTECT_READS": True})


@pytest.fixture
def worker(tmp_path: Path, config_path: Path, output_root: Path) -> Flask:
    return _app(tmp_path, config_path)


def _signed_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert client.post("/login", data={"token": TOKEN}).status_code == 303
    assert client.get("/settings").status_code == 200  # the page also makes the CSRF token
    return client


def _csrf(client: FlaskClient) -> str:
    page = client.get("/settings").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _copy(client: FlaskClient, app: Flask) -> FlaskClient:
    """Another browser holding a copy of ``client``'s cookie, served by ``app``."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def _is_signed_out(client: FlaskClient) -> bool:
    page, api = client.get("/settings"), client.get("/api/config")
    assert page.status_code in (200, 302) and api.status_code in (200, 401)
    assert (page.status_code == 302) == (api.status_code == 401), (page, api)
    return page.status_code == 302 and "/login" in page.headers["Location"]


def _sign_out(client: FlaskClient):
    return client.post("/logout", headers={"X-CSRF-Token": _csrf(client)})


def test_a_sign_out_ends_every_copy_of_the_cookie_in_every_worker(tmp_path: Path,
                                                                  config_path: Path,
                                                                  worker: Flask) -> None:
    # Sign-out cleared the cookie of its own browser only: a copy (stolen, another tab's)
    # kept the console and the API's reads for the rest of the day.
    browser = _signed_in(worker)
    other_worker = _app(tmp_path, config_path)
    here, elsewhere = _copy(browser, worker), _copy(browser, other_worker)
    assert not _is_signed_out(here) and not _is_signed_out(elsewhere)
    answer = _sign_out(browser)
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"
    assert _is_signed_out(browser) and _is_signed_out(here) and _is_signed_out(elsewhere)
    # A new sign-in is a new session, not the one signed out.
    again = _signed_in(other_worker)
    assert not _is_signed_out(again) and not _is_signed_out(_copy(again, worker))


def test_a_cookie_from_before_session_ids_is_signed_out_once(worker: Flask) -> None:
    # Such a cookie cannot be signed out for its copies; its operator signs in again, once.
    client = worker.test_client()
    with worker.test_request_context():
        mark = access.token_mark()
    with client.session_transaction() as session:
        session.update({access.SIGNED_IN: mark, access.SIGNED_IN_AT: int(SYSTEM_CLOCK.wall())})
    assert _is_signed_out(client)
    assert client.post("/login", data={"token": TOKEN}).status_code == 303
    assert not _is_signed_out(client)


def test_sign_outs_are_kept_only_while_their_session_could_still_be_used(
        tmp_path: Path, config_path: Path, worker: Flask,
        monkeypatch: pytest.MonkeyPatch) -> None:
    start = SYSTEM_CLOCK.wall()
    first = _signed_in(worker)
    first_copy = _copy(first, worker)
    _sign_out(first)
    monkeypatch.setattr(SYSTEM_CLOCK, "wall", lambda: start + 3600)
    second = _signed_in(worker)
    _sign_out(second)
    path = Path(sign_outs_path(str(config_path)))
    assert len(json.loads(path.read_text())["ended"]) == 2
    assert _is_signed_out(first_copy)
    # A day after the first sign-in its session has expired: the next sign-out drops it.
    monkeypatch.setattr(SYSTEM_CLOCK, "wall", lambda: start + access.SESSION_HOURS * 3600 + 1)
    third = _signed_in(worker)
    _sign_out(third)
    kept = json.loads(path.read_text())["ended"]
    assert len(kept) == 2 and all(since > start for since in kept.values())
    assert _is_signed_out(first_copy)  # expired, listed or not


def test_a_one_off_error_reading_the_sign_outs_is_read_again_not_a_sign_out_of_all(
        tmp_path: Path, config_path: Path, worker: Flask,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # One failed read of the file (ESTALE on NFS) signed every session out for that request,
    # with an ERROR; it is read again first. The sign-out itself reads it too.
    from app.console import sign_outs
    kept, ended = _signed_in(worker), _signed_in(worker)
    failures = []
    read_json = sign_outs.read_json

    def failing_once(path: str):
        if not failures:
            failures.append(path)
            raise OSError(errno.ESTALE, os.strerror(errno.ESTALE), path)
        return read_json(path)

    caplog.set_level(logging.WARNING, logger="app.console.sign_outs")
    _sign_out(_signed_in(worker))  # the file exists
    monkeypatch.setattr(sign_outs, "read_json", failing_once)
    fresh_worker = _app(tmp_path, config_path)  # its first read of the file fails
    assert not _is_signed_out(_copy(kept, fresh_worker)) and failures
    ended_copy = _copy(ended, fresh_worker)
    failures.clear()
    assert _sign_out(ended).headers["Location"] == "/login" and failures
    assert _is_signed_out(ended_copy)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "reading failed" in caplog.text


def test_every_rewrite_of_the_sign_outs_drops_what_has_expired(tmp_path: Path) -> None:
    # A sign-out listed its own session though it had expired already (a late sign-out).
    from app.console.sign_outs import SignOuts
    path = tmp_path / "console_sign_outs.json"
    record = SignOuts(str(path), lifetime_seconds=100)
    record.end("old", signed_in_at=0, now=50)
    record.end("late", signed_in_at=10, now=200)  # expired at 110: not listed
    assert json.loads(path.read_text()) == {"ended": {}}
    record.end("new", signed_in_at=150, now=200)
    assert json.loads(path.read_text()) == {"ended": {"new": 150}}


@pytest.mark.parametrize("damage", [
    pytest.param(lambda path: path.write_bytes(b'{"ended": {"x"'), id="half-written"),
    pytest.param(lambda path: path.write_bytes(b"\xff\xfe"), id="not-utf-8"),
    pytest.param(lambda path: path.write_text('{"ended": ["x"]}'), id="not-ours"),
    pytest.param(lambda path: path.mkdir(), id="a-folder"),
    pytest.param(lambda path: (path.write_text('{"ended": {}}'), path.chmod(0)),
                 id="no-permission"),
])
def test_an_unreadable_record_of_sign_outs_signs_everyone_out_without_a_500(
        config_path: Path, worker: Flask, damage, caplog: pytest.LogCaptureFixture) -> None:
    client = _signed_in(worker)
    path = Path(sign_outs_path(str(config_path)))
    damage(path)
    if path.is_file() and os.access(path, os.R_OK) and path.stat().st_mode & 0o444 == 0:
        pytest.skip("root reads a file of mode 000")
    caplog.set_level(logging.WARNING, logger="app.console.sign_outs")
    assert _is_signed_out(client) and _is_signed_out(client)
    assert client.post("/settings/scheduler/stop",
                       headers={"X-CSRF-Token": "x"}).status_code == 302
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, caplog.text  # said once, not at every page polled
    assert (f"console sign-outs {path} cannot be read" in errors[0].getMessage()
            and "every console session counts as signed out" in errors[0].getMessage())
    # Its sign-in page still works, and once the file is fixed the session is back.
    assert client.get("/login").status_code == 200
    if path.is_dir():
        path.rmdir()
    else:
        path.chmod(0o600)
        path.write_text('{"ended": {}}')
    assert not _is_signed_out(client)
    assert "can be read again" in caplog.text


@pytest.mark.parametrize("lang, said", [
    ("zh", "已在此浏览器退出, 但服务器未能记录这次退出"),
    ("en", "Signed out in this browser, but the server could not record the sign-out"),
])
def test_a_sign_out_that_cannot_be_recorded_says_so(config_path: Path, worker: Flask,
                                                    lang: str, said: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    client = _signed_in(worker)
    client.get(f"/settings?lang={lang}")  # the language chosen outlives the sign-out
    copy = _copy(client, worker)
    path = sign_outs_path(str(config_path))
    os.mkdir(path + ".lock")  # the lock cannot be taken: nothing can be written
    answer = _sign_out(client)
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert said in page
    assert "a console sign-out could not be recorded" in caplog.text
    assert _is_signed_out(client)
    assert not _is_signed_out(copy)  # what the notice warns of
    assert not os.path.exists(path)


@pytest.mark.integration
def test_a_cookie_signed_out_in_one_gunicorn_worker_is_refused_by_the_others(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_path, token, env = token_server_setup(tmp_path, monkeypatch)
    with GunicornServer(str(config_path), workers=3, env=env) as server:
        server.wait_for_workers()
        browser = requests.Session()
        signed = browser.post(server.url("/login"), data={"token": token}, timeout=30,
                              allow_redirects=False)
        assert signed.status_code == 303
        page = browser.get(server.url("/cycles"), timeout=30).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        cookie = browser.cookies["session"]

        # Each step asks its own page: a late access-log line of one is not read as the next's.
        def copy_asks(path: str) -> None:
            requests.get(server.url(path), cookies={"session": cookie}, timeout=30,
                         allow_redirects=False, headers={"Connection": "close"})

        before = from_every_worker(server, lambda: copy_asks("/tasks"), "GET", "/tasks")
        assert all(statuses == {200} for statuses in before.values()), before
        since = len(server.log())
        ended = browser.post(server.url("/logout"), headers={"X-CSRF-Token": csrf},
                             timeout=30, allow_redirects=False)
        assert ended.status_code == 303
        logged = wait_for(lambda: re.search(r'ACCESS <(\d+)> 303 "POST /logout"',
                                            server.log()[since:]), 10, "the sign-out's log line")
        signed_out_by = int(logged.group(1))
        after = from_every_worker(server, lambda: copy_asks("/settings"), "GET", "/settings")
        assert all(statuses == {302} for statuses in after.values()), after
        assert set(after) - {signed_out_by}, "no other worker answered"
