"""The worker kinds (recorder/cluster/worker_classes.py): a job that runs longer than its heartbeat
TTL is not taken for abandoned; a worker killed mid-job has its job retried once, soon."""
from __future__ import annotations

import gc
import os
import threading

import pytest

from testkit.cluster import RedisServer, WorkerPoolProcess, redis_available
from testkit.recorder_process import ffmpeg_pids, wait_for
from tests.test_cluster import cluster_config

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")]
pytest.importorskip("rq")
from redis import Redis  # noqa: E402 - only with the [cluster] extra
from rq import Queue, Retry  # noqa: E402

from recorder.cluster import task_job  # noqa: E402
from recorder.cluster.job_heartbeat import JobHeartbeat  # noqa: E402
from tests.test_cluster_attempts import _Redis  # noqa: E402

# Heartbeat TTL 1 + 2 = 3 s, maintenance every second: a job without beats is abandoned at 3 s.
QUICK = {"maintenance_seconds": 1, "heartbeat_seconds": 1, "grace_seconds": 2}
JOB_SECONDS = 8  # well past the TTL


def enqueue(redis_url: str, seconds: float) -> tuple[Redis, str]:
    connection = Redis.from_url(redis_url)
    job = Queue("patrol", connection=connection).enqueue(
        "testkit.cluster.counted_sleep", seconds, job_id="slow", job_timeout=60, retry=Retry(max=1))
    return connection, job.id


def attempts(connection: Redis, job: str) -> int:
    return int(connection.get(f"test:attempts:{job}") or 0)


def finished(connection: Redis, job: str) -> bool:
    from rq.job import Job
    return Job.fetch(job, connection=connection).get_status() == "finished"


@pytest.mark.parametrize("kind", ["inline", "forking"])
def test_a_job_longer_than_its_heartbeat_ttl_is_not_abandoned(tmp_path, kind):
    config = str(tmp_path / "config.json")
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(config, redis.url, [])
        # two slots: the idle one runs the maintenance that would retry an abandoned job
        with WorkerPoolProcess(config, slots=2, worker=kind, **QUICK) as pool:
            connection, job = enqueue(redis.url, JOB_SECONDS)
            wait_for(lambda: finished(connection, job), 60, "the job's end")
            log = pool.log()
        assert attempts(connection, job) == 1, log
        assert "AbandonedJobError" not in log and "abandoned" not in log.lower(), log
        # No RQ scheduler (a process polling Redis each second): none of our jobs needs one.
        assert connection.keys("rq:scheduler*") == [] and "Scheduler" not in log, log


@pytest.mark.parametrize("kind", ["inline", "forking"])
def test_a_worker_killed_mid_job_has_its_job_retried_once(tmp_path, kind):
    config = str(tmp_path / "config.json")
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(config, redis.url, [])
        with WorkerPoolProcess(config, slots=1, worker=kind, **QUICK) as first:
            connection, job = enqueue(redis.url, JOB_SECONDS)
            wait_for(lambda: attempts(connection, job) == 1, 30, "the first attempt")
            with WorkerPoolProcess(config, slots=1, worker=kind, **QUICK) as second:
                first.kill_host()
                # RQ's SimpleWorker without beats would wait out the job timeout + 60 s
                wait_for(lambda: finished(connection, job), 3 * JOB_SECONDS, "the retry's end")
                log = second.log()
        assert attempts(connection, job) == 2, log


@pytest.mark.parametrize("kind", ["inline", "forking"])
def test_sigterm_lets_the_running_job_finish_then_the_pool_ends(tmp_path, kind):
    config = str(tmp_path / "config.json")
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(config, redis.url, [])
        pool = WorkerPoolProcess(config, slots=1, worker=kind, **QUICK).start()
        connection, job = enqueue(redis.url, 4)
        wait_for(lambda: attempts(connection, job) == 1, 30, "the job's start")
        pool.stop(timeout=30)  # SIGTERM to the group: RQ's warm shutdown
        assert pool.proc.returncode == 0, pool.log()
        assert finished(connection, job), pool.log()
        assert attempts(connection, job) == 1


