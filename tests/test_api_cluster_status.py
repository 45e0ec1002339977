"""The API in cluster mode: live tasks from the coordinator's status in Redis, same JSON as today."""
from __future__ import annotations

import time

import pytest

from shared import settings
from shared.atomic import write_json_atomic
from shared.control_file import read_control
from shared.cluster_config import ClusterSettings
from shared.status_file import empty_status
from tests.helpers import valid_config

redis_module = pytest.importorskip("redis")
from shared.cluster_control import read_cluster_control  # noqa: E402
from shared.cluster_status import mirrored, status_key  # noqa: E402
from testkit.cluster import RedisServer, redis_available  # noqa: E402

pytestmark = pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")
TASK = {"task_id": 0, "stream_index": 1, "rtsp_url": "rtsp://u:p@127.0.0.1:8554/cam",
        "output_file": "./output/c/cam.mp4", "duration_seconds": 10, "status": 3,
        "progress": 4.2, "bytes_received": 1000, "frames_received": 100}


@pytest.fixture(autouse=True)
def read_redis_each_time(monkeypatch):
    """The API reads the coordinator's status from Redis at every request here (in production
    at most once a second: test_the_coordinators_status_is_read_from_redis_once_a_second)."""
    from app import scheduler
    monkeypatch.setattr(scheduler, "MIRROR_READ_SECONDS", 0.0)
    monkeypatch.setattr(scheduler, "_mirror_read", (float("-inf"), "", None))


@pytest.fixture
def redis(tmp_path, config_path):
    with RedisServer(str(tmp_path)) as server:
        write_json_atomic(str(config_path), {**valid_config(), "cluster": {"redis_url": server.url}})
        yield server


def test_live_tasks_come_from_the_coordinators_status_in_redis(client, redis, write_status):
    write_status(tasks=[])  # this host's own status file: a standby's, no tasks
    status = {**empty_status(), "heartbeat": time.time(), "heartbeat_monotonic": 1.0,
              "scheduler_running": True, "tasks": [TASK]}
    redis_module.Redis.from_url(redis.url).set(status_key(ClusterSettings(redis.url).queue),
                                               mirrored(status))
    answer = client.get("/api/tasks/status").get_json()
    assert answer["recorder_alive"] and answer["count"] == 1
    assert answer["tasks"][0]["status"] == 3 and answer["tasks"][0]["progress"] == 4.2
    assert "u:p@" not in str(answer)  # masked as from the file


def test_the_coordinators_status_is_parsed_once_while_redis_holds_the_same_text(
        client, redis, write_status, monkeypatch):
    parsed = counted(monkeypatch, "cluster_status_from")
    write_status(tasks=[])
    alive_coordinator(redis, tasks=[TASK])
    assert [client.get("/api/tasks/status").get_json()["count"] for _ in range(3)] == [1] * 3
    assert len(parsed) == 1
    alive_coordinator(redis, tasks=[TASK, {**TASK, "task_id": 1}])  # its next publish
    assert client.get("/api/tasks/status").get_json()["count"] == 2 and len(parsed) == 2


def counted(monkeypatch, name: str) -> list:
    """Calls of app.scheduler's ``name`` from now on, one item each."""
    from app import scheduler
    calls: list = []
    original = getattr(scheduler, name)
    monkeypatch.setattr(scheduler, name, lambda arg: calls.append(1) or original(arg))
    return calls


def test_without_a_status_in_redis_the_file_answers(client, redis, write_status):
    write_status(tasks=[TASK])
    assert client.get("/api/tasks/status").get_json()["count"] == 1


def alive_coordinator(redis, **fields) -> None:
    """The coordinator's status in Redis, alive (another host's, as the API sees it)."""
    status = {**empty_status(), "heartbeat": time.time(), "heartbeat_monotonic": 1.0,
              "scheduler_running": True, "start_generation": 4, **fields}
    redis_module.Redis.from_url(redis.url).set(status_key(ClusterSettings(redis.url).queue),
                                               mirrored(status))


def test_start_and_stop_in_cluster_mode_are_the_whole_clusters(client, redis, config_path):
    # Any host's API: the desired state every recorder of the cluster follows (a standby on a
    # fresh state folder is armed by it; a stop stops the standbys too), not this host's file.
    alive_coordinator(redis)
    connection = redis_module.Redis.from_url(redis.url)
    assert client.post("/api/scheduler/start").status_code == 200
    desired = read_cluster_control(connection, "patrol")
    assert desired["scheduler_running"] and desired["version"] >= time.time() * 1000 - 60_000
    assert desired["start_generation"] >= time.time() * 1000 - 60_000  # a start's time, in ms
    assert client.get("/api/scheduler/status").get_json()["desired_running"] is True
    assert client.post("/api/scheduler/start").status_code == 409  # not picked up yet: pending
    assert client.post("/api/scheduler/stop").status_code == 200
    assert read_cluster_control(connection, "patrol")["scheduler_running"] is False
    assert client.get("/api/scheduler/status").get_json()["desired_running"] is False
    assert read_control(settings.control_path(str(config_path)))["start_generation"] == 0


