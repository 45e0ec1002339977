"""A worker that records several tasks at once with one loop (``--jobs-per-worker``,
recorder/cluster/batch_worker.py), on real cameras, a real Redis and real worker pools: the jobs
run side by side in one process; a host killed mid-clip has each of them retried once; a warm
shutdown lets each finish; a job past its RQ timeout is ended by the loop and retried."""
from __future__ import annotations

import os
import threading
from types import SimpleNamespace

import pytest

from shared import task_status as st
from testkit.cluster import RedisServer, WorkerPoolProcess, redis_available
from testkit.procfs import live_processes
from testkit.recorder_process import RecorderProcess, ffmpeg_pids, ffprobe, wait_for
from tests.test_cluster import cluster_config, the_report
from tests.test_cluster_faults import QUICK, leftovers, started, streams_on

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")]
pytest.importorskip("rq")
from redis import Redis  # noqa: E402 - only with the [cluster] extra
from rq import Queue, Retry, Worker  # noqa: E402
from rq.job import Job  # noqa: E402

from recorder.cluster import link  # noqa: E402
from recorder.cluster.link import gateway_slots_key, job_id, task_key  # noqa: E402


def parents_of(pids: list[int]) -> list[int]:
    parents = {pid: int(fields[1]) for pid, fields in live_processes()}
    return [parents[pid] for pid in pids if pid in parents]


class SideBySide:
    """Keeps the most ffmpeg processes (of ``marker``) seen at once under one parent."""

    def __init__(self, marker: str) -> None:
        self.marker, self.most = marker, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            parents = parents_of(ffmpeg_pids(self.marker))
            self.most = max([self.most, *(parents.count(p) for p in set(parents))])

    def __enter__(self) -> SideBySide:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def registered(pool: WorkerPoolProcess, redis_url: str, config: str) -> str:
    """``config``, once ``pool``'s workers wait for jobs."""
    from rq import Worker
    connection = Redis.from_url(redis_url)
    wait_for(lambda: Worker.count(connection=connection) >= len(workers_of(pool)) > 0, 60,
             "the pool's workers")
    return config


def workers_of(pool: WorkerPoolProcess) -> list[int]:
    return [pid for pid, fields in live_processes() if int(fields[1]) == pool.proc.pid]


def attempts_of(connection: Redis, report: dict, index: int) -> int:
    job = job_id("patrol", os.path.basename(report["_dir"]), index)
    return int(connection.hget(task_key("patrol", job), "attempts"))


def test_one_worker_records_its_slots_tasks_side_by_side(tmp_path, camera_server):
    config = str(tmp_path / "config.json")
    with RedisServer(str(tmp_path)) as redis:
        # a short window: the planner spreads the three starts by ~2 s, not 5 (all three overlap)
        cluster_config(config, redis.url, streams_on(camera_server, 3, 8),
                       max_concurrent_per_host=3, total_poll_duration_seconds=15)
        with WorkerPoolProcess(config, slots=3, jobs_per_worker=3) as pool, \
                SideBySide(str(tmp_path)) as seen, \
                RecorderProcess(registered(pool, redis.url, started(config))) as recorder:
            report = the_report(tmp_path)
            log = recorder.log() + pool.log()
            workers = workers_of(pool)
    assert_every_clip(report, 3, 8, log)
    assert len(workers) == 1, workers  # three slots, one process
    assert seen.most == 3, log  # its three recordings at once


def assert_every_clip(report: dict, count: int, seconds: int, log: str) -> None:
    """Each of ``count`` tasks 已完成, its clip playable and as long as asked; no work file left."""
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED] * count, log
    for i in range(count):
        assert abs(float(ffprobe(os.path.join(report["_dir"], f"cam{i}.mp4"))["format"]["duration"])
                   - seconds) <= 1.0
    assert leftovers(report["_dir"]) == []


def test_a_batch_worker_killed_mid_clip_has_each_of_its_jobs_retried_once(tmp_path, camera_server):
    config = str(tmp_path / "config.json")
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(config, redis.url, streams_on(camera_server, 2, 8),
                       max_concurrent_per_host=2, total_poll_duration_seconds=12)
        # the pool first: a short window (two starts ~2 s apart) must not end before it is up
        with WorkerPoolProcess(config, slots=2, jobs_per_worker=2, **QUICK) as first, \
                RecorderProcess(registered(first, redis.url, started(config))) as recorder:
            for name in ("cam0", "cam1"):
                work = wait_for(lambda name=name: next(iter(
                    tmp_path.glob(f"output/*/.{name}.mp4.part")), None), 60, "the first attempts")
                wait_for(lambda work=work: work.stat().st_size > 0, 20, "media in both")
            assert len(set(parents_of(ffmpeg_pids(str(tmp_path))))) == 1  # one worker records both
            with WorkerPoolProcess(config, slots=2, jobs_per_worker=2, **QUICK) as second:
                first.kill_host()
                report = the_report(tmp_path)
                log = recorder.log() + second.log()
        connection = Redis.from_url(redis.url)
        attempts = [attempts_of(connection, report, i) for i in range(2)]
        held = connection.zcard(gateway_slots_key(connection,
                                                  f"127.0.0.1:{camera_server.port}"))
    assert_every_clip(report, 2, 8, log)
    assert attempts == [2, 2]
    assert held == 0


