"""Pictures over the API: thumbnail and contact-sheet URLs in the listings, serving them with the
confinement of deletion, a clip's deletion taking its thumbnail, and setting a reference."""
from __future__ import annotations

import os
from email.utils import formatdate
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from shared import settings
from tests.helpers import MakeCycle, assert_error

CYCLE = "20251010_163000"
CLIP = b"\x00\x00\x00\x18ftypisom" + b"a" * 100
JPEG = b"\xff\xd8\xff\xe0 a small picture \xff\xd9"


def _cycle_with_pictures(make_cycle: MakeCycle, cycle: str = CYCLE, jpeg: bytes = JPEG) -> Path:
    folder = make_cycle(cycle, {"test_stream1.mp4": CLIP, "test_stream2.mp4": CLIP})
    (folder / ".test_stream1.mp4.jpg").write_bytes(jpeg)
    (folder / "contact_sheet.jpg").write_bytes(jpeg + b"sheet")
    return folder


def test_listings_give_the_urls_of_the_pictures_that_exist(client: FlaskClient,
                                                           make_cycle: MakeCycle) -> None:
    _cycle_with_pictures(make_cycle)
    make_cycle("20251010_163100", {"test_stream1.mp4": CLIP})
    videos = {v["filename"]: v["thumbnail"] for v in client.get(f"/api/videos/{CYCLE}").json[
        "videos"]}
    assert videos == {"test_stream1.mp4": f"/api/thumbnails/{CYCLE}/test_stream1.mp4",
                      "test_stream2.mp4": None}
    sheets = {c["timestamp"]: c["contact_sheet"] for c in client.get("/api/timestamps").json[
        "timestamps"]}
    assert sheets == {CYCLE: f"/api/contact_sheets/{CYCLE}", "20251010_163100": None}
    # Hidden pictures are no clips: the counts are as before.
    assert client.get("/api/timestamps").json["timestamps"][1]["video_count"] == 2


