"""The console without a browser: access (session, CSRF, secret file), language, deletes, settings."""
from __future__ import annotations

import html
import json
import logging
import os
import re
import stat
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from app import create_app
from recorder.config_watch import ConfigWatch
from shared import output_tree, settings
from tests.helpers import MakeCycle, WriteStatus, valid_config

TOKEN = "console-unit-token-0123456789"


def _csrf(client: FlaskClient, path: str = "/settings") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_every_page_renders(client: FlaskClient, make_cycle: MakeCycle) -> None:
    make_cycle("20251010_163000")
    for path in ("/", "/cycles", "/cycles/20251010_163000", "/tasks", "/tasks/live",
                 "/settings", "/cameras/test_stream1"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.mimetype == "text/html"


def test_the_cameras_path_leads_to_the_overview_which_lists_them(client: FlaskClient) -> None:
    response = client.get("/cameras")
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_english_switch_uses_the_translation_table(client: FlaskClient) -> None:
    assert "总览" in client.get("/").get_data(as_text=True)
    assert "Overview" in client.get("/?lang=en").get_data(as_text=True)
    assert "Overview" in client.get("/").get_data(as_text=True)  # kept in the session
    assert "总览" in client.get("/?lang=zh").get_data(as_text=True)


def test_a_post_without_the_csrf_token_is_refused(client: FlaskClient, config_path: Path) -> None:
    before = config_path.read_bytes()
    assert client.post("/settings/global", data={"max_concurrent_streams": "3"}).status_code == 403
    assert config_path.read_bytes() == before


def test_bad_value_is_shown_at_its_field(client: FlaskClient, config_path: Path) -> None:
    before = config_path.read_bytes()
    page = client.get("/settings").get_data(as_text=True)
    etag = html.unescape(re.search(r'name="etag" value="([^"]+)"', page).group(1))
    response = client.post("/settings/global", data={
        "csrf_token": _csrf(client), "etag": etag, "max_concurrent_streams": "0"})
    assert response.status_code == 400
    assert re.search(r'data-error-for="max_concurrent_streams">配置验证失败: max_concurrent_streams',
                     response.get_data(as_text=True))
    assert config_path.read_bytes() == before


def test_a_stale_form_gets_the_conflict_message(client: FlaskClient, config_path: Path) -> None:
    response = client.post("/settings/global", data={
        "csrf_token": _csrf(client), "etag": '"stale"', "max_concurrent_streams": "3"})
    assert response.status_code == 409
    assert "配置文件已被修改" in response.get_data(as_text=True)
    fresh = client.get("/settings").get_data(as_text=True)
    etag = html.unescape(re.search(r'name="etag" value="([^"]+)"', fresh).group(1))
    ok = client.post("/settings/global", data={"csrf_token": _csrf(client), "etag": etag,
                                               "max_concurrent_streams": "3"})
    assert ok.status_code == 303 and ok.headers["Location"] == "/settings"
    assert '"max_concurrent_streams": 3' in config_path.read_text()
    # said once: a reload of the page does not say it again; a page's htmx polling meanwhile
    # (another tab's camera page) does not take it
    assert client.get("/cameras/test_stream1", headers={"HX-Request": "true"}).status_code == 200
    assert "配置更新成功" in client.get("/settings").get_data(as_text=True)
    assert "配置更新成功" not in client.get("/settings").get_data(as_text=True)


def test_streams_add_move_and_delete(client: FlaskClient, config_path: Path) -> None:
    def etag() -> str:
        return html.unescape(re.search(r'name="etag" value="([^"]+)"',
                                       client.get("/settings").get_data(as_text=True)).group(1))
    added = client.post("/settings/streams/add", data={
        "csrf_token": _csrf(client), "etag": etag(), "rtsp_url": "rtsp://127.0.0.1:8554/cam3",
        "duration_seconds": "5"})
    assert added.status_code == 303
    moved = client.post("/settings/streams/2/move", data={
        "csrf_token": _csrf(client), "etag": etag(), "direction": "up"})
    assert moved.status_code == 303
    text = config_path.read_text()
    assert text.index("cam3") < text.index("cam2")
    gone = client.post("/settings/streams/1/delete", data={"csrf_token": _csrf(client),
                                                            "etag": etag()})
    assert gone.status_code == 303 and "cam3" not in config_path.read_text()


def test_deleting_a_clip_being_recorded_is_409(client: FlaskClient, make_cycle: MakeCycle,
                                               write_status: WriteStatus) -> None:
    folder = make_cycle("20251010_163000", {"a.mp4": b"a", "b.mp4": b"b"})
    write_status(scheduler_running=True, cycle={"dir": "20251010_163000", "running": True},
                 tasks=[{"stream_index": 0, "status": 3,
                         "output_file": "./output/20251010_163000/a.mp4"}])
    token = _csrf(client)
    busy = client.post("/cycles/20251010_163000/clips/a.mp4/delete",
                       headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert busy.status_code == 409 and busy.headers["HX-Retarget"] == "#console-error"
    assert (folder / "a.mp4").exists()
    done = client.post("/cycles/20251010_163000/clips/b.mp4/delete",
                       headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert done.status_code == 200 and not (folder / "b.mp4").exists()
    assert client.post("/cycles/20251010_163000/delete",
                       headers={"X-CSRF-Token": token}).status_code == 409


def test_each_delete_is_logged_once_from_the_console_and_from_the_api(
        client: FlaskClient, make_cycle: MakeCycle, caplog: pytest.LogCaptureFixture) -> None:
    # README: "The API logs its own actions (a clip or cycle deleted…)"; the console's deletes
    # went through the same rules but logged nothing.
    for name in ("20251010_163000", "20251010_163100", "20251010_163200"):
        make_cycle(name, {"a.mp4": b"a", "b.mp4": b"b"})
    caplog.set_level(logging.INFO, logger="app.results")
    console = {"X-CSRF-Token": _csrf(client), "HX-Request": "true"}
    assert client.post("/cycles/20251010_163000/clips/a.mp4/delete",
                       headers=console).status_code == 200
    assert client.delete("/api/video", query_string={
        "path": "./output/20251010_163000/b.mp4"}).status_code == 200
    assert client.post("/cycles/20251010_163100/delete", headers=console).status_code == 200
    assert client.delete("/api/timestamp/20251010_163200").status_code == 200
    assert [r.getMessage() for r in caplog.records if r.name == "app.results"] == [
        "deleted clip 20251010_163000/a.mp4", "deleted clip 20251010_163000/b.mp4",
        "deleted cycle 20251010_163100", "deleted cycle 20251010_163200"]


def test_a_failed_delete_is_logged_once_from_either_path(
        client: FlaskClient, make_cycle: MakeCycle, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    make_cycle("20251010_163000", {"a.mp4": b"a"})

    def refused(*_args) -> None:
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(output_tree, "delete_video", refused)
    caplog.set_level(logging.INFO, logger="app.results")
    assert client.delete("/api/video", query_string={
        "path": "./output/20251010_163000/a.mp4"}).status_code == 500
    console = client.post("/cycles/20251010_163000/clips/a.mp4/delete",
                          headers={"X-CSRF-Token": _csrf(client), "HX-Request": "true"})
    assert console.status_code == 500 and "文件删除失败" in console.get_data(as_text=True)
    assert console.headers["HX-Retarget"] == "#console-error"  # in the page's error slot
    assert [(r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.ERROR] == [
        ("app.results", "delete failed: 20251010_163000/a.mp4: Permission denied")] * 2


@pytest.mark.parametrize("cycle, victim", [("..", "config.json"), ("..", "beside.mp4"),
                                           (".", "in_root.mp4"), ("notacycle", "cam1.mp4")])
def test_deleting_a_clip_outside_a_cycle_folder_is_refused(
        client: FlaskClient, tmp_path: Path, output_root: Path, cycle: str, victim: str) -> None:
    # The route's cycle is one path segment: "..", "." or a foreign folder reached the
    # files beside the output folder (config.json) or in it before deletion checked the name.
    target = (output_root / cycle / victim).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.write_bytes(b"x")
    response = client.post(f"/cycles/{cycle}/clips/{victim}/delete",
                           headers={"X-CSRF-Token": _csrf(client), "HX-Request": "true"})
    assert response.status_code == 403, response.get_data(as_text=True)
    assert target.exists()


@pytest.mark.parametrize("filename", ["a%00.mp4", "a" * 300 + ".mp4"])
def test_deleting_a_clip_no_file_can_be_named_is_refused(client: FlaskClient,
                                                         make_cycle: MakeCycle,
                                                         filename: str) -> None:
    make_cycle("20251010_163000", {"a.mp4": b"a"}, reports=False)
    response = client.post(f"/cycles/20251010_163000/clips/{filename}/delete",
                           headers={"X-CSRF-Token": _csrf(client), "HX-Request": "true"})
    assert response.status_code == 403, response.get_data(as_text=True)

@pytest.fixture
def locked(tmp_path: Path, config_path: Path, output_root: Path) -> FlaskClient:
    app = create_app({"CONFIG_PATH": str(config_path), "OUTPUT_DIR": "./output",
                      "OUTPUT_BASE": str(tmp_path), "API_TOKEN": TOKEN})
    return app.test_client()


def test_the_token_is_asked_once_and_kept_in_a_signed_session(locked: FlaskClient,
                                                              config_path: Path) -> None:
    first = locked.get("/settings")
    assert first.status_code == 302 and "/login" in first.headers["Location"]
    assert locked.post("/login", data={"token": "wrong"}).status_code == 401
    signed = locked.post("/login", data={"token": TOKEN, "next": "//evil.example/"})
    assert signed.status_code == 303 and signed.headers["Location"] == "/"
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert locked.get("/settings").status_code == 200
    # Signed in, the sign-in page asks nothing: on to where it was going.
    again = locked.get("/login?next=/settings")
    assert again.status_code == 303 and again.headers["Location"] == "/settings"
    assert locked.get("/api/config").status_code == 200
    # The JSON API's writes keep the Bearer rule, session or not.
    assert locked.post("/api/config/reload").status_code == 401
    secret = Path(settings.state_dir(str(config_path))) / "console_secret"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600


def test_the_sign_in_page_shows_a_forms_success_as_a_notice_and_a_refusal_as_the_error(
        locked: FlaskClient) -> None:
    # It showed any pending outcome as its red error, another form's success notice too.
    from app.console.actions import SIGN_OUT_NOT_RECORDED
    from app.console.notices import FAILED
    for category, said in (("message", "配置更新成功"), (FAILED, SIGN_OUT_NOT_RECORDED)):
        with locked.session_transaction() as session:
            session["_flashes"] = [(category, said)]
        page = locked.get("/login?lang=zh").get_data(as_text=True)
        error = re.search(r'<div class="banner" id="login-error">([^<]*)</div>', page)
        notice = re.search(r'<div class="notice" role="status" id="login-notice">([^<]*)</div>',
                           page)
        shown, other = (error, notice) if category == FAILED else (notice, error)
        assert shown and shown.group(1) == said and not other, page
    assert "login-notice" not in locked.get("/login").get_data(as_text=True)  # said once


def test_sign_in_guesses_end_in_a_wait_that_says_how_long(locked: FlaskClient,
                                                         caplog) -> None:
    # The sign-in form had a count of its own, logged nothing and said "wrong token" to the
    # right one once throttled.
    from app import auth_throttle
    limit = auth_throttle.FAILURE_LIMIT
    with caplog.at_level("WARNING", logger="app.auth"):
        statuses = [locked.post("/login?lang=zh", data={"token": "wrong"}).status_code
                    for _ in range(limit)]
    assert statuses == [401] * (limit - 1) + [429]
    assert caplog.text.count("refused POST /login from 127.0.0.1: wrong API token") == limit
    assert "throttling 127.0.0.1 for console sign-in: 20 refused within 60 s (its API tokens " \
           "counted apart)" in caplog.text
    waiting = locked.post("/login?lang=zh", data={"token": TOKEN})  # the right one: wait
    wait = int(waiting.headers["Retry-After"])
    assert waiting.status_code == 429 and 1 <= wait <= 60
    assert f"此地址登录时输错令牌次数过多, 请 {wait} 秒后重试" in waiting.get_data(as_text=True)
    english = locked.post("/login?lang=en", data={"token": TOKEN}).get_data(as_text=True)
    assert "Too many wrong tokens typed into the sign-in from this address: retry in" in english


def test_a_scripts_wrong_tokens_do_not_lock_the_operator_out_of_the_console(
        locked: FlaskClient) -> None:
    # One count for both: a script on the operator's host (or behind the same proxy) sending
    # a stale Bearer token locked the console's sign-in for a minute, and the other way round.
    from app import auth_throttle
    for _ in range(auth_throttle.FAILURE_LIMIT):
        locked.put("/api/config/global", json={}, headers={"Authorization": "Bearer x"})
    refused = locked.put("/api/config/global", json={}, headers={"Authorization": "Bearer x"})
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert refused.get_json()["message"] == \
        f"此地址的错误 API 令牌过多, 请 {wait} 秒后重试 (控制台登录另行计数, 不受影响)"
    assert locked.post("/login", data={"token": TOKEN}).status_code == 303  # signed in
    assert locked.get("/api/config").status_code == 200


def test_wrong_sign_ins_do_not_lock_a_script_out_of_the_api(locked: FlaskClient) -> None:
    from app import auth_throttle
    for _ in range(auth_throttle.FAILURE_LIMIT):
        locked.post("/login", data={"token": "wrong"})
    assert locked.post("/login", data={"token": TOKEN}).status_code == 429
    assert locked.put("/api/config/global", json={},
                      headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_wrong_sign_in_says_so_in_words_for_a_person(locked: FlaskClient) -> None:
    page = locked.post("/login?lang=zh", data={"token": "wrong"})
    assert page.status_code == 401 and "令牌不正确" in page.get_data(as_text=True)
    assert "Authorization: Bearer" not in page.get_data(as_text=True)


def test_the_secret_comes_from_the_environment_when_given(monkeypatch: pytest.MonkeyPatch,
                                                          config_path: Path) -> None:
    monkeypatch.setenv("RTSP_PATROL_SECRET_KEY", "s" * 40)
    app = create_app({"CONFIG_PATH": str(config_path)})
    assert app.secret_key == "s" * 40


def test_an_api_that_may_not_write_the_state_folder_still_starts(tmp_path, monkeypatch,
                                                                  caplog) -> None:
    # The console's secret is made in the state folder; a worker that may not write there
    # (a read-only API user) starts all the same, with a secret of its own, and says so.
    from app.console import access
    monkeypatch.delenv(access.SECRET_ENV, raising=False)

    def refused(_path: str) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(access, "_stored_secret", refused)
    with caplog.at_level("WARNING"):
        first = access.secret_key(str(tmp_path / "config.json"))
    assert len(first) == 64 and first != access.secret_key(str(tmp_path / "config.json"))
    assert access.SECRET_ENV in caplog.text


def test_the_secret_is_never_seen_half_written(tmp_path, monkeypatch) -> None:
    # Workers starting together: the secret's name appears only once it holds the whole
    # secret (a worker that read it empty while another wrote it failed to boot, in CI).
    from app.console import access
    monkeypatch.delenv(access.SECRET_ENV, raising=False)
    path = tmp_path / "state" / access.SECRET_FILE
    made = access.secrets.token_hex
    seen = []

    def making(nbytes: int) -> str:
        seen.append(path.exists())
        return made(nbytes)

    monkeypatch.setattr(access.secrets, "token_hex", making)
    first = access._stored_secret(str(path))
    assert seen == [False] and len(first) == 64
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert access._stored_secret(str(path)) == first and seen == [False]
    assert os.listdir(path.parent) == [access.SECRET_FILE]


def test_a_worker_that_loses_the_race_takes_the_winners_secret(tmp_path, monkeypatch) -> None:
    from app.console import access
    path = tmp_path / access.SECRET_FILE
    made = access.secrets.token_hex

    def another_worker_first(nbytes: int) -> str:
        path.write_text("w" * 64 + "\n", encoding="ascii")
        return made(nbytes)

    monkeypatch.setattr(access.secrets, "token_hex", another_worker_first)
    assert access._stored_secret(str(path)) == "w" * 64
    assert os.listdir(tmp_path) == [access.SECRET_FILE]


def test_an_empty_secret_file_is_named_not_used(tmp_path) -> None:
    from app.console import access
    path = tmp_path / access.SECRET_FILE
    path.write_text("\n", encoding="ascii")
    with pytest.raises(RuntimeError, match="empty or damaged; remove it"):
        access._stored_secret(str(path))


def _report(summary: dict, tasks: int = 0, summary_first: bool = True) -> bytes:
    """A cycle report as the recorder writes it (summary first), or with the summary last."""
    body = {"tasks": [{"stream_index": i, "error_message": "x" * 200} for i in range(tasks)]}
    report = {"summary": summary, **body} if summary_first else {**body, "summary": summary}
    return json.dumps(report, ensure_ascii=False, indent=2).encode("utf-8")


def _row(page: str, cycle: str) -> str:
    return re.search(rf'<tr class="cycle" data-cycle="{cycle}">(.*?)</tr>', page, re.S).group(1)


def _cells(row: str) -> list[str]:
    return re.findall(r'<td class="(?:done|failed|cancelled|not-scheduled)">(\d+)</td>', row)


def test_the_cycle_list_shows_each_cycles_counts(client: FlaskClient, make_cycle: MakeCycle) -> None:
    counts = {"completed_tasks": 7, "failed_tasks": 2, "cancelled_tasks": 1, "not_scheduled": 3}
    for name, report in (("20251010_163000", _report(counts, tasks=200)),
                         ("20251010_164000", _report({**counts, "failed_tasks": 4},
                                                     tasks=200, summary_first=False))):
        folder = make_cycle(name)
        (folder / "rtsp_report.json").write_bytes(report)
    page = client.get("/cycles").get_data(as_text=True)
    assert _cells(_row(page, "20251010_163000")) == ["7", "2", "1", "3"]
    assert _cells(_row(page, "20251010_164000")) == ["7", "4", "1", "3"]
    english = client.get("/cycles?lang=en").get_data(as_text=True)
    assert "not scheduled" in english and "failed" in english


def test_a_cycle_without_report_says_so(client: FlaskClient, make_cycle: MakeCycle,
                                        write_status: WriteStatus, tmp_path: Path) -> None:
    make_cycle("20251010_163000", reports=False)  # interrupted before its report
    make_cycle("20251010_164000", reports=False)  # being recorded
    linked = make_cycle("20251010_165000", reports=False)
    (tmp_path / "elsewhere.json").write_bytes(_report({"completed_tasks": 9}))
    os.symlink(tmp_path / "elsewhere.json", linked / "rtsp_report.json")  # never followed
    write_status(scheduler_running=True, cycle={"dir": "20251010_164000", "running": True})
    page = client.get("/cycles").get_data(as_text=True)
    assert "无报告" in _row(page, "20251010_163000")
    assert "进行中" in _row(page, "20251010_164000")
    assert "无报告" in _row(page, "20251010_165000") and "9" not in _cells(page)
    english = client.get("/cycles?lang=en").get_data(as_text=True)
    assert "no report" in _row(english, "20251010_163000")
    assert "in progress" in _row(english, "20251010_164000")


def test_the_cycle_list_is_paged_and_reads_only_the_shown_reports(
        client: FlaskClient, make_cycle: MakeCycle, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"20251010_{hour:02d}{minute:02d}00" for hour in range(2) for minute in range(60)]
    for name in names:
        make_cycle(name, files={}, reports=False)
    opened = []
    real_open = output_tree.open_in_cycle_at
    monkeypatch.setattr(output_tree, "open_in_cycle_at",
                        lambda root, cycle, name: opened.append(cycle) or real_open(root, cycle, name))
    first = client.get("/cycles").get_data(as_text=True)
    shown = re.findall(r'data-cycle="(\d+_\d+)"', first)
    assert shown == names[::-1][:50] and sorted(opened) == sorted(shown)
    assert 'rel="next" href="/cycles?offset=50"' in first and 'rel="prev"' not in first
    last = client.get("/cycles?offset=100").get_data(as_text=True)
    assert re.findall(r'data-cycle="(\d+_\d+)"', last) == names[::-1][100:]
    assert 'rel="prev" href="/cycles?offset=50"' in last and 'rel="next"' not in last
    small = client.get("/cycles?limit=10&offset=10").get_data(as_text=True)
    assert re.findall(r'data-cycle="(\d+_\d+)"', small) == names[::-1][10:20]
    assert 'href="/cycles?offset=20&amp;limit=10"' in small
    assert client.get("/cycles?limit=0").status_code == 400
    assert client.get("/cycles?order=sideways").status_code == 400


def _history(config_path: Path):
    from shared.history_schema import connect_writer, history_path
    return connect_writer(history_path(str(config_path)))


DARK = json.dumps({"checked": True, "issues": ["too_dark", "scene_changed"], "measures": {
    "too_dark": {"value": 13.2, "threshold": 40.0},
    "scene_changed": {"value": 0.12, "threshold": 0.35}}})


def test_the_camera_page_shows_the_picture_verdicts_with_their_measures(
        client: FlaskClient, config_path: Path, make_cycle: MakeCycle) -> None:
    import time
    from shared.task_status import COMPLETED
    from testkit.history_rows import record
    make_cycle("20251010_163000", {"test_stream1.mp4": b"clip"})
    make_cycle("20251010_163100", {"test_stream1.mp4": b"clip"})
    history = _history(config_path)
    now = time.time()
    record(history, "test_stream1", now - 120, COMPLETED, cycle="20251010_163000",
           clip="./output/20251010_163000/test_stream1.mp4", quality=DARK)
    record(history, "test_stream1", now - 60, COMPLETED, cycle="20251010_163100",
           clip="./output/20251010_163100/test_stream1.mp4",
           quality=json.dumps({"checked": True, "issues": [], "measures": {}}))
    record(history, "test_stream1", now - 30, COMPLETED, cycle="20251010_163200",
           quality=json.dumps({"checked": False, "issues": [], "measures": {}}))
    record(history, "test_stream1", now - 20, COMPLETED, cycle="20251010_163300",
           quality='{"issues": "damaged", "measures": [1]')  # not JSON: no verdict shown
    record(history, "test_stream1", now - 10, COMPLETED, cycle="20251010_163400",
           quality='{"checked": true, "issues": ["black", 3], "measures": {"black": "x"}}')
    history.close()
    page = client.get("/cameras/test_stream1?lang=zh").get_data(as_text=True)
    assert re.search(r'data-verdict="too_dark" title="测得 13.2 · 阈值 40.0">过暗<', page)
    assert re.search(r'data-verdict="scene_changed" title="测得 0.12 · 阈值 0.35">画面偏移/遮挡<',
                     page)
    assert "画面正常" in page and "未检查" in page
    assert '<span class="q bad" data-verdict="black">黑屏</span>' in page  # odd parts left out
    # A cycle still there is a link; a deleted one (no folder) is named, not linked (a 404).
    assert '<a href="/cycles/20251010_163000">20251010_163000</a>' in page
    assert "20251010_163200 (已删除)" in page and 'href="/cycles/20251010_163200"' not in page
    clips = page.split('id="clips"', 1)[1].split("</div>", 1)[0]
    assert "过暗" in clips and "画面正常" in clips  # the last clips carry their verdicts too
    english = client.get("/cameras/test_stream1?lang=en").get_data(as_text=True)
    assert re.search(r'title="measured 13.2 · threshold 40.0">too dark<', english)
    assert "view moved or blocked" in english and "picture good" in english
    assert "过暗" not in english


def test_the_console_shows_thumbnails_and_plays_check_clips(
        client: FlaskClient, config_path: Path, make_cycle: MakeCycle, output_root: Path) -> None:
    import time
    from shared.task_status import COMPLETED
    from testkit.history_rows import record
    cycle = make_cycle("20251010_163000", {"test_stream1.mp4": b"clip"})
    (cycle / ".test_stream1.mp4.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    check = output_root / "checks" / "20251010_170000_test_stream1"
    check.mkdir(parents=True)
    (check / "test_stream1.mp4").write_bytes(b"check clip")
    (check / ".test_stream1.mp4.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    history = _history(config_path)
    now = time.time()
    record(history, "test_stream1", now - 120, COMPLETED, cycle="20251010_163000",
           clip="./output/20251010_163000/test_stream1.mp4")
    record(history, "test_stream1", now - 60, COMPLETED, kind="check",
           cycle="checks/20251010_170000_test_stream1",
           clip="./output/checks/20251010_170000_test_stream1/test_stream1.mp4", quality=DARK)
    history.close()
    overview = client.get("/").get_data(as_text=True)
    card_img = ('<img src="/api/thumbnails/checks/20251010_170000_test_stream1/test_stream1.mp4"'
                ' alt="" loading="lazy" width="320" height="180">')
    assert card_img in overview
    page = client.get("/cameras/test_stream1").get_data(as_text=True)
    checks = page.split('id="check-clips"', 1)[1].split("</div>", 1)[0]
    src = "/api/clips/checks/20251010_170000_test_stream1/test_stream1.mp4"
    assert f'<video controls preload="metadata" src="{src}"' in checks and "过暗" in checks
    assert client.get(src).data == b"check clip"
    clips = page.split('id="clips"', 1)[1].split("</div>", 1)[0]
    assert 'poster="/api/thumbnails/20251010_163000/test_stream1.mp4"' in clips
    assert 'id="latest-thumbnail"' in page
    # The history names a check in words, in the page's language (it said "check").
    assert "<td>立即检查 checks/20251010_170000_test_stream1</td>" in page
    english = client.get("/cameras/test_stream1?lang=en").get_data(as_text=True)
    assert "<td>Check now checks/20251010_170000_test_stream1</td>" in english


BLACK = json.dumps({"checked": True, "issues": ["black", "frozen"], "measures": {
    "black": {"value": 1.0, "threshold": 0.9}}})
GOOD = json.dumps({"checked": True, "issues": [], "measures": {}})
UNCHECKED = json.dumps({"checked": False, "issues": [], "measures": {}})


def _card(page: str, camera: str) -> str:
    from app.console import dom_id
    return re.search(rf'<article class="card[^"]*" id="{dom_id(camera)}".*?</article>', page,
                     re.S).group(0)


def test_an_overview_card_warns_of_its_cameras_last_picture_verdict(
        client: FlaskClient, config_path: Path) -> None:
    # A black or frozen camera was a green "online" card with no marker: the verdicts showed
    # only on its own page.
    import time
    from shared.task_status import COMPLETED, CONNECTION_ERROR
    from testkit.history_rows import record
    history = _history(config_path)
    now = time.time()
    record(history, "test_stream1", now - 90, COMPLETED, quality=GOOD)
    record(history, "test_stream1", now - 60, COMPLETED, quality=BLACK)
    record(history, "test_stream1", now - 30, CONNECTION_ERROR, quality=UNCHECKED)
    record(history, "test_stream2", now - 60, COMPLETED, quality=BLACK)
    record(history, "test_stream2", now - 30, COMPLETED, quality=GOOD)  # fine again
    history.close()
    page = client.get("/?lang=zh").get_data(as_text=True)
    first = _card(page, "test_stream1")  # the failed task checked no picture: the last one's
    assert 'class="picture-issues"' in first
    assert ('<span class="q bad" data-verdict="black" title="测得 1.0 · 阈值 0.9">黑屏</span>'
            in first)
    assert '<span class="q bad" data-verdict="frozen">画面冻结</span>' in first
    assert "picture-issues" not in _card(page, "test_stream2")
    english = _card(client.get("/?lang=en").get_data(as_text=True), "test_stream1")
    assert ">black picture<" in english and ">frozen picture<" in english
    roster = re.search(r'roster=([0-9a-f]+)', page).group(1)
    live = client.get(f"/overview/live?after=0&roster={roster}&lang=zh").get_data(as_text=True)
    assert ">黑屏<" in _card(live, "test_stream1")  # the live update's cards say it too


def test_the_tasks_page_shows_verdicts_and_the_checks_in_progress(
        client: FlaskClient, write_status: WriteStatus) -> None:
    from shared.task_record import build, check_record
    from shared.task_status import COMPLETED, PENDING, RECORDING

    def task(index: int, status: int, quality: dict | None = None) -> dict:
        return build(task_id=index, stream_index=index, rtsp_url=f"rtsp://127.0.0.1/cam{index}",
                     output_file=None, duration_seconds=10, status=status, start_wall=None,
                     end_wall=None, progress=4.0, bytes_received=4000, frames_received=100,
                     error_message="", quality=quality)

    def check(check_id: int, camera: str, status: int, kind: str = "check") -> dict:
        return check_record(task(check_id, status), check_id=check_id, camera=camera,
                            kind=kind, requested_at="2025-10-10 16:30:00")
    write_status(scheduler_running=True, tasks=[
        task(0, COMPLETED, json.loads(BLACK)), task(1, COMPLETED, json.loads(GOOD)),
        task(2, RECORDING, json.loads(BLACK))],  # still running: no verdict yet
        checks=[check(7, "test_stream1", COMPLETED), check(8, "test_stream2", RECORDING),
                check(9, "test_stream1", PENDING, kind="probe")])
    for path in ("/tasks?lang=zh", "/tasks/live"):
        page = client.get(path).get_data(as_text=True)
        rows = re.findall(r'<tr data-status="\d+">(.*?)</tr>', page, re.S)
        assert [">黑屏<" in row for row in rows] == [True, False, False]
        assert "画面正常" in rows[1] and "q " not in rows[2]
        checks = page.split('id="checks"', 1)[1]
        shown = re.findall(r'<tr data-status="(\d+)" data-check="(\d+)">', checks)
        assert shown == [(str(RECORDING), "8"), (str(PENDING), "9")]  # not the finished one
        assert 'href="/cameras/test_stream2"' in checks and "快速探测" in checks
    english = client.get("/tasks?lang=en").get_data(as_text=True)
    assert "Checks in progress" in english and "Quick probe" in english
    write_status(scheduler_running=True, tasks=[], checks=[check(7, "test_stream1", COMPLETED)])
    assert "没有进行中的检查" in client.get("/tasks?lang=zh").get_data(as_text=True)


def test_a_broken_hand_edit_keeps_the_console_on_the_config_in_force_with_its_error(
        client: FlaskClient, config_path: Path, make_cycle: MakeCycle) -> None:
    make_cycle("20251010_163000")
    ConfigWatch(str(config_path)).poll()  # the recorder read it: its copy in force
    config_path.write_text('{"global_config": {}, "streams": [}', encoding="utf-8")
    overview = client.get("/").get_data(as_text=True)
    cycles = client.get("/cycles").get_data(as_text=True)
    assert "test_stream1" in overview and "20251010_163000" in cycles  # not "no cameras/cycles"
    for page in (overview, cycles):
        assert 'class="banner"' in page  # and the file's error shown


@pytest.mark.parametrize("name", ["nosuch", "20251010_999999"])
def test_an_unknown_cycles_page_is_404_not_a_refused_delete(client: FlaskClient, name) -> None:
    response = client.get(f"/cycles/{name}")
    assert response.status_code == 404
    assert "只能删除" not in response.get_data(as_text=True)


def test_the_cycle_page_shows_the_cycles_contact_sheet(client: FlaskClient,
                                                       make_cycle: MakeCycle) -> None:
    folder = make_cycle("20251010_163000")
    assert "/api/contact_sheets/" not in client.get("/cycles/20251010_163000").get_data(
        as_text=True)  # none yet
    (folder / "contact_sheet.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    page = client.get("/cycles/20251010_163000").get_data(as_text=True)
    assert '<img src="/api/contact_sheets/20251010_163000"' in page


def _browser_form(page: str, form_id: str) -> tuple[str, list[tuple[str, str]]]:
    """The action of form ``form_id`` on ``page`` and what a browser submits with it: its own
    inputs and those naming it (``form=``), a checkbox only when ticked, values unescaped."""
    found = re.search(rf'(<form [^>]*id="{form_id}"[^>]*>)(.*?)</form>', page, re.S)
    assert found, form_id
    action, inner = re.search(r'action="([^"]+)"', found.group(1)).group(1), found.group(2)
    tags = re.findall(r"<input [^>]*>", inner) + re.findall(
        rf'<input [^>]*form="{form_id}"[^>]*>', page)
    sent = []
    for tag in tags:
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', tag))
        if attrs.get("type") == "checkbox" and " checked" not in tag:
            continue
        if "name" in attrs:
            sent.append((attrs["name"], html.unescape(attrs.get("value", ""))))
    for name, text in re.findall(r'<textarea [^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', inner,
                                 re.S):
        sent.append((name, html.unescape(text)))
    return html.unescape(action), sent


def _move_form(page: str, index: int, direction: str) -> str:
    """The action of the form holding row ``index``'s ↑ or ↓ button."""
    form = re.search(rf'<form [^>]*action="([^"]+)"(?:(?!</form>).)*id="move-{index}-{direction}"',
                     page, re.S)
    return html.unescape(form.group(1))


def _streams(config_path: Path) -> list[dict]:
    return json.loads(config_path.read_text())["streams"]


def test_each_rows_arrows_move_that_row(client: FlaskClient, config_path: Path) -> None:
    # Every row's ↑ posted stream 0's move and every ↓ stream 1's (the inner loop's index).
    client.post("/settings/streams/add", data={
        "csrf_token": _csrf(client), "etag": _etag(client), "rtsp_url": "rtsp://127.0.0.1/cam3",
        "duration_seconds": "5"})
    page = client.get("/settings").get_data(as_text=True)
    assert _move_form(page, 0, "down") == "/settings/streams/0/move"
    assert _move_form(page, 2, "up") == "/settings/streams/2/move"
    moved = client.post(_move_form(page, 0, "down"), data={
        "csrf_token": _csrf(client), "etag": _etag(client), "direction": "down"})
    assert moved.status_code == 303
    assert [s["rtsp_url"][-4:] for s in _streams(config_path)] == ["cam2", "cam1", "cam3"]


def _etag(client: FlaskClient) -> str:
    return html.unescape(re.search(r'name="etag" value="([^"]+)"',
                                   client.get("/settings").get_data(as_text=True)).group(1))


@pytest.mark.parametrize("alerts", [True, False, None])
def test_saving_a_row_keeps_its_alerts_setting(client: FlaskClient, config_path: Path,
                                               alerts: bool | None) -> None:
    # The alerts box showed Python's True/False as text, and saving turned alerts off.
    config = json.loads(config_path.read_text())
    if alerts is not None:
        config["streams"][0]["alerts"] = alerts
    config_path.write_text(json.dumps(config))
    page = client.get("/settings").get_data(as_text=True)
    action, sent = _browser_form(page, "f-stream-0")
    sent = [(k, "东门" if k == "name" else v) for k, v in sent]
    assert client.post(action, data=MultiDict(sent)).status_code == 303
    stream = _streams(config_path)[0]
    assert stream["name"] == "东门"
    assert stream.get("alerts", True) is (alerts is not False)
    assert ("alerts" in stream) is (alerts is not None)  # the default is not written out
    # Unticking the box silences the camera; ticking it again un-silences it.
    page = client.get("/settings").get_data(as_text=True)
    action, sent = _browser_form(page, "f-stream-0")
    unticked = [(k, v) for k, v in sent if (k, v) != ("alerts", "true")]
    assert client.post(action, data=MultiDict(unticked)).status_code == 303
    assert _streams(config_path)[0]["alerts"] is False


def test_a_nested_settings_error_is_shown_at_its_box_with_what_was_typed(
        client: FlaskClient, config_path: Path) -> None:
    before = config_path.read_bytes()
    page = client.get("/settings").get_data(as_text=True)
    action, sent = _browser_form(page, "global-form")
    sent = [(k, '{"blur_max": -3}' if k == "quality" else v) for k, v in sent]
    response = client.post(action, data=MultiDict(sent))
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert re.search(r'data-error-for="quality">配置验证失败: quality.blur_max', text)
    assert "&#34;blur_max&#34;: -3" in text or '"blur_max": -3' in html.unescape(text)
    assert config_path.read_bytes() == before


def test_a_setting_the_file_leaves_out_can_be_set_and_empty_boxes_add_nothing(
        client: FlaskClient, config_path: Path) -> None:
    page = client.get("/settings").get_data(as_text=True)
    assert 'id="g-quality"' in page and 'id="g-offline_after_failures"' in page
    action, sent = _browser_form(page, "global-form")
    assert client.post(action, data=MultiDict(sent)).status_code == 303  # as shown: nothing changes
    assert json.loads(config_path.read_text())["global_config"] == valid_config()["global_config"]
    sent = [(k, '{"enabled": false}' if k == "quality" else "5" if k == "offline_after_failures"
             else v) for k, v in sent]
    assert client.post(action, data=MultiDict(sent)).status_code == 303
    saved = json.loads(config_path.read_text())["global_config"]
    assert saved["quality"]["enabled"] is False and saved["offline_after_failures"] == 5
    assert "audio_mode" not in saved


def test_a_refused_row_is_shown_again_as_it_was_filled_in(client: FlaskClient,
                                                          config_path: Path) -> None:
    page = client.get("/settings").get_data(as_text=True)
    action, sent = _browser_form(page, "f-stream-1")
    sent = [(k, "0" if k == "duration_seconds" else "西门" if k == "name" else v)
            for k, v in sent]
    response = client.post(action, data=MultiDict(sent))
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    _, shown = _browser_form(text, "f-stream-1")
    assert ("duration_seconds", "0") in shown and ("name", "西门") in shown
    assert 'data-error-for="duration_seconds"' in text
    _, other = _browser_form(text, "f-stream-0")
    assert ("duration_seconds", "15") in other  # the other rows as the file has them


def test_disk_free_is_shown_before_the_first_cycle_makes_the_output_folder(
        client: FlaskClient, output_root: Path) -> None:
    # The recorder makes the output folder at its first cycle; until then the overview said
    # "-", though the file system it will be on is known.
    output_root.rmdir()
    page = client.get("/?lang=zh").get_data(as_text=True)
    shown = re.search(r"磁盘剩余: <b>([^<]*)</b>", page).group(1)
    assert shown not in ("", "-") and re.search(r"\d", shown), shown


def test_the_camera_page_follows_a_check_while_it_is_asked_for_or_running(
        client: FlaskClient, write_status: WriteStatus) -> None:
    import time
    from shared.timefmt import format_local
    from testkit.history_rows import record
    def following() -> bool:
        page = client.get("/cameras/test_stream1").get_data(as_text=True)
        section = page.split('id="check-clips"', 1)[1].split(">", 1)[0]
        return 'hx-trigger="every 2s"' in section and 'id="checking"' in page
    write_status()
    assert not following()
    asked = client.post("/cameras/test_stream1/check?probe=0",
                        headers={"X-CSRF-Token": _csrf(client)})
    assert asked.status_code == 303
    assert following()  # asked for, not yet taken by the recorder
    write_status(checks_taken=1, checks=[{"camera": "test_stream1", "status": 3}])
    assert following()  # running
    # Ended, but the history (written after the status) has no row of it yet: still asking,
    # else the section stops before its clip can be shown.
    ended = time.time() - 2
    write_status(checks_taken=1, checks=[{"camera": "test_stream1", "status": 4,
                                          "end_time": format_local(ended)}])
    assert following()
    history = _history(Path(client.application.config["CONFIG_PATH"]))
    record(history, "test_stream1", ended, 4, kind="check",
           cycle="checks/20251010_163000_test_stream1")
    history.close()
    assert not following()  # in the history: the section stops asking


def test_the_cycle_page_shows_each_clips_picture_verdict(client: FlaskClient,
                                                        make_cycle: MakeCycle) -> None:
    folder = make_cycle("20251010_163000", {"a.mp4": b"a", "b.mp4": b"b", "c.mp4": b"c"})
    report = {"summary": {}, "tasks": [
        {"output_file": "./output/20251010_163000/a.mp4", "quality": json.loads(DARK)},
        {"output_file": "./output/20251010_163000/b.mp4",
         "quality": {"checked": True, "issues": [], "measures": {}}},
        {"output_file": None, "quality": {"checked": False, "issues": [], "measures": {}}},
        "damaged"]}
    (folder / "rtsp_report.json").write_text(json.dumps(report))
    page = client.get("/cycles/20251010_163000?lang=zh").get_data(as_text=True)
    rows = {name: row for name, row in re.findall(r'data-file="([^"]+)">(.*?)</tr>', page, re.S)}
    assert 'data-verdict="too_dark"' in rows["a.mp4"] and "画面正常" in rows["b.mp4"]
    assert 'class="quality"' not in rows["c.mp4"]  # the report says nothing of it
    (folder / "rtsp_report.json").write_text("{not json")
    assert client.get("/cycles/20251010_163000").status_code == 200


def test_the_camera_page_sets_and_shows_the_reference_picture(
        client: FlaskClient, make_cycle: MakeCycle) -> None:
    import time
    from shared.task_status import COMPLETED
    from testkit.history_rows import record
    folder = make_cycle("20251010_163000", {"test_stream1.mp4": b"clip"})
    (folder / ".test_stream1.mp4.jpg").write_bytes(b"\xff\xd8 view \xff\xd9")
    history = _history(Path(client.application.config["CONFIG_PATH"]))
    record(history, "test_stream1", time.time() - 10, COMPLETED, cycle="20251010_163000",
           clip="./output/20251010_163000/test_stream1.mp4")
    history.close()
    page = client.get("/cameras/test_stream1").get_data(as_text=True)
    assert 'id="set-reference"' in page and 'id="reference"' not in page
    done = client.post("/cameras/test_stream1/reference", data={"csrf_token": _csrf(client)})
    # the outcome is said once, on the page the form leads to, and is not in its URL
    assert done.status_code == 303 and "notice" not in done.headers["Location"]
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "参考画面已更新" in page
    assert "参考画面已更新" not in client.get(done.headers["Location"]).get_data(as_text=True)
    src = html.unescape(re.search(r'id="reference" src="([^"]+)"', page).group(1))
    assert client.get(src).data == b"\xff\xd8 view \xff\xd9"
    # Without the CSRF token the form is refused and nothing is written.
    assert client.post("/cameras/test_stream2/reference").status_code == 403


def test_a_card_without_a_picture_says_why(client: FlaskClient, config_path: Path) -> None:
    # A camera that never delivered showed an empty grey box: its reason is on its page only.
    import time
    from shared.task_status import CONNECTION_ERROR
    from testkit.history_rows import record
    history = _history(config_path)
    record(history, "test_stream1", time.time() - 30, CONNECTION_ERROR, error="连接被拒绝")
    history.close()
    page = client.get("/?lang=zh").get_data(as_text=True)
    assert '<p class="no-picture" title="连接被拒绝">连接被拒绝</p>' in _card(page, "test_stream1")
    assert '<p class="no-picture" title="">没有画面</p>' in _card(page, "test_stream2")  # no news


def test_a_form_refused_for_a_stale_tag_shows_the_file_not_what_was_typed(
        client: FlaskClient, config_path: Path) -> None:
    # Shown again as typed with the fresh tag, the old values saved once more would undo the
    # other operator's edit unseen (the If-Match guard defeated).
    page = client.get("/settings").get_data(as_text=True)
    action, sent = _browser_form(page, "global-form")
    config = json.loads(config_path.read_text())
    config["global_config"]["max_concurrent_streams"] = 7  # the other operator, meanwhile
    config_path.write_text(json.dumps(config))
    sent = [(k, "45" if k == "cycle_interval_seconds" else v) for k, v in sent]
    refused = client.post(action, data=MultiDict(sent))
    assert refused.status_code == 409
    assert refused.headers["Cache-Control"] == "no-store"
    _, shown = _browser_form(refused.get_data(as_text=True), "global-form")
    assert ("max_concurrent_streams", "7") in shown and ("cycle_interval_seconds", "30") in shown
    assert client.post(action, data=MultiDict(shown)).status_code == 303
    assert json.loads(config_path.read_text())["global_config"]["max_concurrent_streams"] == 7


def test_the_overview_says_when_the_next_cycle_is_due_and_why_the_recorder_waits(
        client: FlaskClient, write_status: WriteStatus) -> None:
    write_status(scheduler_running=True, next_cycle_time="2025-10-11 14:52:08",
                 message="磁盘剩余空间不足: 剩余 512 MB, 低于下限 1024 MB")
    page = client.get("/?lang=zh").get_data(as_text=True)
    assert "下一轮: <b>2025-10-11 14:52:08</b>" in page
    assert "磁盘剩余空间不足: 剩余 512 MB, 低于下限 1024 MB" in page
    write_status(stale=True, scheduler_running=True, next_cycle_time="2025-10-11 14:52:08",
                 message="磁盘剩余空间不足")  # a dead recorder's plans are not shown
    page = client.get("/?lang=zh").get_data(as_text=True)
    assert "下一轮" not in page and "磁盘剩余空间不足" not in page


def test_the_overview_and_settings_say_this_hosts_recorder_is_a_standby_and_of_whom(
        client: FlaskClient, write_status: WriteStatus) -> None:
    standby = {"coordinator": "host-a:4242:0f1e2d3c", "since": "2025-10-11 14:47:08"}
    write_status(scheduler_running=True, standby=standby)
    for path in ("/", "/settings"):
        page = client.get(f"{path}?lang=zh").get_data(as_text=True)
        assert "本机为备用协调器: 协调器 <code>host-a:4242:0f1e2d3c</code>" in page, path
        assert "等待开始于 2025-10-11 14:47:08" in page, path
        english = client.get(f"{path}?lang=en").get_data(as_text=True)
        assert ("This host is a standby coordinator: coordinator "
                "<code>host-a:4242:0f1e2d3c</code> · waiting since 2025-10-11 14:47:08"
                in english), path
    write_status(stale=True, scheduler_running=True, standby=standby)  # a dead recorder's
    assert "host-a:4242" not in client.get("/?lang=zh").get_data(as_text=True)
    write_status(scheduler_running=True)  # it coordinates now
    assert 'id="standby"' not in client.get("/?lang=zh").get_data(as_text=True)


@pytest.mark.parametrize("target", ["/%09/evil.example/", "/%0a/evil.example/",
                                    "/%0d%0a/evil.example", "/%5C/evil.example/",
                                    "/\\evil.example/", "/ /evil.example"])
def test_sign_in_never_sends_the_browser_off_site(client: FlaskClient, locked: FlaskClient,
                                                  target: str) -> None:
    # Browsers drop tabs and line breaks from a Location: "/\t/evil.example/" is
    # "//evil.example/" to them, another site. Open install (signed in already) and form alike.
    answer = client.get(f"/login?next={target}")
    assert answer.status_code == 303 and answer.headers["Location"] == "/", target
    signed = locked.post("/login", data={"token": TOKEN,
                                         "next": urllib.parse.unquote(target)})
    assert signed.status_code == 303 and signed.headers["Location"] == "/", target


def test_the_console_stops_the_scheduler_only_when_asked_to(
        client: FlaskClient, config_path: Path, write_status: WriteStatus) -> None:
    from shared.control_file import read_control, update_control
    write_status(scheduler_running=True)  # a live recorder
    control = settings.control_path(str(config_path))
    update_control(control, lambda state: state.update(scheduler_running=True))
    token = _csrf(client)
    # Any other word than start and stop stopped the patrol.
    answer = client.post("/settings/scheduler/explode", headers={"X-CSRF-Token": token})
    assert answer.status_code == 404
    assert read_control(control)["scheduler_running"] is True
    assert client.post("/settings/scheduler/stop",
                       headers={"X-CSRF-Token": token}).status_code == 303
    assert read_control(control)["scheduler_running"] is False


def _signed_in_client(token: str, config_path: Path, tmp_path: Path) -> FlaskClient:
    app = create_app({"CONFIG_PATH": str(config_path), "OUTPUT_DIR": "./output",
                      "OUTPUT_BASE": str(tmp_path), "API_TOKEN": token})
    client = app.test_client()
    assert client.post("/login", data={"token": token}).status_code == 303
    return client


def test_a_changed_token_ends_every_sign_in(tmp_path: Path, config_path: Path,
                                            output_root: Path) -> None:
    # The session kept only "signed in": whoever had signed in with a leaked token kept the
    # console (and the API's reads) for a month after the token was changed.
    old = _signed_in_client(TOKEN, config_path, tmp_path)
    cookie = old.get_cookie("session").value
    assert old.get("/settings").status_code == 200
    renewed = create_app({"CONFIG_PATH": str(config_path), "OUTPUT_DIR": "./output",
                          "OUTPUT_BASE": str(tmp_path), "API_TOKEN": TOKEN + "-new"})
    client = renewed.test_client()
    client.set_cookie("session", cookie)
    answer = client.get("/settings")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    assert client.post("/settings/scheduler/stop").status_code == 302


def test_a_sign_in_lasts_a_day_and_keeps_the_language_chosen_before(
        tmp_path: Path, config_path: Path, locked: FlaskClient) -> None:
    assert locked.get("/login?lang=en").status_code == 200
    signed = locked.post("/login", data={"token": TOKEN, "next": "/settings"})
    assert signed.status_code == 303
    expires = re.search(r"Expires=([^;]+)", signed.headers["Set-Cookie"]).group(1)
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime
    left = parsedate_to_datetime(expires) - datetime.now(timezone.utc)
    assert 23.9 * 3600 < left.total_seconds() <= 24 * 3600
    assert "Settings" in locked.get("/settings").get_data(as_text=True)


def test_a_sign_in_ends_a_day_after_it_was_made_however_often_the_console_is_used(
        tmp_path: Path, config_path: Path, output_root: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Flask re-signed the cookie at each answer, so its 24 hours slid with every page polled:
    # a copied cookie, used once a day, never expired.
    from app.console import access
    from shared.clock import SYSTEM_CLOCK
    signed = _signed_in_client(TOKEN, config_path, tmp_path)
    start = SYSTEM_CLOCK.wall()
    for hours in (1, 12, 23.9):
        monkeypatch.setattr(SYSTEM_CLOCK, "wall", lambda h=hours: start + h * 3600)
        assert signed.get("/settings").status_code == 200, hours
    monkeypatch.setattr(SYSTEM_CLOCK, "wall", lambda: start + access.SESSION_HOURS * 3600 + 1)
    answer = signed.get("/settings")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_a_session_that_ended_sends_htmx_and_forms_to_the_sign_in_and_back(
        locked: FlaskClient) -> None:
    # htmx polling got a bare 401 (Werkzeug's English text, no way to sign in); a form's POST
    # came back to its own URL after the sign-in, which answers GET with 405.
    polled = locked.get("/", headers={"HX-Request": "true",
                                      "HX-Current-URL": "http://localhost/tasks?x=1"})
    assert polled.status_code == 401
    assert polled.headers["HX-Redirect"] == "/login?next=/tasks?x%3D1"
    posted = locked.post("/settings/scheduler/stop",
                         headers={"Referer": "http://localhost/settings"})
    assert posted.status_code == 302
    assert posted.headers["Location"] == "/login?next=/settings"
    elsewhere = locked.post("/settings/scheduler/stop",
                            headers={"Referer": "http://evil.example/settings"})
    assert elsewhere.headers["Location"] == "/login?next=/"


def test_a_tasks_fps_is_frames_over_recorded_seconds_while_recording_and_after(
        client: FlaskClient, write_status: WriteStatus) -> None:
    # A finished task's fps was frames over run_seconds, which counts the connection set-up:
    # 75 frames of a 25 fps camera showed 21.6, though its picture check measured 25.0.
    from shared.task_record import build
    from shared.task_status import COMPLETED, RECORDING

    def task(index: int, status: int, progress: float, frames: int) -> dict:
        return build(task_id=index, stream_index=index, rtsp_url=f"rtsp://127.0.0.1/cam{index}",
                     output_file=None, duration_seconds=3, status=status, start_wall=None,
                     end_wall=None, progress=progress, bytes_received=4000,
                     frames_received=frames, error_message="", run_seconds=3.466)
    write_status(scheduler_running=True, tasks=[task(0, COMPLETED, 3.0, 75),
                                                task(1, RECORDING, 2.0, 50)])
    rows = re.findall(r'<tr data-status="\d+">(.*?)</tr>', client.get("/tasks/live").get_data(
        as_text=True), re.S)
    assert [re.findall(r"<td>([\d.]+)</td>", row)[-1] for row in rows] == ["25.0", "25.0"]


def test_a_refused_check_or_reference_goes_back_to_the_camera_page_saying_why(
        client: FlaskClient, write_status: WriteStatus) -> None:
    # A 503 (recorder down) or 409 (being checked) replaced the camera page with a bare error
    # page at /cameras/<id>/check, a POST-only URL.
    token = _csrf(client, "/cameras/test_stream1")

    def refusal(path: str) -> str:
        answer = client.post(path, data={"csrf_token": token})
        assert answer.status_code == 303 and answer.headers["Location"] == "/cameras/test_stream1"
        page = client.get(answer.headers["Location"]).get_data(as_text=True)
        return re.search(r'<div class="notice failed" role="status">([^<]*)</div>', page).group(1)
    assert refusal("/cameras/test_stream1/check?probe=0") == "录制守护进程未运行"
    write_status()
    assert client.post("/cameras/test_stream1/check?probe=1",
                       data={"csrf_token": token}).status_code == 303
    assert refusal("/cameras/test_stream1/check?probe=0") == "摄像头 test_stream1 正在检查中"
    assert refusal("/cameras/test_stream1/reference") == "摄像机 test_stream1 还没有缩略图"


def test_an_emptied_optional_setting_is_removed_and_a_required_one_refused(
        client: FlaskClient, config_path: Path) -> None:
    # An emptied box was sent as "": "name must be a non-empty string", "must be one of auto,
    # tcp, udp", "must be an integer": an optional setting, once set, stayed for good.
    config = json.loads(config_path.read_text())
    config["streams"][0].update(name="东门", rtsp_transport="tcp")
    config["global_config"].update(min_free_space_mb=2048, quality={"enabled": False})
    config_path.write_text(json.dumps(config))

    def emptied(form_id: str, names: tuple[str, ...]):
        action, sent = _browser_form(client.get("/settings").get_data(as_text=True), form_id)
        return client.post(action, data=MultiDict([(k, "" if k in names else v)
                                                   for k, v in sent]))
    assert emptied("f-stream-0", ("name", "rtsp_transport")).status_code == 303
    assert emptied("global-form", ("min_free_space_mb", "quality")).status_code == 303
    saved = json.loads(config_path.read_text())
    assert "name" not in saved["streams"][0] and "rtsp_transport" not in saved["streams"][0]
    assert saved["streams"][0]["rtsp_url"] == config["streams"][0]["rtsp_url"]
    assert saved["global_config"] == valid_config()["global_config"]
    before = config_path.read_bytes()
    assert emptied("f-stream-0", ("duration_seconds",)).status_code == 400
    assert emptied("global-form", ("max_concurrent_streams",)).status_code == 400
    assert config_path.read_bytes() == before


def test_the_language_link_keeps_the_other_query_parameters(client: FlaskClient,
                                                            locked: FlaskClient) -> None:
    # ?lang=zh replaced the whole query: the sign-in lost its next=, the cycles their page.
    def link(answer) -> str:
        page = answer.get_data(as_text=True)
        return html.unescape(re.search(r'id="language" href="([^"]+)"', page).group(1))
    assert link(client.get("/cycles?offset=50&limit=10&lang=zh")) == "?offset=50&limit=10&lang=en"
    assert link(client.get("/cycles?lang=en")) == "?lang=zh"
    shown = link(locked.get("/login?next=/cameras/gate"))
    assert urllib.parse.parse_qs(shown[1:]) == {"next": ["/cameras/gate"], "lang": ["en"]}


def test_a_refused_settings_form_names_the_pages_own_address(client: FlaskClient) -> None:
    # Drawn at /settings/global (POST only), the page's language link (?lang=en) and a reload
    # asked that URL: a JSON 405 or the form posted again. The page names /settings for both.
    page = client.get("/settings").get_data(as_text=True)
    action, sent = _browser_form(page, "global-form")
    refused = client.post(action, data=MultiDict(
        [(k, "0" if k == "max_concurrent_streams" else v) for k, v in sent]))
    running = client.post("/settings/scheduler/start", data={"csrf_token": _csrf(client)})
    for answer in (refused, running):
        assert answer.status_code in (400, 503)  # a bad value; no recorder to start
        text = answer.get_data(as_text=True)
        assert 'data-page-url="/settings"' in text and "console.js" in text
        assert re.search(r'id="language" href="/settings\?lang=en"', text)
    assert client.get("/settings?lang=en").status_code == 200


def test_each_stream_cell_names_its_field_for_a_phone(client: FlaskClient) -> None:
    # On a narrow screen the table's header row is hidden: the boxes had no labels at all.
    from app.console.settings_page import STREAM_FIELDS
    page = client.get("/settings").get_data(as_text=True)
    for row in ("stream-0", "stream-1", "add"):
        cells = re.search(rf'<tr id="{row}">(.*?)</tr>', page, re.S).group(1)
        assert re.findall(r'<td data-label="([^"]+)">', cells) == list(STREAM_FIELDS), row
    css = (Path(client.application.root_path) / "console/static/console.css").read_text()
    assert ".streams td[data-label]::before { content: attr(data-label);" in css


def test_the_tasks_update_replaces_the_tables_inside_their_scrolling_boxes(
        client: FlaskClient) -> None:
    # The update redrew the boxes themselves (innerHTML of their parent): a table scrolled
    # sideways on a phone jumped back to its left edge every second.
    page = client.get("/tasks").get_data(as_text=True)
    assert re.search(r'<div id="tasks-live" hx-get="/tasks/live" hx-trigger="every 1s" '
                     r'hx-swap="none">', page)
    for table in ("tasks", "checks"):
        assert f'<div class="scroll"><table id="{table}">' in page
    live = client.get("/tasks/live").get_data(as_text=True)
    assert 'class="scroll"' not in live
    assert {'<table id="tasks" hx-swap-oob="true">', '<table id="checks" hx-swap-oob="true">',
            '<div class="status" id="recorder" hx-swap-oob="true">'} <= set(live.splitlines())


def test_a_cycles_page_past_the_end_says_so_and_links_the_first_page(
        client: FlaskClient, make_cycle: MakeCycle) -> None:
    # /cycles?offset=999 said "No cycle yet" although there were cycles.
    for name in ("20251010_163000", "20251010_164000"):
        make_cycle(name)
    page = client.get("/cycles?offset=999&limit=10&lang=zh").get_data(as_text=True)
    assert "还没有巡检周期" not in page
    assert '<span id="past-end">这一页已超出末尾: 共 2 个巡检周期</span>' in page
    assert html.unescape(re.search(r'<a rel="first" href="([^"]+)"', page).group(1)) == \
        "/cycles?limit=10"
    english = client.get("/cycles?offset=999&lang=en").get_data(as_text=True)
    assert "This page is past the end: 2 cycles in all" in english
    assert "Back to the first page" in english


def test_a_removed_cameras_page_says_it_is_no_longer_patrolled(client: FlaskClient,
                                                                config_path: Path) -> None:
    # Its page showed its last state (online) as if it were still patrolled.
    import time
    from shared.task_status import COMPLETED
    from testkit.history_rows import record
    history = _history(config_path)
    record(history, "gone_cam", time.time() - 60, COMPLETED)
    history.close()
    page = client.get("/cameras/gone_cam").get_data(as_text=True)
    assert "这个摄像头已不在配置中" in page
    assert "这个摄像头已不在配置中" not in client.get("/cameras/test_stream1").get_data(
        as_text=True)
    english = client.get("/cameras/gone_cam?lang=en").get_data(as_text=True)
    assert "This camera is no longer in the config" in english


def test_the_tasks_page_names_each_tasks_camera_never_its_password(
        client: FlaskClient, config_path: Path, write_status: WriteStatus) -> None:
    # The page showed each task's RTSP URL where every other page names the camera.
    from shared.task_record import build
    from shared.task_status import RECORDING
    config = valid_config()
    config["streams"][0].update(rtsp_url="rtsp://admin:s3cret@127.0.0.1:8554/cam1", name="Gate")
    config_path.write_text(json.dumps(config), encoding="utf-8")

    def task(index: int, url: str, clip: str | None) -> dict:
        return build(task_id=index, stream_index=index, rtsp_url=url, output_file=clip,
                     duration_seconds=10, status=RECORDING, start_wall=None, end_wall=None,
                     progress=1.0, bytes_received=10, frames_received=1, error_message="")
    write_status(scheduler_running=True, tasks=[
        task(0, "rtsp://admin:s3cret@127.0.0.1:8554/cam1", "./output/x/test_stream1.mp4"),
        task(1, "rtsp://127.0.0.1:8554/cam2", None),
        task(2, "rtsp://admin:s3cret@127.0.0.1:8554/gone", None)])  # no longer configured
    for path in ("/tasks?lang=zh", "/tasks/live"):
        page = client.get(path).get_data(as_text=True)
        rows = re.findall(r'<tr data-status="\d+">(.*?)</tr>', page, re.S)
        assert ('<a dir="auto" href="/cameras/test_stream1">Gate</a> '
                '<code dir="auto">test_stream1</code>') in rows[0]
        assert '<a dir="auto" href="/cameras/test_stream2">test_stream2</a>' in rows[1]
        assert "rtsp://" not in rows[0] + rows[1]
        assert "<code>rtsp://admin:***@127.0.0.1:8554/gone</code>" in rows[2]
        assert "s3cret" not in page


def test_the_delete_stream_confirmation_names_the_stream(client: FlaskClient,
                                                          config_path: Path) -> None:
    # It asked "确定删除这个视频流?" on every row alike: which one was about to go, unsaid.
    config = valid_config()
    config["streams"][1]["name"] = "Yard <east>"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    page = client.get("/settings?lang=zh").get_data(as_text=True)
    asked = [html.unescape(text) for text in re.findall(
        r'action="/settings/streams/\d+/delete"[^>]*data-confirm="([^"]*)"', page)]
    # each name isolated (U+2068 … U+2069): one written right to left keeps to itself
    assert asked == ["确定删除这个视频流? \u2068test_stream1\u2069",
                     "确定删除这个视频流? \u2068Yard <east>\u2069 (\u2068test_stream2\u2069)"]
    english = client.get("/settings?lang=en").get_data(as_text=True)
    assert 'data-confirm="Delete this stream? \u2068test_stream1\u2069"' in english


def test_a_broken_config_leaves_settings_its_error_and_the_scheduler_buttons(
        client: FlaskClient, config_path: Path, write_status: WriteStatus) -> None:
    # /settings answered a bare 503 page: no start/stop, which do not need the config at all.
    from shared.control_file import read_control
    token = _csrf(client)
    config_path.write_text('{"global_config": {}, "streams": [}', encoding="utf-8")
    page = client.get("/settings?lang=zh")
    text = page.get_data(as_text=True)
    assert page.status_code == 503  # as README says of the config endpoints
    assert 'id="scheduler-start"' in text and 'id="scheduler-stop"' in text
    assert 'id="reload"' in text and 'id="global-form"' not in text
    banner = text.split('id="config-error"', 1)[1].split("</div></div>", 1)[0]
    assert "配置错误" in banner and "JSON 格式错误" in banner and "文件: config.json · 行 1" in banner
    english = client.get("/settings?lang=en").get_data(as_text=True)
    assert "The config file is broken" in english and "Stop the scheduler" in english
    client.get("/settings?lang=zh")
    refused = client.post("/settings/scheduler/start", headers={"X-CSRF-Token": token})
    assert refused.status_code == 503  # no recorder: said on the page, buttons still there
    assert "录制守护进程未运行" in refused.get_data(as_text=True)
    assert 'id="scheduler-start"' in refused.get_data(as_text=True)
    write_status(scheduler_running=True)  # a live recorder
    stopped = client.post("/settings/scheduler/stop", headers={"X-CSRF-Token": token})
    assert stopped.status_code == 303
    assert read_control(settings.control_path(str(config_path)))["scheduler_running"] is False
    after = client.get("/settings")
    assert after.status_code == 503 and "调度器停止成功" in after.get_data(as_text=True)


def test_the_recorders_texts_are_shown_in_the_pages_language(
        client: FlaskClient, write_status: WriteStatus) -> None:
    # The English console showed the recorder's Chinese: task errors, its status message.
    from shared.task_record import build, check_record
    from shared.task_status import CONNECTION_ERROR, PENDING, TIMEOUT

    def task(index: int, status: int, error: str) -> dict:
        return build(task_id=index, stream_index=index, rtsp_url=f"rtsp://127.0.0.1/cam{index}",
                     output_file=None, duration_seconds=10, status=status, start_wall=None,
                     end_wall=None, progress=0.0, bytes_received=0, frames_received=0,
                     error_message=error)
    write_status(scheduler_running=True, message="磁盘剩余空间不足: 剩余 12 MB, 低于下限 500 MB",
                 tasks=[task(0, TIMEOUT, "读取超时: 长时间未收到数据"),
                        task(1, CONNECTION_ERROR, "某个未知的原因")],  # unknown: as it is
                 checks=[check_record(task(7, PENDING, "录制守护进程停止, 重启后重新检查"),
                                      check_id=7, camera="test_stream1", kind="check",
                                      requested_at="2025-10-10 16:30:00")])
    english = client.get("/tasks?lang=en").get_data(as_text=True)
    assert "Disk space low: 12 MB free, below the floor of 500 MB" in english
    errors = re.findall(r'<td class="error">(.*?)</td>', english)
    assert errors == ["Read timeout: no data received for too long", "某个未知的原因",
                      "The recorder daemon stopped; the check runs again when it starts"]
    chinese = client.get("/tasks?lang=zh").get_data(as_text=True)
    assert re.findall(r'<td class="error">(.*?)</td>', chinese)[0] == "读取超时: 长时间未收到数据"
    assert "磁盘剩余空间不足: 剩余 12 MB" in chinese


def test_a_cameras_recorded_error_is_shown_in_the_pages_language(client: FlaskClient,
                                                                 config_path: Path) -> None:
    import time
    from shared.task_status import TIMEOUT
    from testkit.history_rows import record
    history = _history(config_path)
    record(history, "test_stream1", time.time() - 30, TIMEOUT, error="连接超时: 服务器未在规定时间内响应")
    history.close()
    said = "Connection timeout: the server did not answer in time"
    card = _card(client.get("/?lang=en").get_data(as_text=True), "test_stream1")
    assert f'<p class="no-picture" title="{said}">{said}</p>' in card
    page = client.get("/cameras/test_stream1?lang=en").get_data(as_text=True)
    assert f'<span class="error">{said}</span>' in page
    assert f'<td class="error">{said}</td>' in page
    assert said not in client.get("/cameras/test_stream1?lang=zh").get_data(as_text=True)


@pytest.mark.parametrize("name, mimetype", [("report.txt", "text/plain"),
                                            ("rtsp_report.json", "application/json"),
                                            ("streams.csv", "text/plain")])
def test_a_cycles_report_opens_in_the_browser_and_downloads_when_asked(
        client: FlaskClient, make_cycle: MakeCycle, name: str, mimetype: str) -> None:
    # Each report link downloaded the file (an attachment); an operator expects to read it.
    make_cycle("20251010_163000")
    page = client.get("/cycles/20251010_163000?lang=zh").get_data(as_text=True)
    link = f"/cycles/20251010_163000/reports/{name}"
    assert f'<a class="report" href="{link}">{name}</a> (<a href="{link}?download=1">下载</a>)' \
        in page
    shown = client.get(link)
    assert shown.status_code == 200 and shown.mimetype == mimetype
    assert shown.headers["Content-Disposition"].startswith("inline")
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    # Exactly, once: 8f3272a's answers said "text/plain; charset=utf-8; charset=utf-8".
    expected = "text/plain; charset=utf-8" if mimetype == "text/plain" else mimetype
    assert shown.headers["Content-Type"] == expected
    saved = client.get(f"{link}?download=1")
    assert saved.headers["Content-Disposition"] == f"attachment; filename={name}"
    assert saved.data == shown.data


def test_a_cycle_being_recorded_has_its_page_follow_it_until_it_ends(
        client: FlaskClient, make_cycle: MakeCycle, write_status: WriteStatus) -> None:
    # The overview followed a running cycle; the cycle's own page stayed as first drawn.
    folder = make_cycle("20251010_163000", {"test_stream1.mp4": b"a"}, reports=False)
    write_status(scheduler_running=True, cycle={"dir": "20251010_163000", "running": True},
                 tasks=[{"stream_index": 1, "status": 3,
                         "output_file": "./output/20251010_163000/test_stream2.mp4"}])
    (folder / "test_stream2.mp4").write_bytes(b"b")  # still being written
    page = client.get("/cycles/20251010_163000?lang=zh").get_data(as_text=True)
    live = re.search(r'<div id="cycle-live" hx-get="([^"]+)" hx-trigger="every 2s"', page)
    assert live and 'id="cycle-recording"' in page
    being_written = re.search(r'<tr class="clip" data-file="test_stream2.mp4">(.*?)</tr>', page,
                              re.S).group(1)
    assert "录制中" in being_written and "删除" not in being_written
    poll = html.unescape(live.group(1))
    assert client.get(poll, headers={"HX-Request": "true"}).status_code == 204  # nothing new
    (folder / "test_stream3.mp4").write_bytes(b"c")  # a clip finished meanwhile
    redrawn = client.get(poll, headers={"HX-Request": "true"})
    assert redrawn.status_code == 200 and 'data-file="test_stream3.mp4"' in redrawn.get_data(
        as_text=True)
    assert 'hx-trigger="every 2s"' in redrawn.get_data(as_text=True)  # still followed
    (folder / "report.txt").write_text("巡检报告\n", encoding="utf-8")
    write_status(scheduler_running=True, cycle={"dir": "20251010_163000", "running": False})
    ended = client.get(poll, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert ended.strip().startswith('<div id="cycle-live">') and "hx-trigger" not in ended  # no more
    assert 'href="/cycles/20251010_163000/reports/report.txt"' in ended
    assert 'id="cycle-recording"' not in ended
    done = client.get("/cycles/20251010_163000").get_data(as_text=True)
    assert "hx-trigger" not in done.split('id="cycle-live"', 1)[1].split(">", 1)[0]


def test_every_page_names_an_icon_that_is_served_before_sign_in(locked: FlaskClient) -> None:
    # Without one, each first page a browser opened logged a 404 for /favicon.ico in its
    # console (the browser test of a clip, run alone, failed on it).
    page = locked.get("/login").get_data(as_text=True)
    icon = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)"', page)
    assert icon is not None
    answer = locked.get(icon.group(1))
    assert answer.status_code == 200 and answer.mimetype == "image/svg+xml"
    assert b"<svg" in answer.get_data()


def test_a_cycle_whose_reports_could_not_be_written_says_so_with_the_reason(
        client: FlaskClient, make_cycle: MakeCycle, write_status: WriteStatus) -> None:
    from shared.status_file import report_problem
    make_cycle("20251010_163000", reports=False)
    make_cycle("20251010_164000", reports=False)
    reason = "写入失败 ./output/20251010_163000/report.json: No space left on device"
    said = f"第 3 轮 (20251010_163000) 报告写入失败: {reason}"
    problem = report_problem("20251010_163000", reason, said)
    write_status(scheduler_running=True, current_cycle=3, message=f"调度器已停止; {said}",
                 cycle={"dir": "20251010_163000", "running": False}, report_problem=problem)

    def banner(path: str) -> str:
        page = client.get(path).get_data(as_text=True)
        found = re.search(r'<div id="report-problem"[^>]*>(<div class="banner">.*?</div>)?</div>',
                          page, re.S)
        assert found, path
        return found.group(1) or ""

    for path in ("/?lang=zh", "/cycles/20251010_163000"):
        shown = banner(path)
        assert "报告写入失败" in shown and reason in shown and "20251010_163000" in shown, path
    overview = client.get("/").get_data(as_text=True)
    roster = re.search(r"roster=(\w+)", overview).group(1)
    live = client.get(f"/overview/live?roster={roster}").get_data(as_text=True)
    assert 'id="report-problem" hx-swap-oob="true"><div class="banner">' in live
    assert overview.count("报告写入失败") == 1  # not again in the recorder's line
    assert "调度器已停止" in overview
    english = banner("/cycles/20251010_163000?lang=en")
    assert "The reports could not be written" in english
    assert "Writing ./output/20251010_163000/report.json failed: No space left on device" \
        in english
    assert not banner("/cycles/20251010_164000?lang=zh")  # another cycle's page: not its problem
    # The next cycle runs: the overview shows the latest cycle, the failed one's page still says it
    write_status(scheduler_running=True, current_cycle=4, message=said, report_problem=problem,
                 cycle={"dir": "20251010_164000", "running": True})
    assert not banner("/")
    assert "报告写入失败" in banner("/cycles/20251010_163000")
    # Its reports written: the status names no problem, nor does any page
    write_status(scheduler_running=True, current_cycle=4,
                 cycle={"dir": "20251010_164000", "running": False})
    assert not banner("/") and not banner("/cycles/20251010_163000")


def test_the_tasks_page_shows_a_report_problem_as_the_overview_does_and_only_while_it_applies(
        client: FlaskClient, make_cycle: MakeCycle, write_status: WriteStatus) -> None:
    # /tasks?lang=en showed the recorder's message, 第 14 轮 … 报告写入失败: …, in Chinese in its
    # recorder line, and went on showing it during the next cycle.
    from shared.status_file import report_problem
    make_cycle("20251010_163000", reports=False)
    reason = "写入失败 ./output/20251010_163000/report.json: Operation not permitted"
    said = f"第 14 轮 (20251010_163000) 报告写入失败: {reason}"
    problem = report_problem("20251010_163000", reason, said)
    write_status(scheduler_running=True, current_cycle=14, message=said, report_problem=problem,
                 cycle={"dir": "20251010_163000", "running": False})

    def banner_and_line(page: str) -> tuple[str, str]:
        found = re.search(r'<div id="report-problem"[^>]*>(<div class="banner">.*?</div>)?</div>',
                          page, re.S)
        line = re.search(r'<div class="status" id="recorder".*?</div>', page, re.S)
        assert found and line
        return found.group(1) or "", line.group(0)

    for path in ("/tasks?lang=en", "/tasks/live?lang=en"):
        page = client.get(path).get_data(as_text=True)
        shown, line = banner_and_line(page)
        assert "The reports could not be written" in shown and "20251010_163000" in shown
        assert "Writing ./output/20251010_163000/report.json failed: Operation not permitted" \
            in shown, path
        assert "报告写入失败" not in page and "写入失败" not in page, path
        assert "Operation not permitted" not in line, path
    assert 'id="report-problem" hx-swap-oob="true"><div class="banner">' in \
        client.get("/tasks/live").get_data(as_text=True)
    # The next cycle runs, the problem still in the status: no banner, nor its words anywhere
    write_status(scheduler_running=True, current_cycle=15, message=said, report_problem=problem,
                 cycle={"dir": "20251010_164000", "running": True})
    for path in ("/tasks?lang=en", "/tasks/live?lang=en", "/?lang=en", "/?lang=zh"):
        page = client.get(path).get_data(as_text=True)
        shown, line = banner_and_line(page)
        assert not shown and "Operation not permitted" not in page, path
        assert "报告写入失败" not in line, path


def test_a_cycle_being_recorded_says_so_before_its_first_clip_and_offers_no_refused_delete(
        client: FlaskClient, make_cycle: MakeCycle, write_status: WriteStatus) -> None:
    # Its page said 没有片段 / No clips until a clip was finished (ffmpeg records into a hidden
    # .part file) and offered 删除整个周期, which the delete refused (409: being recorded).
    folder = make_cycle("20251010_163000", {}, reports=False)
    (folder / ".test_stream1.mp4.part").write_bytes(b"a")
    write_status(scheduler_running=True, cycle={"dir": "20251010_163000", "running": True},
                 tasks=[{"stream_index": 0, "status": 3,
                         "output_file": "./output/20251010_163000/test_stream1.mp4"}])
    for lang, said, not_said in (("zh", "这个周期正在录制", "没有片段"),
                                 ("en", "This cycle is being recorded", "No clips")):
        page = client.get(f"/cycles/20251010_163000?lang={lang}").get_data(as_text=True)
        assert said in page and not_said not in page, lang
        assert "/cycles/20251010_163000/delete" not in page, lang
    assert "Being recorded: no clip finished yet" in client.get(
        "/cycles/20251010_163000?lang=en").get_data(as_text=True)
    token = _csrf(client)
    assert client.post("/cycles/20251010_163000/delete",
                       headers={"X-CSRF-Token": token}).status_code == 409
    # Recorded: the page (and its live part) offer the delete, which is done
    write_status(scheduler_running=True, cycle={"dir": "20251010_163000", "running": False})
    for path in ("/cycles/20251010_163000?lang=en", "/cycles/20251010_163000/live?lang=en"):
        page = client.get(path).get_data(as_text=True)
        assert "/cycles/20251010_163000/delete" in page and "being recorded" not in page, path
        assert "No clips" in page, path
    assert client.post("/cycles/20251010_163000/delete",
                       headers={"X-CSRF-Token": token}).status_code == 200
    assert not folder.exists()


def test_a_cycle_page_takes_its_clips_being_written_from_the_read_that_says_it_is_recorded(
        client: FlaskClient, make_cycle: MakeCycle, write_status: WriteStatus,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The page read the status twice: `recording` from one read, the clips being written from
    # a later one; with cycle_interval 0 cycle A ended and B began in between, and A's page
    # marked cam0's finished clip 录制中, as B's cam0 was.
    from app import results
    make_cycle("20251010_163000", {"test_stream1.mp4": b"a", "test_stream2.mp4": b"b"},
               reports=False)

    def running(cycle: str, clip: str) -> None:
        write_status(scheduler_running=True, cycle={"dir": cycle, "running": True},
                     tasks=[{"stream_index": 0, "status": 3,
                             "output_file": f"./output/{cycle}/{clip}"}])

    reads = []
    read_status = results.status_view

    def next_cycle_after_two_reads(fresh: bool = False) -> tuple[dict, bool]:
        reads.append(fresh)
        if len(reads) == 3:  # cycle A has ended, B has begun
            running("20251010_164000", "test_stream1.mp4")
        return read_status(fresh)

    monkeypatch.setattr(results, "status_view", next_cycle_after_two_reads)
    running("20251010_163000", "test_stream2.mp4")
    page = client.get("/cycles/20251010_163000?lang=en").get_data(as_text=True)
    rows = dict(re.findall(r'<td dir="auto">([^<]+)</td><td>([^<]*)</td>', page))
    assert "test_stream1.mp4" not in rows, page  # finished in A; B's is being written
    assert rows.get("test_stream2.mp4") == "recording", page


def test_an_interrupted_cycles_page_says_so_in_the_words_of_the_cycle_list(
        client: FlaskClient, make_cycle: MakeCycle) -> None:
    # The cycle list said (已中断), its report.txt 本轮被中断; the cycle's own page said nothing.
    counts = {"completed_tasks": 1, "failed_tasks": 0, "cancelled_tasks": 1}
    for name, why in (("20251010_163000", "录制守护进程停止"),
                      ("20251010_164000", "录制守护进程意外退出"), ("20251010_165000", None)):
        folder = make_cycle(name)
        (folder / "rtsp_report.json").write_bytes(_report({**counts, "interrupted": why}))
    for lang, said, reason in (("zh", "(已中断)", "录制守护进程意外退出"),
                               ("en", "(interrupted)", "The recorder daemon exited unexpectedly")):
        listed = _row(client.get(f"/cycles?lang={lang}").get_data(as_text=True),
                      "20251010_164000")
        mark = re.search(r'<span class="interrupted"[^>]*>[^<]*</span>', listed).group(0)
        assert said in mark and reason in mark, lang
        page = client.get(f"/cycles/20251010_164000?lang={lang}").get_data(as_text=True)
        shown = re.search(r'<span id="cycle-interrupted">(.*?)</span>(?=<span>)', page, re.S)
        assert shown and mark in shown.group(1) and reason in shown.group(1), lang
    stopped = client.get("/cycles/20251010_163000?lang=en").get_data(as_text=True)
    assert "The recorder daemon stopped" in stopped and "(interrupted)" in stopped
    whole = client.get("/cycles/20251010_165000?lang=en").get_data(as_text=True)
    assert "interrupted" not in whole


def test_the_tasks_page_and_the_cycle_list_show_the_overviews_config_error_banner(
        client: FlaskClient, config_path: Path, make_cycle: MakeCycle,
        write_status: WriteStatus) -> None:
    # The overview and /settings had a banner while config.json was broken; /tasks had none.
    make_cycle("20251010_163000")
    ConfigWatch(str(config_path)).poll()  # the recorder read it: its copy in force
    good = config_path.read_text(encoding="utf-8")
    config_path.write_text('{"global_config": {}, "streams": [}', encoding="utf-8")

    def banner(path: str) -> str:
        page = client.get(path).get_data(as_text=True)
        found = re.search(r'<div id="config-error"[^>]*>(<div class="banner">.*?</div>)?</div>',
                          page, re.S)
        assert found, path
        return found.group(1) or ""

    overview = banner("/?lang=zh")
    assert "配置错误" in overview and "文件: config.json · 行 1" in overview
    for path in ("/tasks?lang=zh", "/tasks/live?lang=zh", "/cycles?lang=zh"):
        assert banner(path) == overview, path
    assert "Config error" in banner("/tasks?lang=en")
    assert 'id="config-error" hx-swap-oob="true"><div class="banner">' in client.get(
        "/tasks/live").get_data(as_text=True)
    config_path.write_text(good, encoding="utf-8")  # mended: the live update takes it away
    for path in ("/tasks", "/tasks/live", "/cycles"):
        assert banner(path) == "", path
    # config.json reads well, but the recorder's status names an error: /cycles showed none
    write_status(config_error={"file": "config.json", "line": 3, "field": "streams",
                               "reason": "invalid", "message": "配置验证失败: streams"})
    named = banner("/?lang=zh")
    assert "配置验证失败: streams" in named and "行 3" in named
    for path in ("/tasks?lang=zh", "/tasks/live?lang=zh", "/cycles?lang=zh"):
        assert banner(path) == named, path


def test_a_bidi_control_in_an_isolated_name_is_shown_as_its_code() -> None:
    # 'cam\u2069\u202egpm.mp4' closed the isolate early and turned the text after it around
    # in the page title and the delete question (a camera id from before the config refused
    # it stays in the history).
    from app.console import isolated
    assert isolated("cam\u2069\u202egpm.mp4") == "\u2068cam<U+2069><U+202E>gpm.mp4\u2069"
    assert isolated("a\u2066b\u200fc\u2029d\x85e") == \
        "\u2068a<U+2066>b<U+200F>c<U+2029>d<U+0085>e\u2069"
    assert isolated("بوابة\u200c1") == "\u2068بوابة\u200c1\u2069"  # a name's own kept


# A name written right to left: an Arabic stream name, a Hebrew clip (its camera's id).
RTL_NAME, RTL_ID = "بوابة الشرق", "חצר"
ISOLATED = re.compile("\u2068([^\u2068\u2069]*)\u2069")


class _NameIsolation(HTMLParser):
    """Each place a page shows a name: ``isolated`` (in an element of dir="auto", a <bdi>, or
    between U+2068 and U+2069 where no element can say it: <title>, a confirmation's text),
    or not, with where it is."""

    VOID = {"input", "img", "br", "meta", "link", "source", "hr", "wbr"}
    # The attributes a browser shows as text (a confirmation's is the console's own).
    SHOWN = {"value", "placeholder", "title", "alt", "aria-label", "data-confirm", "hx-confirm"}

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__()
        self.names, self.open, self.found = names, [], []

    def _seen(self, text: str, where: str, isolating_element: bool) -> None:
        plain = ISOLATED.sub("", text)  # the isolated ones taken out
        for name in self.names:
            if name in text:
                self.found.append((where, name, isolating_element or name not in plain))

    def handle_starttag(self, tag: str, attrs: list) -> None:
        values = dict(attrs)
        isolating = tag == "bdi" or values.get("dir") == "auto"
        for key, value in attrs:
            if value and key in self.SHOWN:
                self._seen(value, f"<{tag} {key}>", isolating and key == "value")
        if tag not in self.VOID:
            self.open.append((tag, isolating))

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            if self.open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        where = "/".join(tag for tag, _ in self.open)
        in_title = bool(self.open) and self.open[-1][0] == "title"
        self._seen(data, where, not in_title and any(flag for _, flag in self.open))


def test_every_place_a_page_shows_a_camera_name_keeps_its_writing_direction_to_itself(
        client: FlaskClient, config_path: Path, make_cycle: MakeCycle,
        write_status: WriteStatus) -> None:
    # A name written right to left (Arabic, Hebrew) was put in the page as it is, and the
    # browser reordered the text around it (a title, a table cell, a confirmation).
    from shared.task_record import build, check_record
    from shared.task_status import COMPLETED, RECORDING
    config = valid_config()
    config["streams"][0]["name"] = RTL_NAME
    config["streams"][1]["output_filename"] = f"{RTL_ID}.mp4"
    config_path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    make_cycle("20251010_163000", {"test_stream1.mp4": b"a", f"{RTL_ID}.mp4": b"b"})
    make_cycle("20251010_164000", {f"{RTL_ID}.mp4": b"c"}, reports=False)

    def task(index: int, status: int, clip: str) -> dict:
        return build(task_id=index, stream_index=index, output_file=clip,
                     rtsp_url=f"rtsp://127.0.0.1:8554/cam{index + 1}", duration_seconds=10,
                     status=status, start_wall=None,
                     end_wall=None, progress=1.0, bytes_received=10, frames_received=1,
                     error_message="")
    write_status(scheduler_running=True, cycle={"dir": "20251010_164000", "running": True},
                 tasks=[task(0, COMPLETED, "./output/20251010_164000/test_stream1.mp4"),
                        task(1, RECORDING, f"./output/20251010_164000/{RTL_ID}.mp4")],
                 checks=[check_record(task(7, RECORDING, ""), check_id=7, camera=RTL_ID,
                                      kind="check", requested_at="2025-10-10 16:30:00")])
    pages = ["/", "/cameras/test_stream1", f"/cameras/{RTL_ID}", "/tasks", "/tasks/live",
             "/settings", "/cycles/20251010_163000", "/cycles/20251010_164000"]
    shown_anywhere = set()
    for path in pages:
        for lang in ("zh", "en"):
            answer = client.get(path, query_string={"lang": lang})
            assert answer.status_code == 200, path
            parser = _NameIsolation((RTL_NAME, RTL_ID))
            parser.feed(answer.get_data(as_text=True))
            assert parser.found, path  # each page shows one of them
            bare = [(where, name) for where, name, isolated in parser.found if not isolated]
            assert bare == [], (path, lang)
            shown_anywhere |= {(name, where.split(" ")[0]) for where, name, _ in parser.found}
    # The places a name is: titles, the tables, the confirmations, the settings' boxes
    for place in [(RTL_NAME, "<input"), (RTL_ID, "<input"), (RTL_NAME, "<form"),
                  (RTL_ID, "<button"), (RTL_NAME, "html/head/title"), (RTL_ID, "html/head/title")]:
        assert place in shown_anywhere, place
