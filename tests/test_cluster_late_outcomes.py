"""A takeover follows the clips the dead coordinator's workers were still recording: the orphan
cycle is reported at once (those tasks interrupted), then again with their outcomes once all are
in or their deadline passed, one round trip a pass; the final report feeds the camera history."""
from __future__ import annotations

import json
import math
import os
import sqlite3
from types import SimpleNamespace

import pytest

pytest.importorskip("rq")
from redis import Redis  # noqa: E402
from rq import Queue  # noqa: E402
from rq.job import JobStatus  # noqa: E402

from recorder.cluster import cycle_claim, link  # noqa: E402
from recorder.cluster.coordinator_lock import lock_key  # noqa: E402
from recorder.cluster.lead import Lead  # noqa: E402
from recorder.cluster.outage import OUTAGE  # noqa: E402
from recorder.history_feed import HistoryFeed  # noqa: E402
from shared import task_status as st  # noqa: E402
from shared.cluster_status import mirrored, status_key  # noqa: E402
from shared.global_settings import GlobalSettings  # noqa: E402
from shared.history_schema import history_path  # noqa: E402
from shared.status_file import empty_status  # noqa: E402
from shared.task_record import INTERRUPTED_MESSAGE  # noqa: E402
from testkit.cluster import RedisServer, redis_available  # noqa: E402
from testkit.recorder_process import wait_for  # noqa: E402
from tests.test_cluster_exchange import count_round_trips  # noqa: E402
from tests.test_cluster_takeover import CYCLE, QUEUE, task  # noqa: E402

pytestmark = pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")
TAKEN = 100.0  # the monotonic time of the takeover
REPORT = "rtsp_report.json"


@pytest.fixture
def redis(tmp_path):
    with RedisServer(str(tmp_path)) as server:
        yield server


def config(redis) -> dict:
    return {"global_config": {}, "streams": [],
            "cluster": {"redis_url": redis.url, "queue": QUEUE}}


def orphan_cycle(tmp_path, connection: Redis, timeouts: list[int]) -> str:
    """The dead coordinator's status in Redis: a running cycle whose tasks' jobs a worker took
    (job timeouts ``timeouts``); returns the cycle's folder."""
    folder = tmp_path / "output" / CYCLE
    folder.mkdir(parents=True)
    status = empty_status()
    status.update(current_cycle=3, tasks=[task(i) for i in range(len(timeouts))],
                  cycle={**status["cycle"], "dir": CYCLE, "path": str(folder), "running": True,
                         "start_time": "2026-11-30 12:00:00", "total_seconds": 60})
    connection.set(status_key(QUEUE), mirrored(status))
    for index, timeout in enumerate(timeouts):
        Queue(QUEUE, connection=connection).enqueue(
            "os.getpid", job_id=link.job_id(QUEUE, CYCLE, index),
            job_timeout=timeout).set_status(JobStatus.STARTED)
    return str(folder)


def store_outcome(connection: Redis, index: int, quality: dict | None = None) -> dict:
    """What the worker of task ``index`` stores once its clip landed."""
    done = dict(task(index, st.COMPLETED), output_file=f"./output/{CYCLE}/cam{index}.mp4",
                start_time="2026-11-30 12:00:02", end_time="2026-11-30 12:00:13", progress=10.0,
                bytes_received=123456, **({"quality": quality} if quality else {}))
    connection.hset(link.task_key(QUEUE, link.job_id(QUEUE, CYCLE, index)), "outcome",
                    json.dumps(done))
    return done


def report_of(folder: str) -> dict:
    with open(os.path.join(folder, REPORT), encoding="utf-8") as handle:
        return json.load(handle)


def rows(folder: str) -> list[tuple]:
    return [(t["stream_index"], t["status"], t["error_message"])
            for t in report_of(folder)["tasks"]]


def interrupted(index: int) -> tuple:
    return (index, st.CANCELLED, INTERRUPTED_MESSAGE)


