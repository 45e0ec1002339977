"""The history writer: outcome rows, camera rows, buckets, events, retention, a bad file (fake clock)."""
from __future__ import annotations

import json
import logging
import os
import sqlite3

import pytest

from recorder.finished_task import FinishedTask
from recorder.history_outcomes import local_buckets
from recorder.history_retention import prune_batch
from recorder.history_store import RETRY_SECONDS, HistoryStore
from recorder.history_writer import FLUSH_SECONDS, OUTCOME_FLUSH_SECONDS, HistoryWriter
from shared import config as model
from shared import task_status as st
from shared.errors import ConfigError
from shared.global_settings import GlobalSettings
from shared.history_schema import connect_writer

WALL = 1_760_000_000.0
OK, FAIL, CANCEL = st.COMPLETED, st.CONNECTION_ERROR, st.CANCELLED
HOOK = "http://127.0.0.1:9/hook"


def settings(**global_config) -> GlobalSettings:
    alerts = {"webhooks": [{"url": HOOK}], "notify": ["mailto://ops@example.com"]}
    checked = model.validate_global({"alerts": alerts, **global_config})
    return GlobalSettings.from_config(checked)


def task(status: int, ended: float, camera: str = "gate", **extra) -> FinishedTask:
    values = dict(camera=camera, name="东门", url="rtsp://u:***@127.0.0.1/x", alerts=True,
                  cycle="20251009_120000", ended=ended, status=status,
                  error="" if status == OK else "连接失败", started=ended - 5)
    return FinishedTask(**{**values, **extra})


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "state" / "history.sqlite3")


def run(db: str, statuses: list[int], g: GlobalSettings | None = None, camera: str = "gate",
        **extra) -> HistoryWriter:
    """Each status a task of its own step, a minute apart, then the shutdown's last write."""
    writer = HistoryWriter(HistoryStore(db))
    for i, status in enumerate(statuses):
        writer.record(task(status, WALL + 60 * i, camera, **extra))
        writer.flush(g or settings(), 10.0 + i, WALL + 60 * i)
    writer.flush(g or settings(), 10.0 + len(statuses), WALL + 60 * len(statuses), force=True)
    return writer


def rows(db: str, sql: str, *args) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def events(db: str) -> list[str]:
    return [e for (e,) in rows(db, "SELECT event FROM outbox WHERE target LIKE 'webhook %' "
                                   "ORDER BY id")]


def test_a_flapping_camera_yields_one_offline_and_one_recovered_event(db) -> None:
    run(db, [FAIL, OK, FAIL, FAIL, FAIL, FAIL, OK, OK, FAIL])
    assert events(db) == ["camera.offline", "camera.recovered"]
    assert rows(db, "SELECT count(*) FROM outcomes") == [(9,)]
    camera = rows(db, "SELECT last_status, consecutive_failures, failing_since, offline_since,"
                      " last_ok_at FROM cameras WHERE id = 'gate'")
    assert camera == [(FAIL, 1, WALL + 480, None, WALL + 420)]


def test_an_offline_event_names_the_camera_and_since_when(db) -> None:
    run(db, [OK, FAIL, FAIL])
    (target, body, created, next_attempt, attempts), = rows(
        db, "SELECT target, body, created, next_attempt, attempts FROM outbox "
            "WHERE target LIKE 'webhook %'")
    body = json.loads(body)
    assert target == "webhook " + HOOK
    assert (created, next_attempt, attempts) == (WALL + 120, WALL + 120, 0)
    assert body["event"] == "camera.offline" and body["camera"] == {
        "id": "gate", "name": "东门", "url": "rtsp://u:***@127.0.0.1/x"}
    assert (body["status"], body["status_name"], body["error"]) == (FAIL, "连接错误", "连接失败")
    assert body["consecutive_failures"] == 2
    assert body["since"].startswith("2025-10-09T") and body["time"][-6] in "+-"
    assert "东门" in body["message"] and "离线" in body["message"]
    # Down since its first failed task, not the second.
    assert rows(db, "SELECT offline_since FROM cameras") == [(WALL + 60,)]
    assert rows(db, "SELECT target FROM outbox WHERE target LIKE 'notify %'") == [
        ("notify mailto://ops@example.com",)]


