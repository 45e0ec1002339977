"""One camera state for every view and every alert: the recorder's stored outage.

The API, /metrics and the console show what the recorder stored with its alerts
(``offline_since``); an ``offline_after_failures`` edited mid-outage takes effect at
each camera's next outcome, for the state shown and the alerts alike.
"""
from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from app.console import dom_id
from recorder.finished_task import FinishedTask
from recorder.history_store import HistoryStore
from recorder.history_writer import HistoryWriter
from shared import config as model
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.global_settings import GlobalSettings
from shared.history_schema import history_path
from tests.helpers import valid_config

HOOK = "http://127.0.0.1:9/hook"
OK, FAIL = st.COMPLETED, st.CONNECTION_ERROR


class Recorder:
    """The recorder's history writer on the test config's history, one outcome at a time."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.db = history_path(str(config_path))
        self.writer = HistoryWriter(HistoryStore(self.db))
        self.wall = time.time() - 3600
        self.step = 0

    def threshold(self, failures: int) -> None:
        """The operator edits offline_after_failures (the API reads the file again)."""
        config = valid_config()
        config["global_config"]["offline_after_failures"] = failures
        write_json_atomic(str(self.config_path), config)

    def outcome(self, camera: str, status: int) -> None:
        """One finished task of ``camera``, written with the config's threshold now."""
        config = model.validate_global({
            **valid_config()["global_config"], "alerts": {"webhooks": [{"url": HOOK}]},
            "offline_after_failures": self._offline_after()})
        self.step += 1
        self.wall += 60
        self.writer.record(FinishedTask(camera=camera, name="", url="rtsp://127.0.0.1/x",
                                        alerts=True, cycle="20251009_120000", ended=self.wall,
                                        status=status, error="" if status == OK else "拒绝"))
        self.writer.flush(GlobalSettings.from_config(config), float(self.step), self.wall,
                          force=True)

    def _offline_after(self) -> int:
        config = json.loads(self.config_path.read_text())
        return config["global_config"].get("offline_after_failures", 2)

    def events(self, camera: str) -> list[str]:
        conn = sqlite3.connect(self.db)
        try:
            return [event for event, in conn.execute(
                "SELECT event FROM outbox WHERE body LIKE ? ORDER BY id", (f'%"{camera}"%',))]
        finally:
            conn.close()

    def reminded(self) -> list[str]:
        """The cameras the reminder query finds in an outage (due whatever the period)."""
        from recorder.alert_reminders import _DUE_SQL
        conn = sqlite3.connect(self.db)
        try:
            return [row[0] for row in conn.execute(_DUE_SQL, (0, self.wall + 1))]
        finally:
            conn.close()


@pytest.fixture
def recorder(config_path: Path) -> Iterator[Recorder]:
    found = Recorder(config_path)
    yield found
    found.writer.close()


def _metric_counts(client: FlaskClient) -> dict[str, float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {sample.labels["state"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "rtsp_patrol_cameras"}


def _shown(client: FlaskClient, camera: str) -> dict:
    """The camera's state in every view: API list and item, /metrics, the console's pages."""
    listed = {c["id"]: c for c in client.get("/api/cameras").get_json()["cameras"]}[camera]
    item = client.get(f"/api/cameras/{camera}").get_json()
    page = client.get("/?lang=zh").get_data(as_text=True)
    card = re.search(rf'<article class="card s-(\w+)" id="{dom_id(camera)}"', page).group(1)
    roster = re.search(r"roster=([0-9a-f]+)", page).group(1)
    live = client.get(f"/overview/live?after=0&roster={roster}").get_data(as_text=True)
    live_counts = dict(re.findall(r'data-state="(\w+)">(\d+)<', live))
    camera_page = client.get(f"/cameras/{camera}?lang=zh").get_data(as_text=True)
    state = listed["state"]
    assert item["state"] == card == state
    assert _metric_counts(client)[state] >= 1 and int(live_counts[state]) >= 1
    assert ("离线开始于" in camera_page) == (listed["offline_since"] is not None)
    assert item["offline_since"] == listed["offline_since"]
    return listed


def test_a_threshold_raised_mid_outage_keeps_the_outage_open_until_recovery(
        client: FlaskClient, recorder: Recorder) -> None:
    # Seen: 2 -> 50 with 35 failures showed degraded with offline_since null while reminders
    # went on and camera.recovered came at the end.
    for _ in range(3):
        recorder.outcome("test_stream1", FAIL)
    assert _shown(client, "test_stream1")["state"] == "offline"
    recorder.threshold(50)
    shown = _shown(client, "test_stream1")
    assert (shown["state"], shown["consecutive_failures"]) == ("offline", 3)
    assert shown["offline_since"] is not None
    assert _metric_counts(client)["degraded"] == 0
    recorder.outcome("test_stream1", FAIL)  # still the same outage
    assert _shown(client, "test_stream1")["state"] == "offline"
    assert recorder.reminded() == ["test_stream1"]
    recorder.outcome("test_stream1", OK)
    assert _shown(client, "test_stream1")["state"] == "online"
    assert recorder.events("test_stream1") == ["camera.offline", "camera.recovered"]


def test_a_threshold_lowered_takes_effect_at_the_cameras_next_outcome(
        client: FlaskClient, recorder: Recorder) -> None:
    # Seen: 3 -> 1 with 1 failure showed offline at once, and no alert ever came.
    recorder.threshold(3)
    recorder.outcome("test_stream2", FAIL)
    recorder.threshold(1)
    shown = _shown(client, "test_stream2")
    assert (shown["state"], shown["offline_since"]) == ("degraded", None)
    assert recorder.events("test_stream2") == [] and recorder.reminded() == []
    recorder.outcome("test_stream2", FAIL)  # the new threshold applies: an outage, alerted
    shown = _shown(client, "test_stream2")
    assert shown["state"] == "offline" and shown["offline_since"] is not None
    assert recorder.events("test_stream2") == ["camera.offline"]
    assert recorder.reminded() == ["test_stream2"]
    recorder.outcome("test_stream2", OK)
    assert _shown(client, "test_stream2")["state"] == "online"
    assert recorder.events("test_stream2") == ["camera.offline", "camera.recovered"]