def test_a_late_clip_replaces_its_interrupted_row_and_one_that_never_lands_keeps_it(
        redis, tmp_path, monkeypatch) -> None:
    connection = Redis.from_url(redis.url)
    folder = orphan_cycle(tmp_path, connection, timeouts=[40, 70])
    reported: list[tuple[str, dict, bool]] = []
    written: list = []  # what the history calls once it has committed the cycle
    sheets: list[tuple[str, dict]] = []
    lead = Lead(lambda name, report, announce, done: (reported.append((name, report, announce)),
                                                      written.append(done)),
                on_sheet=lambda path, report: sheets.append((path, report)))
    assert lead.may_coordinate(config(redis), TAKEN)
    assert rows(folder) == [interrupted(0), interrupted(1)]  # written at once
    assert lead.numbered == 3  # the next cycle is numbered after the dead coordinator's
    store_outcome(connection, 0)
    connection.hset(f"rq:job:{link.job_id(QUEUE, CYCLE, 0)}", "status", "finished")  # RQ's end
    sent = count_round_trips(monkeypatch)
    lead.late.step(TAKEN + 1)
    assert sent[0] == 1  # both jobs read in one round trip, no wait for either
    lead.late.step(TAKEN + 1.5)  # sooner than READ_SECONDS after the last read: no read
    assert sent[0] == 1
    lead.late.step(TAKEN + 69)  # job 1 may still end (its timeout is 70 s)
    assert rows(folder) == [interrupted(0), interrupted(1)] and reported == []
    lead.late.step(TAKEN + 70)
    assert rows(folder) == [(0, st.COMPLETED, ""), interrupted(1)]
    final = report_of(folder)
    assert final["tasks"][0]["output_file"] == f"./output/{CYCLE}/cam0.mp4"
    assert final["summary"]["completed_tasks"] == 1 and final["summary"]["interrupted"]
    with open(os.path.join(folder, "report.txt"), encoding="utf-8") as text:
        assert f"-> ./output/{CYCLE}/cam0.mp4" in text.read()
    with open(os.path.join(folder, "streams.csv"), encoding="utf-8") as csv:
        assert csv.read().splitlines()[1].startswith(f"0,rtsp://127.0.0.1:1/cam0,{st.COMPLETED},")
    # the history's feed: once, the final report, with the cycle.finished nobody sent
    assert reported == [(CYCLE, final, True)]
    # ... and, once the history has it, no later takeover (this one dead, the coordinator
    # back) reports it again
    assert connection.get(cycle_claim.claim_key(QUEUE, CYCLE)).startswith(b"taken:")
    [settle] = written
    settle()
    assert connection.get(cycle_claim.claim_key(QUEUE, CYCLE)).startswith(b"reported:")
    connection.delete(lock_key(QUEUE))
    assert Lead().may_coordinate(config(redis), TAKEN + 300) and report_of(folder) == final
    assert sheets == [(folder, final)]  # and its contact sheet, drawn from it
    # The final report has the outcome: Redis keeps the task's hash minutes, not its day.
    ttl = connection.ttl(link.task_key(QUEUE, link.job_id(QUEUE, CYCLE, 0)))
    assert 0 < ttl <= link.FINISHED_TTL_SECONDS
    assert connection.ttl(link.task_key(QUEUE, link.job_id(QUEUE, CYCLE, 1))) == -2  # none
    before = sent[0]
    lead.late.step(TAKEN + 200)
    assert sent[0] == before and lead.late.pending == []  # followed no more


def test_once_every_late_outcome_is_in_the_report_is_rewritten_before_the_deadline(
        redis, tmp_path) -> None:
    connection = Redis.from_url(redis.url)
    folder = orphan_cycle(tmp_path, connection, timeouts=[40])
    reported: list[tuple[str, dict]] = []
    lead = Lead(lambda name, report, announce, written: reported.append((name, report)))
    assert lead.may_coordinate(config(redis), TAKEN)
    lead.late.step(TAKEN + 1)
    assert rows(folder) == [interrupted(0)] and reported == []
    store_outcome(connection, 0)
    lead.late.step(TAKEN + 2)
    assert rows(folder) == [(0, st.COMPLETED, "")]
    assert [name for name, _ in reported] == [CYCLE]