def test_the_heartbeat_beats_until_stopped_and_never_after():
    beats, stopped = [], threading.Event()
    beat = JobHeartbeat(lambda: beats.append(stopped.is_set()), 0.01, None, lambda: None).start()
    wait_for(lambda: len(beats) >= 3, 10, "three beats", interval=0.01)
    beat.stop()
    stopped.set()
    count = len(beats)
    beat._thread.join(10)
    assert not beat._thread.is_alive()
    assert len(beats) == count and not any(beats)


def test_a_job_stuck_past_its_limit_gives_the_worker_up():
    gave_up = threading.Event()
    beat = JobHeartbeat(lambda: None, 0.01, 0.05, gave_up.set).start()
    assert gave_up.wait(10)
    beat._thread.join(10)
    assert not beat._thread.is_alive()


def in_a_job(monkeypatch) -> None:
    """run_task as an inline worker runs it, with a fake Redis (the one attempt wins)."""
    from types import SimpleNamespace
    monkeypatch.setattr(task_job, "get_current_job",
                        lambda: SimpleNamespace(connection=_Redis(), id="job-1"))


def spec_of(folder, camera_server, number: int, duration: int) -> dict:
    return {"planned": [number, 0, 0.0, duration], "queue": "patrol", "cycle_dir": str(folder),
            "display_dir": "./output/c", "global_config": {}, "source": None,
            "stream": {"rtsp_url": camera_server.url("cam1"),
                       "output_filename": f"cam{number}.mp4"}}


def test_jobs_one_after_another_leave_no_descriptor_behind(tmp_path, camera_server, monkeypatch):
    in_a_job(monkeypatch)
    gc.disable()  # a descriptor left in a reference cycle would otherwise go at a random time
    try:
        task_job.run_task(spec_of(tmp_path, camera_server, 1, 1))
        before = len(os.listdir("/proc/self/fd"))
        task_job.run_task(spec_of(tmp_path, camera_server, 2, 1))
        assert len(os.listdir("/proc/self/fd")) == before
    finally:
        gc.enable()


def test_a_job_ended_mid_clip_takes_its_ffmpeg_and_work_file_with_it(
        tmp_path, camera_server, monkeypatch):
    # An inline worker outlives its job (RQ's timeout, a cold shutdown): its ffmpeg must not.
    from rq.timeouts import JobTimeoutException
    in_a_job(monkeypatch)

    def timed_out(recording, publish, exit_watch) -> None:
        wait_for(lambda: os.path.exists(recording.work_path)
                 and os.path.getsize(recording.work_path) > 0, 30, "media in the work file")
        raise JobTimeoutException("the job's timeout")
    monkeypatch.setattr(task_job, "_follow", timed_out)
    with pytest.raises(JobTimeoutException):
        task_job.run_task(spec_of(tmp_path, camera_server, 1, 30))
    assert ffmpeg_pids(str(tmp_path)) == []
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind", ["inline", "forking"])
def test_a_workers_heartbeat_is_one_round_trip_and_stores_what_rqs_does(tmp_path, kind):
    from rq.worker import Worker

    from recorder.cluster.worker_classes import WorkerTimers, worker_class
    with RedisServer(str(tmp_path)) as redis:
        connection = Redis.from_url(redis.url)
        ours = worker_class(kind, WorkerTimers(30, 30, 60))([Queue("patrol", connection=connection)],
                                                            connection=connection, name="ours")
        rqs = Worker([Queue("patrol", connection=connection)], connection=connection, name="rqs",
                     worker_ttl=ours.worker_ttl)
        for worker in (ours, rqs):
            worker.register_birth()
            connection.sadd(worker.executions_key, "x")  # a key the heartbeat extends too
        sent = []
        original = connection.execute_command
        connection.execute_command = lambda *args, **named: (sent.append(args[0]),
                                                             original(*args, **named))[1]
        ours.heartbeat()
        assert sent == []  # nothing one command at a time: one pipeline
        connection.execute_command = original
        rqs.heartbeat()
        for worker in (ours, rqs):
            assert connection.hget(worker.key, "last_heartbeat")
            assert connection.ttl(worker.key) == worker.worker_ttl + 60
            assert connection.ttl(worker.executions_key) == worker.worker_ttl + 60


