"""kill -9 of the whole recorder (``python -m recorder``): undelivered events and the interrupted
cycle's outcomes survive it, and the restarted recorder delivers and records them."""
from __future__ import annotations

import json
import os
import signal
import sqlite3

import pytest

from shared import settings
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.control_file import request_start
from shared.history_schema import connect_writer, history_path
from shared.status_file import empty_status
from testkit.recorder_process import RecorderProcess, wait_for
from testkit.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


def write_config(tmp_path, streams: list[dict], **global_config) -> str:
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {
        "total_poll_duration_seconds": 8, "max_concurrent_streams": 3, "poll_cycles": -1,
        "cycle_interval_seconds": 3600, "connection_timeout_seconds": 3,
        "read_timeout_seconds": 4, "min_free_space_mb": 0, **global_config},
        "streams": streams})
    request_start(settings.control_path(config), empty_status())
    connect_writer(history_path(config)).close()  # the schema there before the first query
    return config


def kill_9(recorder: RecorderProcess) -> None:
    """SIGKILL to the recorder and everything it started (its session): no shutdown at all."""
    assert recorder.proc is not None
    os.killpg(recorder.proc.pid, signal.SIGKILL)
    recorder.proc.wait()


def query(path: str, sql: str, *args) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_kill_9_of_the_recorder_with_undelivered_events_loses_none(tmp_path, refusing_port) -> None:
    receiver = WebhookReceiver()  # not listening yet: the receiver is down
    config = write_config(tmp_path, [
        {"rtsp_url": f"rtsp://127.0.0.1:{refusing_port}/cam{i}", "duration_seconds": 2,
         "output_filename": f"dead{i}.mp4"} for i in range(3)],
        offline_after_failures=1, alerts={"webhooks": [{"url": receiver.url, "secret": "k"}]})
    path = history_path(config)
    first = RecorderProcess(config).start()
    try:
        # Three cameras offline and the cycle's end, queued; the first one tried and refused.
        wait_for(lambda: len(query(path, "SELECT 1 FROM outbox")) >= 4 and query(
            path, "SELECT attempts FROM outbox ORDER BY id LIMIT 1")[0][0] >= 1,
            60, "four events queued, the first refused")
    finally:
        kill_9(first)
    before = query(path, "SELECT event, body FROM outbox WHERE delivered IS NULL ORDER BY id")
    assert sorted(event for event, _ in before) == ["camera.offline"] * 3 + ["cycle.finished"]

    receiver.start()
    try:
        with RecorderProcess(config) as second:
            wait_for(lambda: not query(path, "SELECT 1 FROM outbox WHERE delivered IS NULL "
                                             "AND id <= ?", len(before)),
                     60, "every event queued before the kill delivered")
            second.stop()
    finally:
        receiver.stop()
    got = [r.body.decode("utf-8") for r in receiver.received]
    # In order, each once: nothing was in flight at the kill (the receiver was down).
    # A kill during a delivery may repeat that one event (README: at least once).
    assert got[:len(before)] == [body for _, body in before]
    assert all(got.count(body) == 1 for _, body in before)
    assert all(r.status == 200 for r in receiver.received)


def test_kill_9_mid_cycle_keeps_the_interrupted_cycles_outcomes_in_the_history(
        tmp_path, camera_server, refusing_port) -> None:
    config = dead_and_gate_config(tmp_path, camera_server, refusing_port)
    path = history_path(config)
    # The history's write lock held: the recorder's batch with dead's outcome cannot be
    # committed before the kill (as when the kill comes within OUTCOME_FLUSH_SECONDS).
    blocker = connect_writer(path)
    blocker.isolation_level = None
    blocker.execute("BEGIN IMMEDIATE")
    try:
        status = killed_while_gate_records(config)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    cycle = status["cycle"]["dir"]
    assert query(path, "SELECT count(*) FROM outcomes") == [(0,)]

    with RecorderProcess(config) as second:
        rows = wait_for(lambda: query(path, "SELECT camera, status FROM outcomes WHERE cycle = ?",
                                      cycle), 30, "the interrupted cycle's outcome")
        second.stop()
    # gate was recording: the report says 已取消 without an end of its own, and the history
    # holds it as the report lists it (at the cycle's end).
    assert sorted(rows) == [("dead", st.CONNECTION_ERROR), ("gate", st.CANCELLED)]
    assert query(path, "SELECT camera, status FROM outcomes WHERE cycle = ?", cycle) == rows


def dead_and_gate_config(tmp_path, camera_server, refusing_port, **global_config) -> str:
    """dead fails at once; gate records 60 s of a 90 s cycle."""
    return write_config(tmp_path, [
        {"rtsp_url": f"rtsp://127.0.0.1:{refusing_port}/cam", "duration_seconds": 2,
         "output_filename": "dead.mp4"},
        {"rtsp_url": camera_server.url("cam1"), "duration_seconds": 60,
         "output_filename": "gate.mp4"}], total_poll_duration_seconds=90, **global_config)


def killed_while_gate_records(config: str) -> dict:
    """Start the recorder and kill -9 it once dead's verdict is in and gate records; the last
    status it wrote."""
    first = RecorderProcess(config).start()
    try:
        return wait_for(lambda: _dead_done_gate_recording(settings.status_path(config)), 60,
                        "dead's verdict and gate recording in the status file")
    finally:
        kill_9(first)


def _dead_done_gate_recording(status_path: str) -> dict | None:
    try:
        with open(status_path, encoding="utf-8") as handle:
            status = json.load(handle)
    except (OSError, ValueError):
        return None
    by_file = {os.path.basename(t.get("output_file") or f"{t['stream_index']}"): t["status"]
               for t in status.get("tasks", [])}
    done = [t for t in status.get("tasks", []) if t["stream_index"] == 0 and t.get("end_time")]
    return status if done and by_file.get("gate.mp4") == st.RECORDING else None


def test_kill_9_mid_cycle_sends_the_recovered_cycles_cycle_finished_once(
        tmp_path, camera_server, refusing_port) -> None:
    # The recovery wrote the killed cycle's report, but its cycle.finished was never sent: a
    # receiver of cycle.finished missed that cycle's summary.
    receiver = WebhookReceiver().start()
    config = dead_and_gate_config(tmp_path, camera_server, refusing_port, alerts={
        "webhooks": [{"url": receiver.url, "events": ["cycle.finished"]}]})
    try:
        cycle = killed_while_gate_records(config)["cycle"]["dir"]

        def recovered() -> list[dict]:
            return [r.json() for r in receiver.received if r.json()["cycle"] == cycle]

        with RecorderProcess(config) as second:
            wait_for(recovered, 30, "the interrupted cycle's cycle.finished")
            second.stop()
    finally:
        receiver.stop()
    [body] = recovered()
    assert body["recovered"] is True and "意外退出" in body["message"]
    assert body["counts"] == {"total_tasks": 2, "completed_tasks": 0, "failed_tasks": 1,
                              "cancelled_tasks": 1, "not_scheduled": 0}
