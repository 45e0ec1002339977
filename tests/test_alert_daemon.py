"""The recorder daemon runs the alert sender while it runs, and stops it when it stops."""
from __future__ import annotations

import json
import threading
import time

from recorder import alert_sender
from recorder.daemon import Daemon
from recorder.stop_signal import StopSignal
from shared.atomic import write_json_atomic
from shared.history_schema import connect_writer, history_path
from testkit.webhook_receiver import WebhookReceiver


def _write_config(config: str) -> None:
    write_json_atomic(config, {"global_config": {
        "total_poll_duration_seconds": 30, "max_concurrent_streams": 1,
        "output_directory": "./output", "report_filename": "rtsp_report.json",
        "connection_timeout_seconds": 10, "read_timeout_seconds": 10, "poll_cycles": -1,
        "cycle_interval_seconds": 0}, "streams": [
        {"rtsp_url": "rtsp://127.0.0.1:5/cam", "duration_seconds": 5,
         "output_filename": "cam.mp4"}]})


def test_the_daemon_delivers_alerts_while_it_runs_and_stops_the_sender(tmp_path,
                                                                         monkeypatch) -> None:
    config = str(tmp_path / "config.json")
    _write_config(config)
    with WebhookReceiver() as receiver:
        # Until the config carries ``alerts`` (camera health part A), hand the receivers in here.
        monkeypatch.setattr(alert_sender, "_alerts",
                            lambda _watch: {"webhooks": [{"url": receiver.url}]})
        conn = connect_writer(history_path(config))
        conn.execute("INSERT INTO outbox (event, created, target, body, attempts, next_attempt)"
                     " VALUES ('cycle.finished', ?, ?, ?, 0, ?)",
                     (time.time(), "webhook " + receiver.url,
                      json.dumps({"event": "cycle.finished"}), time.time()))
        stop = StopSignal()
        runner = threading.Thread(target=Daemon(config).run, args=(stop,))
        runner.start()
        try:
            (got,) = receiver.wait_for(1)
        finally:
            stop.set()
            runner.join(30)
    assert got.json() == {"event": "cycle.finished"}
    assert not runner.is_alive()
    assert "alert-sender" not in [thread.name for thread in threading.enumerate()]
    assert conn.execute("SELECT delivered IS NOT NULL FROM outbox").fetchone() == (1,)


def test_the_sender_starts_once_the_config_was_read(tmp_path, monkeypatch) -> None:
    # It had started first: its first pass, if it came before the config's first reading,
    # logged an ERROR "no valid config.json to name their receivers" at every other start.
    config = str(tmp_path / "config.json")
    _write_config(config)
    seen = []
    real = alert_sender.for_recorder

    def for_recorder(path, watch, clock):
        seen.append(watch.settings)
        return real(path, watch, clock)

    monkeypatch.setattr(alert_sender, "for_recorder", for_recorder)
    stop = StopSignal()
    stop.set()  # the daemon starts, recovers, and stops at once
    Daemon(config).run(stop)
    assert len(seen) == 1 and seen[0] is not None
