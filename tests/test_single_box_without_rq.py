"""Single-box mode needs nothing of the [cluster] extra: the recorder records with rq and redis
unimportable (a sys.meta_path blocker installed by a sitecustomize in the subprocess)."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest

from shared import settings
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.control_file import request_start
from shared.status_file import empty_status, read_status
from testkit.recorder_process import RecorderProcess, ffprobe, wait_for
from testkit.servers import REPO_ROOT

pytestmark = pytest.mark.integration

BLOCKER = '''
import sys

class _NoCluster:
    """Refuses the [cluster] extra's packages and notes each attempt."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("rq", "redis"):
            with open({log!r}, "a") as handle:
                handle.write(name + "\\n")
            raise ImportError(f"{{name}} is blocked in this test")
        return None

sys.meta_path.insert(0, _NoCluster())
'''


@pytest.fixture
def without_rq(tmp_path, monkeypatch) -> str:
    """PYTHONPATH for subprocesses in which ``import rq`` and ``import redis`` fail; the log path."""
    folder, log = tmp_path / "blocker", str(tmp_path / "blocked.log")
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER.format(log=log))
    monkeypatch.setenv("PYTHONPATH", f"{folder}:{REPO_ROOT}")
    return log


def test_the_blocker_blocks(without_rq) -> None:
    result = subprocess.run([sys.executable, "-c", "import rq"], capture_output=True, text=True)
    assert result.returncode == 1 and "rq is blocked" in result.stderr


def test_the_recorder_records_a_cycle_without_rq_and_redis(tmp_path, camera_server,
                                                            without_rq) -> None:
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {
        "total_poll_duration_seconds": 30, "max_concurrent_streams": 2,
        "max_concurrent_per_host": 1, "poll_cycles": 1, "cycle_interval_seconds": 0,
        "min_free_space_mb": 0}, "streams": [
            {"rtsp_url": camera_server.url(f"cam{i}"), "duration_seconds": 2,
             "output_filename": f"cam{i}.mp4"} for i in (1, 2)]})
    request_start(settings.control_path(config), empty_status())
    with RecorderProcess(config) as recorder:
        path = wait_for(lambda: next(iter(glob.glob(str(tmp_path / "output/*/rtsp_report.json"))),
                                     None), 60, "the cycle's report")
        log = recorder.log()
    report = json.loads(open(path, encoding="utf-8").read())
    assert [t["status"] for t in report["tasks"]] == [st.COMPLETED] * 2, log
    for i in (1, 2):
        clip = os.path.join(os.path.dirname(path), f"cam{i}.mp4")
        assert float(ffprobe(clip)["format"]["duration"]) > 1
    assert not (tmp_path / "blocked.log").exists()


def test_a_cluster_section_without_rq_is_a_config_error_said_once(tmp_path, without_rq) -> None:
    # Before: an ImportError and its traceback at every step of the loop, nothing recorded,
    # the config not flagged.
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {"poll_cycles": 1}, "streams": [],
                               "cluster": {"redis_url": "redis://127.0.0.1:1/0"}})
    request_start(settings.control_path(config), empty_status())
    with RecorderProcess(config) as recorder:
        status = settings.status_path(config)
        error = wait_for(lambda: read_status(status)["config_error"], 30,
                         "the config error in the status")
        beat = read_status(status)["heartbeat"]
        wait_for(lambda: read_status(status)["heartbeat"] >= beat + 2, 10, "2 s more of steps")
        log = recorder.log()
    assert error["field"] == "cluster" and "RQ" in error["reason"], error
    assert log.count("config rejected") == 1 and "Traceback" not in log, log
