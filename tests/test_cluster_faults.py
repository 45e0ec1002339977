"""Cluster mode under faults (all on 127.0.0.1): a worker host killed mid-clip, Redis restarted
mid-cycle, the coordinator killed with a standby waiting, and the per-gateway cap pressed."""
from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import signal
import sqlite3
import threading
import time

import pytest

from app import create_app
from shared import settings
from shared import task_status as st
from shared.clip_names import thumbnail_name
from shared.control_file import request_start
from shared.history_schema import history_path
from shared.status_file import empty_status, read_status
from testkit.cluster import RedisServer, WorkerPoolProcess, redis_available
from testkit.recorder_process import (RecorderProcess, ffmpeg_pids, ffprobe, settled_names,
                                      wait_for)
from testkit.webhook_receiver import WebhookReceiver
from tests.test_cluster import cluster_config, the_report

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")]
rq = pytest.importorskip("rq")
from redis import Redis  # noqa: E402 - only with the [cluster] extra

from recorder.cluster.coordinator_lock import (LOCK_SECONDS, STANDBY_MESSAGE,  # noqa: E402
                                               lock_key)
from recorder.cluster.link import gateway_slots_key, job_id, task_key  # noqa: E402

# A dead host's job is noticed within heartbeat + grace + maintenance (seconds), not minutes.
QUICK = {"maintenance_seconds": 1, "heartbeat_seconds": 1, "grace_seconds": 2}


def streams_on(server, count: int, duration: int) -> list[dict]:
    return [{"rtsp_url": server.url(f"cam{i % 4 + 1}"), "duration_seconds": duration,
             "output_filename": f"cam{i}.mp4"} for i in range(count)]


def leftovers(folder: str) -> list[str]:
    """Hidden files other than the thumbnails of the clips kept (work files, attempts' files)."""
    names = settled_names(folder)
    thumbnails = {thumbnail_name(name) for name in names}
    return sorted(name for name in names if name.startswith(".") and name not in thumbnails)


def two_hosts(tmp_path) -> tuple[str, str]:
    """The configs of two hosts' recorders (each its state folder), a/ and b/."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    return str(tmp_path / "a" / "config.json"), str(tmp_path / "b" / "config.json")


def a_standby(config: str, what: str) -> None:
    wait_for(lambda: read_status(settings.status_path(config))["message"] == STANDBY_MESSAGE,
             30, what)


def first_clip_recording(config: str) -> None:
    """Wait until the first clip of the cycle of ``config``'s recorder has media in its work
    file: a worker records it."""
    output = os.path.join(os.path.dirname(config), "output")
    work = wait_for(lambda: next(iter(glob.glob(os.path.join(output, "*", ".cam0.mp4.part"))),
                                 None), 60, "the first clip's work file")
    wait_for(lambda: os.path.getsize(work) > 0, 20, "media in the first clip's work file")


@contextlib.contextmanager
def armed_standby(camera_server, active: str, active_url: str, standby: str, standby_url: str,
                  **both):
    """A coordinator (``active``: 2 cameras on one gateway, 20 s clips, one cycle) recording
    through a pool, and a standby (``standby``) armed: yields the pool and both recorders, the
    first clip recording. The pool starts once the standby is armed: the clip has its 20 s
    ahead of it, however long the recorders took to start (the takeovers that follow find it
    still recording). ``both``: more global_config of both."""
    cluster_config(active, active_url, streams_on(camera_server, 2, 20), **both)
    cluster_config(standby, standby_url, streams_on(camera_server, 2, 3), poll_cycles=-1, **both)
    with RecorderProcess(started(active)) as first:
        wait_for(lambda: "enqueued as job" in first.log(), 60, "the coordinator's first job")
        with RecorderProcess(started(standby)) as second:
            a_standby(standby, "a standby")
            with WorkerPoolProcess(standby, slots=2) as workers:
                first_clip_recording(active)
                yield workers, first, second


def took_it_over_recording(recorder: RecorderProcess) -> None:
    """Wait for ``recorder``'s takeover; the first clip was still recording then (its outcome
    comes late: what these tests are about), the second one waiting for the gateway."""
    line = wait_for(lambda: next((line for line in recorder.log().splitlines()
                                  if "took over from a dead coordinator" in line), None),
                    20, "the takeover's report")
    assert "(2 tasks, 0 ended, 1 still recording)" in line, line


def reported_again(recorder: RecorderProcess) -> None:
    """Wait until ``recorder`` wrote the taken-over cycle's report again with the late clip.
    Not the report's task 0 COMPLETED: had the takeover found the clip ended, that would be the
    takeover's own report, with nothing written again."""
    wait_for(lambda: "reported again" in recorder.log(), 60,
             "the taken-over cycle's report written again with its late clip")


