"""One recorder per config: the status file's lock is held for the daemon's life."""
from __future__ import annotations

import pytest

from shared import settings
from shared.atomic import write_json_atomic
from shared.status_file import is_alive, read_status
from testkit.recorder_process import RecorderProcess, wait_for

pytestmark = pytest.mark.integration


def test_a_second_recorder_on_the_same_config_refuses_to_run(tmp_path) -> None:
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {}, "streams": []})
    with RecorderProcess(config) as first:
        wait_for(lambda: is_alive(read_status(settings.status_path(config))), 20, "a heartbeat")
        second = RecorderProcess(config).start()
        assert second.proc.wait(30) == 1
        assert "another recorder is already running" in second.log()
        assert first.proc.poll() is None
        assert is_alive(read_status(settings.status_path(config)))
    assert first.proc.returncode == 0
    assert read_status(settings.status_path(config))["heartbeat"] is None  # said it stopped
