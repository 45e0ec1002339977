"""The coordinator's batched Redis round trips: every task started in a step is enqueued at once
and every live task read at once, and the batch stores exactly what RQ's own enqueue stores."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

pytest.importorskip("rq")
from redis import Redis  # noqa: E402
from redis.connection import Connection  # noqa: E402
from rq import Queue, Retry  # noqa: E402
from rq.rate_limit import RateLimit  # noqa: E402

from recorder.cluster import link, task_job  # noqa: E402
from recorder.cluster.exchange import (  # noqa: E402
    POLL_SECONDS, STATUS_EVERY_POLLS, RecordMemo)
from recorder.cluster.remote_task import (  # noqa: E402
    VANISHED_GRACE_SECONDS, WORKER_LOST, retire, task_factory)
from recorder.planner import PlannedTask  # noqa: E402
from shared import task_status as st  # noqa: E402
from shared.clip_names import attempt_work_name, work_name  # noqa: E402
from shared.global_settings import GlobalSettings  # noqa: E402
from shared.timefmt import format_local  # noqa: E402
from testkit.cluster import RedisServer, redis_available  # noqa: E402

pytestmark = pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")
WALL = 1_700_000_000.0
GATEWAYS = ["10.0.0.1:554", "10.0.0.1:554", "10.0.0.1:554", "10.0.0.2:554"]


@pytest.fixture
def redis(tmp_path):
    with RedisServer(str(tmp_path)) as server:
        yield server


def remote_tasks(redis, tmp_path, count: int = len(GATEWAYS)) -> list:
    """A cluster cycle's tasks as the coordinator makes them (three on one gateway, capped at 2)."""
    streams = [{"rtsp_url": f"rtsp://{GATEWAYS[i % len(GATEWAYS)]}/cam{i}",
                "duration_seconds": 10, "output_filename": f"cam{i}.mp4"} for i in range(count)]
    global_config = {"total_poll_duration_seconds": 60, "max_concurrent_per_host": 2}
    config = {"global_config": global_config, "streams": streams,
              "cluster": {"redis_url": redis.url, "queue": "patrol"}}
    make = task_factory(config, GlobalSettings.from_config(global_config),
                        str(tmp_path / "c1"), "./output/c1", 0.0)
    tasks = [make(PlannedTask(i + 1, i, 0.0, 10), s, None) for i, s in enumerate(streams)]
    Queue("patrol", connection=tasks[0].context.connection).get_redis_server_version()  # cached
    return tasks


def count_round_trips(monkeypatch) -> list[int]:
    """Every request any Redis client of this process sends from now on (a pipeline is one)."""
    sent = [0]
    send = Connection.send_packed_command

    def counted(self, *args, **named):
        sent[0] += 1
        return send(self, *args, **named)
    monkeypatch.setattr(Connection, "send_packed_command", counted)
    return sent


def step(tasks: list, now: float) -> None:
    for task in tasks:
        task.tick(now, WALL + now)


def test_a_step_enqueues_its_starts_in_one_round_trip_and_reads_every_task_in_one(
        redis, tmp_path, monkeypatch) -> None:
    tasks = remote_tasks(redis, tmp_path)
    sent = count_round_trips(monkeypatch)
    for task in tasks:
        task.start(1.0, WALL + 1.0)
    step(tasks, 1.0)
    assert sent[0] == 2  # was 3 per task to enqueue and 1 per task to read
    assert [task.proc for task in tasks] == [task.job for task in tasks]
    step(tasks, 1.0 + POLL_SECONDS / 2)  # no poll due
    step(tasks, 1.0 + POLL_SECONDS)
    assert sent[0] == 3