def test_the_pool_finds_a_dead_worker_without_waiting_on_the_live_ones(monkeypatch):
    import multiprocessing
    import time

    from rq.worker_pool import WorkerData

    from recorder.cluster.pool import PromptWorkerPool
    fork = multiprocessing.get_context("fork")
    live, dead = fork.Process(target=time.sleep, args=(60,)), fork.Process(target=time.sleep,
                                                                           args=(0,))
    live.start()
    dead.start()
    wait_for(lambda: not os.path.exists(f"/proc/{dead.pid}/status")
             or "Z (zombie)" in open(f"/proc/{dead.pid}/status").read(), 10, "the short one's end")
    pool = PromptWorkerPool(["patrol"], connection=Redis(), num_workers=2)
    pool.worker_dict = {"live": WorkerData("live", live.pid, live),
                        "dead": WorkerData("dead", dead.pid, dead)}
    try:
        with monkeypatch.context() as patch:  # RQ's own check waits 0.1 s on each live worker
            patch.setattr(type(live), "join", lambda self, timeout=None: pytest.fail("waited"))
            pool.reap_workers()
        assert list(pool.worker_dict) == ["live"]
        assert not os.path.exists(f"/proc/{dead.pid}")  # reaped: no zombie left
    finally:
        live.kill()
        live.join(10)


def test_the_pool_sleeps_until_a_worker_exits_not_a_second(monkeypatch):
    """An idle pool is woken by a worker's exit (or after IDLE_CHECK_SECONDS), not each second."""
    import multiprocessing
    import select
    import time

    from rq.worker_pool import WorkerData

    from recorder.cluster import pool as pool_module
    from recorder.cluster.pool import PromptWorkerPool
    fork = multiprocessing.get_context("fork")
    live, ending = (fork.Process(target=time.sleep, args=(60,)),
                    fork.Process(target=time.sleep, args=(0.3,)))
    live.start()
    ending.start()
    pool = PromptWorkerPool(["patrol"], connection=Redis(), num_workers=2)
    pool.worker_dict = {"live": WorkerData("live", live.pid, live),
                        "ending": WorkerData("ending", ending.pid, ending)}
    waits = []
    poll = select.poll

    class Recorded:  # select.poll(), each wait recorded: (descriptors watched, seconds)
        def __init__(self) -> None:
            self.exits, self.watched = poll(), 0

        def register(self, descriptor, events) -> None:
            self.watched += 1
            self.exits.register(descriptor, events)

        def poll(self, milliseconds):
            waits.append((self.watched, milliseconds / 1000))
            return self.exits.poll(milliseconds)
    monkeypatch.setattr(pool_module.select, "poll", Recorded)
    try:
        pool.check_workers(respawn=False)  # returns when "ending" exits, not after 60 s
        assert waits == [(2, pool_module.IDLE_CHECK_SECONDS)]
        killer = threading.Timer(0.2, live.kill)
        killer.start()
        pool.check_workers(respawn=False)  # "ending" reaped; waits on "live" alone, to its end
        killer.join()
        assert list(pool.worker_dict) == ["live"] and waits[1] == (1, 60.0)
    finally:
        live.kill()
        live.join(10)
    pool.status = pool.Status.STOPPED  # stopping: RQ's own pace, no wait
    pool.check_workers(respawn=False)
    assert len(waits) == 2


