"""A foreign or unreadable entry in the output tree is skipped (and logged once), never fatal to a listing."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from shared.atomic import write_json_atomic
from tests.helpers import MakeCycle, valid_config

CYCLE = "20250101_000000"
LOCKED = "20250101_000001"
NOBODY = 65534
ROOT_OF_REPO = Path(__file__).resolve().parent.parent


def test_a_clip_name_that_is_not_utf8_is_skipped_and_logged_once(
        client: FlaskClient, make_cycle: MakeCycle, caplog: pytest.LogCaptureFixture) -> None:
    folder = make_cycle(CYCLE, reports=False)
    with open(os.path.join(os.fsencode(folder), b"bad\xff.mp4"), "wb") as clip:
        clip.write(b"foreign")
    with caplog.at_level(logging.WARNING, logger="shared.output_tree"):
        for _ in range(2):
            for url in ("/api/videos", f"/api/videos/{CYCLE}", "/api/videos?limit=10"):
                response = client.get(url)
                assert response.status_code == 200, response.get_data(as_text=True)
                assert [v["filename"] for v in response.get_json()["videos"]] == [
                    "test_stream1.mp4"]
            assert client.get("/api/timestamps").get_json()["timestamps"][0]["video_count"] == 1
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"listing: skipped {CYCLE}/bad\\xff.mp4: not a UTF-8 name"]


FOREIGN_NAMES = ["tab\there.mp4", "new\nline.mp4", "back\\slash.mp4", "bell\x07.mkv"]


def test_a_clip_name_the_api_could_not_delete_is_neither_listed_nor_served(
        client: FlaskClient, make_cycle: MakeCycle, caplog: pytest.LogCaptureFixture) -> None:
    """A hand-placed file named with a tab, a newline or a backslash (no output_filename can
    be): it was listed and served, but its deletion was refused (403)."""
    folder = make_cycle(CYCLE, {"test_stream1.mp4": b"clip",
                                **{name: b"foreign" for name in FOREIGN_NAMES}}, reports=False)
    with caplog.at_level(logging.WARNING, logger="shared.output_tree"):
        for _ in range(2):
            for url in ("/api/videos", f"/api/videos/{CYCLE}", "/api/videos?limit=10"):
                videos = client.get(url).get_json()["videos"]
                assert [v["filename"] for v in videos] == ["test_stream1.mp4"]
            assert client.get("/api/timestamps").get_json()["timestamps"][0]["video_count"] == 1
    lines = sorted(r.getMessage() for r in caplog.records)
    assert lines == sorted(
        f"listing: skipped {CYCLE}/{repr(os.fsencode(name))[2:-1]}: a control character or a "
        "backslash in its name" for name in FOREIGN_NAMES)
    for name in FOREIGN_NAMES:
        served = client.get(f"/api/clips/{CYCLE}/{quote(name, safe='')}")
        assert served.status_code in (403, 404)  # Flask's routes match no newline: 404
        deleted = client.delete("/api/video", query_string={"path": f"./output/{CYCLE}/{name}"})
        assert deleted.status_code == 403
        assert (folder / name).read_bytes() == b"foreign"
    assert client.delete(f"/api/timestamp/{CYCLE}").status_code == 200  # they go with it
    assert not folder.exists()


def test_a_clip_name_with_a_character_that_turns_text_around_is_neither_listed_nor_served(
        client: FlaskClient, make_cycle: MakeCycle, caplog: pytest.LogCaptureFixture) -> None:
    """A hand-placed cam<U+202E>gpm.mp4 (no output_filename can be named so now): it was listed,
    and the console's delete question read it backwards."""
    name = "cam\u202egpm.mp4"
    folder = make_cycle(CYCLE, {"test_stream1.mp4": b"clip", name: b"foreign"}, reports=False)
    with caplog.at_level(logging.WARNING, logger="shared.output_tree"):
        for url in ("/api/videos", f"/api/videos/{CYCLE}", "/api/videos?limit=10"):
            assert [v["filename"] for v in client.get(url).get_json()["videos"]] == [
                "test_stream1.mp4"]
        page = client.get(f"/cycles/{CYCLE}").get_data(as_text=True)
        assert "test_stream1.mp4" in page and "gpm.mp4" not in page
    assert [r.getMessage() for r in caplog.records] == [
        f"listing: skipped {CYCLE}/cam\\xe2\\x80\\xaegpm.mp4: an invisible format character "
        "(U+202E) in its name"]
    assert client.get(f"/api/clips/{CYCLE}/{quote(name, safe='')}").status_code in (403, 404)
    assert client.delete("/api/video",
                         query_string={"path": f"./output/{CYCLE}/{name}"}).status_code == 403
    assert (folder / name).read_bytes() == b"foreign"


@pytest.fixture
def shared_tree() -> Iterator[Path]:
    """A folder another user may read: config.json, output/<CYCLE> with a clip, output/<LOCKED> mode 000."""
    top = Path(tempfile.mkdtemp(prefix="patrol-listing-"))
    try:
        top.chmod(0o755)
        write_json_atomic(str(top / "config.json"), valid_config())
        (top / "config.json").chmod(0o644)
        for name in (CYCLE, LOCKED):
            (top / "output" / name).mkdir(parents=True)
            (top / "output" / name / "test_stream1.mp4").write_bytes(b"clip")
        (top / "output" / LOCKED).chmod(0)
        yield top
    finally:
        (top / "output" / LOCKED).chmod(0o755)
        shutil.rmtree(top)


LISTING = """
import json, logging, sys
from app import create_app
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
client = create_app({"CONFIG_PATH": sys.argv[1]}).test_client()
answers = {}
for url in ["/api/timestamps", "/api/videos", "/api/videos?limit=5", "/api/videos/" + sys.argv[2],
            "/api/timestamps"]:
    response = client.get(url)
    answers[url] = [response.status_code, response.get_json()]
print(json.dumps(answers))
"""


def test_an_unreadable_cycle_folder_is_skipped_for_a_user_who_cannot_read_it(
        shared_tree: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to list as another user (root reads mode 000)")
    result = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable,
         "-c", LISTING, str(shared_tree / "config.json"), LOCKED],
        capture_output=True, text=True, timeout=60, cwd=shared_tree,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT_OF_REPO),
             "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert {url: status for url, (status, _) in answers.items()} == {
        "/api/timestamps": 200, "/api/videos": 200, "/api/videos?limit=5": 200,
        f"/api/videos/{LOCKED}": 200}
    assert [t["timestamp"] for t in answers["/api/timestamps"][1]["timestamps"]] == [CYCLE]
    assert [v["timestamp_dir"] for v in answers["/api/videos"][1]["videos"]] == [CYCLE]
    assert answers[f"/api/videos/{LOCKED}"][1]["count"] == 0
    skipped = [line for line in result.stderr.splitlines() if "skipped cycle" in line]
    assert skipped == [f"listing: skipped cycle {LOCKED}: Permission denied"], result.stderr