def test_a_degraded_camera_that_recovers_and_a_silenced_one_raise_no_event(db) -> None:
    run(db, [FAIL, OK, FAIL, OK])
    run(db, [FAIL, FAIL, FAIL, OK], camera="door", alerts=False)
    assert events(db) == []
    assert rows(db, "SELECT id, consecutive_failures, offline_since FROM cameras ORDER BY id") \
        == [("door", 0, None), ("gate", 0, None)]


def test_offline_after_failures_sets_how_many_failures_make_an_outage(db) -> None:
    run(db, [FAIL, FAIL, FAIL], settings(offline_after_failures=3))
    assert events(db) == ["camera.offline"]
    assert rows(db, "SELECT consecutive_failures FROM cameras") == [(3,)]


def test_a_cancelled_task_counts_neither_way(db) -> None:
    run(db, [FAIL, CANCEL, CANCEL, OK])
    assert events(db) == []
    hour, day = local_buckets(WALL)
    assert rows(db, "SELECT sum(total), sum(ok) FROM hourly") == [(2, 1)]
    assert rows(db, "SELECT bucket, total, ok FROM daily") == [(day, 2, 1)]
    assert rows(db, "SELECT count(*) FROM outcomes WHERE status = ?", CANCEL) == [(2,)]
    assert hour <= WALL < hour + 3600


def test_a_webhook_gets_only_the_events_it_lists(db) -> None:
    alerts = {"webhooks": [{"url": HOOK, "events": ["camera.recovered"]}]}
    run(db, [FAIL, FAIL, OK], GlobalSettings.from_config(model.validate_global({"alerts": alerts})))
    assert rows(db, "SELECT event, target FROM outbox") == [("camera.recovered", "webhook " + HOOK)]


def test_an_outcome_row_holds_the_task(db) -> None:
    run(db, [OK], bytes=1234, frames=50, clip_seconds=2.0, codec="h264", resolution="320x240",
        clip="./output/20251009_120000/gate.mp4", connect_seconds=0.4)
    assert rows(db, "SELECT camera, cycle, kind, started, ended, status, bytes, frames, "
                    "clip_seconds, codec, resolution, clip, connect_seconds FROM outcomes") == [
        ("gate", "20251009_120000", "cycle", WALL - 5, WALL, OK, 1234, 50, 2.0, "h264",
         "320x240", "./output/20251009_120000/gate.mp4", 0.4)]
    assert rows(db, "SELECT name, url, last_clip FROM cameras") == [
        ("东门", "rtsp://u:***@127.0.0.1/x", "./output/20251009_120000/gate.mp4")]


@pytest.mark.parametrize("status", [OK, FAIL, CANCEL])
def test_a_row_without_a_name_keeps_the_camera_s_known_name(db, status) -> None:
    # A camera removed from the config while its check ran: the restart's row of that check
    # has no name, and the camera's row lost its 东门 for good (console and API: the id only).
    run(db, [OK])
    writer = HistoryWriter(HistoryStore(db))
    writer.record(task(status, WALL + 600, name=None))  # its stream not configured
    writer.flush(settings(), 20.0, WALL + 600, force=True)
    assert rows(db, "SELECT id, name FROM cameras") == [("gate", "东门")]
    writer.record(task(status, WALL + 900, name="东门 2"))  # a new name is taken
    writer.flush(settings(), 30.0, WALL + 900, force=True)
    assert rows(db, "SELECT id, name FROM cameras") == [("gate", "东门 2")]
    # configured without a name (PUT name null, or its id reused by another camera): cleared
    writer.record(task(status, WALL + 1200, name=""))
    writer.flush(settings(), 40.0, WALL + 1200, force=True)
    assert rows(db, "SELECT id, name FROM cameras") == [("gate", "")]


def test_a_new_camera_row_without_a_name_is_written_with_none(db) -> None:
    writer = HistoryWriter(HistoryStore(db))
    writer.record(task(CANCEL, WALL, name=None))
    writer.flush(settings(), 10.0, WALL, force=True)
    assert rows(db, "SELECT id, name FROM cameras") == [("gate", "")]


