"""Picture checks end to end: the real recorder and gunicorn on picture test cameras."""
from __future__ import annotations

import csv
import os

import pytest
import requests

from shared import settings
from testkit.recorder_process import wait_for
from tests.test_recorder_e2e import Patrol, patrol_config

pytestmark = pytest.mark.integration


def test_a_cycle_judges_pictures_and_the_api_lists_serves_and_deletes_them(
        tmp_path, camera_server, refusing_port) -> None:
    streams = [{"rtsp_url": camera_server.url(f"picture/{name}"), "duration_seconds": 4,
                "output_filename": f"{name}.mp4"} for name in ("healthy", "black")]
    streams.append({"rtsp_url": f"rtsp://127.0.0.1:{refusing_port}/cam", "duration_seconds": 4,
                    "output_filename": "refused.mp4"})
    with Patrol(tmp_path, patrol_config(streams)) as patrol:
        patrol.post("/api/scheduler/start")
        wait_for(lambda: patrol.get("/api/scheduler/status")["end_time"], 60, "the cycle to end")
        quality = {t["stream_index"]: t["quality"] for t in patrol.get("/api/tasks")["tasks"]}
        # the contact sheet is drawn off the recording loop, a moment after the report
        cycle = wait_for(lambda: [c for c in patrol.get("/api/timestamps")["timestamps"]
                                  if c["contact_sheet"]], 30, "the contact sheet")[0]
        videos = {v["filename"]: v for v in patrol.get(f"/api/videos/{cycle['timestamp']}")[
            "videos"]}
        pictures = [requests.get(patrol.api.url(url), timeout=10) for url in (
            videos["healthy.mp4"]["thumbnail"], cycle["contact_sheet"])]
        referenced = requests.post(patrol.api.url("/api/cameras/black/reference"), timeout=10)
        deleted = requests.delete(patrol.api.url("/api/video"), timeout=10, params={
            "path": videos["healthy.mp4"]["full_path"]})
        after = patrol.get(f"/api/videos/{cycle['timestamp']}")["videos"]

    assert [quality[i]["issues"] for i in (0, 1)] == [[], ["black"]]
    assert [quality[i]["checked"] for i in (0, 1, 2)] == [True, True, False]
    assert cycle["contact_sheet_pages"] == 1
    assert all(p.status_code == 200 and p.headers["Content-Type"] == "image/jpeg"
               and p.content[:2] == b"\xff\xd8" for p in pictures)
    folder = patrol.output() / cycle["timestamp"]
    with open(folder / "streams.csv", encoding="utf-8") as handle:
        assert [row["quality"] for row in csv.DictReader(handle)] == ["ok", "black", ""]
    assert "画面检查: 2 路  正常: 1  问题: black: 1" in (folder / "report.txt").read_text("utf-8")
    # The first healthy picture became its camera's reference; an operator set the other's.
    references = settings.references_dir(patrol.config_path)
    assert sorted(os.listdir(references)) == ["black.jpg", "healthy.jpg"]
    assert referenced.status_code == 200 and referenced.json()["timestamp"] == cycle["timestamp"]
    assert deleted.status_code == 200 and not (folder / ".healthy.mp4.jpg").exists()
    assert [v["filename"] for v in after] == ["black.mp4"] and after[0]["thumbnail"]
