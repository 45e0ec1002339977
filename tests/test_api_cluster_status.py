"""The API in cluster mode: live tasks from the coordinator's status in Redis, same JSON as today."""
from __future__ import annotations

import time

import pytest

from shared.atomic import write_json_atomic
from shared.cluster_config import ClusterSettings
from shared.status_file import empty_status
from tests.helpers import valid_config

redis_module = pytest.importorskip("redis")
from shared.cluster_status import mirrored, status_key  # noqa: E402
from testkit.cluster import RedisServer, redis_available  # noqa: E402

pytestmark = pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")
TASK = {"task_id": 0, "stream_index": 1, "rtsp_url": "rtsp://u:p@127.0.0.1:8554/cam",
        "output_file": "./output/c/cam.mp4", "duration_seconds": 10, "status": 3,
        "progress": 4.2, "bytes_received": 1000, "frames_received": 100}


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


def test_without_a_status_in_redis_the_file_answers(client, redis, write_status):
    write_status(tasks=[TASK])
    assert client.get("/api/tasks/status").get_json()["count"] == 1