class _RoundTrips:
    """Counts the requests a process sends Redis (a pipeline is one, as it is on the wire)."""

    def __init__(self, monkeypatch) -> None:
        import redis.connection
        self.count = 0
        send = redis.connection.AbstractConnection.send_packed_command

        def counted(connection, command, check_health=True):
            self.count += 1
            return send(connection, command, check_health)
        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)


def test_an_inline_worker_leaves_what_rqs_simple_worker_does_in_fewer_round_trips(
        tmp_path, monkeypatch):
    from rq.job import Job
    from rq.rate_limit import RateLimitRegistry
    from rq.registry import FinishedJobRegistry, StartedJobRegistry
    from rq.worker import SimpleWorker

    from recorder.cluster import link
    from recorder.cluster.worker_classes import WorkerTimers, worker_class
    trips = _RoundTrips(monkeypatch)
    with RedisServer(str(tmp_path)) as redis:
        connection = Redis.from_url(redis.url)
        queue = Queue("patrol", connection=connection)
        ours = worker_class("inline", WorkerTimers(30, 30, 60))([queue], connection=connection,
                                                                name="ours")
        rqs = SimpleWorker([queue], connection=connection, name="rqs")
        sent = {}
        for worker in (ours, rqs):  # each in burst mode: birth, the job, death
            # a task behind its gateway's cap, as the coordinator enqueues it; a short sleep
            spec = link.JobSpec(f"job-{worker.name}", "127.0.0.1:554", 1, 60, 600)
            link.enqueue(connection, "patrol", spec, 0.05, function="testkit.cluster.counted_sleep")
            before = trips.count
            assert worker.work(burst=True, max_jobs=1)
            sent[worker.name] = trips.count - before

        def left(worker) -> dict:
            job = Job.fetch(f"job-{worker.name}", connection=connection)
            result = job.latest_result()
            fields = connection.hgetall(worker.key)
            return {"status": job.get_status(), "result": (result.type, result.return_value),
                    "job fields": sorted(connection.hkeys(job.key)),
                    "started": job.id in StartedJobRegistry(queue=queue),
                    "finished": job.id in FinishedJobRegistry(queue=queue),
                    "slot held": job.id in connection.zrange(
                        RateLimitRegistry(job.rate_limit_key, connection).allowed_key, 0, -1),
                    "executions": connection.scard(worker.executions_key),
                    "worker": (fields[b"state"], fields[b"successful_job_count"],
                               b"total_working_time" in fields)}
        assert left(ours) == left(rqs)
        assert left(ours)["status"] == "finished" and not left(ours)["slot held"]
        assert sent["ours"] <= sent["rqs"] - 7, sent


def test_an_inline_worker_sends_a_tasks_first_commands_with_the_jobs_start(tmp_path,
                                                                           monkeypatch):
    """A retry of a task another attempt has ended learns it, and its attempt number, from the
    job's start transaction: no round trip of its own, no recording."""
    from rq.job import Job

    from recorder.cluster import link
    from recorder.cluster.worker_classes import WorkerTimers, worker_class

    def no_round_trip_of_its_own(connection, key):
        raise AssertionError("run_task sent its own first round trip")
    monkeypatch.setattr(task_job, "_begin", no_round_trip_of_its_own)
    with RedisServer(str(tmp_path)) as redis:
        connection = Redis.from_url(redis.url)
        queue = Queue("patrol", connection=connection)
        spec = link.JobSpec("patrol-c1-0", "127.0.0.1:554", 1, 60, 600)
        link.enqueue(connection, "patrol", spec, {"queue": "patrol"})
        key = link.task_key("patrol", spec.job_id)
        connection.hset(key, mapping={"winner": 1, "attempts": 1})  # attempt 1 ended it
        worker = worker_class("inline", WorkerTimers(30, 30, 60))([queue], connection=connection)
        assert worker.work(burst=True, max_jobs=1)
        job = Job.fetch(spec.job_id, connection=connection)
        assert (job.get_status(), job.return_value()) == ("finished", -1)
        assert connection.hget(key, "attempts") == b"2"