def test_the_listed_urls_serve_the_jpegs_with_an_etag(client: FlaskClient,
                                                      make_cycle: MakeCycle) -> None:
    _cycle_with_pictures(make_cycle)
    answer = client.get(f"/api/thumbnails/{CYCLE}/test_stream1.mp4")
    assert answer.status_code == 200 and answer.mimetype == "image/jpeg"
    assert answer.data == JPEG
    again = client.get(f"/api/thumbnails/{CYCLE}/test_stream1.mp4",
                       headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304
    sheet = client.get(f"/api/contact_sheets/{CYCLE}")
    assert sheet.status_code == 200 and sheet.data == JPEG + b"sheet"


def test_a_picture_answers_the_preconditions_as_a_clip_does(client: FlaskClient,
                                                            make_cycle: MakeCycle) -> None:
    """If-Unmodified-Since was ignored (200 for a picture written since)."""
    folder = _cycle_with_pictures(make_cycle)
    url = f"/api/thumbnails/{CYCLE}/test_stream1.mp4"
    mtime = (folder / ".test_stream1.mp4.jpg").stat().st_mtime
    tag = client.get(url).headers["ETag"]
    assert_error(client.get(url, headers={
        "If-Unmodified-Since": formatdate(mtime - 3600, usegmt=True)}), 412)
    assert client.get(url, headers={
        "If-Unmodified-Since": formatdate(mtime + 3600, usegmt=True)}).data == JPEG
    assert_error(client.get(url, headers={"If-Match": '"other"'}), 412)
    assert client.get(url, headers={"If-Match": tag}).data == JPEG


def test_a_sheet_of_several_pages_is_listed_with_its_page_count_and_each_page_served(
        client: FlaskClient, make_cycle: MakeCycle) -> None:
    folder = _cycle_with_pictures(make_cycle)
    (folder / "contact_sheet_2.jpg").write_bytes(JPEG + b"page 2")
    (folder / "contact_sheet_4.jpg").write_bytes(JPEG + b"page 4")  # after a gap: not counted
    (folder / "contact_sheet_03.jpg").write_bytes(JPEG)  # not a page's name
    record = client.get("/api/timestamps").json["timestamps"][0]
    assert (record["contact_sheet"], record["contact_sheet_pages"]) == (
        f"/api/contact_sheets/{CYCLE}", 2)
    assert client.get(f"/api/contact_sheets/{CYCLE}/1").data == JPEG + b"sheet"
    assert client.get(f"/api/contact_sheets/{CYCLE}/2").data == JPEG + b"page 2"
    for page in (0, 3, 1_000_000):
        assert_error(client.get(f"/api/contact_sheets/{CYCLE}/{page}"), 404)
    assert_error(client.get(f"/api/contact_sheets/{CYCLE}/-1"), 404)
    assert_error(client.get("/api/contact_sheets/not_a_cycle/2"), 403)
    page = client.get(f"/cycles/{CYCLE}").get_data(as_text=True)  # the console shows both
    assert (f'<img src="/api/contact_sheets/{CYCLE}"' in page
            and f'<img src="/api/contact_sheets/{CYCLE}/2"' in page
            and f"/api/contact_sheets/{CYCLE}/4" not in page)


def test_pictures_are_served_only_from_cycle_folders_and_never_through_a_symlink(
        client: FlaskClient, make_cycle: MakeCycle, output_root: Path, tmp_path: Path) -> None:
    folder = _cycle_with_pictures(make_cycle)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not yours")
    (folder / ".test_stream2.mp4.jpg").symlink_to(secret)
    assert_error(client.get(f"/api/thumbnails/{CYCLE}/test_stream2.mp4"), 403)
    linked = output_root / "20251010_170000"
    linked.symlink_to(folder)
    assert_error(client.get("/api/contact_sheets/20251010_170000"), 403)
    assert_error(client.get(f"/api/thumbnails/{CYCLE}/report.txt"), 403)  # not a clip's
    assert_error(client.get("/api/contact_sheets/not_a_cycle"), 403)
    assert_error(client.get(f"/api/thumbnails/{CYCLE}/..%2Fsecret.jpg"), 404)
    assert_error(client.get(f"/api/thumbnails/{CYCLE}/missing.mp4"), 404)
    assert_error(client.get("/api/contact_sheets/20251010_180000"), 404)


def test_a_folder_or_fifo_named_like_a_picture_is_refused(client: FlaskClient,
                                                          make_cycle: MakeCycle) -> None:
    # A folder there was answered 500: the file was opened, then its fdopen refused a folder.
    folder = _cycle_with_pictures(make_cycle)
    (folder / ".test_stream2.mp4.jpg").mkdir()
    os.mkfifo(folder / "contact_sheet_2.jpg")
    for url in (f"/api/thumbnails/{CYCLE}/test_stream2.mp4", f"/api/contact_sheets/{CYCLE}/2"):
        assert_error(client.get(url), 403, "只能读取普通图片文件")


def test_a_symlink_at_a_pictures_name_is_not_listed_as_a_picture(
        client: FlaskClient, make_cycle: MakeCycle, tmp_path: Path) -> None:
    # It is refused when asked for (403): a listing that gave its URL (or counted it as a
    # contact-sheet page) sent clients to a refusal.
    folder = _cycle_with_pictures(make_cycle)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(JPEG)
    (folder / ".test_stream2.mp4.jpg").symlink_to(secret)
    (folder / "contact_sheet_2.jpg").symlink_to(secret)
    videos = {v["filename"]: v["thumbnail"] for v in client.get(f"/api/videos/{CYCLE}").json[
        "videos"]}
    assert videos["test_stream2.mp4"] is None and videos["test_stream1.mp4"] is not None
    record = next(c for c in client.get("/api/timestamps").json["timestamps"]
                  if c["timestamp"] == CYCLE)
    assert record["contact_sheet_pages"] == 1


def test_deleting_a_clip_removes_its_thumbnail(client: FlaskClient, make_cycle: MakeCycle) -> None:
    folder = _cycle_with_pictures(make_cycle)
    answer = client.delete(f"/api/video?path=./output/{CYCLE}/test_stream1.mp4")
    assert answer.status_code == 200
    assert not (folder / ".test_stream1.mp4.jpg").exists()
    assert (folder / "contact_sheet.jpg").exists()


def test_a_reference_is_the_cameras_latest_thumbnail(client: FlaskClient, make_cycle: MakeCycle,
                                                     config_path: Path) -> None:
    _cycle_with_pictures(make_cycle, jpeg=b"older")
    _cycle_with_pictures(make_cycle, "20251010_163100", jpeg=b"newest")
    make_cycle("20251010_163200", {"test_stream1.mp4": CLIP})  # no thumbnail in the last one
    answer = client.post("/api/cameras/test_stream1/reference")
    assert answer.status_code == 200, answer.json
    assert answer.json["timestamp"] == "20251010_163100"
    reference = Path(settings.references_dir(str(config_path))) / "test_stream1.jpg"
    assert reference.read_bytes() == b"newest"
    assert_error(client.post("/api/cameras/test_stream2/reference"), 404)  # no thumbnail yet
    assert_error(client.post("/api/cameras/nosuch/reference"), 404)


@pytest.mark.parametrize("camera", ["a" * 241, "é" * 120])
def test_a_camera_with_the_longest_name_gets_its_reference(
        client: FlaskClient, make_cycle: MakeCycle, config_path: Path, camera: str) -> None:
    # output_filename may have 245 bytes: <id>.jpg is then near the limit, its temp file past it.
    clip = camera + ".mp4"
    assert client.put("/api/config/streams/0", json={"output_filename": clip}).status_code == 200
    folder = make_cycle(CYCLE, {clip: CLIP})
    (folder / f".{clip}.jpg").write_bytes(b"long")
    answer = client.post(f"/api/cameras/{camera}/reference")
    assert answer.status_code == 200, answer.json
    references = Path(settings.references_dir(str(config_path)))
    assert (references / f"{camera}.jpg").read_bytes() == b"long"
    assert os.listdir(references) == [f"{camera}.jpg"]
    assert client.get(f"/api/cameras/{camera}/reference").data == b"long"


def _aged(picture: Path, seconds_ago: float) -> None:
    """Give ``picture`` the mtime of a thumbnail written ``seconds_ago`` (its clip's end)."""
    when = os.stat(picture).st_mtime - seconds_ago
    os.utime(picture, (when, when))


def test_a_reference_after_check_now_is_the_checks_picture(
        client: FlaskClient, make_cycle: MakeCycle, output_root: Path, config_path: Path) -> None:
    # The operator re-aims the camera, runs "check now", then sets the reference: the
    # check's thumbnail is the camera's newest picture, not the last cycle's (the old view).
    cycle = _cycle_with_pictures(make_cycle, jpeg=b"old view")
    _aged(cycle / ".test_stream1.mp4.jpg", 600)
    check = "20251010_170500_test_stream1"
    folder = output_root / "checks" / check
    folder.mkdir(parents=True)
    (folder / "test_stream1.mp4").write_bytes(CLIP)
    (folder / ".test_stream1.mp4.jpg").write_bytes(b"new view")
    answer = client.post("/api/cameras/test_stream1/reference")
    assert answer.status_code == 200, answer.json
    assert answer.json["timestamp"] == f"checks/{check}"
    assert client.get(answer.json["thumbnail"]).data == b"new view"  # the URL serves it
    reference = Path(settings.references_dir(str(config_path))) / "test_stream1.jpg"
    assert reference.read_bytes() == b"new view"
    assert_error(client.post("/api/cameras/test_stream2/reference"), 404)  # none in any folder


def test_the_newest_picture_wins_by_its_own_time_not_its_folders_name(
        client: FlaskClient, make_cycle: MakeCycle, output_root: Path, config_path: Path) -> None:
    # A check started at 16:31 beside the cycle of 16:30, which recorded this camera after it:
    # the cycle's picture is the newer one although its folder's name is older.
    cycle = _cycle_with_pictures(make_cycle, jpeg=b"cycle, recorded last")
    folder = output_root / "checks" / "20251010_163100_test_stream1"
    folder.mkdir(parents=True)
    (folder / ".test_stream1.mp4.jpg").write_bytes(b"check, recorded first")
    _aged(folder / ".test_stream1.mp4.jpg", 60)
    answer = client.post("/api/cameras/test_stream1/reference")
    assert answer.status_code == 200 and answer.json["timestamp"] == CYCLE
    reference = Path(settings.references_dir(str(config_path))) / "test_stream1.jpg"
    assert reference.read_bytes() == b"cycle, recorded last"
    _aged(cycle / ".test_stream1.mp4.jpg", 120)  # now the cycle's is the older picture
    answer = client.post("/api/cameras/test_stream1/reference")
    assert answer.json["timestamp"] == "checks/20251010_163100_test_stream1"
    assert reference.read_bytes() == b"check, recorded first"


def test_a_reference_is_never_taken_through_a_symlinked_checks_folder(
        client: FlaskClient, make_cycle: MakeCycle, output_root: Path, tmp_path: Path) -> None:
    cycle = _cycle_with_pictures(make_cycle, jpeg=b"cycle")
    _aged(cycle / ".test_stream1.mp4.jpg", 600)
    elsewhere = tmp_path / "elsewhere" / "20251010_170500_test_stream1"
    elsewhere.mkdir(parents=True)
    (elsewhere / ".test_stream1.mp4.jpg").write_bytes(b"not ours")
    (output_root / "checks").symlink_to(elsewhere.parent, target_is_directory=True)
    answer = client.post("/api/cameras/test_stream1/reference")
    assert answer.status_code == 200 and answer.json["timestamp"] == CYCLE


def test_a_check_clips_thumbnail_is_served_by_the_same_rules(
        client: FlaskClient, output_root: Path, tmp_path: Path) -> None:
    check = "20251010_170500_test_stream1"
    folder = output_root / "checks" / check
    folder.mkdir(parents=True)
    (folder / "test_stream1.mp4").write_bytes(CLIP)
    (folder / ".test_stream1.mp4.jpg").write_bytes(JPEG)
    url = f"/api/thumbnails/checks/{check}/test_stream1.mp4"
    answer = client.get(url)
    assert answer.status_code == 200 and answer.mimetype == "image/jpeg" and answer.data == JPEG
    assert client.get(url, headers={"If-None-Match": answer.headers["ETag"]}).status_code == 304
    assert_error(client.get(f"/api/thumbnails/checks/{check}/test_stream2.mp4"), 404)
    assert_error(client.get(f"/api/thumbnails/checks/{check}/report.txt"), 403)
    assert_error(client.get("/api/thumbnails/checks/..%2F..%2Fsecret/test_stream1.mp4"), 404)
    assert_error(client.get("/api/thumbnails/checks/not_a_check/test_stream1.mp4"), 403)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not yours")
    (folder / ".test_stream2.mp4.jpg").symlink_to(secret)
    assert_error(client.get(f"/api/thumbnails/checks/{check}/test_stream2.mp4"), 403)
    linked = output_root / "checks" / "20251010_180000_test_stream1"
    linked.symlink_to(folder, target_is_directory=True)
    assert_error(client.get("/api/thumbnails/checks/20251010_180000_test_stream1/"
                            "test_stream1.mp4"), 403)


def test_a_cameras_reference_picture_is_served_once_there_is_one(
        client: FlaskClient, make_cycle: MakeCycle) -> None:
    assert_error(client.get("/api/cameras/test_stream1/reference"), 404)  # none yet
    assert_error(client.get("/api/cameras/nosuch/reference"), 404)
    assert_error(client.get("/api/cameras/..%2Fconfig/reference"), 404)  # ids of the config only
    _cycle_with_pictures(make_cycle)
    assert client.post("/api/cameras/test_stream1/reference").status_code == 200
    answer = client.get("/api/cameras/test_stream1/reference")
    assert answer.status_code == 200 and answer.mimetype == "image/jpeg" and answer.data == JPEG
    again = client.get("/api/cameras/test_stream1/reference",
                       headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304


def test_an_unreadable_reference_is_a_logged_500(client: FlaskClient, config_path: Path,
                                                 caplog) -> None:
    folder = Path(settings.references_dir(str(config_path)))
    (folder / "test_stream1.jpg").mkdir(parents=True)  # a folder where the picture should be
    assert_error(client.get("/api/cameras/test_stream1/reference"), 500, "参考画面读取失败")
    assert "reference of test_stream1 not readable" in caplog.text


def test_a_symlink_at_a_references_name_is_not_followed(client: FlaskClient, config_path: Path,
                                                        make_cycle: MakeCycle, caplog) -> None:
    # The operator's test: references/<camera>.jpg -> config.json served the config (and its
    # passwords) as image/jpeg.
    folder = Path(settings.references_dir(str(config_path)))
    folder.mkdir(parents=True)
    (folder / "test_stream1.jpg").symlink_to(config_path)
    answer = client.get("/api/cameras/test_stream1/reference")
    assert_error(answer, 403, "符号链接")
    assert b"rtsp://" not in answer.data and "a symlink at" in caplog.text
    assert "?v=" not in client.get("/cameras/test_stream1").get_data(as_text=True)
    # Setting a reference replaces the link itself, never the file it points to.
    before = config_path.read_bytes()
    _cycle_with_pictures(make_cycle)
    assert client.post("/api/cameras/test_stream1/reference").status_code == 200
    assert config_path.read_bytes() == before
    assert not (folder / "test_stream1.jpg").is_symlink()
    assert client.get("/api/cameras/test_stream1/reference").data == JPEG


def test_a_fifo_at_a_references_name_is_refused_at_once(client: FlaskClient,
                                                        config_path: Path) -> None:
    folder = Path(settings.references_dir(str(config_path)))
    folder.mkdir(parents=True)
    os.mkfifo(folder / "test_stream1.jpg")  # open() waited for a writer forever
    assert_error(client.get("/api/cameras/test_stream1/reference"), 500, "参考画面读取失败")


def test_a_symlinked_references_folder_is_followed(client: FlaskClient, config_path: Path,
                                                   tmp_path: Path) -> None:
    # README: a cluster's recorders share one folder; its link is the operator's own.
    shared_folder = tmp_path / "mount" / "references"
    shared_folder.mkdir(parents=True)
    (shared_folder / "test_stream1.jpg").write_bytes(JPEG)
    folder = Path(settings.references_dir(str(config_path)))
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.symlink_to(shared_folder, target_is_directory=True)
    answer = client.get("/api/cameras/test_stream1/reference")
    assert answer.status_code == 200 and answer.data == JPEG
