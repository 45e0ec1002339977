"""GET /api/clips/<cycle>/<file>: Range, ETag, types, downloads, and deletion's confinement."""
from __future__ import annotations

from email.utils import formatdate
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
                        headers={"Range": f"bytes={len(BODY) + 5}-", "Accept-Language": "en"})
    assert beyond.status_code == 416
    # Said in words, and with the file's length as RFC 9110 asks (it was Werkzeug's English
    # description, and no Content-Range).
    assert beyond.headers["Content-Range"] == f"bytes */{len(BODY)}"
    assert beyond.get_json()["message"] == "请求的字节范围超出文件"
    assert beyond.get_json()["message_en"] == "The requested byte range is beyond the file"


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


URL = "/api/clips/20251010_163000/cam%201.mp4"


@pytest.mark.parametrize("header", [
    "bytes=abc", "bytes=5", "bytes=9-5", "bytes=--5", "bytes=0-0,5-9", "bytes=0-9, 100-",
    "items=0-9", "bytes 0-9", "", "bytes=0-9,abc",
    # RFC 9110 14.1: no white space around "=" or "-" (these were served 206)
    "bytes = 0-9", "BYTES = 5 - 9", "bytes= 0-9", "bytes =0-9", "bytes=0 -9", "bytes=0- 9",
    "bytes=- 5", "bytes=0-9 ;x",
])
def test_a_range_we_do_not_serve_is_ignored_and_the_whole_clip_answered(
        client: FlaskClient, clip: Path, header: str) -> None:
    """RFC 9110 14.2: a Range not understood (bad syntax, another unit, several ranges) is
    ignored: 200 with the whole clip (they were answered 416)."""
    response = client.get(URL, headers={"Range": header})
    assert response.status_code == 200
    assert response.data == BODY and "Content-Range" not in response.headers
    assert response.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(("header", "part"), [
    ("bytes=0-0", (0, 1)),
    ("bytes=10230-99999", (10230, len(BODY))),                 # the end past the file: clamped
    ("bytes=-20000", (0, len(BODY))),                          # a suffix longer than the file
    ("BYTES=5-9", (5, 10)),                                    # the unit in any case
    (" bytes=5-9\t", (5, 10)),                                 # the field value's own OWS
    ("bytes=0-" + "9" * 30, (0, len(BODY))),
])
def test_one_byte_range_is_206_by_the_rfc(client: FlaskClient, clip: Path, header: str,
                                          part: tuple[int, int]) -> None:
    response = client.get(URL, headers={"Range": header})
    assert response.status_code == 206
    assert response.data == BODY[part[0]:part[1]]
    assert response.headers["Content-Range"] == f"bytes {part[0]}-{part[1] - 1}/{len(BODY)}"


@pytest.mark.parametrize("header", [f"bytes={len(BODY)}-", "bytes=-0", "bytes=" + "9" * 30 + "-"])
def test_a_valid_range_beyond_the_clip_is_416(client: FlaskClient, clip: Path,
                                              header: str) -> None:
    response = client.get(URL, headers={"Range": header})
    assert_error(response, 416)
    assert response.headers["Content-Range"] == f"bytes */{len(BODY)}"


def test_if_range_serves_the_part_only_for_the_same_strong_tag_or_the_exact_date(
        client: FlaskClient, clip: Path) -> None:
    whole = client.get(URL)
    tag, date = whole.headers["ETag"], whole.headers["Last-Modified"]
    for same in (tag, date):
        part = client.get(URL, headers={"Range": "bytes=0-9", "If-Range": same})
        assert part.status_code == 206 and part.data == BODY[:10]
    later = formatdate(clip.stat().st_mtime + 3600, usegmt=True)
    for other in ("W/" + tag, '"other"', later, "not a date"):
        full = client.get(URL, headers={"Range": "bytes=0-9", "If-Range": other})
        assert full.status_code == 200 and full.data == BODY, other


