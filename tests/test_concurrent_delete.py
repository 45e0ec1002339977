"""Concurrent deletes of the same item: one wins (200), the others get 404 (already gone), never 500."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask

from recorder.retention import Removal, remove_cycles
from shared.output_tree import deleting
from shared.output_tree import OutputDir
from tests.helpers import MakeCycle

CYCLE = "20250101_000000"


def _big_cycle(output_root: Path, name: str, clips: int) -> None:
    """A cycle folder with ``clips`` clips: hard links to one file (creating inodes is slow here)."""
    (output_root / name).mkdir()
    source = output_root / ".clip"
    source.write_bytes(b"x")
    for i in range(clips):
        os.link(source, output_root / name / f"cam{i}.mp4")
    source.unlink()


def _race(app: Flask, workers: int, request: Callable) -> list[int]:
    """``workers`` clients send ``request`` at the same moment; their status codes."""
    barrier = threading.Barrier(workers)

    def one(_: int) -> int:
        client = app.test_client()
        barrier.wait(timeout=30)
        return request(client).status_code

    with ThreadPoolExecutor(workers) as pool:
        return sorted(pool.map(one, range(workers)))


def test_three_deletes_of_one_big_cycle(app: Flask, output_root: Path) -> None:
    for round_number in range(5):
        name = f"20250101_00000{round_number}"
        _big_cycle(output_root, name, 3000)
        codes = _race(app, 3, lambda client: client.delete(f"/api/timestamp/{name}"))
        assert codes == [200, 404, 404], codes
        assert os.listdir(output_root) == []


def test_four_deletes_of_one_clip(app: Flask, make_cycle: MakeCycle, output_root: Path) -> None:
    path = f"./output/{CYCLE}/cam1.mp4"
    for _ in range(100):
        make_cycle(CYCLE, {"cam1.mp4": b"x"}, reports=False)
        codes = _race(app, 4, lambda client: client.delete("/api/video",
                                                            query_string={"path": path}))
        assert codes == [200, 404, 404, 404], codes
    assert os.listdir(output_root / CYCLE) == []


def test_a_clip_removed_between_the_check_and_the_unlink_is_404(
        client, make_cycle: MakeCycle, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_cycle(CYCLE, {"cam1.mp4": b"x"}, reports=False)
    real_stat = os.stat

    def stat_then_lose_the_race(*args, **kwargs):
        info = real_stat(*args, **kwargs)
        os.unlink(folder / "cam1.mp4")  # the other request's unlink lands here
        return info

    monkeypatch.setattr(deleting.os, "stat", stat_then_lose_the_race)
    response = client.delete("/api/video", query_string={"path": f"./output/{CYCLE}/cam1.mp4"})
    assert response.status_code == 404, response.get_json()


def test_retention_and_the_api_removing_one_cycle_together(app: Flask,
                                                           output_root: Path) -> None:
    _big_cycle(output_root, CYCLE, 3000)
    out = OutputDir("./output", str(output_root))
    barrier = threading.Barrier(2)
    removed: list[list[str]] = []

    def retain() -> None:
        barrier.wait(timeout=30)
        removed.append(remove_cycles(out, [Removal(CYCLE, "test", 0)]))

    thread = threading.Thread(target=retain)
    thread.start()
    client = app.test_client()
    barrier.wait(timeout=30)
    status = client.delete(f"/api/timestamp/{CYCLE}").status_code
    thread.join(timeout=60)
    assert sorted([status, 200 if removed[0] else 404]) == [200, 404]
    assert os.listdir(output_root) == []
