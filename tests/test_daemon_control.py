"""The daemon and a control file deleted or damaged behind its back, driven step by step (no processes)."""
from __future__ import annotations

from pathlib import Path

import pytest

from recorder.daemon import Daemon
from shared import settings
from shared.atomic import write_json_atomic
from shared.control_file import load_control, request_start, request_stop
from shared.status_file import read_status

NOW = 1_760_000_000.0
DAMAGE = {
    "deleted": None,
    "garbage": b"\x00\xffnot json",
    "not an object": b"[1, 2]\n",
    "not ours": b'{"scheduler_running": "yes"}\n',
    "empty": b"",
}


def daemon_on(tmp_path: Path) -> Daemon:
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {"cycle_interval_seconds": 3600,
                                                 "min_free_space_mb": 0}, "streams": []})
    return Daemon(config)


def settle(daemon: Daemon, now: float) -> None:
    """Two rounds: a cycle without streams begins in one and ends in the next."""
    daemon.step(now, NOW + now)
    daemon.step(now + 0.5, NOW + now + 0.5)


def damage(path: str, how: str) -> None:
    if DAMAGE[how] is None:
        Path(path).unlink()
    else:
        Path(path).write_bytes(DAMAGE[how])


@pytest.mark.parametrize("how", DAMAGE)
def test_a_running_scheduler_keeps_running_and_the_file_is_written_back(tmp_path: Path,
                                                                        how: str) -> None:
    daemon = daemon_on(tmp_path)
    request_start(daemon.control.path, read_status(daemon.publisher.path))
    settle(daemon, 10.0)
    assert daemon.state.running and daemon.state.cycles_done == 1
    damage(daemon.control.path, how)
    settle(daemon, 11.0)
    assert daemon.state.running and daemon.state.end_wall is None
    assert load_control(daemon.control.path)["scheduler_running"] is True
    assert load_control(daemon.control.path)["start_generation"] == 1
    settle(daemon, 12.0)  # reads the restored file: nothing changes
    assert daemon.state.running and daemon.state.cycles_done == 1
    # The API's requests still work on the restored file.
    request_stop(daemon.control.path)
    settle(daemon, 13.0)
    assert not daemon.state.running
    request_start(daemon.control.path, read_status(daemon.publisher.path))
    settle(daemon, 14.0)
    assert daemon.state.running


@pytest.mark.parametrize("how", ["deleted", "garbage"])
def test_a_stopped_scheduler_stays_stopped_and_a_start_after_the_damage_starts_it(
        tmp_path: Path, how: str) -> None:
    daemon = daemon_on(tmp_path)
    request_start(daemon.control.path, read_status(daemon.publisher.path))
    settle(daemon, 10.0)
    request_stop(daemon.control.path)
    settle(daemon, 11.0)
    assert not daemon.state.running
    daemon.publisher.publish(11.0, NOW + 11)
    damage(daemon.control.path, how)
    settle(daemon, 12.0)
    assert not daemon.state.running
    assert load_control(daemon.control.path)["scheduler_running"] is False  # written back
    Path(daemon.control.path).unlink()  # lost again, and the API starts from nothing
    request_start(daemon.control.path, read_status(daemon.publisher.path))
    settle(daemon, 13.0)
    assert daemon.state.running  # a start counted from 0 again would be taken for the old one


def test_without_a_control_file_a_fresh_daemon_is_stopped_and_writes_none(tmp_path: Path) -> None:
    daemon = daemon_on(tmp_path)
    settle(daemon, 10.0)
    assert not daemon.state.running
    assert not Path(settings.control_path(daemon.config_path)).exists()


def test_a_damaged_file_at_start_means_stopped_and_is_left_to_the_api(tmp_path: Path) -> None:
    daemon = daemon_on(tmp_path)
    Path(daemon.control.path).parent.mkdir(parents=True, exist_ok=True)
    Path(daemon.control.path).write_bytes(DAMAGE["garbage"])
    daemon = Daemon(daemon.config_path)
    settle(daemon, 10.0)
    assert not daemon.state.running
    assert Path(daemon.control.path).read_bytes() == DAMAGE["garbage"]
