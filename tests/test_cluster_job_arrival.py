"""A batch worker's wait for its next job beside its recordings (recorder/cluster/job_arrival.py),
on a real Redis: a job enqueued is taken when it comes, with no look for one in between; a wait
ended (a warm shutdown, the last job done, the worker leaving) takes or puts back a job it had
moved; a Redis that restarts costs the wait, not the worker."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from testkit.cluster import RedisServer, redis_available

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")]
pytest.importorskip("rq")
from redis import Redis  # noqa: E402 - only with the [cluster] extra
from rq import Queue  # noqa: E402

from shared.clock import SYSTEM_CLOCK  # noqa: E402
from testkit.recorder_process import wait_for  # noqa: E402
from tests.test_cluster_batch_worker import running  # noqa: E402

QUEUE = "patrol"


@pytest.fixture
def redis(tmp_path):
    with RedisServer(str(tmp_path)) as server:
        yield server


def recording_worker(connection: Redis):
    """A batch worker of 2 jobs recording one (a stand-in, no ffmpeg): one slot free."""
    from recorder.cluster.worker_classes import WorkerTimers, worker_class
    cls = worker_class("inline", WorkerTimers(1, 1, 2), jobs=2)
    made = cls([Queue(QUEUE, connection=connection)], connection=connection)
    one = running("one", SYSTEM_CLOCK.monotonic() + 600)
    one.attempt.exit_watch = SimpleNamespace(descriptor=None)
    one.due = one.deadline  # no step of it while a test runs
    made._running = {"one": one}
    return made


@pytest.fixture
def worker(redis):
    made = recording_worker(Redis.from_url(redis.url))
    yield made
    if made._arrival is not None:
        made._arrival.drop()


def blocked(connection: Redis) -> list[str]:
    """The commands clients of ``connection``'s Redis are blocked in."""
    return [c["cmd"] for c in connection.client_list() if "b" in c["flags"]]


def calls(connection: Redis, command: str) -> int:
    return connection.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)


def enqueue(connection: Redis) -> str:
    return Queue(QUEUE, connection=connection).enqueue("os.getpid").id


def intermediate(connection: Redis) -> list[bytes]:
    return connection.lrange(f"rq:queue:{QUEUE}:intermediate", 0, -1)


def test_a_job_enqueued_while_the_worker_records_is_taken_when_it_comes(worker, redis):
    connection = Redis.from_url(redis.url)
    worker._arm(SYSTEM_CLOCK.monotonic())
    for _ in range(3):  # a free slot, no job: the worker waits without asking again
        assert worker._wait_for_exits(0.2) is False
        worker._arm(SYSTEM_CLOCK.monotonic())
    assert calls(connection, "blmove") == 1
    assert calls(connection, "lmove") == calls(connection, "lpop") == 0
    sent = enqueue(connection)
    assert worker._wait_for_exits(30.0) is True  # woken by the job, long before 30 s
    job, queue = worker._arrived()
    assert job.id == sent and queue.name == QUEUE
    assert intermediate(connection) == [sent.encode()]  # RQ's way: until its start removes it
    assert not worker._arrival.armed


def test_a_job_moved_as_the_wait_ends_is_put_back_first_in_line_or_taken(worker, redis):
    connection = Redis.from_url(redis.url)
    worker._arm(SYSTEM_CLOCK.monotonic())
    first, second = enqueue(connection), enqueue(connection)
    worker._draining = True  # a warm shutdown: the job the wait had moved goes back
    assert worker._settle_arrival(take=False) is None
    assert connection.lrange(f"rq:queue:{QUEUE}", 0, -1) == [first.encode(), second.encode()]
    assert intermediate(connection) == []
    worker._draining = False  # its last job done: what the wait had moved is run here
    worker._arm(SYSTEM_CLOCK.monotonic())
    SYSTEM_CLOCK.sleep(0.2)  # (moved by Redis, its answer unread)
    job, _ = worker._settle_arrival(take=True)
    assert job.id == first and intermediate(connection) == [first.encode()]
    worker._arm(SYSTEM_CLOCK.monotonic())
    job, _ = worker._settle_arrival(take=True)
    assert job.id == second
    worker._arm(SYSTEM_CLOCK.monotonic())  # nothing left: the wait ends with nothing, even
    assert worker._settle_arrival(take=True) is None  # when its end overtakes its BLMOVE
    assert not worker._arrival.armed and worker._backoff.open()  # (no wait for a timeout)
    wait_for(lambda: blocked(connection) == [], 10, "no client left blocked")
    third = enqueue(connection)  # taking a job unseen
    assert connection.lrange(f"rq:queue:{QUEUE}", 0, -1) == [third.encode()]