def test_redis_away_while_following_is_logged_and_read_again_next_pass(redis, tmp_path) -> None:
    connection = Redis.from_url(redis.url)
    folder = orphan_cycle(tmp_path, connection, timeouts=[40])
    lead = Lead()
    assert lead.may_coordinate(config(redis), TAKEN)
    redis.stop()
    try:
        lead.late.step(TAKEN + 1)  # no exception out of the loop's step
        assert OUTAGE.down and len(lead.late.pending) == 1
        lead.late.step(TAKEN + 41)  # past the deadline (40 s), unread: not given up on yet
        assert len(lead.late.pending) == 1 and rows(folder) == [interrupted(0)]
    finally:
        redis.start()
        OUTAGE.answered()
    store_outcome(Redis.from_url(redis.url), 0)  # a Redis without persistence: stored anew
    lead.late.step(TAKEN + 42)
    assert rows(folder) == [(0, st.COMPLETED, "")] and lead.late.pending == []


def test_a_clean_stop_reports_what_came_in_redis_away_or_not(redis, tmp_path) -> None:
    connection = Redis.from_url(redis.url)
    folder = orphan_cycle(tmp_path, connection, timeouts=[40])
    reported: list[str] = []
    lead = Lead(lambda name, report, announce, written: reported.append(name))
    assert lead.may_coordinate(config(redis), TAKEN)
    redis.stop()
    try:
        lead.late.step(math.inf)
    finally:
        redis.start()
        OUTAGE.answered()
    assert rows(folder) == [interrupted(0)] and reported == [CYCLE] and lead.late.pending == []


def test_settling_a_cycle_again_from_an_old_status_keeps_the_outcomes_its_report_has(
        redis, tmp_path) -> None:
    # The lock taken, lost and taken again: the old status (this recorder's own from before its
    # restart, or Redis's copy) shows the task unfinished; its outcome, in the report since the
    # first settle, is no longer in Redis (retired 10 minutes after that report).
    connection = Redis.from_url(redis.url)
    folder = orphan_cycle(tmp_path, connection, timeouts=[40])
    stale = connection.get(status_key(QUEUE))
    lead = Lead()
    assert lead.may_coordinate(config(redis), TAKEN)
    store_outcome(connection, 0)
    lead.late.step(TAKEN + 1)
    assert rows(folder) == [(0, st.COMPLETED, "")] and lead.late.pending == []
    connection.delete(link.task_key(QUEUE, link.job_id(QUEUE, CYCLE, 0)))  # expired
    connection.set(status_key(QUEUE), stale)
    connection.set(lock_key(QUEUE), "another recorder")
    assert not lead.may_coordinate(config(redis), TAKEN + 20)
    connection.delete(lock_key(QUEUE))
    assert lead.may_coordinate(config(redis), TAKEN + 700)
    lead.late.step(TAKEN + 800)
    assert rows(folder) == [(0, st.COMPLETED, "")]
    assert report_of(folder)["tasks"][0]["output_file"] == f"./output/{CYCLE}/cam0.mp4"


def test_a_takeover_with_nothing_recording_hands_its_report_over_at_once(redis, tmp_path) -> None:
    connection = Redis.from_url(redis.url)
    folder = orphan_cycle(tmp_path, connection, timeouts=[])
    reported: list[str] = []
    sheets: list[tuple[str, dict]] = []
    lead = Lead(lambda name, report, announce, written: reported.append(name),
                on_sheet=lambda path, report: sheets.append((path, report)))
    assert lead.may_coordinate(config(redis), TAKEN)
    assert reported == [CYCLE] and lead.late.pending == []
    assert sheets == [(folder, report_of(folder))]  # its contact sheet, from that report


