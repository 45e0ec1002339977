"""Cluster mode's desired state: the API sets it in Redis, each recorder takes every newer
version into its own control.json (which it follows as in single-box mode); Redis forgetting
the key, or the config losing its cluster section, changes no recorder's state."""
from __future__ import annotations

import time

import pytest

pytest.importorskip("rq")
from redis import Redis  # noqa: E402

from recorder.cluster.desired_sync import sync_desired  # noqa: E402
from recorder.cluster.lead import Lead  # noqa: E402
from shared.cluster_control import (change_cluster_control, control_key,  # noqa: E402
                                    read_cluster_control)
from shared.control_file import (read_control, request_start, start_change,  # noqa: E402
                                 stop_change)
from shared.status_file import empty_status  # noqa: E402
from testkit.cluster import RedisServer, redis_available  # noqa: E402

pytestmark = pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")
QUEUE = "patrol"


@pytest.fixture
def connection(tmp_path):
    with RedisServer(str(tmp_path)) as server:
        yield Redis.from_url(server.url)


def desired(path: str) -> tuple:
    control = read_control(path)
    return control["scheduler_running"], control["start_generation"], control["cluster_version"]


def test_each_newer_version_is_taken_once_and_changes_are_numbered_by_their_time(
        connection, tmp_path) -> None:
    a, b = str(tmp_path / "a.json"), str(tmp_path / "b.json")  # two recorders' control files
    request_start(a, empty_status())  # a, started by hand before any cluster start: 1
    for path in (a, b):
        sync_desired(connection, QUEUE, path)  # none in Redis: each its own
    assert desired(a) == (True, 1, 0) and desired(b) == (False, 0, 0)
    now_ms = int(time.time() * 1000)
    started = change_cluster_control(connection, QUEUE, start_change({"start_generation": 1}))
    assert started["start_generation"] >= now_ms and started["version"] >= now_ms
    for path in (a, b):
        sync_desired(connection, QUEUE, path)
    assert desired(a) == desired(b) == (True, started["start_generation"], started["version"])
    stopped = change_cluster_control(connection, QUEUE, stop_change)
    assert stopped["version"] > started["version"]
    for path in (a, b):
        sync_desired(connection, QUEUE, path)
        sync_desired(connection, QUEUE, path)  # taken once
    assert desired(a) == desired(b) == (False, started["start_generation"], stopped["version"])


def test_redis_forgetting_the_key_changes_no_recorder_and_a_later_change_is_newer(
        connection, tmp_path) -> None:
    a = str(tmp_path / "a.json")
    started = change_cluster_control(connection, QUEUE, start_change(empty_status()))
    sync_desired(connection, QUEUE, a)
    connection.delete(control_key(QUEUE))  # a Redis restart without persistence
    sync_desired(connection, QUEUE, a)
    assert desired(a) == (True, started["start_generation"], started["version"])  # as it was
    stopped = change_cluster_control(connection, QUEUE, stop_change)  # counts from nothing
    sync_desired(connection, QUEUE, a)
    assert desired(a)[0] is False and stopped["version"] > started["version"]


def test_a_coordinator_that_ran_every_cycle_of_the_clusters_start_stops_the_cluster(
        tmp_path) -> None:
    # So no armed standby runs poll_cycles again once the coordinator stops extending its lock.
    with RedisServer(str(tmp_path)) as server:
        connection = Redis.from_url(server.url)
        config = {"global_config": {}, "streams": [],
                  "cluster": {"redis_url": server.url, "queue": QUEUE}}
        lead = Lead()
        lead.finished(config, 5)
        assert read_cluster_control(connection, QUEUE) is None  # none set: none made
        started = change_cluster_control(connection, QUEUE, start_change(empty_status()))
        lead.finished(config, 5)  # another start's end: not this one
        assert read_cluster_control(connection, QUEUE) == started
        lead.finished(config, started["start_generation"])
        assert read_cluster_control(connection, QUEUE)["scheduler_running"] is False


@pytest.mark.parametrize("damaged", [b"{", b'{"scheduler_running":"yes"}', b"[1]",
                                     b'{"scheduler_running":true,"start_generation":-1,'
                                     b'"version":9}'])
def test_a_damaged_key_is_no_desired_state_and_the_next_change_replaces_it(
        connection, tmp_path, damaged) -> None:
    a = str(tmp_path / "a.json")
    request_start(a, empty_status())
    connection.set(control_key(QUEUE), damaged)
    sync_desired(connection, QUEUE, a)
    assert desired(a) == (True, 1, 0)  # followed as before
    stopped = change_cluster_control(connection, QUEUE, stop_change)
    assert read_cluster_control(connection, QUEUE) == stopped
    sync_desired(connection, QUEUE, a)
    assert desired(a)[0] is False