def test_a_job_that_comes_as_a_warm_shutdown_begins_is_left_to_another_worker(worker, redis):
    connection = Redis.from_url(redis.url)
    worker._arm(SYSTEM_CLOCK.monotonic())
    worker._draining = True  # SIGTERM during the wait
    sent = enqueue(connection)
    assert worker._wait_for_exits(30.0) is True
    assert worker._arrived() is None
    assert connection.lrange(f"rq:queue:{QUEUE}", 0, -1) == [sent.encode()]
    assert intermediate(connection) == []
    worker._arrival.put_back(connection, sent)  # once only: it is no longer the worker's
    assert connection.lrange(f"rq:queue:{QUEUE}", 0, -1) == [sent.encode()]


def test_a_redis_restart_costs_the_wait_not_the_worker(worker, redis):
    connection = Redis.from_url(redis.url)
    worker._arm(SYSTEM_CLOCK.monotonic())
    redis.restart()
    assert worker._wait_for_exits(30.0) is True  # the connection closed
    assert worker._arrived() is None  # logged
    assert not worker._backoff.open()  # no new wait for REDIS_BACKOFF_SECONDS
    worker._backoff._until = float("-inf")
    worker._arm(SYSTEM_CLOCK.monotonic())
    sent = enqueue(connection)
    assert worker._wait_for_exits(30.0) is True
    assert worker._arrived()[0].id == sent


def test_a_wait_with_no_answer_in_time_is_given_up_for_a_new_one(worker, redis):
    from recorder.cluster.job_arrival import ARRIVAL_MARGIN_SECONDS, ARRIVAL_WAIT_SECONDS
    connection = Redis.from_url(redis.url)
    at = SYSTEM_CLOCK.monotonic()
    worker._arm(at)
    worker._arm(at + ARRIVAL_WAIT_SECONDS + ARRIVAL_MARGIN_SECONDS)  # a Redis gone silent
    assert worker._arrival.armed
    assert calls(connection, "client|id") == 2  # its connection dropped, a new one waits
    wait_for(lambda: blocked(connection) == ["blmove"], 10, "one wait, the new one")


@pytest.mark.filterwarnings("ignore:CLIENT SETNAME command not supported")  # RQ's own
@pytest.mark.parametrize("denied", ["client", "client|unblock"])
def test_a_redis_user_denied_the_client_commands_looks_for_jobs_instead(redis, denied):
    admin = Redis.from_url(redis.url)
    admin.acl_setuser("patrol", enabled=True, nopass=True, keys=["*"], channels=["*"],
                      categories=["+@all"], commands=[f"-{denied}"])
    worker = recording_worker(Redis.from_url(redis.url.replace("redis://", "redis://patrol:x@")))
    worker._arm(SYSTEM_CLOCK.monotonic())
    if denied == "client|unblock":  # found when the first wait has to end
        assert worker._arrival.armed
        assert worker._settle_arrival(take=True) is None
    assert worker._arrival is None  # logged; no wait left blocked
    wait_for(lambda: blocked(admin) == [], 10, "no client left blocked")
    sent = enqueue(admin)
    assert worker._record_until_a_job_comes()[0].id == sent  # the looks of before
