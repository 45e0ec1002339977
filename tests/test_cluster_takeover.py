"""A coordinator taking over reports its dead predecessor's cycle: each task with the outcome its
worker stored, its job cancelled if still queued, read in batches (never one round trip a task)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("rq")
from redis import Redis  # noqa: E402
from rq import Queue  # noqa: E402
from rq.job import Job, JobStatus  # noqa: E402

from recorder.cluster import link, takeover  # noqa: E402
from shared import task_record  # noqa: E402
from shared import task_status as st  # noqa: E402
from testkit.cluster import RedisServer, redis_available  # noqa: E402
from tests.test_cluster_exchange import count_round_trips  # noqa: E402

pytestmark = pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")
QUEUE, CYCLE = "patrol", "20261130_120000"


def task(index: int, status: int = st.RECORDING) -> dict:
    return task_record.build(
        task_id=index, stream_index=index, rtsp_url=f"rtsp://127.0.0.1:1/cam{index}",
        output_file=None, duration_seconds=10, status=status, start_wall=None, end_wall=None,
        progress=0.0, bytes_received=0, frames_received=0, error_message="")


def test_a_takeover_reads_the_tasks_in_batches_takes_outcomes_and_cancels_the_queued(
        tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(link, "BATCH", 2)
    with RedisServer(str(tmp_path)) as redis:
        connection = Redis.from_url(redis.url)
        tasks = [task(0, st.COMPLETED), task(1), task(2), task(3), task(4)]
        ended = dict(task(1, st.COMPLETED), output_file="./output/x/cam1.mp4")
        connection.hset(link.task_key(QUEUE, link.job_id(QUEUE, CYCLE, 1)), "outcome",
                        json.dumps(ended))
        Queue(QUEUE, connection=connection).enqueue(  # no worker took it yet
            "os.getpid", job_id=link.job_id(QUEUE, CYCLE, 2))
        # task 3: a worker records it (RQ "started"), task 4: never enqueued
        started = Queue(QUEUE, connection=connection).enqueue(
            "os.getpid", job_id=link.job_id(QUEUE, CYCLE, 3))
        started.set_status(JobStatus.STARTED)
        sent, cancelled, cancel = count_round_trips(monkeypatch), [], link.cancel_queued

        def counted_cancel(redis_client, job: str) -> bool:
            before = sent[0]
            try:
                return cancel(redis_client, job)
            finally:
                cancelled.append(job)
                sent[0] = before  # RQ's fetch and cancel of it: counted apart
        monkeypatch.setattr(link, "cancel_queued", counted_cancel)
        settled, recording = takeover.settle(connection, QUEUE, CYCLE, tasks)
        reads = sent[0]
        statuses = {index: Job.fetch(link.job_id(QUEUE, CYCLE, index), connection=connection)
                    .get_status() for index in (2, 3)}
    assert reads == 2  # 4 open tasks, read 2 a round trip: never one round trip a task
    assert cancelled == [link.job_id(QUEUE, CYCLE, 2)]  # only the job no worker took
    assert [t["status"] for t in settled] == [st.COMPLETED, st.COMPLETED, st.RECORDING,
                                              st.RECORDING, st.RECORDING]
    assert recording == {3: link.job_id(QUEUE, CYCLE, 3)}  # its clip may still land
    assert settled[1]["output_file"] == "./output/x/cam1.mp4"
    assert settled[1]["task_id"] == 1 and settled[1]["rtsp_url"] == tasks[1]["rtsp_url"]
    assert statuses == {2: JobStatus.CANCELED, 3: JobStatus.STARTED}