def test_start_in_cluster_mode_with_redis_away_is_503_and_changes_nothing(
        client, redis, config_path, write_status):
    write_status(scheduler_running=False)  # this host's recorder, alive (its status file)
    redis.stop()
    try:
        answer = client.post("/api/scheduler/start")
    finally:
        redis.start()
    assert answer.status_code == 503, answer.get_json()
    assert answer.get_json()["message"] == "集群的 Redis 不可达, 请稍后再试"
    assert read_control(settings.control_path(str(config_path)))["scheduler_running"] is False


def test_a_clip_or_cycle_the_clusters_workers_write_is_protected_on_every_host(
        client, redis, write_status, make_cycle):
    # This host's recorder is a standby (its own status has no cycle); the coordinator, on
    # another host, records cycle c into the shared folder through its workers.
    make_cycle("20251010_163000", {"cam.mp4": b"x", "done.mp4": b"y"})
    write_status(tasks=[])
    writing = {**TASK, "output_file": "./output/20251010_163000/cam.mp4"}
    alive_coordinator(redis, cycle={"dir": "20251010_163000", "running": True},
                      tasks=[writing, {**TASK, "task_id": 1, "status": 4,
                                       "output_file": "./output/20251010_163000/done.mp4"}])
    path = "./output/20251010_163000/cam.mp4"
    assert client.delete("/api/video", query_string={"path": path}).status_code == 409
    assert client.delete("/api/timestamp/20251010_163000").status_code == 409
    assert client.get("/api/clips/20251010_163000/cam.mp4").status_code == 409
    assert client.get("/api/clips/20251010_163000/done.mp4").status_code == 200
    alive_coordinator(redis, cycle={"dir": "20251010_163000", "running": False},
                      tasks=[{**writing, "status": 4}])  # the cycle ended: free again
    assert client.delete("/api/video", query_string={"path": path}).status_code == 200


def test_the_coordinators_status_is_read_from_redis_once_a_second(
        client, redis, write_status, monkeypatch):
    from app import scheduler
    reads = counted(monkeypatch, "read_cluster_status_text")
    monkeypatch.setattr(scheduler, "MIRROR_READ_SECONDS", 1.0)
    now = [500.0]
    monkeypatch.setattr(scheduler, "SYSTEM_CLOCK", type("Clock", (), {
        "monotonic": lambda self: now[0], "wall": lambda self: time.time()})())
    write_status(tasks=[])
    alive_coordinator(redis, tasks=[TASK])
    assert [client.get("/api/tasks/status").get_json()["count"] for _ in range(3)] == [1] * 3
    assert len(reads) == 1  # a video player's range requests: one read, not one each
    alive_coordinator(redis, tasks=[TASK, {**TASK, "task_id": 1}])
    now[0] += 1.0
    assert client.get("/api/tasks/status").get_json()["count"] == 2 and len(reads) == 2


def test_a_hand_edit_breaking_only_the_output_rule_keeps_the_api_in_cluster_mode(
        client, redis, write_status, config_path):
    from recorder.config_watch import ConfigWatch
    ConfigWatch(str(config_path)).poll()  # the recorder's copy in force
    config = {**valid_config(), "cluster": {"redis_url": redis.url}}
    config["global_config"]["output_directory"] = "/"
    write_json_atomic(str(config_path), config)
    write_status(tasks=[])  # this host's own status file: a standby's
    status = {**empty_status(), "heartbeat": time.time(), "heartbeat_monotonic": 1.0,
              "scheduler_running": True, "tasks": [TASK]}
    redis_module.Redis.from_url(redis.url).set(status_key(ClusterSettings(redis.url).queue),
                                               mirrored(status))
    answer = client.get("/api/tasks/status").get_json()
    assert answer["count"] == 1  # the coordinator's, from Redis, not this host's file


def test_a_clip_that_has_just_ended_is_not_refused_from_the_status_read_a_second_ago(
        client, redis, write_status, make_cycle, monkeypatch):
    # The status read from Redis is kept for a second: a clip it still showed as being
    # recorded was refused (409) though the coordinator's status said it had ended.
    from app import scheduler
    monkeypatch.setattr(scheduler, "MIRROR_READ_SECONDS", 1.0)
    monkeypatch.setattr(scheduler, "SYSTEM_CLOCK", type("Clock", (), {  # time stands still
        "monotonic": lambda self: 500.0, "wall": lambda self: time.time()})())
    make_cycle("20251010_163000", {"cam.mp4": b"x", "cam2.mp4": b"y"})
    write_status(tasks=[])
    writing = [{**TASK, "task_id": i, "output_file": f"./output/20251010_163000/{name}"}
               for i, name in enumerate(("cam.mp4", "cam2.mp4"))]
    cycle = {"dir": "20251010_163000", "running": True}
    alive_coordinator(redis, cycle=cycle, tasks=writing)
    assert client.get("/api/clips/20251010_163000/cam.mp4").status_code == 409
    alive_coordinator(redis, cycle=cycle, tasks=[{**task, "status": 4} for task in writing])
    assert client.get("/api/clips/20251010_163000/cam.mp4").status_code == 200
    path = "./output/20251010_163000/cam2.mp4"
    assert client.delete("/api/video", query_string={"path": path}).status_code == 200
    assert client.delete("/api/timestamp/20251010_163000").status_code == 409  # it runs
    alive_coordinator(redis, cycle={**cycle, "running": False}, tasks=[])  # it has ended
    assert client.delete("/api/timestamp/20251010_163000").status_code == 200