def test_a_coordinators_takeover_draws_the_cycles_sheet_from_its_final_report(
        tmp_path) -> None:
    # The launcher's Lead hands each final report to its sheets' thread, a sheet already
    # there (the interrupted report's, drawn by a restarted coordinator) drawn again.
    from PIL import Image

    from recorder.contact_sheet_writer import ContactSheetWriter
    from recorder.cycle_launcher import CycleLauncher
    from recorder.pipe_watcher import PipeWatcher
    from recorder.space_gate import SpaceGate
    from shared.atomic import write_json_atomic
    from testkit.fake_runner import FakeRunner
    from tests.test_contact_sheet_writer import SlowSheets
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, {"global_config": {"total_poll_duration_seconds": 30},
                                    "streams": [{"rtsp_url": "rtsp://127.0.0.1:1/cam0",
                                                 "duration_seconds": 10,
                                                 "output_filename": "cam0.mp4"}]})
    folder = tmp_path / "output" / CYCLE
    folder.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(folder / "contact_sheet.jpg")  # whole, but stale
    launcher = CycleLauncher(config_path, FakeRunner(), PipeWatcher(), SpaceGate(lambda _: None))
    drawn = SlowSheets()
    drawn.go.set()
    launcher.sheets = ContactSheetWriter(lambda path, tiles: drawn.written.append(
        (path, [(t.name, t.status) for t in tiles])))
    final = {"tasks": [task(0, st.COMPLETED)]}
    launcher._lead().late.on_sheet(str(folder), final)
    assert launcher.sheets.wait(30)
    assert drawn.written == [(str(folder), [("cam0", f"[{st.COMPLETED}] 已完成")])]
    launcher.sheets.close()


def test_a_restarted_coordinator_reports_its_own_cycle_when_redis_has_no_copy(
        redis, tmp_path) -> None:
    # The mirror is gone a minute after its coordinator died (or with a Redis restart): the
    # recorder restarted on its state folder still has its status from before (the recovery
    # left that cycle, the workers', to the takeover).
    connection = Redis.from_url(redis.url)
    folder = orphan_cycle(tmp_path, connection, timeouts=[40])
    left = json.loads(connection.get(status_key(QUEUE)))
    left["cycle"]["cluster_queue"] = QUEUE
    connection.delete(status_key(QUEUE))
    assert Lead().may_coordinate(config(redis), TAKEN)  # another recorder: nothing to report
    assert not os.path.exists(os.path.join(folder, REPORT))
    connection.delete(lock_key(QUEUE))  # that one died too
    lead = Lead(left=left)
    assert lead.may_coordinate(config(redis), TAKEN)
    assert rows(folder) == [interrupted(0)]
    assert lead.left is None  # taken over once: a later takeover does not settle it again
    store_outcome(connection, 0)
    lead.late.step(TAKEN + 1)
    assert rows(folder) == [(0, st.COMPLETED, "")]


def test_the_final_report_goes_into_the_camera_history(tmp_path) -> None:
    config_path = str(tmp_path / "config.json")
    streams = [{"rtsp_url": f"rtsp://127.0.0.1:1/cam{i}", "output_filename": f"cam{i}.mp4",
                "duration_seconds": 10} for i in range(2)]
    feed = HistoryFeed(config_path, SimpleNamespace(
        config={"streams": streams}, settings=GlobalSettings.from_config({}), error=None),
        SimpleNamespace(holding=False, free_mb=0, floor_mb=0))
    done = dict(task(0, st.COMPLETED), output_file=f"./output/{CYCLE}/cam0.mp4",
                start_time="2026-11-30 12:00:02", end_time="2026-11-30 12:00:13")
    report = {"summary": {"start_time": "2026-11-30 12:00:00"}, "tasks": [done, task(1)]}
    feed.orphan_reported(CYCLE, report)  # what the Daemon hands the Lead as its on_reported
    feed.close(0.0, 1e9, lambda: None)
    with sqlite3.connect(history_path(config_path)) as db:
        outcomes = db.execute("SELECT camera, cycle, status FROM outcomes").fetchall()
    assert outcomes == [("cam0", CYCLE, st.COMPLETED)]  # the unfinished one cannot be placed
    # A coordinator restarted on its own state folder reports a cycle whose first tasks it
    # wrote itself before it was killed: those are not written twice.
    again = HistoryFeed(config_path, feed.config_watch, SimpleNamespace(
        holding=False, free_mb=0, floor_mb=0))
    again.orphan_reported(CYCLE, report)
    again.close(0.0, 1e9, lambda: None)
    with sqlite3.connect(history_path(config_path)) as db:
        assert db.execute("SELECT COUNT(*) FROM outcomes").fetchone() == (1,)


