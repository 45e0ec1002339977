"""Cluster mode end to end: a private Redis, the recorder as coordinator, two worker pools as two
hosts, two camera servers as two gateways (all on 127.0.0.1)."""
from __future__ import annotations

import glob
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading

import pytest

from shared import settings
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.control_file import request_start
from shared.history_schema import history_path
from shared.status_file import empty_status
from testkit.cameras import CameraServer
from testkit.cluster import RedisServer, WorkerPoolProcess, redis_available
from testkit.recorder_process import RecorderProcess, ffmpeg_pids, ffprobe, wait_for
from testkit.servers import REPO_ROOT

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")]
pytest.importorskip("rq")
from redis import Redis  # noqa: E402

from recorder.cluster import link  # noqa: E402

PASSWORD = "S3cretPw9"


def cluster_config(path: str, redis_url: str, streams: list[dict], **overrides) -> None:
    global_config = {"total_poll_duration_seconds": 60, "max_concurrent_streams": 8,
                     "max_concurrent_per_host": 1, "connection_timeout_seconds": 5,
                     "read_timeout_seconds": 5, "poll_cycles": 1, "cycle_interval_seconds": 0,
                     "min_free_space_mb": 0, **overrides}
    write_json_atomic(path, {"global_config": global_config, "streams": streams,
                             "cluster": {"redis_url": redis_url, "queue": "patrol"}})


def the_report(folder) -> dict:
    path = wait_for(lambda: next(iter(glob.glob(str(folder / "output/*/rtsp_report.json"))), None),
                    120, "the cycle's report")
    return json.loads(open(path, encoding="utf-8").read()) | {"_dir": os.path.dirname(path)}


class GatewaySampler:
    """Counts, often, the ffmpeg processes pulling from each gateway; keeps the most seen."""

    def __init__(self, ports: list[int]) -> None:
        self.most = {port: 0 for port in ports}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for port in self.most:
                self.most[port] = max(self.most[port], len(ffmpeg_pids(f"127.0.0.1:{port}/")))

    def __enter__(self) -> GatewaySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.parametrize("jobs", [1, 2], ids=["a-process-a-slot", "batch-workers"])
def test_two_hosts_two_gateways_keep_the_cap_and_record_every_camera(tmp_path, camera_server,
                                                                     jobs):
    config = str(tmp_path / "config.json")
    with CameraServer() as second, RedisServer(str(tmp_path)) as redis:
        servers = [camera_server, second]
        # With a password (the test cameras ask for none, so ffmpeg never sends it).
        streams = [{"rtsp_url": servers[i % 2].url(f"cam{i // 2 + 1}").replace(
                        "rtsp://", f"rtsp://admin:{PASSWORD}@"), "duration_seconds": 3,
                    "output_filename": f"cam{i}.mp4"} for i in range(8)]
        cluster_config(config, redis.url, streams)
        request_start(settings.control_path(config), empty_status())
        with WorkerPoolProcess(config, slots=2, jobs_per_worker=jobs) as one, \
                WorkerPoolProcess(config, slots=2, jobs_per_worker=jobs) as two, \
                GatewaySampler([s.port for s in servers]) as sampler, \
                RecorderProcess(config) as recorder:
            report = the_report(tmp_path)
            # Reported: what the jobs left in Redis goes within minutes, not a day.
            wait_for(lambda: retired(Redis.from_url(redis.url), 8), 30, "the jobs' keys retired")
            log = recorder.log()
            workers_log = one.log() + two.log()
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED] * 8, log
    # RQ logs each job's description (its argument's text) unless told not to.
    assert "patrol-" in workers_log, workers_log  # the jobs were logged, by their ids
    # (RQ cuts a description at 75 characters: even the password's start must not show.)
    assert f"admin:{PASSWORD[:3]}" not in log + workers_log
    assert all(count == 1 for count in sampler.most.values()), sampler.most
    for i in range(8):
        duration = float(ffprobe(os.path.join(report["_dir"], f"cam{i}.mp4"))["format"]["duration"])
        assert abs(duration - 3) <= 1.0
    assert "enqueued as job patrol-" in log


def retired(connection: Redis, jobs: int) -> bool:
    """Every one of ``jobs`` jobs' task hash, RQ hash and RQ result lives
    link.FINISHED_TTL_SECONDS at most."""
    keys = [key for pattern in (f"{link.PREFIX}:patrol:task:*", "rq:job:*", "rq:results:*")
            for key in connection.keys(pattern)]
    ttls = [connection.ttl(key) for key in keys]
    return len(keys) == 3 * jobs and all(0 < ttl <= link.FINISHED_TTL_SECONDS for ttl in ttls)