def test_preconditions_follow_the_rfc_order(client: FlaskClient, clip: Path) -> None:
    """RFC 9110 13.2.2: If-Match, else If-Unmodified-Since (412); If-None-Match, else
    If-Modified-Since (304); then Range. If-Unmodified-Since was ignored."""
    whole = client.get(URL)
    tag = whole.headers["ETag"]
    mtime = clip.stat().st_mtime
    before, after = (formatdate(mtime - 3600, usegmt=True), formatdate(mtime + 3600, usegmt=True))
    changed = client.get(URL, headers={"If-Unmodified-Since": before, "Accept-Language": "en"})
    body = assert_error(changed, 412)
    assert body["message_en"] == "The file has changed (If-Match or If-Unmodified-Since not met)"
    assert changed.headers["ETag"] == tag
    assert client.get(URL, headers={"If-Unmodified-Since": after}).status_code == 200
    assert client.get(URL, headers={"If-Unmodified-Since": "garbage"}).status_code == 200
    assert_error(client.get(URL, headers={"If-Match": '"other"'}), 412)
    assert_error(client.get(URL, headers={"If-Match": "W/" + tag}), 412)  # strong comparison
    assert_error(client.get(URL, headers={"If-Match": '"other"', "Range": "bytes=0-9"}), 412)
    # If-Match that holds makes If-Unmodified-Since ignored.
    assert client.get(URL, headers={"If-Match": tag, "If-Unmodified-Since": before}).data == BODY
    assert client.get(URL, headers={"If-Match": "*"}).status_code == 200
    assert client.get(URL, headers={"If-Modified-Since": after}).status_code == 304
    assert client.get(URL, headers={"If-Modified-Since": before}).status_code == 200
    # If-None-Match wins over If-Modified-Since; a weak tag matches it.
    assert client.get(URL, headers={"If-None-Match": '"other"',
                                    "If-Modified-Since": after}).status_code == 200
    assert client.get(URL, headers={"If-None-Match": "W/" + tag}).status_code == 304
    assert client.get(URL, headers={"If-None-Match": tag, "Range": "bytes=0-9"}).status_code == 304
    part = client.get(URL, headers={"If-Match": tag, "Range": "bytes=0-9"})
    assert part.status_code == 206 and part.data == BODY[:10]


def test_a_head_ignores_range_and_answers_the_whole_length(client: FlaskClient,
                                                           clip: Path) -> None:
    response = client.head(URL, headers={"Range": "bytes=0-9"})
    assert response.status_code == 200 and response.headers["Content-Length"] == str(len(BODY))


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
    task = {"stream_index": 0, "status": 3, "output_file": "./output/20251010_163000/cam 1.mp4"}
    write_status(scheduler_running=True, cycle={"dir": "20251010_163000", "running": True},
                 tasks=[task])
    assert_error(client.get("/api/clips/20251010_163000/cam%201.mp4"), 409)
    assert client.get("/api/clips/20251010_163000/b.mkv").status_code == 200
    # Ended: served at once, the status file read as it is now (no copy kept for a while).
    write_status(scheduler_running=True, cycle={"dir": "20251010_163000", "running": True},
                 tasks=[{**task, "status": 4}])
    assert client.get("/api/clips/20251010_163000/cam%201.mp4").status_code == 200


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


# "Check now" clips: output/checks/<YYYYMMDD_HHMMSS>_<camera>/<clip>, served by the same route.
CHECK = "20251010_170500_test_stream1"
CHECK_URL = f"/api/clips/checks/{CHECK}/test_stream1.mp4"


@pytest.fixture
def check_clip(output_root: Path) -> Path:
    folder = output_root / "checks" / CHECK
    folder.mkdir(parents=True)
    (folder / "test_stream1.mp4").write_bytes(BODY)
    (folder / "notes.txt").write_bytes(b"not a clip")
    return folder / "test_stream1.mp4"