def test_sigterm_lets_every_running_job_of_a_batch_worker_finish(tmp_path, camera_server):
    config = str(tmp_path / "config.json")
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(config, redis.url, streams_on(camera_server, 2, 5),
                       max_concurrent_per_host=2, total_poll_duration_seconds=10)
        pool = WorkerPoolProcess(config, slots=2, jobs_per_worker=2, **QUICK).start()
        with RecorderProcess(registered(pool, redis.url, started(config))) as recorder:
            try:
                wait_for(lambda: len(ffmpeg_pids(str(tmp_path))) == 2, 60, "both recordings")
                pool.stop(timeout=30)  # SIGTERM to the group: the warm shutdown
            finally:
                pool.stop()
            report = the_report(tmp_path)
            log = recorder.log() + pool.log()
        connection = Redis.from_url(redis.url)
        attempts = [attempts_of(connection, report, i) for i in range(2)]
    assert pool.proc.returncode == 0, log
    assert "warm shutdown: 2 jobs still recording" in log  # it came while both recorded
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED] * 2, log
    assert attempts == [1, 1]  # finished by the worker told to stop, not retried elsewhere
    assert "cold shut down" not in log


def task_spec(cycle, camera_server, number: int, seconds: int) -> dict:
    return {"planned": [number, number, 0.0, seconds], "queue": "patrol", "cycle_dir": str(cycle),
            "display_dir": "./output/cycle", "global_config": {}, "source": None,
            "stream": {"rtsp_url": camera_server.url(f"cam{number + 1}"),
                       "output_filename": f"cam{number}.mp4"}}


def test_a_job_past_its_timeout_is_ended_by_the_loop_and_retried_once(tmp_path, camera_server):
    from rq.registry import StartedJobRegistry
    config = str(tmp_path / "config.json")
    cycle = tmp_path / "output" / "cycle"
    cycle.mkdir(parents=True)
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(config, redis.url, [])
        connection = Redis.from_url(redis.url)
        queue = Queue("patrol", connection=connection)
        with WorkerPoolProcess(config, slots=2, jobs_per_worker=2, **QUICK) as pool, \
                SideBySide(str(tmp_path)) as seen:
            registered(pool, redis.url, config)
            worker = workers_of(pool)
            # one that ends well beside one that runs past its timeout, twice (its retry)
            short = queue.enqueue(link.RUN_TASK, task_spec(cycle, camera_server, 0, 2),
                                  job_id="patrol-short", job_timeout=60, retry=Retry(max=1))
            timed = queue.enqueue(link.RUN_TASK, task_spec(cycle, camera_server, 1, 8),
                                  job_id="patrol-timed", job_timeout=4, retry=Retry(max=1))
            wait_for(lambda: Job.fetch(timed.id, connection=connection).get_status() == "failed",
                     60, "the job failed twice")
            wait_for(lambda: not ffmpeg_pids(str(tmp_path)), 10, "no ffmpeg left")
            wait_for(lambda: [w.get_state() for w in Worker.all(connection=connection)] == ["idle"], 10,
                     "the worker idle in Redis")
            log = pool.log()
            after = workers_of(pool)
        attempts = int(connection.hget(task_key("patrol", timed.id), "attempts"))
        outcome = connection.hget(task_key("patrol", timed.id), "outcome")
        started_jobs = StartedJobRegistry("patrol", connection=connection).get_job_ids()
        short_status = Job.fetch(short.id, connection=connection).get_status()
    assert short_status == "finished", log
    assert attempts == 2, log
    assert outcome is None
    assert log.count("job ran past its timeout of 4 s: ended by the worker's loop") == 2, log
    assert seen.most == 2  # the two jobs side by side in the one worker
    assert after == worker and "is dead" not in log, log  # the loop ended the jobs, not a kill
    assert started_jobs == []
    # the clip that ended well and its thumbnail; nothing of the timed-out job's two attempts
    assert sorted(os.listdir(cycle)) == [".cam0.mp4.jpg", "cam0.mp4"]