def spoil_the_cap(_) -> int:
    """A test job: counts its attempt, then makes its gateway's cap unreadable to the release's
    script (its success transaction then gets an error from that script alone)."""
    from rq import get_current_job
    from rq.rate_limit import RateLimitRegistry
    job = get_current_job()
    job.connection.incr(f"test:attempts:{job.id}")
    job.connection.hset(RateLimitRegistry(job.rate_limit_key, job.connection).config_key,
                        "concurrency", "x")
    return 1


def test_a_slot_release_that_fails_leaves_the_jobs_success_standing(tmp_path, caplog):
    """As RQ's own release after the success: logged, the job neither failed nor retried."""
    from rq.job import Job

    from recorder.cluster import link
    from recorder.cluster.worker_classes import WorkerTimers, worker_class
    with RedisServer(str(tmp_path)) as redis:
        connection = Redis.from_url(redis.url)
        queue = Queue("patrol", connection=connection)
        link.enqueue(connection, "patrol", link.JobSpec("a", "127.0.0.1:554", 1, 60, 600), None,
                     function="tests.test_cluster_worker.spoil_the_cap")
        worker = worker_class("inline", WorkerTimers(30, 30, 60))([queue], connection=connection)
        assert worker.work(burst=True)
        assert Job.fetch("a", connection=connection).get_status() == "finished"
        assert attempts(connection, "a") == 1 and connection.llen(queue.key) == 0
        fields = connection.hgetall(worker.key)
        assert (fields[b"successful_job_count"], fields.get(b"failed_job_count")) == (b"1", None)
        assert "failed to release rate limit slot of job a" in caplog.text


def test_a_job_that_cannot_be_decoded_fails_and_the_worker_goes_on(tmp_path):
    from rq.job import Job

    from recorder.cluster import link
    from recorder.cluster.worker_classes import WorkerTimers, worker_class
    with RedisServer(str(tmp_path)) as redis:
        connection = Redis.from_url(redis.url)
        queue = Queue("patrol", connection=connection)
        for name, gateway in (("broken", "127.0.0.1:554"), ("sound", "127.0.0.2:554")):
            link.enqueue(connection, "patrol", link.JobSpec(name, gateway, 1, 60, 600), 0.01,
                         function="testkit.cluster.counted_sleep")
        connection.hset(Job.key_for("broken"), "data", b"not a pickle")
        worker = worker_class("inline", WorkerTimers(30, 30, 60))([queue], connection=connection)
        assert worker.work(burst=True)
        assert Job.fetch("sound", connection=connection).get_status() == "finished"
        assert connection.hget(Job.key_for("broken"), "status") in (b"failed", b"queued")
        assert attempts(connection, "sound") == 1


