"""Camera health meets the picture checks, end to end: the real recorder and gunicorn on a
black test camera; the verdict in the history, the pictures in the alerts (a real receiver)."""
from __future__ import annotations

import pytest
import requests

from shared.atomic import write_json_atomic
from testkit.recorder_process import wait_for
from testkit.webhook_receiver import WebhookReceiver
from tests.test_recorder_e2e import Patrol, patrol_config

pytestmark = pytest.mark.integration
CAMERA_EVENTS = ["camera.offline", "camera.recovered"]


def _cycle(patrol: Patrol, stream: dict, receiver: WebhookReceiver, cycles: int) -> None:
    """Point camera ``gate`` at ``stream``'s URL and run one cycle (the ``cycles``-th)."""
    write_json_atomic(patrol.config_path, patrol_config(
        [{**stream, "output_filename": "gate.mp4", "duration_seconds": 4}],
        offline_after_failures=1, alerts={"webhooks": [{"url": receiver.url, "events": CAMERA_EVENTS}],
                                          "public_url": patrol.api.url("/")}))
    patrol.post("/api/scheduler/start")  # the start request makes the recorder re-read the config
    wait_for(lambda: len(patrol.get("/api/timestamps")["timestamps"]) == cycles
             and not patrol.get("/api/scheduler/status")["is_running"], 60, f"cycle {cycles}")


def test_the_history_keeps_a_black_verdict_and_alerts_link_pictures_the_api_serves(
        tmp_path, camera_server, refusing_port) -> None:
    black = {"rtsp_url": camera_server.url("picture/black")}
    refused = {"rtsp_url": f"rtsp://127.0.0.1:{refusing_port}/cam"}
    with WebhookReceiver() as receiver, Patrol(tmp_path, patrol_config([])) as patrol:
        _cycle(patrol, black, receiver, 1)
        first = patrol.get("/api/cameras/gate")
        _cycle(patrol, refused, receiver, 2)
        _cycle(patrol, black, receiver, 3)
        offline, recovered = [got.json() for got in receiver.wait_for(2, timeout=30)]
        history = patrol.get("/api/cameras/gate/history")["history"]
        cycles = [c["timestamp"] for c in patrol.get("/api/timestamps")["timestamps"]]
        pictures = [requests.get(body["camera"]["thumbnail"], timeout=10)
                    for body in (offline, recovered)]
    assert first["history"][0]["quality"]["checked"] is True
    assert first["history"][0]["quality"]["issues"] == ["black"]
    assert [h["quality"]["issues"] for h in history] == [["black"], [], ["black"]]
    assert [h["quality"]["checked"] for h in history] == [True, False, True]
    newest, _, oldest = sorted(cycles, reverse=True)
    base = patrol.api.url("/api/thumbnails")
    assert (offline["event"], recovered["event"]) == ("camera.offline", "camera.recovered")
    assert offline["camera"]["thumbnail"] == f"{base}/{oldest}/gate.mp4"  # the last good one
    assert recovered["camera"]["thumbnail"] == f"{base}/{newest}/gate.mp4"  # the new one
    assert "最后正常画面：" in offline["message"] and "恢复后画面：" in recovered["message"]
    assert all(p.status_code == 200 and p.content[:2] == b"\xff\xd8" for p in pictures)