def test_recorder_events_are_written_once_per_change(db) -> None:
    writer = HistoryWriter(HistoryStore(db))
    error = ConfigError("global_config.max_concurrent_streams", "必须大于 0")
    for i in range(3):  # three steps of the same conditions
        writer.note_disk(True, 512, 1024, WALL + i)
        writer.note_config_error(error, WALL + i)
        writer.flush(settings(), float(i), WALL + i)
    writer.note_disk(False, 0, 0, WALL + 5)
    writer.note_config_error(None, WALL + 5)
    writer.note_disk(True, 100, 1024, WALL + 6)
    writer.cycle_finished(7, "20251009_120000", {"total_tasks": 3, "completed_tasks": 1,
                                                 "failed_tasks": 1, "cancelled_tasks": 1,
                                                 "not_scheduled": 2}, WALL + 6)
    writer.flush(settings(), 6.0, WALL + 6)
    assert events(db) == ["recorder.disk_low", "recorder.config_error", "recorder.disk_low",
                          "cycle.finished"]
    bodies = [json.loads(b) for (b,) in rows(db, "SELECT body FROM outbox WHERE target LIKE "
                                                 "'webhook %' ORDER BY id")]
    assert (bodies[0]["free_mb"], bodies[0]["floor_mb"]) == (512, 1024)
    assert bodies[1]["error"]["field"] == "global_config.max_concurrent_streams"
    assert bodies[3]["cycle"] == "20251009_120000" and bodies[3]["counts"]["not_scheduled"] == 2
    assert "第 7 轮" in bodies[3]["message"]


def test_a_corrupt_file_is_moved_aside_and_a_new_one_made(db, caplog) -> None:
    os.makedirs(os.path.dirname(db))
    with open(db, "wb") as handle:
        handle.write(b"this is no database" * 100)
    with caplog.at_level(logging.ERROR):
        run(db, [FAIL])
    assert rows(db, "SELECT count(*) FROM outcomes") == [(1,)]
    aside = [n for n in os.listdir(os.path.dirname(db)) if ".corrupt-" in n]
    assert len(aside) == 1 and aside[0].startswith("history.sqlite3.corrupt-2025")
    assert "moved aside" in caplog.text


def test_a_file_removed_under_the_recorder_is_made_again(db) -> None:
    writer = run(db, [FAIL])
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    writer.record(task(OK, WALL + 100))
    writer.flush(settings(), 100.0, WALL + 100)
    assert rows(db, "SELECT status FROM outcomes") == [(OK,)]


def test_a_failing_write_is_logged_kept_and_written_later(db, caplog) -> None:
    parent = os.path.dirname(db)
    with open(parent, "w"):  # the state folder is a file: nothing can be created there
        pass
    writer = HistoryWriter(HistoryStore(db))
    with caplog.at_level(logging.ERROR):
        writer.record(task(FAIL, WALL))
        writer.flush(settings(), 1.0, WALL)  # never raises
        writer.record(task(FAIL, WALL + 60))
        writer.flush(settings(), 2.0, WALL + 60)  # within the retry pause: not even tried
    assert caplog.text.count("write to") == 1
    os.remove(parent)
    writer.flush(settings(), 2.0 + RETRY_SECONDS, WALL + 120)
    assert rows(db, "SELECT ended FROM outcomes ORDER BY id") == [(WALL,), (WALL + 60,)]
    assert events(db) == ["camera.offline"]