def test_the_batch_stores_what_rqs_own_enqueue_stores(redis, tmp_path) -> None:
    """Same jobs, same gateway caps: RQ's Queue.enqueue one by one in database 1, our batch in 0."""
    tasks = remote_tasks(redis, tmp_path)
    specs = [task.job_of(0.0) for task in tasks]
    ours, theirs = (Redis.from_url(redis.url[:-1] + db) for db in "01")
    link.enqueue_many(ours, "patrol", specs)
    for spec, payload in specs:
        Queue("patrol", connection=theirs).enqueue(
            link.RUN_TASK, payload, job_id=spec.job_id, description=f"task {spec.job_id}",
            job_timeout=spec.timeout, ttl=spec.ttl,
            result_ttl=link.FINISHED_TTL_SECONDS, failure_ttl=link.FINISHED_TTL_SECONDS,
            retry=Retry(max=link.RETRIES),
            rate_limit=RateLimit(link.gateway_limit(spec.gateway), 2))
    assert contents(ours) == contents(theirs)
    queued = [job.decode() for job in ours.lrange("rq:queue:patrol", 0, -1)]
    assert queued == [specs[0][0].job_id, specs[1][0].job_id, specs[3][0].job_id]  # cap 2
    # RQ's default description is the call's text: the camera's URL, its password too.
    descriptions = [ours.hget(f"rq:job:{spec.job_id}", "description") for spec, _ in specs]
    assert descriptions == [f"task {spec.job_id}".encode() for spec, _ in specs]
    # RQ keeps a job's result (and its registry entries) minutes, not a day (docs/SCALING.md).
    assert {ours.hget(f"rq:job:{spec.job_id}", "result_ttl") for spec, _ in specs} == {b"600"}


def contents(connection: Redis) -> dict:
    """Every key's type and value, without the times of the moment (scores, created/enqueued at)."""
    found = {}
    for key in sorted(connection.keys("*")):
        kind = connection.type(key).decode()
        value = {"hash": lambda: {f: v for f, v in connection.hgetall(key).items()
                                  if f not in (b"created_at", b"enqueued_at")},
                 "zset": lambda: connection.zrange(key, 0, -1),
                 "list": lambda: connection.lrange(key, 0, -1),
                 "set": lambda: sorted(connection.smembers(key)),
                 "string": lambda: connection.get(key)}[kind]()
        ttl = connection.ttl(key)
        found[key] = (kind, value, round(ttl, -1) if ttl > 0 else ttl)
    return found


def test_an_outcome_in_redis_ends_its_task_at_the_next_poll_and_only_it(redis, tmp_path) -> None:
    tasks = remote_tasks(redis, tmp_path)
    for task in tasks:
        task.start(1.0, WALL + 1.0)
    step(tasks, 1.0)
    outcome = {"status": st.COMPLETED, "output_file": "./output/c1/cam1.mp4", "progress": 10.0}
    connection = tasks[1].context.connection
    connection.hset(link.task_key("patrol", tasks[1].job), "outcome", json.dumps(outcome))
    step(tasks, 1.0 + POLL_SECONDS)
    assert [task.status for task in tasks] == [st.PENDING, st.COMPLETED, st.PENDING, st.PENDING]
    assert tasks[1].clip_kept and tasks[1].as_dict()["output_file"] == "./output/c1/cam1.mp4"


def test_a_reported_cycle_leaves_in_redis_for_minutes_only_what_it_settled(
        redis, tmp_path) -> None:
    tasks = remote_tasks(redis, tmp_path)
    for task in tasks[:3]:  # the fourth never starts
        task.start(1.0, WALL + 1.0)
    step(tasks, 1.0)
    connection = tasks[0].context.connection
    keys = [link.task_key("patrol", task.job) for task in tasks]
    for key in keys[:3]:  # as a worker's attempt leaves it: a day to live
        connection.hset(key, "attempts", 1)
        connection.expire(key, link.OUTCOME_TTL_SECONDS)
    for key in keys[:2]:
        connection.hset(key, "outcome", json.dumps({"status": st.COMPLETED, "progress": 10.0}))
    step(tasks, 1.0 + POLL_SECONDS)
    connection.hset(f"rq:job:{tasks[0].job}", "status", "finished")  # RQ is done with it
    # tasks[1]: its attempt stored the outcome and died before RQ's success: a retry is
    # queued (RQ's status "queued"), and must still find the winner when it runs.
    tasks[2].kill_now(WALL + 2.0)  # a stop: its worker still records it, its outcome comes later
    retire(tasks)
    ttls = [connection.ttl(key) for key in keys]
    assert 0 < ttls[0] <= link.FINISHED_TTL_SECONDS, ttls
    assert min(ttls[1:3]) > link.FINISHED_TTL_SECONDS and ttls[3] == -2, ttls
    connection.delete(f"rq:job:{tasks[1].job}")  # the retry ran; RQ's result expired
    retire(tasks)
    assert 0 < connection.ttl(keys[1]) <= link.FINISHED_TTL_SECONDS


