"""The alert sender against a real webhook receiver on 127.0.0.1: signing, order, retries, reminders.

Outbox rows are written with plain SQL, as the history writer writes them (one row per
event and receiver, ``created`` = ``next_attempt`` = the time of writing, no attempts).
Passes are driven with ``run_once()`` and a fake clock, except where the thread is the point.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from recorder import alert_outbox
from recorder.alert_sender import AlertSender
from recorder.alert_transport import notify_url_accepted
from shared.history_schema import connect_writer
from testkit.webhook_receiver import WebhookReceiver

T0 = 1_700_000_000.0
SECRET = "s3cret-键"


class FakeClock:
    """Wall and monotonic time that move only when the test says so."""

    def __init__(self) -> None:
        self.now = T0

    def wall(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now - T0

    def advance(self, seconds: float) -> None:
        self.now += seconds


def enqueue(conn: sqlite3.Connection, event: str, target: str, wall: float, **fields) -> int:
    """One outbox row as the history writer writes it; its id."""
    body = json.dumps({"event": event, "time": "2023-11-14T22:13:20+00:00",
                       "message": f"摄像头「东门」{event}", **fields}, ensure_ascii=False)
    cursor = conn.execute("INSERT INTO outbox (event, created, target, body, attempts, next_attempt)"
                          " VALUES (?, ?, ?, ?, 0, ?)", (event, wall, target, body, wall))
    return cursor.lastrowid


def row(conn: sqlite3.Connection, row_id: int) -> dict:
    cursor = conn.execute("SELECT * FROM outbox WHERE id = ?", (row_id,))
    return dict(zip([c[0] for c in cursor.description], cursor.fetchone()))


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / ".patrol-state" / "history.sqlite3")


@pytest.fixture
def conn(db):
    connection = connect_writer(db)
    yield connection
    connection.close()


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


def sender_for(db: str, alerts: dict, clock: FakeClock, **kwargs) -> AlertSender:
    return AlertSender(db, lambda: alerts, clock=clock, **kwargs)


def test_webhook_is_a_post_of_the_stored_body_signed_with_the_secret(db, conn, receiver) -> None:
    clock = FakeClock()
    target = "webhook " + receiver.url
    row_id = enqueue(conn, "camera.offline", target, T0, camera={"id": "gate", "name": "东门"})
    sender_for(db, {"webhooks": [{"url": receiver.url, "secret": SECRET}]}, clock).run_once()
    (got,) = receiver.wait_for(1)
    stored = row(conn, row_id)
    assert got.method == "POST"
    assert got.body == stored["body"].encode("utf-8")
    assert got.headers["Content-Type"] == "application/json"
    expected = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Signature-256"] == f"sha256={expected}"
    assert got.json()["camera"]["name"] == "东门"
    assert (stored["delivered"], stored["attempts"], stored["last_error"]) == (T0, 1, "")


def test_without_a_secret_there_is_no_signature(db, conn, receiver) -> None:
    enqueue(conn, "cycle.finished", "webhook " + receiver.url, T0)
    sender_for(db, {"webhooks": [{"url": receiver.url}]}, FakeClock()).run_once()
    (got,) = receiver.wait_for(1)
    assert "X-Signature-256" not in got.headers


def test_a_receiver_down_for_a_while_gets_every_event_in_order_once_back(
        db, conn, receiver) -> None:
    clock = FakeClock()
    with WebhookReceiver() as other:
        alerts = {"webhooks": [{"url": receiver.url}, {"url": other.url}]}
        sender = sender_for(db, alerts, clock)
        receiver.stop()
        ids = [enqueue(conn, f"event.{i}", "webhook " + receiver.url, T0) for i in range(3)]
        other_id = enqueue(conn, "event.other", "webhook " + other.url, T0)
        for delay in (5, 10, 20):  # refused, retried with a doubling delay
            sender.run_once()
            assert row(conn, ids[0])["next_attempt"] == clock.now + delay
            assert [row(conn, i)["attempts"] for i in ids[1:]] == [0, 0]  # later ones wait
            clock.advance(delay)
        assert row(conn, other_id)["delivered"] is not None  # one down receiver holds no other
        receiver.start()
        sender.run_once()
        got = receiver.wait_for(3)
    assert [r.json()["event"] for r in got] == ["event.0", "event.1", "event.2"]
    assert [row(conn, i)["attempts"] for i in ids] == [4, 1, 1]
    assert all(row(conn, i)["delivered"] == clock.now for i in ids)


def test_an_error_answer_is_retried_with_the_status_as_the_error(db, conn, receiver) -> None:
    clock = FakeClock()
    receiver.failing = 503
    row_id = enqueue(conn, "camera.offline", "webhook " + receiver.url, T0)
    sender = sender_for(db, {"webhooks": [{"url": receiver.url}]}, clock)
    sender.run_once()
    assert row(conn, row_id)["last_error"] == "HTTP 503"
    assert row(conn, row_id)["delivered"] is None
    receiver.failing = None
    sender.run_once()  # not due yet: nothing sent
    assert len(receiver.received) == 1
    clock.advance(5)
    sender.run_once()
    assert len(receiver.wait_for(1)) == 1 and row(conn, row_id)["delivered"] == clock.now


def test_backoff_starts_at_5_seconds_doubles_and_stops_at_10_minutes() -> None:
    assert [alert_outbox.retry_delay(n) for n in range(1, 10)] == [
        5, 10, 20, 40, 80, 160, 320, 600, 600]
    assert alert_outbox.retry_delay(10_000) == 600


def test_a_day_after_it_was_written_a_refused_alert_is_given_up_and_the_next_goes(
        db, conn, receiver, caplog) -> None:
    clock = FakeClock()
    receiver.failing = 500
    old = enqueue(conn, "camera.offline", "webhook " + receiver.url, T0)
    clock.advance(24 * 3600 - 1)
    newer = enqueue(conn, "camera.recovered", "webhook " + receiver.url, clock.now)
    sender = sender_for(db, {"webhooks": [{"url": receiver.url}]}, clock)
    sender.run_once()
    assert row(conn, old)["delivered"] is None  # still inside its day
    clock.advance(600)
    sender.run_once()
    gave_up = row(conn, old)
    assert gave_up["delivered"] == clock.now and gave_up["last_error"] == "gave up: HTTP 500"
    assert "given up" in caplog.text
    assert row(conn, newer)["attempts"] == 1  # the next one is tried at once, not held forever


def test_rows_for_a_receiver_no_longer_configured_are_dropped_with_a_log_line(
        db, conn, receiver, caplog) -> None:
    gone = enqueue(conn, "camera.offline", "webhook http://127.0.0.1:9/gone?token=abc", T0)
    kept = enqueue(conn, "camera.offline", "webhook " + receiver.url, T0)
    sender_for(db, {"webhooks": [{"url": receiver.url}]}, FakeClock()).run_once()
    assert conn.execute("SELECT id FROM outbox").fetchall() == [(kept,)]
    assert f"alert {gone} (camera.offline) dropped" in caplog.text
    assert "abc" not in caplog.text  # a token in a webhook's query is never logged


def test_while_no_valid_config_is_known_nothing_is_sent_or_dropped(db, conn, receiver,
                                                                  caplog) -> None:
    # The recorder starting with a broken config.json: its receivers are unknown, not none.
    queued = [enqueue(conn, "camera.offline", "webhook " + receiver.url, T0),
              enqueue(conn, "cycle.finished", "webhook " + receiver.url, T0)]
    alerts: dict | None = None
    sender = AlertSender(db, lambda: alerts, clock=FakeClock())
    sender.run_once()
    sender.run_once()
    assert [r for (r,) in conn.execute("SELECT id FROM outbox WHERE delivered IS NULL")] == queued
    assert receiver.received == [] and "dropped" not in caplog.text
    assert caplog.text.count("alerts wait: no valid config.json") == 1
    alerts = {"webhooks": [{"url": receiver.url}]}  # the config mended
    sender.run_once()
    assert [r.body for r in receiver.received] == [
        row(conn, queued[0])["body"].encode(), row(conn, queued[1])["body"].encode()]


def test_notify_urls_go_through_apprise_with_a_title_and_the_chinese_message(
        db, conn, receiver) -> None:
    url = f"json://127.0.0.1:{receiver.port}/hook"
    row_id = enqueue(conn, "camera.offline", "notify " + url, T0,
                     camera={"id": "gate", "name": "东门"})
    sender_for(db, {"notify": [url]}, FakeClock()).run_once()
    (got,) = receiver.wait_for(1)
    payload = got.json()
    assert got.path == "/hook"
    assert payload["title"] == "摄像头离线: 东门"
    assert payload["message"] == "摄像头「东门」camera.offline"
    assert payload["type"] == "failure"
    assert row(conn, row_id)["delivered"] is not None


def test_a_notify_url_apprise_cannot_read_is_an_error_on_the_row(db, conn) -> None:
    row_id = enqueue(conn, "camera.offline", "notify nosuchscheme://x", T0)
    sender_for(db, {"notify": ["nosuchscheme://x"]}, FakeClock()).run_once()
    assert row(conn, row_id)["last_error"] == "Apprise does not accept this URL"


def offline_camera(conn: sqlite3.Connection, camera: str, offline_since: float,
                   alerted: bool = True) -> None:
    """A camera in an outage (``alerted``: its camera.offline was raised)."""
    conn.execute("INSERT INTO cameras (id, name, url, last_status, last_error, consecutive_failures,"
                 " failing_since, offline_since, offline_alerted) VALUES (?, '东门', "
                 "'rtsp://u:***@h/x', 5, '连接被拒绝', 3, ?, ?, ?)",
                 (camera, offline_since - 60, offline_since, int(alerted)))


def test_a_camera_that_stays_offline_gets_a_reminder_every_remind_every_hours(
        db, conn, receiver) -> None:
    clock = FakeClock()
    offline_camera(conn, "gate", T0)
    offline_camera(conn, "silenced", T0)
    alerts = {"webhooks": [{"url": receiver.url}, {"url": "http://127.0.0.1:9/",
                                                    "events": ["camera.offline"]}],
              "remind_every_hours": 1}
    sender = sender_for(db, alerts, clock, remindable=lambda: {"gate"})
    clock.advance(3599)
    sender.run_once()
    assert receiver.received == []
    clock.advance(61)
    sender.run_once()
    (got,) = receiver.wait_for(1)
    body = got.json()
    assert body["event"] == "camera.reminder"
    assert body["camera"] == {"id": "gate", "name": "东门", "url": "rtsp://u:***@h/x"}
    assert (body["status"], body["status_name"], body["consecutive_failures"]) == (5, "连接错误", 3)
    assert "东门" in body["message"] and "仍然离线" in body["message"]
    assert body["since"].startswith("20") and body["time"][-6] in "+-"
    clock.advance(3000)
    sender.run_once()
    assert len(receiver.received) == 1  # the next one is an hour after the last
    clock.advance(700)
    sender.run_once()
    assert [r.json()["event"] for r in receiver.wait_for(2)] == ["camera.reminder"] * 2
    assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 2  # the filtered hook: none


def test_no_reminder_for_an_outage_whose_offline_alert_was_never_raised(
        db, conn, receiver) -> None:
    # It went offline with "alerts": false; turned on meanwhile, its reminders came for an
    # outage no camera.offline had announced (the next failure raises that one first).
    clock = FakeClock()
    offline_camera(conn, "gate", T0, alerted=False)
    clock.advance(48 * 3600)
    sender_for(db, {"webhooks": [{"url": receiver.url}], "remind_every_hours": 1}, clock,
               remindable=lambda: {"gate"}).run_once()
    assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_no_reminders_when_remind_every_hours_is_zero(db, conn, receiver) -> None:
    clock = FakeClock()
    offline_camera(conn, "gate", T0)
    clock.advance(48 * 3600)
    sender_for(db, {"webhooks": [{"url": receiver.url}]}, clock).run_once()
    assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_the_thread_delivers_rows_written_by_another_connection_and_stops(
        db, conn, receiver) -> None:
    sender = AlertSender(db, lambda: {"webhooks": [{"url": receiver.url}]}).start()
    try:
        enqueue(conn, "camera.offline", "webhook " + receiver.url, T0)
        receiver.wait_for(1)
        enqueue(conn, "camera.recovered", "webhook " + receiver.url, T0)
        sender.wake()
        assert [r.json()["event"] for r in receiver.wait_for(2)] == [
            "camera.offline", "camera.recovered"]
    finally:
        sender.stop()
    assert not sender._thread.is_alive()


def test_without_a_database_the_sender_waits_and_creates_nothing(db) -> None:
    sender = sender_for(db, {"webhooks": [{"url": "http://127.0.0.1:9/"}]}, FakeClock())
    assert sender.run_once() == sender.poll_seconds
    assert not os.path.exists(db)  # only the history writer creates it


@pytest.mark.parametrize("url, accepted", [
    ("dingtalk://5d6e7f8a9b/", True), ("dingtalk://SEC0a1b2c@5d6e7f8a9b/", True),
    ("wecombot://BOT_KEY", True), ("feishu://WEBHOOK_TOKEN", True),
    ("mailtos://user:password@example.com?to=ops@example.com", True),
    ("json://127.0.0.1:8080/", True), ("nosuchscheme://x", False)])
def test_apprise_reads_the_chat_robot_and_mail_url_formats_the_readme_shows(url, accepted) -> None:
    assert notify_url_accepted(url) is accepted


JPEG = b"\xff\xd8\xff\xe0 a thumbnail \xff\xd9"


@pytest.fixture
def picture_server():
    """A stand-in for the API's /api/thumbnails on 127.0.0.1: a JPEG, or 401 under /locked/."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            locked = self.path.startswith("/locked/")
            self.send_response(401 if locked else 200)
            self.send_header("Content-Type", "application/json" if locked else "image/jpeg")
            self.send_header("Content-Length", "0" if locked else str(len(JPEG)))
            self.end_headers()
            if not locked:
                self.wfile.write(JPEG)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("path", "attached"), [
    ("/api/thumbnails/20261130_112233/gate.mp4", True),
    ("/locked/api/thumbnails/20261130_112233/gate.mp4", False)])