def test_what_waits_for_a_recovered_cycle_is_called_only_once_it_is_committed(db) -> None:
    # A cluster takeover's claim was set reported before the history had the cycle.
    parent = os.path.dirname(db)
    with open(parent, "w"):  # the state folder is a file: the write fails
        pass
    writer, settled = HistoryWriter(HistoryStore(db)), []
    writer.cycle_recovered([task(OK, WALL)], {"event": "cycle.finished"},
                           lambda: settled.append("cycle"))
    writer.run_committed()
    assert settled == []  # buffered for the step's write only
    writer.flush(settings(), 1.0, WALL)
    writer.run_committed()
    assert settled == []  # the write failed: kept, not settled
    os.remove(parent)
    writer.flush(settings(), 1.0 + RETRY_SECONDS, WALL + 60)
    writer.run_committed()
    assert settled == ["cycle"] and rows(db, "SELECT ended FROM outcomes") == [(WALL,)]
    writer.cycle_recovered([], None, lambda: settled.append("nothing left to write"))
    writer.flush(settings(), 2.0 + RETRY_SECONDS, WALL + 120)
    writer.run_committed()
    assert settled == ["cycle", "nothing left to write"]


def rows_in(conn: sqlite3.Connection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_retention_removes_old_rows_in_batches(db) -> None:
    conn = connect_writer(db)
    old, recent = WALL - 100 * 86400, WALL - 86400
    for i in range(5):
        conn.execute("INSERT INTO outcomes (camera, cycle, ended, status) VALUES ('a', 'c', ?, 0)",
                     (old + i,))
        conn.execute("INSERT INTO daily (camera, bucket, total, ok) VALUES ('a', ?, 1, 1)",
                     (old + i,))
    conn.execute("INSERT INTO outcomes (camera, cycle, ended, status) VALUES ('a', 'c', ?, 0)",
                 (recent,))
    conn.execute("INSERT INTO cameras (id) VALUES ('a')")
    conn.execute("INSERT INTO outbox (event, created, target, body, next_attempt, delivered)"
                 " VALUES ('x', ?, 't', '{}', 0, ?)", (old, old))
    assert prune_batch(conn, WALL - 90 * 86400, "", limit=2) == (True, None)
    assert rows_in(conn, "outcomes") == 4 and rows_in(conn, "daily") == 0
    conn.close()
    writer = HistoryWriter(HistoryStore(db))
    writer.flush(settings(), 0.0, WALL)  # the first step prunes (default: 90 days) ...
    assert rows(db, "SELECT ended FROM outcomes") == [(recent,)]
    assert rows(db, "SELECT count(*) FROM daily") == [(0,)]
    assert writer.retention.cutoff is None  # ... until a batch finds nothing left


def test_zero_retention_days_keeps_everything(db) -> None:
    run(db, [FAIL])
    writer = HistoryWriter(HistoryStore(db))
    writer.flush(settings(history_retention_days=0), 0.0, WALL + 1000 * 86400)
    assert rows(db, "SELECT count(*) FROM outcomes") == [(1,)]


def test_outcomes_of_steps_within_a_second_share_one_write(db) -> None:
    writer = HistoryWriter(HistoryStore(db))
    writer.record(task(FAIL, WALL))
    writer.flush(settings(), 10.0, WALL)
    writer.record(task(FAIL, WALL + 0.5))
    writer.flush(settings(), 10.5, WALL + 0.5)  # half a second later: waits
    assert rows(db, "SELECT count(*) FROM outcomes") == [(1,)]
    writer.flush(settings(), 10.6, WALL + 0.6, force=True)  # at shutdown
    assert rows(db, "SELECT count(*) FROM outcomes") == [(2,)]


def test_a_write_failing_midway_keeps_nothing_and_the_retry_raises_the_event_once(
        db, monkeypatch) -> None:
    from recorder import history_outcomes

    writer = run(db, [FAIL])
    real_enqueue, calls = history_outcomes.enqueue, []

    def failing_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return real_enqueue(*args)

    monkeypatch.setattr(history_outcomes, "enqueue", failing_once)
    writer.record(task(FAIL, WALL + 60))
    writer.flush(settings(), 100.0, WALL + 60)  # offline: its event fails, all rolled back
    assert rows(db, "SELECT count(*) FROM outcomes") == [(1,)]
    assert rows(db, "SELECT consecutive_failures, offline_since FROM cameras") == [(1, None)]
    writer.flush(settings(), 100.0 + RETRY_SECONDS, WALL + 90)
    assert events(db) == ["camera.offline"]
    assert rows(db, "SELECT consecutive_failures, offline_since FROM cameras") == [(2, WALL)]


CHECKED = {"checked": True, "issues": [], "measures": {"keyframes": {"value": 5}}}
PUBLIC = "https://patrol.example.com/"


def test_an_outcome_row_holds_the_task_quality_as_json(db) -> None:
    black = {"checked": True, "issues": ["black"], "measures": {
        "black": {"value": 1.0, "threshold": 0.9}}}
    run(db, [OK], quality=black)
    run(db, [FAIL], camera="door")  # a task without a quality object (an old report's)
    stored = dict(rows(db, "SELECT camera, quality FROM outcomes"))
    assert json.loads(stored["gate"]) == black and stored["door"] is None


def test_the_history_keeps_the_verdicts_and_the_measures_behind_them_only(db) -> None:
    measures = {"keyframes": {"value": 15}, "black": {"value": 0.0, "threshold": 0.5},
                "blurred": {"value": 9.1, "threshold": 6.5},
                "too_dark": {"value": 112.4, "threshold": 25.0}}
    run(db, [OK], quality={"checked": True, "issues": [], "measures": measures})
    run(db, [OK], camera="door", quality={"checked": True, "issues": ["blurred"],
                                          "measures": measures})
    stored = dict(rows(db, "SELECT camera, quality FROM outcomes"))
    assert stored["gate"] == '{"checked":true,"issues":[],"measures":{}}'
    assert json.loads(stored["door"]) == {"checked": True, "issues": ["blurred"], "measures": {
        "blurred": {"value": 9.1, "threshold": 6.5}}}


def _picture_run(db: str, alerts: dict) -> list[dict]:
    """good clip, two failures (offline), a new good clip (recovered): the webhook bodies."""
    writer = HistoryWriter(HistoryStore(db))
    g = GlobalSettings.from_config(model.validate_global({"alerts": alerts}))
    plan = [("20251009_120000", OK), ("20251009_120100", FAIL), ("20251009_120200", FAIL),
            ("20251009_120300", OK)]
    for i, (cycle, status) in enumerate(plan):
        kept = status == OK
        writer.record(task(status, WALL + 60 * i, cycle=cycle,
                           clip=f"./output/{cycle}/gate.mp4" if kept else None,
                           quality=CHECKED if kept else None))
        writer.flush(g, 10.0 + i, WALL + 60 * i)
    return [json.loads(body) for (body,) in rows(db, "SELECT body FROM outbox ORDER BY id")]


def test_with_a_public_url_camera_events_link_the_last_good_and_the_new_picture(db) -> None:
    offline, recovered = _picture_run(db, {"webhooks": [{"url": HOOK}], "public_url": PUBLIC})
    assert offline["camera"]["thumbnail"] == (
        "https://patrol.example.com/api/thumbnails/20251009_120000/gate.mp4")
    assert offline["message"].endswith(
        "\n最后正常画面：https://patrol.example.com/api/thumbnails/20251009_120000/gate.mp4")
    assert recovered["camera"]["thumbnail"] == (
        "https://patrol.example.com/api/thumbnails/20251009_120300/gate.mp4")
    assert recovered["message"].endswith("\n恢复后画面：" + recovered["camera"]["thumbnail"])


def test_without_a_public_url_camera_events_carry_no_picture(db) -> None:
    bodies = _picture_run(db, {"webhooks": [{"url": HOOK}]})
    assert [b["event"] for b in bodies] == ["camera.offline", "camera.recovered"]
    assert all(set(b["camera"]) == {"id", "name", "url"} and "画面" not in b["message"]
               for b in bodies)


@pytest.mark.parametrize("extra", [
    {"quality": None}, {"quality": {"checked": False, "issues": [], "measures": {}}},
    {"kind": "probe", "clip": None}, {"kind": "check", "cycle": "checks/20251009_120300_gate"}])
def test_a_recovery_without_a_picture_of_its_own_links_none(db, extra: dict) -> None:
    g = GlobalSettings.from_config(model.validate_global({"alerts": {
        "webhooks": [{"url": HOOK}], "public_url": PUBLIC}}))
    writer = HistoryWriter(HistoryStore(db))
    for i, status in enumerate([FAIL, FAIL, OK]):
        values = {"clip": "./output/x/gate.mp4", "quality": CHECKED, **extra} if status == OK \
            else {}
        writer.record(task(status, WALL + 60 * i, **values))
        writer.flush(g, 10.0 + i, WALL + 60 * i)
    offline, recovered = [json.loads(b) for (b,) in rows(db, "SELECT body FROM outbox ORDER BY id")]
    assert "thumbnail" not in offline["camera"] and "thumbnail" not in recovered["camera"]


def count(db: str) -> int:
    return rows(db, "SELECT count(*) FROM outcomes")[0][0]


def test_outcomes_that_raise_no_event_wait_for_the_longer_interval(db) -> None:
    writer = run(db, [OK])  # written at 11.0 (the forced write)
    writer.record(task(OK, WALL + 60))
    writer.record(task(FAIL, WALL + 61, camera="door"))  # one failure: degraded, no event
    writer.flush(settings(), 11.0 + FLUSH_SECONDS, WALL + 62)
    writer.flush(settings(), 11.0 + OUTCOME_FLUSH_SECONDS - 0.1, WALL + 65)
    assert count(db) == 1
    writer.flush(settings(), 11.0 + OUTCOME_FLUSH_SECONDS, WALL + 66)
    assert count(db) == 3


def test_an_outcome_that_raises_an_event_is_written_within_a_second(db) -> None:
    writer = run(db, [OK, FAIL])  # degraded; written at 12.0
    writer.record(task(FAIL, WALL + 120))  # the second failure: offline
    writer.flush(settings(), 12.0 + FLUSH_SECONDS, WALL + 121)
    assert count(db) == 3 and events(db) == ["camera.offline"]


def test_a_check_now_verdict_is_written_within_a_second(db) -> None:
    # The operator waits for it on the camera page, which reads the history.
    writer = run(db, [OK])  # written at 11.0 (the forced write)
    writer.record(task(OK, WALL + 60, kind="check", cycle="checks/20251009_120100_gate"))
    writer.flush(settings(), 11.0 + FLUSH_SECONDS, WALL + 61)
    assert count(db) == 2


def test_a_camera_offline_before_a_restart_is_known_to_raise_its_recovery(db) -> None:
    run(db, [FAIL, FAIL]).close()  # offline when the recorder stopped
    writer = HistoryWriter(HistoryStore(db))  # the next run: it knows only the file
    writer.flush(settings(), 1.0, WALL + 299)  # its first step (nothing to write)
    writer.record(task(OK, WALL + 300))
    writer.flush(settings(), 1.0 + FLUSH_SECONDS, WALL + 300)
    assert events(db) == ["camera.offline", "camera.recovered"]


def test_a_silenced_camera_and_a_recorder_event_follow_their_own_cadence(db) -> None:
    writer = run(db, [OK], alerts=False)  # written at 11.0
    writer.record(task(FAIL, WALL + 60, alerts=False))
    writer.record(task(FAIL, WALL + 61, alerts=False))  # offline, but silenced: no event
    writer.flush(settings(), 11.0 + FLUSH_SECONDS, WALL + 62)
    assert count(db) == 1
    writer.note_disk(True, 10, 100, WALL + 63)  # recorder.disk_low: due within a second
    writer.flush(settings(), 11.0 + FLUSH_SECONDS, WALL + 63)
    assert count(db) == 3


def test_a_cycles_end_is_handed_over_in_the_step_it_happens(db) -> None:
    writer = run(db, [OK])  # written at 11.0
    writer.record(task(OK, WALL + 60))
    counts = dict(total_tasks=2, completed_tasks=2, failed_tasks=0, cancelled_tasks=0,
                  not_scheduled=0)
    writer.cycle_finished(1, "20251009_120000", counts, WALL + 61)
    writer.flush(settings(), 11.1, WALL + 61)
    assert count(db) == 2


def test_a_report_landing_after_newer_outcomes_never_moves_a_camera_back(db) -> None:
    # A taken-over cycle's final report can land after the new coordinator's own outcomes
    # for the same cameras (the takeover waited for a dead worker's job): its older tasks go
    # into the history, but the camera stays as its newest outcome left it, with no event.
    writer = run(db, [FAIL, FAIL])  # offline since WALL
    writer.record(task(OK, WALL - 30, from_report=True))  # the late report: done, earlier
    writer.record(task(OK, WALL - 20, camera="door", from_report=True))  # nothing newer: applies
    writer.flush(settings(), 100.0, WALL + 200, force=True)
    assert events(db) == ["camera.offline"]
    assert rows(db, "SELECT id, last_status, consecutive_failures, offline_since FROM cameras "
                    "ORDER BY id") == [("door", OK, 0, None), ("gate", FAIL, 2, WALL)]
    assert rows(db, "SELECT count(*) FROM outcomes WHERE camera = 'gate'") == [(3,)]
    # A verdict drawn now applies even when older (a wall clock set back).
    writer.record(task(OK, WALL - 10))
    writer.flush(settings(), 200.0, WALL + 300, force=True)
    assert events(db) == ["camera.offline", "camera.recovered"]


def test_the_event_forecast_skips_a_reports_old_tasks_as_the_writer_does(db) -> None:
    # Old failures of a late report changed the forecast's copy (not the camera row): it then
    # took the camera for offline and the real offline event waited OUTCOME_FLUSH_SECONDS.
    from recorder.history_forecast import EventForecast
    run(db, [OK])  # the camera row: done at WALL
    forecast = EventForecast(db)
    old = [task(FAIL, WALL - 50 + i, from_report=True) for i in range(3)]
    assert not forecast.raises_event(old, offline_after=2)
    assert forecast.raises_event([task(FAIL, WALL + 60), task(FAIL, WALL + 120)], offline_after=2)


def test_a_recovered_cameras_alert_counts_the_failures_of_its_outage(db) -> None:
    # It said "连续 0 次失败" (the count was reset before the alert was built).
    offline, recovered = _picture_run(db, {"webhooks": [{"url": HOOK}]})
    assert offline["consecutive_failures"] == 2 and recovered["consecutive_failures"] == 2
    assert "连续 2 次失败" in recovered["message"], recovered["message"]


def test_an_alert_gives_the_error_without_the_url_ffmpeg_put_before_it(db) -> None:
    writer = HistoryWriter(HistoryStore(db))
    g = GlobalSettings.from_config(model.validate_global({"alerts": {
        "webhooks": [{"url": HOOK}]}}))
    said = "rtsp://u:***@127.0.0.1/x: Connection refused"
    for i in range(2):
        writer.record(task(FAIL, WALL + 60 * i, error=said))
        writer.flush(g, 10.0 + i, WALL + 60 * i)
    [(body,)] = rows(db, "SELECT body FROM outbox")
    offline = json.loads(body)
    assert offline["error"] == "Connection refused"
    assert offline["message"].endswith("最近状态：连接错误，Connection refused"), offline["message"]
    assert offline["camera"]["url"] == "rtsp://u:***@127.0.0.1/x"


def _step(writer: HistoryWriter, status: int, minute: int, camera: str = "gate",
          **extra) -> None:
    """One outcome of ``camera`` at ``minute``, written at once."""
    writer.record(task(status, WALL + 60 * minute, camera, **extra))
    writer.flush(settings(), 10.0 + minute, WALL + 60 * minute, force=True)


def test_an_outage_that_began_with_alerts_off_raises_its_offline_alert_once_they_are_on(
        db) -> None:
    # Seen: offline with "alerts": false, hand-edited to true, and at its recovery receivers
    # got camera.recovered "已恢复 …（自 14:11:03 起离线…）" though no camera.offline was sent.
    writer = HistoryWriter(HistoryStore(db))
    for minute in range(3):
        _step(writer, FAIL, minute, alerts=False)
    _step(writer, OK, 3)  # alerts on now: back before any alert, so none either way
    assert events(db) == []
    for minute in range(4, 7):
        _step(writer, FAIL, minute, alerts=False)
    _step(writer, FAIL, 7)  # still down once alerts are on: announced at this failure
    _step(writer, FAIL, 8)
    _step(writer, OK, 9)
    writer.close()
    assert events(db) == ["camera.offline", "camera.recovered"]
    offline = json.loads(rows(db, "SELECT body FROM outbox WHERE event = 'camera.offline' "
                                  "AND target LIKE 'webhook %'")[0][0])
    assert offline["consecutive_failures"] == 4  # the outage counts from its first failure


def test_an_outage_whose_alerts_were_turned_off_meanwhile_raises_no_recovery(db) -> None:
    writer = HistoryWriter(HistoryStore(db))
    _step(writer, FAIL, 0)
    _step(writer, FAIL, 1)  # camera.offline
    _step(writer, FAIL, 2, alerts=False)  # under maintenance from here
    _step(writer, OK, 3)  # alerts on again, back: that outage was no longer followed
    writer.close()
    assert events(db) == ["camera.offline"]


def test_an_outage_left_behind_by_a_renamed_camera_raises_no_recovery_when_it_returns(
        db) -> None:
    # Seen: output_filename flappy.mp4 -> flappy_new.mp4 while offline, renamed back 10 min
    # later: "flappy" sent camera.recovered for an outage that had closed under the other id.
    writer = HistoryWriter(HistoryStore(db))
    writer.note_alerting(frozenset({"flappy"}))
    _step(writer, FAIL, 0, "flappy")
    _step(writer, FAIL, 1, "flappy")  # camera.offline for flappy
    writer.note_alerting(frozenset({"flappy_new"}))  # renamed
    _step(writer, FAIL, 2, "flappy_new")
    _step(writer, OK, 3, "flappy_new")
    assert rows(db, "SELECT offline_alerted FROM cameras WHERE id = 'flappy'") == [(0,)]
    writer.note_alerting(frozenset({"flappy"}))  # renamed back
    _step(writer, OK, 13, "flappy")
    _step(writer, FAIL, 14, "flappy")
    _step(writer, FAIL, 15, "flappy")  # a new outage: announced and followed as ever
    _step(writer, OK, 16, "flappy")
    writer.close()
    flappy = [json.loads(body)["event"] for body, in rows(
        db, "SELECT body FROM outbox WHERE target LIKE 'webhook %' AND body LIKE '%\"flappy\"%' "
            "ORDER BY id")]
    assert flappy == ["camera.offline", "camera.offline", "camera.recovered"]


def test_the_alerting_cameras_alone_wake_the_writer_and_keep_cached_states_true(db) -> None:
    writer = run(db, [FAIL, FAIL])  # gate offline, its alert raised
    writer.note_alerting(frozenset())  # its alerts turned off: no outcome meanwhile
    assert writer.batches.has_work(100.0)
    writer.flush(settings(), 100.0, WALL + 600)
    assert rows(db, "SELECT offline_alerted FROM cameras") == [(0,)]
    assert not writer.batches.has_work(200.0)
    writer.note_alerting(frozenset({"gate"}))
    _step(writer, OK, 20)  # the writer's cached state saw the change: no recovery
    writer.close()
    assert events(db) == ["camera.offline"]


def test_the_recorder_tells_the_writer_which_cameras_alert_once_per_config(tmp_path) -> None:
    from types import SimpleNamespace
    from recorder.history_feed import HistoryFeed
    streams = [{"output_filename": "gate.mp4"}, {"output_filename": "yard.mp4", "alerts": False}]
    watch = SimpleNamespace(config={"streams": streams}, settings=settings(), error=None)
    gate = SimpleNamespace(holding=False, free_mb=0, floor_mb=0)
    feed = HistoryFeed(str(tmp_path / "config.json"), watch, gate)
    try:
        feed.step(1.0, WALL, lambda: None)
        assert feed.writer.batches.alerting == {"gate"}
        watch.config = {"streams": streams[1:]}  # gate renamed away
        feed.step(2.0, WALL + 1, lambda: None)
        assert feed.writer.batches.alerting == frozenset()
    finally:
        feed.close(3.0, WALL + 2, lambda: None)