def report_in(cycle: dict) -> dict:
    """The report of the cycle ``cycle`` (a :func:`the_report`) as it is now."""
    with open(os.path.join(cycle["_dir"], "rtsp_report.json"), encoding="utf-8") as file:
        return json.load(file)


def started(config: str) -> str:
    request_start(settings.control_path(config), empty_status())
    return config


def test_a_host_killed_mid_clip_is_retried_once_and_its_slot_freed(tmp_path, camera_server):
    config = str(tmp_path / "config.json")
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(config, redis.url, streams_on(camera_server, 1, 6))
        with RecorderProcess(started(config)) as recorder, \
                WorkerPoolProcess(config, slots=1, **QUICK) as first:
            work = wait_for(lambda: next(iter(
                tmp_path.glob("output/*/.cam0.mp4.part")), None), 60, "the first attempt")
            wait_for(lambda: work.stat().st_size > 0, 20, "media in the first attempt's file")
            with WorkerPoolProcess(config, slots=1, **QUICK) as second:  # the job is the first's
                first.kill_host()
                report = the_report(tmp_path)
                log = recorder.log() + second.log()
        connection = Redis.from_url(redis.url)
        job = job_id("patrol", os.path.basename(report["_dir"]), 0)
        attempts = int(connection.hget(task_key("patrol", job), "attempts"))
        held = connection.zcard(gateway_slots_key(connection,
                                                  f"127.0.0.1:{camera_server.port}"))
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED], log
    assert attempts == 2
    assert held == 0
    assert abs(float(ffprobe(os.path.join(report["_dir"], "cam0.mp4"))["format"]["duration"])
               - 6) <= 1.0
    assert leftovers(report["_dir"]) == []


@pytest.mark.parametrize("jobs", [1, 2], ids=["a-process-a-slot", "batch-workers"])
def test_a_redis_restart_mid_cycle_still_ends_the_cycle_with_a_report(tmp_path, camera_server,
                                                                     jobs):
    config = str(tmp_path / "config.json")
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(config, redis.url, streams_on(camera_server, 4, 4),
                       total_poll_duration_seconds=40, max_concurrent_per_host=2)
        with WorkerPoolProcess(started(config), slots=2, jobs_per_worker=jobs, **QUICK) as workers, \
                RecorderProcess(config) as recorder:
            wait_for(lambda: ffmpeg_pids(str(tmp_path)), 60, "a clip recording")
            redis.restart()
            report = the_report(tmp_path)
            log = recorder.log() + workers.log()
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED] * 4, log
    for i in range(4):
        assert float(ffprobe(os.path.join(report["_dir"], f"cam{i}.mp4"))["format"]["duration"]) > 3
    assert leftovers(report["_dir"]) == []