def test_tasks_started_while_redis_is_away_are_enqueued_once_it_is_back(redis, tmp_path) -> None:
    tasks = remote_tasks(redis, tmp_path)
    redis.stop()
    for task in tasks:
        task.start(1.0, WALL + 1.0)
    step(tasks, 1.0)
    assert [task.proc for task in tasks] == [None] * len(tasks)
    redis.start()
    step(tasks, 1.0 + POLL_SECONDS)  # each asks again...
    step(tasks, 1.0 + 2 * POLL_SECONDS)  # ...and the next step enqueues them all
    assert [task.proc for task in tasks] == [task.job for task in tasks]
    assert tasks[0].context.connection.llen("rq:queue:patrol") == 3


def started_with_records(redis, tmp_path) -> list:
    """The tasks enqueued at 1.0 s, each with its worker's live record in Redis."""
    tasks = remote_tasks(redis, tmp_path)
    for task in tasks:
        task.start(1.0, WALL + 1.0)
    step(tasks, 1.0)
    for index, task in enumerate(tasks):
        record = {"status": st.RECORDING, "progress": 1.0,
                  "output_file": f"./output/c1/cam{index}.mp4"}
        task.context.connection.hset(link.task_key("patrol", task.job), "record",
                                     json.dumps(record))
    return tasks


def rq_status_reads(connection: Redis) -> int:
    return connection.info("commandstats").get("cmdstat_hget", {}).get("calls", 0)


def test_rqs_status_of_a_job_its_worker_records_is_read_every_few_polls_only(
        redis, tmp_path) -> None:
    tasks = started_with_records(redis, tmp_path)
    connection = tasks[0].context.connection
    step(tasks, 1.0 + POLL_SECONDS)  # the records seen
    before = rq_status_reads(connection)
    for poll in range(2, STATUS_EVERY_POLLS + 2):
        step(tasks, 1.0 + poll * POLL_SECONDS)
    assert rq_status_reads(connection) - before == len(tasks)  # was one per task and poll
    assert [task.status for task in tasks] == [st.RECORDING] * len(tasks)


def test_a_recorded_job_that_failed_for_good_is_given_up_within_those_polls(
        redis, tmp_path) -> None:
    tasks = started_with_records(redis, tmp_path)
    tasks[0].context.connection.hset(f"rq:job:{tasks[2].job}", "status", "failed")
    for poll in range(1, STATUS_EVERY_POLLS + 1):
        step(tasks, 1.0 + poll * POLL_SECONDS)
    # Not the camera's fault: cancelled (its history and alerts count it neither way), and
    # the clip its worker's last record named is not named, as it was not kept.
    assert (tasks[2].status, tasks[2].error_message) == (st.CANCELLED, WORKER_LOST)
    assert tasks[2].as_dict()["output_file"] is None and tasks[2].as_dict()["end_time"]
    assert [task.status for task in tasks[:2]] == [st.RECORDING] * 2
    assert tasks[0].as_dict()["output_file"] == "./output/c1/cam0.mp4"  # may still come


def test_a_record_lost_with_redis_is_enqueued_again_after_the_grace_not_cancelled(
        redis, tmp_path) -> None:
    tasks = started_with_records(redis, tmp_path)
    step(tasks, 1.0 + POLL_SECONDS)
    redis.restart()  # no persistence: jobs and records gone
    now = 1.0 + 2 * POLL_SECONDS
    while now <= 1.0 + 2 * POLL_SECONDS + VANISHED_GRACE_SECONDS + 2 * POLL_SECONDS:
        step(tasks, now)
        now += POLL_SECONDS
    assert [task.status for task in tasks] == [st.RECORDING] * len(tasks)
    connection = tasks[0].context.connection
    assert connection.llen("rq:queue:patrol") == 3  # enqueued again, cap 2
    # Its attempts go on from the first enqueue's (Redis forgot their count): a worker still
    # recording the first attempt keeps its file, the new attempt records into a file of its
    # own (two ffmpeg writing one file would spoil the clip).
    for task in tasks:
        assert int(connection.hget(link.task_key("patrol", task.job), "attempts")) == 2
        assert 0 < connection.ttl(link.task_key("patrol", task.job)) <= link.OUTCOME_TTL_SECONDS
    _, attempt = task_job._begin(connection, link.task_key("patrol", tasks[0].job))
    assert attempt == 3 and attempt_work_name("cam0.mp4", attempt) != work_name("cam0.mp4")


