"""GET /api/clips/<cycle>/<file>: Range, ETag, types, downloads, and deletion's confinement."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from tests.helpers import MakeCycle, WriteStatus, assert_error, snapshot_files
from tests.test_api_delete_security import (CYCLE, HOSTILE_RAW_QUERIES, HOSTILE_TIMESTAMPS,
                                            LINK_INSIDE, LINK_OUTSIDE, UNICODE_DIGITS)
from tests.test_api_delete_security import tree  # noqa: F401  (the hostile tree fixture)

BODY = bytes(range(256)) * 40  # 10,240 bytes, every offset distinguishable


@pytest.fixture
def clip(make_cycle: MakeCycle) -> Path:
    return make_cycle("20251010_163000", {"cam 1.mp4": BODY, "b.mkv": b"mkv"}) / "cam 1.mp4"


def test_whole_clip_with_type_length_and_validators(client: FlaskClient, clip: Path) -> None:
    response = client.get("/api/clips/20251010_163000/cam%201.mp4")
    assert response.status_code == 200
    assert response.data == BODY
    assert response.mimetype == "video/mp4"
    assert response.headers["Content-Length"] == str(len(BODY))
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"] and response.headers["Last-Modified"]
    assert response.headers["Content-Disposition"].startswith("inline")


def test_range_is_206_with_the_bytes_asked(client: FlaskClient, clip: Path) -> None:
    response = client.get("/api/clips/20251010_163000/cam%201.mp4",
                          headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206
    assert response.data == BODY[1000:2000]
    assert response.headers["Content-Range"] == f"bytes 1000-1999/{len(BODY)}"
    tail = client.get("/api/clips/20251010_163000/cam%201.mp4", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == BODY[-10:]
    beyond = client.get("/api/clips/20251010_163000/cam%201.mp4",
                        headers={"Range": f"bytes={len(BODY) + 5}-"})
    assert beyond.status_code == 416


def test_etag_gives_304_and_if_range_guards_a_changed_clip(client: FlaskClient,
                                                           clip: Path) -> None:
    first = client.get("/api/clips/20251010_163000/cam%201.mp4")
    tag = first.headers["ETag"]
    again = client.get("/api/clips/20251010_163000/cam%201.mp4", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.data == b""
    clip.unlink()
    clip.write_bytes(BODY[::-1])  # a new file under the same name
    stale = client.get("/api/clips/20251010_163000/cam%201.mp4",
                       headers={"Range": "bytes=0-9", "If-Range": tag})
    assert stale.status_code == 200 and stale.data == BODY[::-1]


def test_download_is_an_attachment_and_types_follow_the_extension(client: FlaskClient,
                                                                  clip: Path) -> None:
    response = client.get("/api/clips/20251010_163000/cam%201.mp4?download=1")
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert "cam 1.mp4" in response.headers["Content-Disposition"]
    assert client.get("/api/clips/20251010_163000/b.mkv").mimetype == "video/x-matroska"


def test_listings_give_each_clip_its_url(client: FlaskClient, clip: Path) -> None:
    videos = client.get("/api/videos/20251010_163000").get_json()["videos"]
    urls = {video["filename"]: video["url"] for video in videos}
    assert urls["cam 1.mp4"] == "/api/clips/20251010_163000/" + quote("cam 1.mp4")
    assert client.get(urls["cam 1.mp4"]).data == BODY


def test_missing_clip_is_404(client: FlaskClient, clip: Path) -> None:
    assert_error(client.get("/api/clips/20251010_163000/none.mp4"), 404)
    assert_error(client.get("/api/clips/20251010_163001/cam%201.mp4"), 404)


def test_clip_being_recorded_is_not_served(client: FlaskClient, clip: Path,
                                          write_status: WriteStatus) -> None:
    write_status(scheduler_running=True, cycle={"dir": "20251010_163000", "running": True},
                 tasks=[{"stream_index": 0, "status": 3,
                         "output_file": "./output/20251010_163000/cam 1.mp4"}])
    assert_error(client.get("/api/clips/20251010_163000/cam%201.mp4"), 409)
    assert client.get("/api/clips/20251010_163000/b.mkv").status_code == 200


def _refused(client: FlaskClient, tree: Path, raw_path: str) -> None:
    before = snapshot_files(tree)
    response = client.get("/api/clips/" + raw_path)
    assert response.status_code in (403, 404), (raw_path, response.status_code)
    assert response.mimetype == "application/json"
    assert snapshot_files(tree) == before


# The deletion tests' hostile cycle names, each with a clip name after it.
@pytest.mark.parametrize("timestamp", HOSTILE_TIMESTAMPS)
def test_hostile_cycle_is_refused(client: FlaskClient, tree: Path, timestamp: str) -> None:
    _refused(client, tree, f"{timestamp}/test_stream1.mp4")


# The deletion tests' URL-encoded tricks as the path itself, and inside a real cycle.
@pytest.mark.parametrize("raw", HOSTILE_RAW_QUERIES)
def test_hostile_encoded_path_is_refused(client: FlaskClient, tree: Path, raw: str) -> None:
    _refused(client, tree, raw.removeprefix("./output/"))
    _refused(client, tree, f"{CYCLE}/{raw}")


@pytest.mark.parametrize("raw", [
    f"{CYCLE}/evil.mp4", f"{CYCLE}/.hidden.mp4", f"{CYCLE}/sub/deep.mp4", f"{CYCLE}/dir.mp4",
    f"{CYCLE}/rtsp_report.json", f"{CYCLE}/report.txt", f"{CYCLE}/streams.csv",
    f"{LINK_INSIDE}/test_stream1.mp4", f"{LINK_OUTSIDE}/victim.mp4",
    f"{LINK_OUTSIDE}/test_stream1.mp4", f"{UNICODE_DIGITS}/test_stream1.mp4",
    "not_a_cycle/clip.mp4", "loose.mp4", CYCLE, f"{CYCLE}/", f"{CYCLE}/..%2f..%2fsecret.mp4",
    f"{CYCLE}/%2e%2e/%2e%2e/secret.mp4", f"{CYCLE}/../{CYCLE}/test_stream1.mp4",
    f"{CYCLE}/test_stream1.mp4%00", f"{CYCLE}/test_stream1.mp4/..", "..%2fconfig.json",
])
def test_symlinks_other_files_and_depths_are_refused(client: FlaskClient, tree: Path,
                                                     raw: str) -> None:
    _refused(client, tree, raw)


def test_a_fifo_named_like_a_clip_is_refused_without_hanging(client: FlaskClient,
                                                            tree: Path) -> None:
    import os
    os.mkfifo(tree / "output" / CYCLE / "pipe.mp4")
    assert_error(client.get(f"/api/clips/{CYCLE}/pipe.mp4"), 403)


def test_the_real_clip_of_the_hostile_tree_is_served(client: FlaskClient, tree: Path) -> None:
    response = client.get(f"/api/clips/{CYCLE}/test_stream1.mp4")
    assert response.status_code == 200 and response.data == b"one" * 50