def test_a_recorder_that_cannot_reach_redis_says_so_then_coordinates_once_it_can(tmp_path):
    """Not "a standby" (it cannot tell whether another recorder coordinates): Redis's own
    reason, no password; once Redis answers, it takes the lock and enqueues."""
    config = str(tmp_path / "config.json")
    redis = RedisServer(str(tmp_path))  # not started: nothing listens on its port yet
    cluster_config(config, redis.url, [{"rtsp_url": "rtsp://127.0.0.1:1/cam",
                                        "duration_seconds": 2, "output_filename": "cam.mp4"}])
    with RecorderProcess(started(config)) as recorder:
        message = wait_for(lambda: (read_status(settings.status_path(config))["message"] or "")
                           .startswith("集群的 Redis 不可用 ("), 30, "the Redis message")
        assert message and STANDBY_MESSAGE not in read_status(settings.status_path(config))[
            "message"], recorder.log()
        with redis:
            wait_for(lambda: "enqueued as job" in recorder.log(), 30, "the first job")


def cycle_finished_to(receiver: WebhookReceiver) -> dict:
    """global_config.alerts sending cycle.finished to ``receiver``."""
    return {"webhooks": [{"url": receiver.url, "events": ["cycle.finished"]}]}


def cycle_finished_of(receiver: WebhookReceiver, cycle_dir: str) -> list[dict]:
    """The cycle.finished bodies ``receiver`` got of the cycle in ``cycle_dir``."""
    return [r.json() for r in receiver.received
            if r.json()["cycle"] == os.path.basename(cycle_dir)]


def outbox_of(config: str, cycle_dir: str) -> list[dict]:
    """The cycle.finished bodies the history of ``config``'s recorder queued of that cycle."""
    with sqlite3.connect(history_path(config)) as db:
        return [json.loads(body) for (body,) in db.execute(
            "SELECT body FROM outbox WHERE event = 'cycle.finished'")
            if json.loads(body)["cycle"] == os.path.basename(cycle_dir)]


def test_the_standby_takes_over_within_the_lock_timeout(tmp_path, camera_server):
    active, standby = two_hosts(tmp_path)
    with RedisServer(str(tmp_path)) as redis, WebhookReceiver() as receiver:
        alerts = cycle_finished_to(receiver)
        cluster_config(active, redis.url, streams_on(camera_server, 2, 20), poll_cycles=-1,
                       alerts=alerts)
        cluster_config(standby, redis.url, streams_on(camera_server, 2, 3), alerts=alerts)
        with RecorderProcess(started(active)) as first:
            wait_for(lambda: "enqueued as job" in first.log(), 60, "the coordinator's first job")
            # only now: the lock is first's (a with block: no daemon left running if it fails)
            with RecorderProcess(started(standby)) as second:
                a_standby(standby, "a standby")
                assert "enqueued as job" not in second.log()
                # The pool only now: the clip has its 20 s ahead, however slow the start was.
                with WorkerPoolProcess(active, slots=2) as workers:
                    first_clip_recording(active)
                    os.killpg(first.proc.pid, signal.SIGKILL)
                    killed = time.monotonic()
                    wait_for(lambda: "coordinator lock rtsp-patrol:patrol:coordinator taken" in
                             second.log(), LOCK_SECONDS + 10, "the standby to take over")
                    took = time.monotonic() - killed
                    # The dead coordinator's cycle, reported by the new one at once; the clip a
                    # worker was recording lands later, and the report is written again with it.
                    took_it_over_recording(second)
                    report = the_report(tmp_path / "b")
                    reported_again(second)
                    orphan = the_report(tmp_path / "a")
                    # The dead coordinator never sent its cycle.finished: the standby does, once.
                    wait_for(lambda: cycle_finished_of(receiver, orphan["_dir"]), 20,
                             "the taken-over cycle's cycle.finished")
                    log = second.log() + workers.log()
        [finished] = cycle_finished_of(receiver, orphan["_dir"])
    assert finished["recovered"] is True and "接管" in finished["message"], finished
    assert finished["counts"]["completed_tasks"] == 1, finished
    assert len(outbox_of(standby, orphan["_dir"])) == 1
    assert took <= LOCK_SECONDS + 2, took
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED] * 2, log
    assert orphan["summary"]["interrupted"] and len(orphan["tasks"]) == 2, orphan
    # Cycle numbers go on from the dead coordinator's (they restarted at 1 before).
    assert report["summary"]["cycle"] == orphan["summary"]["cycle"] + 1, log
    assert log.count("reported again, 1 late outcome in, 0 tasks without one") == 1, log
    # cam0 was recording at the takeover, cam1 waited for the gateway's one slot (cancelled)
    assert [t["status"] for t in orphan["tasks"]] == [st.COMPLETED, st.CANCELLED], log
    assert float(ffprobe(os.path.join(orphan["_dir"], "cam0.mp4"))["format"]["duration"]) > 15
    # The new coordinator's history has the cycle as its report lists it, cam1's 已取消 too
    # (at the cycle's end: it never started).
    with sqlite3.connect(history_path(standby)) as db:
        assert sorted(db.execute("SELECT camera, status FROM outcomes WHERE cycle = ?",
                                 (os.path.basename(orphan["_dir"]),)).fetchall()) == [
            ("cam0", st.COMPLETED), ("cam1", st.CANCELLED)]