def test_a_notify_service_that_takes_attachments_gets_the_picture_when_it_can_be_fetched(
        db, conn, receiver, picture_server, path: str, attached: bool) -> None:
    url = f"json://127.0.0.1:{receiver.port}/hook"
    row_id = enqueue(conn, "camera.offline", "notify " + url, T0,
                     camera={"id": "gate", "name": "东门", "thumbnail": picture_server + path})
    sender_for(db, {"notify": [url]}, FakeClock()).run_once()
    (got,) = receiver.wait_for(1)
    payload = got.json()
    assert payload["title"] == "摄像头离线: 东门"
    if attached:
        (attachment,) = payload["attachments"]
        assert (attachment["filename"], attachment["mimetype"]) == ("gate.jpg", "image/jpeg")
        assert base64.b64decode(attachment["base64"]) == JPEG
    else:  # reads need the token: the message goes without the picture
        assert not payload.get("attachments")
    assert row(conn, row_id)["delivered"] is not None


def test_a_reminder_links_the_last_good_picture_when_there_is_a_public_url(
        db, conn, receiver) -> None:
    clock = FakeClock()
    offline_camera(conn, "gate", T0)
    quality = json.dumps({"checked": True, "issues": [], "measures": {}})
    for cycle, ended, status in (("20231114_100000", T0 - 600, 4), ("20231114_101000", T0 - 60, 5)):
        conn.execute("INSERT INTO outcomes (camera, cycle, ended, status, clip, quality)"
                     " VALUES ('gate', ?, ?, ?, ?, ?)",
                     (cycle, ended, status, f"./output/{cycle}/gate.mp4", quality))
    alerts = {"webhooks": [{"url": receiver.url}], "remind_every_hours": 1,
              "public_url": "http://patrol.example.com:8080/"}
    clock.advance(3600)
    sender_for(db, alerts, clock).run_once()
    body = receiver.wait_for(1)[0].json()
    link = "http://patrol.example.com:8080/api/thumbnails/20231114_100000/gate.mp4"
    assert body["camera"]["thumbnail"] == link
    assert body["message"].endswith("\n最后正常画面：" + link)