def test_a_lone_heartbeat_right_after_one_as_long_is_not_sent(tmp_path, monkeypatch):
    from recorder.cluster import worker_classes
    from recorder.cluster.worker_classes import WorkerTimers, worker_class
    clock = [1000.0]
    monkeypatch.setattr(worker_classes.SYSTEM_CLOCK, "monotonic", lambda: clock[0])
    trips = _RoundTrips(monkeypatch)
    with RedisServer(str(tmp_path)) as redis:
        connection = Redis.from_url(redis.url)
        worker = worker_class("inline", WorkerTimers(30, 30, 60))(
            [Queue("patrol", connection=connection)], connection=connection)

        def beats(**named) -> int:
            before = trips.count
            worker.heartbeat(**named)
            return trips.count - before
        assert beats() == 1
        clock[0] += 0.5
        assert beats() == 0  # the same TTL, half a second later
        assert beats(timeout=3600) == 1  # a longer one is sent
        clock[0] += 0.5
        assert beats() == 0
        clock[0] += worker_classes.BEAT_REPEAT_SECONDS
        assert beats() == 1  # a second after the last one sent
        with connection.pipeline() as pipeline:  # one in a pipeline is always queued
            worker.heartbeat(pipeline=pipeline)
            assert len(pipeline) == 3


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_sigterm_while_a_finished_job_is_recorded_is_a_warm_shutdown(tmp_path, monkeypatch,
                                                                       when):
    """The job counts once, the gateway's next job waits for the next worker, the worker stops."""
    import signal

    from rq.job import Job

    from redis.client import Pipeline

    from recorder.cluster import link
    from recorder.cluster.worker_classes import WorkerTimers, worker_class
    release, execute = link.release_slot, Pipeline.execute

    def release_marked(pipe, job):  # the success's transaction, which frees the slot
        pipe.frees_a_slot = True
        release(pipe, job)

    def execute_with_a_sigterm(pipe, *args, **named):
        success = getattr(pipe, "frees_a_slot", False)
        if success and when == "before":
            os.kill(os.getpid(), signal.SIGTERM)
        answers = execute(pipe, *args, **named)
        if success and when == "after":
            os.kill(os.getpid(), signal.SIGTERM)
        return answers
    monkeypatch.setattr(link, "release_slot", release_marked)
    monkeypatch.setattr(Pipeline, "execute", execute_with_a_sigterm)
    with RedisServer(str(tmp_path)) as redis:
        connection = Redis.from_url(redis.url)
        queue = Queue("patrol", connection=connection)
        for name in ("a", "b"):  # one gateway, capped at 1: b waits for a's slot
            link.enqueue(connection, "patrol", link.JobSpec(name, "127.0.0.1:554", 1, 60, 600),
                         0.05, function="testkit.cluster.counted_sleep")
        worker = worker_class("inline", WorkerTimers(30, 30, 60))([queue], connection=connection)
        try:
            worker.work(burst=True)
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        assert (attempts(connection, "a"), attempts(connection, "b")) == (1, 0)
        assert Job.fetch("a", connection=connection).get_status() == "finished"
        assert Job.fetch("b", connection=connection).get_status() == "queued"
        assert connection.hget(worker.key, "state") == b"idle" or connection.hexists(
            worker.key, "death")


def test_a_pool_starts_no_worker_until_redis_takes_writes_and_says_why_once(tmp_path):
    """Redis away at the pool's start: one plain line, no worker forked (RQ's pool forked one a
    second, each dying with its traceback); once Redis is there, the workers start."""
    config = str(tmp_path / "config.json")
    redis = RedisServer(str(tmp_path))  # not started: nothing listens on its port yet
    cluster_config(config, redis.url, [])
    with WorkerPoolProcess(config, slots=2, **QUICK) as pool:
        wait_for(lambda: "does not take the workers' writes" in pool.log(), 20, "the pool's line")
        assert pool.descendants() == [], pool.log()
        with redis:
            connection = Redis.from_url(redis.url)
            wait_for(lambda: connection.scard("rq:workers:patrol") == 2, 30, "two workers")
            log = pool.log()
    assert log.count("does not take the workers' writes") == 1, log
    assert "Redis takes writes again" in log and "Traceback" not in log, log


def test_the_gate_says_why_once_an_outage_and_once_its_end(tmp_path, caplog):
    from recorder.cluster.pool import RedisGate
    redis = RedisServer(str(tmp_path))
    gate = RedisGate(Redis.from_url(redis.url, socket_connect_timeout=2), "patrol")
    with caplog.at_level("WARNING", logger="recorder.cluster.pool"):
        assert not gate.open() and not gate.open() and not gate.open()
        with redis:
            assert gate.open() and gate.open()
            # Full (maxmemory, noeviction): a PING passes, a worker's writes do not.
            full = Redis.from_url(redis.url)
            full.config_set("maxmemory", 1)
            assert not gate.open()
            full.config_set("maxmemory", 0)
            assert gate.open()
    lines = [record.getMessage() for record in caplog.records]
    assert [line.split(" (")[0] for line in lines] == [
        "Redis does not take the workers' writes", "Redis takes writes again: starting the "
        "worker processes", "Redis does not take the workers' writes",
        "Redis takes writes again: starting the worker processes"], lines
    assert "maxmemory" in lines[2]