def test_a_coordinator_cut_off_from_redis_leaves_its_cycle_to_the_standby_that_took_it_over(
        tmp_path, camera_server):
    from testkit.tcp_proxy import TcpProxy
    active, standby = two_hosts(tmp_path)
    with RedisServer(str(tmp_path)) as redis, TcpProxy(("127.0.0.1", redis.port)) as network:
        # The coordinator reaches Redis through a network of its own, the rest directly.
        with armed_standby(camera_server, active, f"redis://127.0.0.1:{network.port}/0",
                           standby, redis.url) as (workers, first, second):
            network.cut()
            wait_for(lambda: "coordinator lock rtsp-patrol:patrol:coordinator taken" in
                     second.log(), LOCK_SECONDS + 15, "the standby to take over")
            took_it_over_recording(second)
            taken = the_report(tmp_path / "a")  # written by the takeover at once
            network.heal()
            wait_for(lambda: "that one writes its reports" in first.log(), 60,
                     "the coordinator, back, to leave its cycle to the standby")
            reported_again(second)
            # Back, the coordinator is a standby: the other one holds the lock.
            a_standby(active, "the coordinator, back, a standby")
            coordinator_log = first.log()
            log = coordinator_log + second.log() + workers.log()
        report = report_in(taken)  # the cycle taken over (the_report: any of a's cycles)
    assert taken["summary"]["interrupted"], log
    # Still the takeover's report (the coordinator's own would not be interrupted), reported once.
    assert report["summary"]["interrupted"] and len(report["tasks"]) == 2, log
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED, st.CANCELLED], log
    assert "cycle 1 finished" not in coordinator_log, log
    assert log.count("reported again, 1 late outcome in, 0 tasks without one") == 1, log


def test_a_clean_stop_mid_cycle_hands_its_cycle_to_the_standby_which_settles_it_again(
        tmp_path, camera_server):
    active, standby = two_hosts(tmp_path)
    with RedisServer(str(tmp_path)) as redis, WebhookReceiver() as receiver:
        with armed_standby(camera_server, active, redis.url, standby, redis.url,
                           alerts=cycle_finished_to(receiver)) as (workers, first, second):
            assert first.stop() == 0  # SIGTERM: its cycle reported interrupted, lock released
            stopped = the_report(tmp_path / "a")
            wait_for(lambda: "coordinator lock rtsp-patrol:patrol:coordinator taken" in
                     second.log(), 5, "the standby to take over at once")
            wait_for(lambda: "reported again, 1 late outcome in" in second.log(), 60,
                     "the standby to settle the stopped cycle with its late clip")
            assert second.stop() == 0  # its history written whole
            log = first.log() + second.log() + workers.log()
        report = report_in(stopped)
    # The stop sent the cycle's cycle.finished; the standby that settled it again sends none.
    assert [b["recovered"] for b in outbox_of(active, stopped["_dir"])] == [False], log
    assert outbox_of(standby, stopped["_dir"]) == [], log
    assert stopped["summary"]["interrupted"], log
    assert [t["status"] for t in stopped["tasks"]] == [st.CANCELLED, st.CANCELLED], log
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED, st.CANCELLED], log


