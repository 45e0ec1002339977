"""The daemon writes each verdict, the camera's state change and cycle.finished to the history."""
from __future__ import annotations

import json
import sqlite3

from recorder.daemon import Daemon
from shared import settings
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.clock import Clock
from shared.control_file import request_start
from shared.history_schema import history_path
from shared.status_file import empty_status
from testkit.fake_runner import FakeRunner

WALL = 1_760_000_000.0


class StepClock(Clock):
    """The test's own time, also for what the daemon reads itself (its shutdown)."""

    def __init__(self) -> None:
        self.now = 1.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL + self.now


def test_failed_tasks_of_two_cycles_take_the_camera_offline_once(tmp_path) -> None:
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {
        "cycle_interval_seconds": 0, "min_free_space_mb": 0, "total_poll_duration_seconds": 10,
        "poll_cycles": 3,
        "alerts": {"webhooks": [{"url": "http://127.0.0.1:9/h"}]}},
        "streams": [{"rtsp_url": "rtsp://u:pw@127.0.0.1:5/gate", "duration_seconds": 5,
                     "output_filename": "gate.mp4", "name": "东门"}]})
    request_start(settings.control_path(config), empty_status())
    runner = FakeRunner()
    clock = StepClock()
    daemon = Daemon(config, runner=runner, clock=clock, free_space=lambda _path: None)
    for cycle in range(3):  # three cycles, the camera refusing each time
        while len(runner.processes) <= cycle:
            daemon.step(clock.now, clock.wall())
            clock.now += 0.5
        process = runner.processes[-1]
        process.write(stderr="Connection refused\n")
        process.exit(1)
        while daemon.state.cycles_done <= cycle:  # the next cycle may start in the same step
            assert clock.now < 100, "the cycle never ended"
            daemon.watcher.dispatch(0)
            clock.now += 1.0
            daemon.step(clock.now, clock.wall())
    daemon.shutdown()
    conn = sqlite3.connect(history_path(config))
    assert conn.execute("SELECT camera, status FROM outcomes").fetchall() == [
        ("gate", st.CONNECTION_ERROR)] * 3
    assert conn.execute("SELECT name, url, consecutive_failures FROM cameras").fetchall() == [
        ("东门", "rtsp://u:***@127.0.0.1:5/gate", 3)]
    events = [(event, json.loads(body)) for event, body in
              conn.execute("SELECT event, body FROM outbox ORDER BY id")]
    assert [event for event, _ in events] == [
        "cycle.finished", "camera.offline", "cycle.finished", "cycle.finished"]
    assert events[0][1]["counts"] == {"total_tasks": 1, "completed_tasks": 0, "failed_tasks": 1,
                                      "cancelled_tasks": 0, "not_scheduled": 0}
    assert "pw" not in json.dumps([body for _, body in events])
    runner.close()


def test_the_status_shows_a_task_ended_before_the_history_has_its_verdict(tmp_path) -> None:
    # The API serves a clip only once the status no longer lists its task as recording, and the
    # console offers the clips the history names: a verdict in the history while the status
    # still said "recording" was a 409 in the camera page's player (CI saw it).
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {
        "cycle_interval_seconds": 0, "min_free_space_mb": 0, "total_poll_duration_seconds": 10,
        "poll_cycles": 1},
        "streams": [{"rtsp_url": f"rtsp://127.0.0.1:5/cam{i}", "duration_seconds": 5,
                     "output_filename": f"cam{i}.mp4"} for i in range(3)]})
    request_start(settings.control_path(config), empty_status())
    runner = FakeRunner()
    clock = StepClock()
    daemon = Daemon(config, runner=runner, clock=clock, free_space=lambda _path: None)
    checked = 0
    while daemon.state.cycles_done < 1:
        assert clock.now < 100, "the cycle never ended"
        for process in runner.processes[checked:]:  # each refuses a moment after its start
            process.write(stderr="Connection refused\n")
            process.exit(1)
        checked = len(runner.processes)
        daemon.watcher.dispatch(0)
        clock.now += 0.1  # steps closer than the status's publishing gap
        daemon.step(clock.now, clock.wall())
        daemon.history.writer.thread.wait()
        with open(settings.status_path(config), encoding="utf-8") as handle:
            shown = {task["rtsp_url"].rsplit("/", 1)[-1]: task["status"]
                     for task in json.load(handle)["tasks"]}
        with sqlite3.connect(history_path(config)) as conn:
            verdicts = [camera for (camera,) in conn.execute("SELECT camera FROM outcomes")]
        for camera in verdicts:
            assert shown[camera] == st.CONNECTION_ERROR, (clock.now, camera, shown)
    daemon.shutdown()
    runner.close()
    with sqlite3.connect(history_path(config)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM outcomes").fetchone() == (3,)