def test_a_cold_shutdown_fails_each_running_job_for_its_retry_at_once(tmp_path, camera_server):
    import signal
    config = str(tmp_path / "config.json")
    with RedisServer(str(tmp_path)) as redis:
        cluster_config(config, redis.url, streams_on(camera_server, 2, 8),
                       max_concurrent_per_host=2, total_poll_duration_seconds=40)
        # production timers: a job left to its heartbeat's TTL would wait 90 s for its retry
        with WorkerPoolProcess(config, slots=2, jobs_per_worker=2) as pool, \
                RecorderProcess(registered(pool, redis.url, started(config))) as recorder:
            wait_for(lambda: len(ffmpeg_pids(str(tmp_path))) == 2, 60, "both recordings")
            worker = workers_of(pool)[0]
            os.kill(worker, signal.SIGTERM)  # warm
            wait_for(lambda: "warm shutdown: 2 jobs still recording" in pool.log(), 10,
                     "the warm shutdown")
            wait_for(lambda: _second_signal(worker, pool), 10, "the cold shutdown")
            report = the_report(tmp_path)
            log = recorder.log() + pool.log()
        connection = Redis.from_url(redis.url)
        attempts = [attempts_of(connection, report, i) for i in range(2)]
    assert "cold shut down" in log
    # each failed by the worker as it left (RQ's line for a job's exception), so retried at once
    assert log.count("exception raised while executing") == 2, log
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED] * 2, log
    assert attempts == [2, 2]
    assert leftovers(report["_dir"]) == []


def _second_signal(worker: int, pool: WorkerPoolProcess) -> bool:
    """SIGTERM again (RQ ignores a second one within a second of the first): a cold shutdown."""
    import signal
    try:
        os.kill(worker, signal.SIGTERM)
    except ProcessLookupError:
        return True
    return "cold shut down" in pool.log()


@pytest.fixture
def batch(tmp_path):
    """A batch worker of 2 jobs on a real Redis, not working: its loop's parts are driven."""
    from recorder.cluster.worker_classes import WorkerTimers, worker_class
    with RedisServer(str(tmp_path)) as redis:
        connection = Redis.from_url(redis.url)
        cls = worker_class("inline", WorkerTimers(1, 1, 2), jobs=2)
        yield cls([Queue("patrol", connection=connection)], connection=connection)


class _Attempt:
    """A running job's attempt, as far as the loop's waits and ends look at it."""

    def __init__(self, abandon_fails: bool = False) -> None:
        self.reads, self.closed, self.abandoned = 0, False, False
        self._abandon_fails = abandon_fails
        self.recording = SimpleNamespace(finished=False, watcher=SimpleNamespace(wait=self._read))

    def _read(self, timeout: float) -> bool:
        self.reads += 1
        return False

    def abandon(self) -> None:
        self.abandoned = True
        if self._abandon_fails:
            raise OSError("no such process")

    def close(self) -> None:
        self.closed = True


def running(name: str, deadline: float, **attempt) -> object:
    from recorder.cluster.batch_worker import _Running
    return _Running(SimpleNamespace(id=f"job-{name}", timeout=5), None,
                    SimpleNamespace(id=name), SimpleNamespace(stop=lambda: None), deadline,
                    _Attempt(**attempt))


def test_a_jobs_wait_for_redis_reads_the_others_pipes_and_ends_at_its_timeout(batch):
    from rq.timeouts import JobTimeoutException

    from shared.clock import SYSTEM_CLOCK
    now = SYSTEM_CLOCK.monotonic()
    late, other = running("late", now - 1), running("other", now + 600)
    batch._running = {"late": late, "other": other}
    batch._stepping = other
    batch._read_pipes(0.0)  # a wait between two tries of a claim: every open pipe read
    assert other.attempt.reads == 1 and late.attempt.reads == 1
    batch._stepping = late  # the job waiting on Redis is past its RQ timeout: it ends there
    with pytest.raises(JobTimeoutException, match="ended by the worker's loop, waiting for Redis"):
        batch._read_pipes(60.0)


def test_leaving_with_jobs_recording_fails_each_but_lets_a_job_already_ending_go(batch,
                                                                                monkeypatch):
    failed = []
    monkeypatch.setattr(batch, "_finalize_failure",
                        lambda job, queue, execution, exc_info: failed.append(job.id))
    ending, stuck, plain = running("ending", 0.0), running("stuck", 0.0, abandon_fails=True), \
        running("plain", 0.0)
    ending.ending = True  # its success may be stored: not failed again
    batch._running = {"ending": ending, "stuck": stuck, "plain": plain}
    batch.teardown()
    assert failed == ["job-stuck", "job-plain"]  # one whose ffmpeg could not be stopped too
    assert not ending.attempt.abandoned and ending.attempt.closed
    assert all(r.attempt.closed for r in (stuck, plain)) and plain.attempt.abandoned
    assert batch._running == {}