def test_a_tasks_record_is_rebuilt_only_when_an_input_changed(redis, tmp_path) -> None:
    """The status lists every task each second: a queued or ended one is not rebuilt each time."""
    tasks = started_with_records(redis, tmp_path)
    step(tasks, 1.0 + POLL_SECONDS)  # the records read
    recording = tasks[0].as_dict()
    assert tasks[0].as_dict() is recording and recording["progress"] == 1.0
    key = link.task_key("patrol", tasks[0].job)
    tasks[0].context.connection.hset(key, "record", json.dumps(
        {"status": st.RECORDING, "progress": 2.0}))
    step(tasks, 1.0 + 2 * POLL_SECONDS)
    assert tasks[0].as_dict() is not recording and tasks[0].as_dict()["progress"] == 2.0
    tasks[0].context.connection.hset(key, "outcome", json.dumps(
        {"status": st.COMPLETED, "progress": 10.0, "output_file": "./output/c1/cam0.mp4"}))
    step(tasks, 1.0 + 3 * POLL_SECONDS)
    ended = tasks[0].as_dict()
    assert ended["status"] == st.COMPLETED and ended["output_file"] == "./output/c1/cam0.mp4"
    step(tasks, 1.0 + 4 * POLL_SECONDS)
    assert tasks[0].as_dict() is ended


def test_a_record_read_again_unchanged_is_neither_decoded_nor_rebuilt(
        redis, tmp_path, monkeypatch) -> None:
    """A poll every 0.5 s reads records a worker sends every few seconds: most are unchanged."""
    tasks = started_with_records(redis, tmp_path)
    step(tasks, 1.0 + POLL_SECONDS)
    before = [task.as_dict() for task in tasks]
    decoded = []
    loads = json.loads
    monkeypatch.setattr(json, "loads", lambda raw, **named: decoded.append(raw) or loads(raw))
    for poll in range(2, 6):
        step(tasks, 1.0 + poll * POLL_SECONDS)
    assert decoded == []
    assert all(task.as_dict() is dict_ for task, dict_ in zip(tasks, before))
    key = link.task_key("patrol", tasks[1].job)
    tasks[1].context.connection.hset(key, "record", json.dumps(
        {"status": st.RECORDING, "progress": 3.0}))
    step(tasks, 1.0 + 6 * POLL_SECONDS)
    assert len(decoded) == 1 and tasks[1].as_dict()["progress"] == 3.0
    assert tasks[0].as_dict() is before[0]


def test_the_record_memo_decodes_changed_bytes_and_forgets_jobs_no_longer_followed() -> None:
    memo = RecordMemo()
    first = memo.decode("a", b'{"progress": 1.0}')
    assert memo.decode("a", b'{"progress": 1.0}') is first
    assert memo.decode("a", b'{"progress": 2.0}') == {"progress": 2.0}
    assert memo.decode("a", None) is None and memo.decode("a", b"") is None
    memo.decode("b", b'{"progress": 1.0}')
    kept = memo.decode("c", b'{"progress": 1.0}')
    memo.keep({"c"})
    assert memo.decode("c", b'{"progress": 1.0}') is kept
    assert memo._last.keys() == {"c"}