def test_a_check_clip_is_served_with_range_etag_and_disposition(client: FlaskClient,
                                                                check_clip: Path) -> None:
    whole = client.get(CHECK_URL)
    assert whole.status_code == 200 and whole.data == BODY and whole.mimetype == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Disposition"].startswith("inline")
    part = client.get(CHECK_URL, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.data == BODY[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(BODY)}"
    assert client.get(CHECK_URL, headers={"Range": f"bytes={len(BODY) + 5}-"}).status_code == 416
    again = client.get(CHECK_URL, headers={"If-None-Match": whole.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    download = client.get(CHECK_URL + "?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment")


def test_a_missing_check_clip_or_check_is_404(client: FlaskClient, check_clip: Path) -> None:
    assert_error(client.get(f"/api/clips/checks/{CHECK}/none.mp4"), 404)
    assert_error(client.get("/api/clips/checks/20251010_170500_other/test_stream1.mp4"), 404)


def test_a_check_clip_being_recorded_is_not_served(client: FlaskClient, check_clip: Path,
                                                  write_status: WriteStatus) -> None:
    running = {"stream_index": 0, "status": 3, "check_id": 1, "camera": "test_stream1",
               "kind": "check", "output_file": f"./output/checks/{CHECK}/test_stream1.mp4"}
    write_status(checks=[running])
    assert_error(client.get(CHECK_URL), 409)
    write_status(checks=[{**running, "status": 4}])
    assert client.get(CHECK_URL).status_code == 200


@pytest.mark.parametrize("raw", [
    f"checks/{CHECK}/notes.txt", f"checks/{CHECK}", f"checks/{CHECK}/", "checks/test_stream1.mp4",
    f"checks/{CHECK}/sub/test_stream1.mp4", f"checks/../{CYCLE}/test_stream1.mp4",
    f"checks/%2e%2e/{CYCLE}/test_stream1.mp4", f"checks/..%2f{CYCLE}/test_stream1.mp4",
    f"checks/{CHECK}/..%2f..%2fsecret.mp4", f"checks/{CHECK}/%2e%2e/%2e%2e/secret.mp4",
    f"checks/%252e%252e/{CYCLE}/test_stream1.mp4", f"checks/{CHECK}/test_stream1.mp4%00",
    f"checks/{CHECK}%00/test_stream1.mp4", f"checks/{CHECK}%2f..%2f{CHECK}/test_stream1.mp4",
    "checks/20251010_170500/test_stream1.mp4", "checks/not_a_check_x/test_stream1.mp4",
    "checks/link_check/test_stream1.mp4", f"checks/{CHECK}/evil.mp4",
    f"checks/{CHECK}%5c..%5c..%5csecret.mp4", f"checks/{CHECK}/.hidden.mp4",
])
def test_check_paths_are_confined_like_cycles(client: FlaskClient, tree: Path,
                                              raw: str) -> None:
    folder = tree / "output" / "checks" / CHECK
    folder.mkdir(parents=True)
    (folder / "test_stream1.mp4").write_bytes(b"check")
    (folder / "notes.txt").write_bytes(b"notes")
    (folder / ".hidden.mp4").write_bytes(b"hidden")
    (folder / "sub").mkdir()
    (folder / "sub" / "test_stream1.mp4").write_bytes(b"deep")
    (folder / "evil.mp4").symlink_to(tree / "secret.mp4")
    _refused(client, tree, raw)
    assert client.get(CHECK_URL).data == b"check"  # the real one is served


def test_no_check_clip_is_served_through_a_symlink(client: FlaskClient, tree: Path) -> None:
    outside = tree / "outside"
    (outside / CHECK).mkdir()
    (outside / CHECK / "test_stream1.mp4").write_bytes(b"outside clip")
    checks = tree / "output" / "checks"
    checks.symlink_to(outside, target_is_directory=True)  # the checks folder itself
    _refused(client, tree, f"checks/{CHECK}/test_stream1.mp4")
    checks.unlink()
    checks.mkdir()
    (checks / CHECK).symlink_to(outside / CHECK, target_is_directory=True)  # one check folder
    _refused(client, tree, f"checks/{CHECK}/test_stream1.mp4")


def test_a_check_folder_named_like_no_real_time_is_no_check(client: FlaskClient,
                                                             output_root: Path) -> None:
    folder = output_root / "checks" / "20261399_256199_test_stream1"
    folder.mkdir(parents=True)
    (folder / "test_stream1.mp4").write_bytes(BODY)
    assert_error(client.get("/api/clips/checks/20261399_256199_test_stream1/test_stream1.mp4"),
                 403)