def test_redis_away_is_logged_once_lost_and_once_back_without_tracebacks(tmp_path, camera_server):
    config = str(tmp_path / "config.json")
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(config, redis.url, streams_on(camera_server, 3, 2),
                       total_poll_duration_seconds=60, max_concurrent_per_host=0)
        status = settings.status_path(config)
        with WorkerPoolProcess(started(config), slots=1, **QUICK) as workers, \
                RecorderProcess(config) as recorder:
            wait_for(lambda: "enqueued as job" in recorder.log(), 60, "the first job")
            redis.stop()
            # Redis stays away across steps and a planned start (task 2 starts while it is away).
            wait_for(lambda: read_status(status)["tasks"][1]["start_offset"] is not None, 40,
                     "the second task's start, Redis away")
            redis.start()
            report = the_report(tmp_path)
            log = recorder.log()
            wlog = workers.log()
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED] * 3, log + wlog
    assert "Traceback" not in log, log
    assert (log.count("Redis connection lost"), log.count("Redis connection back")) == (1, 1), log


class CapSampler:
    """Every 50 ms: ffmpeg processes pulling from the gateway, and RQ's slots held for it."""

    def __init__(self, redis_url: str, port: int) -> None:
        self.connection, self.port = Redis.from_url(redis_url), port
        self.most_pulls = self.most_slots = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        key = gateway_slots_key(self.connection, f"127.0.0.1:{self.port}")
        while not self._stop.wait(0.05):
            self.most_pulls = max(self.most_pulls, len(ffmpeg_pids(f"127.0.0.1:{self.port}/")))
            self.most_slots = max(self.most_slots, self.connection.zcard(key))

    def __enter__(self) -> CapSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def test_a_gateway_with_more_cameras_than_its_cap_never_exceeds_it(tmp_path, camera_server):
    config = str(tmp_path / "config.json")
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(config, redis.url, streams_on(camera_server, 6, 3),
                       total_poll_duration_seconds=12, max_concurrent_per_host=2)
        with WorkerPoolProcess(started(config), slots=2), WorkerPoolProcess(config, slots=2), \
                CapSampler(redis.url, camera_server.port) as sampler, \
                RecorderProcess(config) as recorder:
            report = the_report(tmp_path)
            log = recorder.log()
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED] * 6, log
    assert (sampler.most_pulls, sampler.most_slots) == (2, 2)  # pressed, never exceeded


def test_a_coordinator_restarted_mid_clip_leaves_its_workers_clip_alone(tmp_path, camera_server):
    # systemd restarts a killed coordinator at once, on the same state folder: its recovery
    # must not take a clip a worker is still recording for a killed ffmpeg's (publishing it
    # half-written, its work file gone under the worker), nor report the task interrupted.
    config = str(tmp_path / "config.json")
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(config, redis.url, streams_on(camera_server, 1, 14))
        with WorkerPoolProcess(started(config), slots=1, **QUICK) as workers:
            with RecorderProcess(config) as first:
                work = wait_for(lambda: next(iter(
                    tmp_path.glob("output/*/.cam0.mp4.part")), None), 60, "the clip recording")
                wait_for(lambda: work.stat().st_size > 0, 20, "media in the clip")
                os.killpg(first.proc.pid, signal.SIGKILL)
                first.proc.wait()
                first_log = first.log()
            cycle_dir = work.parent
            with RecorderProcess(config) as second:
                report = wait_for(lambda: _finished_report(cycle_dir), 60,
                                  "the cycle's report with the worker's clip")
                log = first_log + second.log() + workers.log()
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED], log
    assert float(ffprobe(str(cycle_dir / "cam0.mp4"))["format"]["duration"]) > 12, log
    assert leftovers(str(cycle_dir)) == [], log