def test_a_cycle_taken_over_sends_its_cycle_finished_once_unless_its_coordinator_did(
        tmp_path) -> None:
    # The dead coordinator never sent the cycle's cycle.finished and the takeover that wrote its
    # final report did not either: a cycle.finished receiver missed that cycle's summary.
    config_path = str(tmp_path / "config.json")
    streams = [{"rtsp_url": f"rtsp://127.0.0.1:1/cam{i}", "output_filename": f"cam{i}.mp4",
                "duration_seconds": 10} for i in range(2)]
    alerts = {"webhooks": [{"url": "http://127.0.0.1:9/", "events": ["cycle.finished"]}]}
    watch = SimpleNamespace(config={"streams": streams}, error=None,
                            settings=GlobalSettings.from_config({"alerts": alerts}))
    done = dict(task(0, st.COMPLETED), output_file=f"./output/{CYCLE}/cam0.mp4",
                start_time="2026-11-30 12:00:02", end_time="2026-11-30 12:00:13")
    report = {"summary": {"cycle": 3, "start_time": "2026-11-30 12:00:00",
                          "end_time": "2026-11-30 12:00:13", "total_tasks": 2,
                          "completed_tasks": 1, "cancelled_tasks": 1}, "tasks": [done, task(1)]}
    for announce in (True, True, False):  # a second takeover (the first's claim lost), a left one
        feed = HistoryFeed(config_path, watch, SimpleNamespace(holding=False, free_mb=0,
                                                               floor_mb=0))
        feed.orphan_reported(CYCLE, report, announce)
        feed.close(0.0, 1e9, lambda: None)
    with sqlite3.connect(history_path(config_path)) as db:
        [(body,)] = db.execute("SELECT body FROM outbox WHERE event = 'cycle.finished'").fetchall()
    body = json.loads(body)
    assert (body["cycle"], body["recovered"]) == (CYCLE, True)
    assert body["counts"] == {"total_tasks": 2, "completed_tasks": 1, "failed_tasks": 0,
                              "cancelled_tasks": 1, "not_scheduled": 0}
    assert body["message"].endswith("报告由接管的录制守护进程写出")
    other = tmp_path / "other" / "config.json"  # its coordinator's clean stop sent one
    other.parent.mkdir()
    feed = HistoryFeed(str(other), watch, SimpleNamespace(holding=False, free_mb=0, floor_mb=0))
    feed.orphan_reported(CYCLE, report, announce=False)
    feed.close(0.0, 1e9, lambda: None)
    with sqlite3.connect(history_path(str(other))) as db:
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM outcomes").fetchone() == (1,)


def feed_of(config_path: str, loaded: dict | None) -> HistoryFeed:
    """The history's feed as the Daemon makes it, the config ``loaded`` (None: none valid)."""
    watch = SimpleNamespace(config=loaded, settings=GlobalSettings.from_config({}), error=None)
    return HistoryFeed(config_path, watch, SimpleNamespace(holding=False, free_mb=0, floor_mb=0))