def test_what_a_worker_learns_of_a_camera_shapes_its_next_command_and_the_history(
        tmp_path, camera_server):
    # As a single box: a camera's first clip makes its G.711 audio AAC (not knowing it yet),
    # the next one copies it into the MKV; the history has each camera's codec, size and
    # answer time. The worker learns them; the coordinator chooses the next command.
    streams = [{"rtsp_url": camera_server.url("h264_alaw"), "duration_seconds": 3,
                "output_filename": "alaw.mkv"},
               {"rtsp_url": camera_server.url("h265"), "duration_seconds": 3,
                "output_filename": "h265.mp4"}]
    config, reports, log = two_cluster_cycles(tmp_path, streams)
    audio = []
    for report in reports:
        assert [t["status"] for t in report["tasks"]] == [st.COMPLETED] * 2, log
        info = ffprobe(os.path.join(report["_dir"], "alaw.mkv"))
        audio.append({s["codec_type"]: s["codec_name"] for s in info["streams"]}["audio"])
        hevc = ffprobe(os.path.join(report["_dir"], "h265.mp4"))["streams"][0]
        assert (hevc["codec_name"], hevc["codec_tag_string"]) == ("hevc", "hvc1")
    assert audio == ["aac", "pcm_alaw"], log
    with sqlite3.connect(history_path(config)) as db:
        rows = db.execute("SELECT camera, codec, resolution, connect_seconds FROM outcomes "
                          "ORDER BY camera, started").fetchall()
    assert [row[:2] for row in rows] == [("alaw", "h264")] * 2 + [("h265", "hevc")] * 2, rows
    assert all(re.fullmatch(r"\d+x\d+", size) and 0 < seconds < 5
               for _, _, size, seconds in rows), rows


def test_a_camera_turned_between_cluster_cycles_is_scene_changed(tmp_path, camera_server):
    # As a single box: the coordinator holds each worker's thumbnail against its camera's
    # reference (the first healthy picture, kept in the coordinator's state folder).
    streams = [{"rtsp_url": camera_server.url(f"picture/{name}"), "duration_seconds": 3,
                "output_filename": f"{name}.mp4"} for name in ("moved", "healthy")]
    config, reports, log = two_cluster_cycles(tmp_path, streams)
    seen = [{t["output_file"].rsplit("/", 1)[-1]: t["quality"]["issues"] for t in r["tasks"]}
            for r in reports]
    assert seen == [{"moved.mp4": [], "healthy.mp4": []},
                    {"moved.mp4": ["scene_changed"], "healthy.mp4": []}], (seen, log)
    similarity = reports[1]["tasks"][1]["quality"]["measures"]["scene_changed"]
    assert similarity["value"] > similarity["threshold"]  # the healthy one was compared too
    assert sorted(os.listdir(settings.references_dir(config))) == ["healthy.jpg", "moved.jpg"]


def two_cluster_cycles(folder, streams: list[dict]) -> tuple[str, list[dict], str]:
    """Two cycles of ``streams`` by a coordinator and one worker pool: the config's path, both
    reports (in order) and the coordinator's log."""
    config = str(folder / "config.json")
    with RedisServer(str(folder)) as redis:
        cluster_config(config, redis.url, streams, poll_cycles=2, max_concurrent_per_host=0)
        request_start(settings.control_path(config), empty_status())
        with WorkerPoolProcess(config, slots=2), RecorderProcess(config) as recorder:
            reports = wait_for(lambda: _reports(folder, 2), 120, "two cycles' reports")
            return config, reports, recorder.log()


def _reports(folder, count: int) -> list[dict] | None:
    """The first ``count`` cycles' reports, in order, once there are that many."""
    paths = sorted(glob.glob(str(folder / "output/*/rtsp_report.json")))
    if len(paths) < count:
        return None
    return [json.loads(open(path, encoding="utf-8").read()) | {"_dir": os.path.dirname(path)}
            for path in paths[:count]]


def test_single_box_mode_imports_neither_rq_nor_redis(tmp_path) -> None:
    code = ("import sys; from recorder.daemon import Daemon; import recorder.__main__; "
            "from app import create_app; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rq', 'redis')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONPATH": REPO_ROOT})
    assert out.stdout.strip() == "[]"


def test_a_cluster_section_added_mid_cycle_applies_from_the_next_cycle(tmp_path, camera_server):
    """An operator edits config.json by hand while a single-box cycle records: the cycle is not
    cancelled by a coordinator lock it never needed (another recorder holds it), it ends as
    recorded; the next cycle is the cluster's, and this recorder a standby."""
    from recorder.cluster.coordinator_lock import STANDBY_MESSAGE, lock_key
    from shared.status_file import read_status
    config = str(tmp_path / "config.json")
    streams = [{"rtsp_url": camera_server.url("cam1"), "duration_seconds": 6,
                "output_filename": "cam0.mp4"}]
    with RedisServer(str(tmp_path)) as redis:
        Redis.from_url(redis.url).set(lock_key("patrol"), "another-recorder")
        cluster_config(config, redis.url, streams, poll_cycles=2)
        single = json.loads(open(config, encoding="utf-8").read())
        write_json_atomic(config, {key: value for key, value in single.items()
                                   if key != "cluster"})
        request_start(settings.control_path(config), empty_status())
        with RecorderProcess(config) as recorder:
            wait_for(lambda: ffmpeg_pids(str(tmp_path)), 60, "the single-box clip recording")
            write_json_atomic(config, single)  # the cluster section, by hand, mid-clip
            report = the_report(tmp_path)
            wait_for(lambda: read_status(settings.status_path(config))["message"] ==
                     STANDBY_MESSAGE, 30, "a standby for the next cycle")
            log = recorder.log()
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED], log
    assert "took the coordinator lock" not in log and "enqueued as job" not in log, log