def test_a_failure_that_cannot_be_stored_leaves_the_loop_and_the_others_going(batch,
                                                                             monkeypatch):
    def unstorable(*positional) -> None:
        raise ValueError("a broken exception handler")
    monkeypatch.setattr(batch, "_finalize_failure", unstorable)
    broken, other = running("broken", 0.0), running("other", 0.0)
    batch._running = {"broken": broken, "other": other}
    batch._fail(broken, (None, None, None))  # logged, not raised into RQ's loop
    assert list(batch._running) == ["other"]


def test_with_jobs_recording_every_redis_call_gives_up_soon(batch):
    from recorder.cluster.batch_worker import QUICK_TIMEOUT_SECONDS
    rq_own = batch.connection  # nothing records: RQ's client, for its blocking wait for a job
    assert rq_own.connection_pool.connection_kwargs["socket_timeout"] > QUICK_TIMEOUT_SECONDS
    batch._running = {"execution": object()}
    quick = batch.connection
    assert quick is not rq_own
    assert quick.connection_pool.connection_kwargs["socket_timeout"] == QUICK_TIMEOUT_SECONDS
    assert quick.connection_pool.connection_kwargs["port"] == \
        rq_own.connection_pool.connection_kwargs["port"]  # the same Redis
    batch._running = {}
    assert batch.connection is rq_own


def test_a_warm_shutdown_with_jobs_recording_waits_for_them_in_any_state(batch):
    from rq.exceptions import StopRequested
    from rq.utils import now
    from rq.worker import WorkerStatus

    batch._running = {"execution": object()}
    batch._state = WorkerStatus.IDLE  # e.g. a job RQ's way just ended beside the others
    batch._shutdown_requested_date = now()  # as RQ's request_stop, before _shutdown
    batch._shutdown()  # no StopRequested: that would leave the loop with jobs recording
    assert batch._draining and not batch._stop_requested
    batch._running = {}
    assert batch.dequeue_job_and_maintain_ttl(1) is None  # all ended: leave, take none
    idle = type(batch)(batch.queues, connection=batch.connection)
    with pytest.raises(StopRequested):
        idle._shutdown()


def test_a_hosts_slots_are_shared_among_its_cores_unless_told() -> None:
    from recorder.worker import jobs_per_worker, parse_args

    def jobs(*options: str, cores: int = 2) -> int:
        return jobs_per_worker(parse_args(["--config", "c.json", *options]), cores=cores)

    assert jobs("--slots", "128") == 64  # a process a core
    assert jobs("--slots", "3") == 2 and jobs("--slots", "2") == 1
    assert jobs("--slots", "16", cores=4) == 4
    assert jobs("--slots", "16", "--jobs-per-worker", "1") == 1  # as before: a process a slot
    assert jobs("--slots", "4", "--jobs-per-worker", "9") == 4
    assert jobs("--slots", "16", "--worker", "forking") == 1
    for wrong in (["--jobs-per-worker", "2", "--worker", "forking"], ["--jobs-per-worker", "0"],
                  ["--slots", "0"]):
        with pytest.raises(SystemExit):
            parse_args(["--config", "c.json", *wrong])


def test_the_pool_shares_the_slots_and_a_respawn_gets_the_dead_workers_share(monkeypatch):
    from types import SimpleNamespace

    from rq.worker_pool import WorkerPool

    from recorder.cluster.pool import PromptWorkerPool

    shares: list[int] = []

    def start_worker(pool, *positional, **named) -> None:  # no fork: what the child would read
        shares.append(pool.worker_class.jobs)
        name = f"w{len(shares)}"
        pool.worker_dict[name] = SimpleNamespace(name=name)

    monkeypatch.setattr(WorkerPool, "start_worker", start_worker)

    class Batch:
        jobs = 3

    pool = PromptWorkerPool(["patrol"], connection=Redis(), num_workers=3, worker_class=Batch,
                            slots=8)
    for _ in range(3):
        pool.start_worker()
    assert shares == [3, 3, 2] and Batch.jobs == 3
    del pool.worker_dict["w2"]  # a worker of 3 died
    pool.start_worker()
    assert shares[-1] == 3  # never more than the 8 slots at once
    with pytest.raises(ValueError):
        PromptWorkerPool(["patrol"], connection=Redis(), num_workers=3,
                         worker_class=Batch).start_worker()