def test_a_takeovers_claim_says_reported_only_once_the_history_has_the_cycle(
        redis, tmp_path) -> None:
    # The claim was set reported as soon as the feed had buffered the cycle for the step's
    # write: a taker killed before that write lost the cycle.finished for good.
    connection = Redis.from_url(redis.url)
    orphan_cycle(tmp_path, connection, timeouts=[])
    config_path = str(tmp_path / "config.json")
    feed = feed_of(config_path, config(redis))
    lead = Lead(feed.orphan_reported)  # as the Daemon wires it
    assert lead.may_coordinate(config(redis), TAKEN)  # nothing recording: handed over at once
    claim = cycle_claim.claim_key(QUEUE, CYCLE)
    assert connection.get(claim).startswith(b"taken:")  # killed now: the next takeover's
    feed.close(0.0, 1e9, lambda: None)  # the step's write, committed
    assert connection.get(claim).startswith(b"reported:")


def test_a_takeover_without_a_valid_config_leaves_the_claim_to_a_later_takeover(
        redis, tmp_path) -> None:
    # Nothing could be put into the history: the claim was set reported all the same.
    connection = Redis.from_url(redis.url)
    orphan_cycle(tmp_path, connection, timeouts=[])
    feed = feed_of(str(tmp_path / "config.json"), None)
    lead = Lead(feed.orphan_reported)
    assert lead.may_coordinate(config(redis), TAKEN)
    feed.close(0.0, 1e9, lambda: None)
    assert connection.get(cycle_claim.claim_key(QUEUE, CYCLE)).startswith(b"taken:")


@pytest.mark.parametrize("interrupted, settled", [(True, True), (False, False)])
def test_a_cycle_reported_interrupted_is_settled_again_a_whole_report_is_left(
        redis, tmp_path, interrupted, settled) -> None:
    # A restarted coordinator's recovery reports its cluster cycle interrupted at once (so it
    # has one even if no takeover follows); the takeover writes it again with the outcomes.
    connection = Redis.from_url(redis.url)
    folder = orphan_cycle(tmp_path, connection, timeouts=[40])
    store_outcome(connection, 0)
    with open(os.path.join(folder, REPORT), "w", encoding="utf-8") as handle:
        json.dump({"summary": {"interrupted": "录制守护进程意外退出" if interrupted else ""},
                   "tasks": []}, handle)
    assert Lead().may_coordinate(config(redis), TAKEN)
    assert (report_of(folder)["tasks"] != []) is settled


def test_the_outcomes_of_a_cycle_taken_over_are_held_against_the_references(
        redis, tmp_path) -> None:
    # As the dead coordinator would have (remote_task): an outcome stored before the takeover
    # (settled at once) and one that comes late are each held against the camera's reference
    # picture, which only the coordinators keep; a camera without one gets its first.
    from PIL import Image

    from recorder.picture_check import reference_path
    from shared.clip_names import thumbnail_name
    view = Image.linear_gradient("L").resize((320, 180))
    turned = view.transpose(Image.Transpose.ROTATE_90).resize((320, 180))
    refs, ok = tmp_path / "refs", {"checked": True, "issues": [], "measures": {}}
    connection = Redis.from_url(redis.url)
    folder = orphan_cycle(tmp_path, connection, timeouts=[40, 40])
    for index in (0, 1):
        turned.save(os.path.join(folder, thumbnail_name(f"cam{index}.mp4")))
    refs.mkdir()
    view.save(reference_path(str(refs), "cam0.mp4"))  # camera 0 was turned since
    store_outcome(connection, 0, ok)  # stored while no coordinator ran
    lead = Lead(references_dir=str(refs))
    assert lead.may_coordinate(config(redis), TAKEN)
    settled = report_of(folder)["tasks"][0]["quality"]
    assert settled["issues"] == ["scene_changed"]
    assert settled["measures"]["scene_changed"]["value"] < 0.2
    store_outcome(connection, 1, ok)
    lead.late.step(TAKEN + 1)
    late = report_of(folder)["tasks"][1]["quality"]
    assert late["issues"] == [] and "scene_changed" not in late["measures"]  # none to hold to
    with open(reference_path(str(refs), "cam1.mp4"), "rb") as kept, \
            open(os.path.join(folder, thumbnail_name("cam1.mp4")), "rb") as thumbnail:
        assert kept.read() == thumbnail.read()  # its first healthy picture is its reference