@pytest.mark.parametrize("worker_end, ended", [
    (WALL + 11.0, WALL + 11.0),  # the worker's, as the report shows it: the import agrees
    (WALL + 11.0 + 8 * 3600, WALL + 12.0),  # later than now (another time zone): when learned
    (WALL - 3600.0, WALL + 12.0),  # before the task started: when learned
    (WALL + 14.0, WALL + 14.0),  # a worker's clock 2 s ahead: still the report's time
    (None, WALL + 12.0),  # no end time in the record
])
def test_a_tasks_end_is_its_workers_when_that_can_be_on_this_clock(
        redis, tmp_path, worker_end, ended) -> None:
    tasks = remote_tasks(redis, tmp_path, 1)
    tasks[0].start(1.0, WALL + 1.0)
    step(tasks, 1.0)
    outcome = {"status": st.COMPLETED, "output_file": "./output/c1/cam0.mp4",
               "end_time": format_local(worker_end)}
    tasks[0].context.connection.hset(link.task_key("patrol", tasks[0].job), "outcome",
                                     json.dumps(outcome))
    step(tasks, 12.0)
    assert tasks[0].status == st.COMPLETED and tasks[0].end_wall == ended


def queued(connection: Redis) -> int:
    return connection.llen("rq:queue:patrol") + connection.llen("rq:queue:other")


def test_two_queues_on_one_redis_share_a_gateways_cap_and_a_different_one_is_logged(
        redis, tmp_path, caplog, monkeypatch) -> None:
    """An estate split among two coordinators (two queues) on one Redis, one gateway: together
    they never pull more than its cap at once; caps that differ are logged once by each."""
    capped = [spec for spec in (task.job_of(0.0) for task in remote_tasks(redis, tmp_path))
              if spec[0].gateway == GATEWAYS[0]]  # three tasks, capped at 2
    connection = Redis.from_url(redis.url)
    written = {"patrol": {}, "other": {}}  # each coordinator's own memory: two processes
    monkeypatch.setattr(link, "_CAPS_APART_LOGGED", set())

    def enqueue(queue: str, batch: int, per_host: int) -> None:
        monkeypatch.setattr(link, "_CAPS_WRITTEN", written[queue])
        link.enqueue_many(connection, queue, [
            (replace(spec, job_id=f"{queue}-{batch}-{n}", per_host=per_host), payload)
            for n, (spec, payload) in enumerate(capped)])
    with caplog.at_level("WARNING", logger="recorder.cluster.link"):
        enqueue("patrol", 0, 2)
        enqueue("other", 0, 2)
        assert caplog.records == []  # the same cap: nothing to say
        assert queued(connection) == 2  # 6 tasks on one gateway capped at 2, in two queues
        enqueue("patrol", 1, 3)  # its own config edited: its own old cap is no news
        assert caplog.records == []
        for batch in (1, 2, 3):  # the other's config now without a cap; in turns
            enqueue("other", batch, link.UNCAPPED)
            enqueue("patrol", batch + 1, 3)
    assert [record.getMessage() for record in caplog.records] == [
        f"gateway {GATEWAYS[0]}: another cluster on this Redis gave it the cap {theirs}, this "
        f"config {ours}; clusters share a gateway's cap, the last to enqueue setting it: give "
        "them the same max_concurrent_per_host" for theirs, ours in (("3", "none"),
                                                                    ("none", "3"))]


def test_a_full_redis_is_named_where_tasks_could_not_be_enqueued(redis, tmp_path, caplog,
                                                                 monkeypatch):
    """Redis full (maxmemory, noeviction): the enqueues are refused until the window ends; the
    tasks say so (not "no free worker"), and the log says it once, not lost/back each second."""
    from recorder.cluster.outage import OUTAGE
    monkeypatch.setattr(OUTAGE, "_refusal", None)  # what another test left: not this one's
    monkeypatch.setattr(OUTAGE, "down", False)
    tasks = remote_tasks(redis, tmp_path)
    Redis.from_url(redis.url).config_set("maxmemory", 1)
    with caplog.at_level("WARNING", logger="recorder.cluster.outage"):
        for task in tasks:
            task.start(1.0, WALL + 1.0)
        now = 1.0
        while now <= 61.0:
            step(tasks, now)
            now += POLL_SECONDS
    assert all(task.status == st.CANCELLED for task in tasks)
    assert tasks[0].error_message.startswith("未调度: 本轮时间窗口已过, 集群的 Redis 未接受任务 (")
    assert "maxmemory" in tasks[0].error_message
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("Redis refused a command ("), lines