def test_a_pool_respawns_a_dead_worker_only_when_redis_takes_writes(monkeypatch):
    from rq.worker_pool import WorkerPool

    from recorder.cluster import pool as pool_module
    from recorder.cluster.pool import PromptWorkerPool
    started, pauses = [], []
    monkeypatch.setattr(WorkerPool, "start_worker",
                        lambda pool, *a, **k: started.append(k) or pool.worker_dict.update(
                            {f"w{len(started)}": None}))
    monkeypatch.setattr(WorkerPool, "start", lambda pool, burst, logging_level: None)
    monkeypatch.setattr(PromptWorkerPool, "reap_workers", lambda pool: None)
    monkeypatch.setattr(PromptWorkerPool, "_pause", lambda pool, seconds: pauses.append(seconds))
    monkeypatch.setattr(PromptWorkerPool, "await_an_exit", lambda pool, seconds: None)
    pool = PromptWorkerPool(["patrol"], connection=Redis(), num_workers=2)
    pool.start(logging_level="WARNING")  # RQ's loop left out: the level is what is kept
    answers = iter([False, False, True])
    monkeypatch.setattr(pool.gate, "open", lambda: next(answers))
    pool.start_workers()  # refused: none started
    pool.check_workers()  # refused again: a pause, none started
    assert started == [] and pauses == [pool_module.GATE_RETRY_SECONDS]
    pool.check_workers()
    # Started later, with the level the pool was started with (RQ's default is INFO).
    assert [named["logging_level"] for named in started] == ["WARNING", "WARNING"]


class _ClosingListener:
    """Listens on a port in Redis's stead and closes every connection at once, counting them:
    how many times a worker tried to reach Redis while it was away."""

    def __init__(self, port: int) -> None:
        import socket
        self.tries = 0
        self._server = socket.create_server(("127.0.0.1", port), reuse_port=False)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:  # closed
                return
            connection.close()
            self.tries += 1

    def close(self) -> None:
        import socket
        self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join(5)


@pytest.mark.parametrize("kind", ["inline", "forking"])
def test_redis_away_is_logged_by_a_worker_once_lost_and_once_back(tmp_path, kind):
    # RQ's worker logged an ERROR at each try (could not connect to Redis instance ...
    # retrying in 1, 2, 4 ... 60 seconds), and another every 2 s from its pubsub thread; the
    # coordinator says one WARNING when lost and one when back.
    config = str(tmp_path / "config.json")
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(config, redis.url, [])
        # Maintenance every 30 s: Redis is lost while the worker waits for a job, not while it
        # runs RQ's loop between two waits (where RQ lets no outage go, and the worker quits).
        with WorkerPoolProcess(config, slots=1, worker=kind, maintenance_seconds=30) as pool:
            connection = Redis.from_url(redis.url)
            wait_for(lambda: connection.scard("rq:workers:patrol") == 1, 30, "the worker")
            wait_for(lambda: "cleaning registries" in pool.log(), 30, "its first maintenance")
            redis.stop()
            away = _ClosingListener(redis.port)
            try:
                wait_for(lambda: away.tries >= 8, 60, "the worker's tries to reach Redis")
            finally:
                away.close()
            redis.start()
            wait_for(lambda: "Redis connection back" in pool.log(), 30, "the line of its return")
            connection, job = enqueue(redis.url, 0)  # taken again (a Redis restarted empty)
            wait_for(lambda: attempts(connection, job) == 1, 30, "a job taken after the return")
            log = pool.log()
    assert (log.count("Redis connection lost ("), log.count("Redis connection back")) == (1, 1), log
    assert " ERROR " not in log and "could not connect" not in log, log