def test_a_recorders_lead_holds_taken_over_outcomes_to_its_own_references(tmp_path) -> None:
    from recorder.cycle_launcher import CycleLauncher
    from recorder.pipe_watcher import PipeWatcher
    from recorder.space_gate import SpaceGate
    from shared import settings
    from testkit.fake_runner import FakeRunner
    config_path = str(tmp_path / "config.json")
    launcher = CycleLauncher(config_path, FakeRunner(), PipeWatcher(), SpaceGate(lambda _: None))
    assert launcher._lead().references_dir == settings.references_dir(config_path)


@pytest.mark.parametrize("output_file", [None, "", 5, ["cam0.mp4"]])
def test_an_outcome_without_a_clip_name_is_taken_as_it_is(tmp_path, output_file) -> None:
    # A malformed outcome left in Redis must not stop a takeover (nor crash the coordinator).
    from recorder.picture_check import outcome_held_to_reference
    outcome = {"output_file": output_file, "quality": {"checked": True, "issues": [],
                                                       "measures": {}}}
    limits = GlobalSettings.from_config({}).quality
    assert outcome_held_to_reference(outcome, str(tmp_path), str(tmp_path), limits) is outcome


def slow_holding(monkeypatch, connection: Redis, seen: list, taken_by: str | None = None):
    """Each outcome held as on a slow shared mount: 4 s pass (on the clock the lock reads) and
    the lock's time in Redis nearly runs out; ``taken_by`` takes it at the first."""
    from recorder.cluster import takeover
    from shared.clock import SYSTEM_CLOCK
    now = [SYSTEM_CLOCK.monotonic()]
    monkeypatch.setattr(SYSTEM_CLOCK, "monotonic", lambda: now[0])

    def held(outcome: dict, *rest) -> dict:
        seen.append(connection.pttl(lock_key(QUEUE)))
        if taken_by and len(seen) == 1:
            connection.set(lock_key(QUEUE), taken_by, px=10_000)
        else:
            connection.pexpire(lock_key(QUEUE), 1000)
        now[0] += 4.0
        return outcome
    monkeypatch.setattr(takeover, "outcome_held_to_reference", held)


def test_a_takeover_that_outlasts_its_lock_keeps_it(redis, tmp_path, monkeypatch) -> None:
    # Thousands of outcomes held against their references on a slow shared mount can take
    # longer than the lock's 10 s: a standby must not take over (and report the cycle again).
    connection = Redis.from_url(redis.url)
    folder = orphan_cycle(tmp_path, connection, timeouts=[40, 40, 40])
    for index in range(3):
        store_outcome(connection, index)
    seen: list[int] = []
    slow_holding(monkeypatch, connection, seen)
    assert Lead().may_coordinate(config(redis), TAKEN)
    assert len(seen) == 3 and min(seen[1:]) > 5000  # extended between two outcomes
    assert connection.pttl(lock_key(QUEUE)) > 5000  # and after the last
    assert [row[1] for row in rows(folder)] == [st.COMPLETED] * 3


def test_a_takeover_whose_lock_was_taken_meanwhile_stops_before_its_report(
        redis, tmp_path, monkeypatch, caplog) -> None:
    connection = Redis.from_url(redis.url)
    folder = orphan_cycle(tmp_path, connection, timeouts=[40, 40])
    for index in range(2):
        store_outcome(connection, index)
    seen: list[int] = []
    slow_holding(monkeypatch, connection, seen, taken_by="standby:1:x")
    lead = Lead()
    assert not lead.may_coordinate(config(redis), TAKEN)  # the other recorder coordinates
    assert len(seen) == 1 and not os.path.exists(os.path.join(folder, REPORT))
    assert lead.late.pending == [] and "takeover stopped" in caplog.text
    assert connection.get(lock_key(QUEUE)) == b"standby:1:x"