def _finished_report(cycle_dir) -> dict | None:
    """The cycle's report once no task in it is interrupted any more (None before)."""
    path = cycle_dir / "rtsp_report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if all(t["status"] == st.COMPLETED for t in report["tasks"]) else None


def test_a_standby_says_in_its_status_and_its_hosts_api_whose_lock_it_waits_for(tmp_path):
    # Before, a standby's status said only the message (its API served the coordinator's
    # status from Redis): an operator could not tell a standby from a stuck recorder, nor
    # which recorder coordinated.
    active, standby = two_hosts(tmp_path)
    streams = [{"rtsp_url": "rtsp://127.0.0.1:1/cam", "duration_seconds": 2,
                "output_filename": "cam.mp4"}]
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(active, redis.url, streams, poll_cycles=-1, cycle_interval_seconds=600)
        cluster_config(standby, redis.url, streams, poll_cycles=-1)
        api_a = create_app({"CONFIG_PATH": active}).test_client()
        api_b = create_app({"CONFIG_PATH": standby}).test_client()
        with RecorderProcess(started(active)) as first:
            wait_for(lambda: "enqueued as job" in first.log(), 60, "the coordinator's first job")
            holder = Redis.from_url(redis.url).get(lock_key("patrol")).decode()
            with RecorderProcess(started(standby)) as second:
                a_standby(standby, "a standby")
                shown = read_status(settings.status_path(standby))["standby"]
                status_b = api_b.get("/api/scheduler/status").get_json()
                status_a = api_a.get("/api/scheduler/status").get_json()
                log = first.log() + second.log()
    assert holder.split(":")[1] == str(first.proc.pid)
    assert shown["coordinator"] == holder, log
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", shown["since"])
    assert status_b["standby"] == shown  # this host's recorder, beside the coordinator's status
    assert status_b["recorder_alive"] and status_a["standby"] is None
    assert read_status(settings.status_path(active))["standby"] is None


def test_start_and_stop_through_any_hosts_api_are_the_whole_clusters(tmp_path, camera_server):
    # The cluster's desired state (shared/cluster_control.py). Before, each recorder followed
    # its own control.json: a standby on a fresh state folder stayed stopped (it never took
    # over), a start through the coordinator's API was a 409, a stop through a standby's API
    # stopped the standby only.
    active, standby = two_hosts(tmp_path)

    def running(config: str) -> bool:
        return read_status(settings.status_path(config))["scheduler_running"]
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(active, redis.url, streams_on(camera_server, 1, 20), poll_cycles=-1)
        cluster_config(standby, redis.url, streams_on(camera_server, 1, 3), poll_cycles=-1)
        api_a = create_app({"CONFIG_PATH": active}).test_client()
        api_b = create_app({"CONFIG_PATH": standby}).test_client()
        with WorkerPoolProcess(started(active), slots=1) as workers, \
                RecorderProcess(active) as first, RecorderProcess(standby) as second:
            wait_for(lambda: "enqueued as job" in first.log(), 60, "the coordinator's first job")
            assert api_a.post("/api/scheduler/start").status_code == 200  # the cluster's now
            wait_for(lambda: read_status(settings.status_path(standby))["message"] ==
                     STANDBY_MESSAGE, 30, "the fresh standby armed")
            assert api_b.post("/api/scheduler/stop").status_code == 200
            wait_for(lambda: not running(active) and not running(standby), 30, "both stopped")
            assert api_b.post("/api/scheduler/start").status_code == 200  # both again
            wait_for(lambda: running(active) and running(standby), 30, "both started")
            os.killpg(first.proc.pid, signal.SIGKILL)
            report = the_report(tmp_path / "b")  # the armed standby took over and patrols
            log = second.log() + workers.log()
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED], log
