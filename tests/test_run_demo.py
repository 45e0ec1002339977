"""scripts/run_demo.py's own rules: what it says of the scheduler's start."""
from __future__ import annotations

import pytest

from scripts import run_demo


@pytest.mark.parametrize("status, answer, said", [
    (200, {"success": True, "message": "调度器启动成功"}, "started the scheduler: 调度器启动成功"),
    (409, {"error": "Conflict", "message": "调度器已经在运行中"},
     "the scheduler was already running (kept from the last run)"),
    (503, {"error": "Service Unavailable", "message": "记录器未运行"},
     "the scheduler did not start: 503 记录器未运行"),
])
def test_what_the_runner_says_of_the_schedulers_start(monkeypatch, status, answer, said):
    calls = []

    def fake_call(base_url: str, method: str, path: str) -> tuple[int, dict]:
        calls.append((base_url, method, path))
        return status, answer

    monkeypatch.setattr(run_demo, "call_api", fake_call)
    assert run_demo.start_scheduler("http://127.0.0.1:8080") == said
    assert calls == [("http://127.0.0.1:8080", "POST", "/api/scheduler/start")]