def test_a_restarted_coordinators_own_cycle_not_reported_is_tried_at_the_next_takeover(
        redis, tmp_path, monkeypatch) -> None:
    from recorder.cluster import takeover
    from shared.errors import WriteError
    connection = Redis.from_url(redis.url)
    folder = orphan_cycle(tmp_path, connection, timeouts=[40])
    left = json.loads(connection.get(status_key(QUEUE)))
    connection.delete(status_key(QUEUE))  # Redis's copy gone: only its own status has it

    def full(*positional) -> None:
        raise WriteError("no space left on device")
    with monkeypatch.context() as patched:
        patched.setattr(takeover, "write_reports", full)
        lead = Lead(left=left)
        assert lead.may_coordinate(config(redis), TAKEN)
    assert not os.path.exists(os.path.join(folder, REPORT)) and lead.left is left
    # It lost the lock to another recorder, which died: it takes it again once that one lapsed.
    connection.set(lock_key(QUEUE), "standby:1:x", px=50)
    assert not lead.may_coordinate(config(redis), TAKEN + 30)
    wait_for(lambda: connection.get(lock_key(QUEUE)) is None, 5, "the other's lock to lapse")
    assert lead.may_coordinate(config(redis), TAKEN + 31)
    assert rows(folder) == [interrupted(0)] and lead.left is None


def test_a_cycle_its_coordinator_was_reporting_is_taken_over_once_that_claim_lapses(
        redis, tmp_path) -> None:
    from recorder.cluster import cycle_claim
    from recorder.cluster.lead import RETRY_SECONDS
    connection = Redis.from_url(redis.url)
    folder = orphan_cycle(tmp_path, connection, timeouts=[40])
    store_outcome(connection, 0)
    cycle_claim.mark_running(connection, QUEUE, CYCLE, "dead:1:x")
    assert cycle_claim.claim_report(connection, QUEUE, CYCLE, "dead:1:x") is \
        cycle_claim.Claim.OWN  # and killed as it wrote the reports
    lead = Lead()
    assert lead.may_coordinate(config(redis), TAKEN)
    assert not os.path.exists(os.path.join(folder, REPORT)) and len(lead.again) == 1
    connection.set(status_key(QUEUE), "{}")  # this coordinator's own status, mirrored since
    assert lead.may_coordinate(config(redis), TAKEN + 1) and len(lead.again) == 1  # not yet due
    connection.delete(cycle_claim.claim_key(QUEUE, CYCLE))  # REPORTING_SECONDS later
    assert lead.may_coordinate(config(redis), TAKEN + 1 + RETRY_SECONDS)
    assert rows(folder) == [(0, st.COMPLETED, "")] and lead.again == []


def test_a_takeover_that_could_not_write_the_report_tries_again(
        redis, tmp_path, monkeypatch) -> None:
    from recorder.cluster import takeover
    from recorder.cluster.lead import RETRY_SECONDS
    from shared.errors import WriteError
    connection = Redis.from_url(redis.url)
    folder = orphan_cycle(tmp_path, connection, timeouts=[40])
    store_outcome(connection, 0)

    def full(*positional) -> None:
        raise WriteError("no space left on device")
    lead = Lead()
    with monkeypatch.context() as patched:
        patched.setattr(takeover, "write_reports", full)
        assert lead.may_coordinate(config(redis), TAKEN)
    assert not os.path.exists(os.path.join(folder, REPORT)) and len(lead.again) == 1
    # Its claim let go: the coordinator, were it back, would report the cycle itself.
    assert connection.get(f"rtsp-patrol:{QUEUE}:reporter:{CYCLE}") is None
    with monkeypatch.context() as patched:  # the disk still full: tried again, less often
        patched.setattr(takeover, "write_reports", full)
        assert lead.may_coordinate(config(redis), TAKEN + RETRY_SECONDS)
        assert lead.may_coordinate(config(redis), TAKEN + 2.5 * RETRY_SECONDS)  # not due yet
        assert len(lead.again) == 1 and not os.path.exists(os.path.join(folder, REPORT))
    assert lead.may_coordinate(config(redis), TAKEN + 3 * RETRY_SECONDS)
    assert rows(folder) == [(0, st.COMPLETED, "")] and lead.again == []
