"""Results endpoints: listing cycle folders and clips, and deleting them."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.__main__ import main
from recorder.config_watch import ConfigWatch
from shared import settings
from shared.atomic import write_json_atomic
from shared.timefmt import format_local, is_cycle_name
from tests.helpers import REPORT_FILES, MakeCycle, WriteStatus, assert_error, valid_config

CLIP1 = b"clip-one" * 100      # 800 bytes
CLIP2 = b"clip-two!" * 300     # 2700 bytes
TWO_CLIPS = {"test_stream1.mp4": CLIP1, "test_stream2.mp4": CLIP2}
DISPLAY_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
VIDEO_FIELDS = {"filename", "full_path", "timestamp_dir", "file_size", "created_time",
                "stream_index", "url", "thumbnail"}


@pytest.fixture
def three_cycles(make_cycle: MakeCycle) -> list[Path]:
    """Three cycles, created out of order, with different clip sets."""
    return [
        make_cycle("20251010_163100", {"test_stream1.mp4": CLIP1}),
        make_cycle("20251010_163000", TWO_CLIPS),
        make_cycle("20251010_163200", {}),
    ]


# --- GET /api/timestamps ---------------------------------------------------------------------

def test_timestamps_empty_output(client: FlaskClient) -> None:
    response = client.get("/api/timestamps")
    assert response.status_code == 200
    assert response.get_json() == {"count": 0, "timestamps": []}


def test_timestamps_missing_output_folder(client: FlaskClient, output_root: Path) -> None:
    output_root.rmdir()
    response = client.get("/api/timestamps")
    assert response.status_code == 200
    assert response.get_json() == {"count": 0, "timestamps": []}


def test_timestamps_newest_first_with_counts_and_sizes(client: FlaskClient,
                                                       three_cycles: list[Path]) -> None:
    body = client.get("/api/timestamps").get_json()
    assert body == {
        "count": 3,
        "timestamps": [
            {"timestamp": "20251010_163200", "video_count": 0, "total_size": 0,
             "contact_sheet": None, "contact_sheet_pages": 0},
            {"timestamp": "20251010_163100", "video_count": 1, "total_size": len(CLIP1),
             "contact_sheet": None, "contact_sheet_pages": 0},
            {"timestamp": "20251010_163000", "video_count": 2,
             "total_size": len(CLIP1) + len(CLIP2), "contact_sheet": None,
             "contact_sheet_pages": 0},
        ],
    }


def test_timestamps_ignore_reports_and_non_cycle_entries(client: FlaskClient, make_cycle: MakeCycle,
                                                         output_root: Path, tmp_path: Path) -> None:
    make_cycle("20251010_163000", TWO_CLIPS)
    make_cycle("not_a_cycle", TWO_CLIPS)
    make_cycle("2025101_163000", TWO_CLIPS)            # one digit short
    (output_root / "20251010_163300").write_bytes(b"a file named like a cycle")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "test_stream1.mp4").write_bytes(CLIP1)
    (output_root / "20251010_163400").symlink_to(outside, target_is_directory=True)
    body = client.get("/api/timestamps").get_json()
    assert [t["timestamp"] for t in body["timestamps"]] == ["20251010_163000"]
    # Report files are not videos.
    assert body["timestamps"][0]["video_count"] == 2


@pytest.mark.parametrize(("name", "expected"), [
    ("20251010_163000", True),
    ("20251010_163000_01", True),       # two cycles in one second
    ("20251010_163000_1", False),
    ("20251010_163000\n", False),       # "$" would accept a trailing newline
    ("２０２５１０１０_１６３０００", False),  # "\d" would accept Unicode digits
    ("2025101_163000", False),
    ("20251010-163000", False),
    (" 20251010_163000", False),
    ("", False),
    # The name is a time (SPEC): only a real date and time counts.
    ("20240229_235959", True),          # a leap day
    ("20261399_256199", False),         # month 13, day 99, hour 25, second 99
    ("20261399_256199_01", False),
    ("20250229_120000", False),         # no 29 February in 2025
    ("20251131_120000", False),
    ("20251010_240000", False),
    ("20251010_126000", False),
    ("20251010_120060", False),
    ("00001010_120000", False),
])
def test_cycle_names(name: str, expected: bool) -> None:
    assert is_cycle_name(name) is expected


def test_a_folder_named_like_no_real_time_is_no_cycle(client: FlaskClient, make_cycle: MakeCycle,
                                                      output_root: Path) -> None:
    make_cycle("20251010_163000", {"test_stream1.mp4": CLIP1})
    odd = make_cycle("20261399_256199", {"test_stream1.mp4": CLIP2})
    timestamps = client.get("/api/timestamps").get_json()
    assert [t["timestamp"] for t in timestamps["timestamps"]] == ["20251010_163000"]
    videos = client.get("/api/videos").get_json()["videos"]
    assert [v["timestamp_dir"] for v in videos] == ["20251010_163000"]
    assert_error(client.get("/api/videos/20261399_256199"), 404)
    assert_error(client.get("/api/clips/20261399_256199/test_stream1.mp4"), 403)
    assert_error(client.delete("/api/timestamp/20261399_256199"), 403)
    assert_error(client.delete("/api/video", query_string={
        "path": "./output/20261399_256199/test_stream1.mp4"}), 403)
    assert (odd / "test_stream1.mp4").read_bytes() == CLIP2


# --- GET /api/videos -------------------------------------------------------------------------

def test_videos_lists_every_clip(client: FlaskClient, three_cycles: list[Path]) -> None:
    body = client.get("/api/videos").get_json()
    assert body["count"] == 3
    assert len(body["videos"]) == 3
    assert {(v["timestamp_dir"], v["filename"]) for v in body["videos"]} == {
        ("20251010_163000", "test_stream1.mp4"), ("20251010_163000", "test_stream2.mp4"),
        ("20251010_163100", "test_stream1.mp4")}
    for video in body["videos"]:
        assert set(video) == VIDEO_FIELDS
        assert video["full_path"] == f"./output/{video['timestamp_dir']}/{video['filename']}"
        assert isinstance(video["file_size"], int)
        assert DISPLAY_TIME_RE.match(video["created_time"])
        assert isinstance(video["stream_index"], str)


def test_video_record_fields(client: FlaskClient, make_cycle: MakeCycle) -> None:
    folder = make_cycle("20251010_163000", {"test_stream2.mp4": CLIP2})
    mtime = 1760085026  # 2025-10-10 08:30:26 UTC
    os.utime(folder / "test_stream2.mp4", (mtime, mtime))
    body = client.get("/api/videos").get_json()
    assert body == {"count": 1, "videos": [{
        "filename": "test_stream2.mp4",
        "full_path": "./output/20251010_163000/test_stream2.mp4",
        "timestamp_dir": "20251010_163000",
        "file_size": len(CLIP2),
        "created_time": format_local(mtime),
        "stream_index": "2",
        "url": "/api/clips/20251010_163000/test_stream2.mp4",
        "thumbnail": None,
    }]}


@pytest.mark.parametrize(("filename", "stream_index"), [
    ("test_stream1.mp4", "1"),
    ("test_stream12.mp4", "12"),
    ("cam.mp4", ""),
    ("44010200492000000074_34020000001320000001.mp4",
     "4401020049200000007434020000001320000001"),
    ("s1_b2.mkv", "12"),
    ("cam\u0663.mp4", ""),          # an Arabic-Indic digit is not an index digit
])
def test_stream_index_is_the_digits_of_the_name(client: FlaskClient, make_cycle: MakeCycle,
                                                filename: str, stream_index: str) -> None:
    make_cycle("20251010_163000", {filename: b"x"})
    videos = client.get("/api/videos").get_json()["videos"]
    assert [(v["filename"], v["stream_index"]) for v in videos] == [(filename, stream_index)]


def test_videos_ignore_non_video_hidden_and_symlinked_entries(
        client: FlaskClient, make_cycle: MakeCycle, output_root: Path, tmp_path: Path) -> None:
    folder = make_cycle("20251010_163000", {"test_stream1.mp4": CLIP1, ".hidden.mp4": b"x",
                                            "notes.txt": b"x"})
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"outside")
    (folder / "linked.mp4").symlink_to(outside)
    (folder / "subdir.mp4").mkdir()
    make_cycle("not_a_cycle", {"stray.mp4": b"x"})
    (output_root / "loose.mp4").write_bytes(b"x")
    elsewhere = make_cycle("elsewhere_dir", {"foreign.mp4": b"x"})
    (output_root / "20251010_170000").symlink_to(elsewhere, target_is_directory=True)
    body = client.get("/api/videos").get_json()
    assert [(v["timestamp_dir"], v["filename"]) for v in body["videos"]] == [
        ("20251010_163000", "test_stream1.mp4")]
    assert body["count"] == 1


def test_videos_of_one_cycle_by_query_and_by_path(client: FlaskClient,
                                                  three_cycles: list[Path]) -> None:
    by_query = client.get("/api/videos", query_string={"timestamp": "20251010_163000"})
    by_path = client.get("/api/videos/20251010_163000")
    for response in (by_query, by_path):
        assert response.status_code == 200
        body = response.get_json()
        assert body["timestamp"] == "20251010_163000"
        assert body["count"] == 2
        assert [v["filename"] for v in body["videos"]] == ["test_stream1.mp4", "test_stream2.mp4"]
        assert all(v["timestamp_dir"] == "20251010_163000" for v in body["videos"])
    assert by_query.get_json() == by_path.get_json()


def test_videos_of_an_empty_cycle(client: FlaskClient, three_cycles: list[Path]) -> None:
    response = client.get("/api/videos/20251010_163200")
    assert response.status_code == 200
    assert response.get_json() == {"timestamp": "20251010_163200", "count": 0, "videos": []}


@pytest.mark.parametrize("timestamp", [
    "20991231_235959",      # well-formed, absent
    "not_a_cycle",          # exists, but is not a cycle folder
    "20251010_170000",      # symlinked cycle folder
    "..",
    "",
])
def test_videos_of_unknown_cycle_is_404(client: FlaskClient, make_cycle: MakeCycle,
                                        output_root: Path, timestamp: str) -> None:
    make_cycle("not_a_cycle", {"x.mp4": b"x"})
    real = make_cycle("20251010_163000")
    (output_root / "20251010_170000").symlink_to(real, target_is_directory=True)
    assert_error(client.get("/api/videos", query_string={"timestamp": timestamp}), 404)
    if timestamp:
        assert_error(client.get(f"/api/videos/{timestamp}"), 404)


def test_videos_repeated_query_parameter_is_400(client: FlaskClient,
                                               three_cycles: list[Path]) -> None:
    response = client.get("/api/videos?timestamp=20251010_163000&timestamp=20251010_163100")
    assert_error(response, 400)


# --- DELETE /api/video -----------------------------------------------------------------------

def test_delete_video_by_listed_full_path(client: FlaskClient, make_cycle: MakeCycle) -> None:
    folder = make_cycle("20251010_163000", TWO_CLIPS)
    full_path = "./output/20251010_163000/test_stream1.mp4"
    listed = client.get("/api/videos/20251010_163000").get_json()["videos"]
    assert full_path in [v["full_path"] for v in listed]
    response = client.delete("/api/video", query_string={"path": full_path})
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "path": full_path, "message": "文件删除成功"}
    assert not (folder / "test_stream1.mp4").exists()
    assert (folder / "test_stream2.mp4").read_bytes() == CLIP2
    for name, content in REPORT_FILES.items():
        assert (folder / name).read_bytes() == content
    assert client.get("/api/videos/20251010_163000").get_json()["count"] == 1


@pytest.mark.parametrize("spelling", [
    "output/20251010_163000/test_stream2.mp4",
    "./output//20251010_163000/./test_stream2.mp4",
    "{root}/20251010_163000/test_stream2.mp4",
])
def test_delete_video_other_spellings_of_a_clip(client: FlaskClient, make_cycle: MakeCycle,
                                                output_root: Path, spelling: str) -> None:
    folder = make_cycle("20251010_163000", TWO_CLIPS)
    path = spelling.format(root=output_root)
    response = client.delete("/api/video", query_string={"path": path})
    assert response.status_code == 200
    assert response.get_json()["path"] == path
    assert not (folder / "test_stream2.mp4").exists()
    assert (folder / "test_stream1.mp4").exists()


def test_delete_missing_clip_is_404(client: FlaskClient, make_cycle: MakeCycle) -> None:
    folder = make_cycle("20251010_163000", {"test_stream1.mp4": CLIP1})
    for path in ("./output/20251010_163000/test_stream9.mp4",
                 "./output/20991231_000000/test_stream1.mp4"):
        assert_error(client.delete("/api/video", query_string={"path": path}), 404)
    assert (folder / "test_stream1.mp4").read_bytes() == CLIP1


def test_delete_video_twice_is_404_the_second_time(client: FlaskClient,
                                                   make_cycle: MakeCycle) -> None:
    make_cycle("20251010_163000", TWO_CLIPS)
    query = {"path": "./output/20251010_163000/test_stream1.mp4"}
    assert client.delete("/api/video", query_string=query).status_code == 200
    assert_error(client.delete("/api/video", query_string=query), 404)


@pytest.mark.parametrize("query", ["", "?path=", "?other=x"])
def test_delete_video_without_path_is_400(client: FlaskClient, make_cycle: MakeCycle,
                                          query: str) -> None:
    folder = make_cycle("20251010_163000", TWO_CLIPS)
    assert_error(client.delete(f"/api/video{query}"), 400)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*TWO_CLIPS, *REPORT_FILES])


def test_delete_video_failure_shape(client: FlaskClient, make_cycle: MakeCycle,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_cycle("20251010_163000", TWO_CLIPS)

    def refuse(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("shared.output_tree.delete_video", refuse)
    path = "./output/20251010_163000/test_stream1.mp4"
    body = assert_error(client.delete("/api/video", query_string={"path": path}), 500)
    assert body["success"] is False
    assert body["path"] == path
    assert body["message"] == "文件删除失败"
    assert (folder / "test_stream1.mp4").exists()


def test_delete_clip_being_recorded_is_409(client: FlaskClient, make_cycle: MakeCycle,
                                           write_status: WriteStatus) -> None:
    folder = make_cycle("20251010_163000", TWO_CLIPS)
    write_status(scheduler_running=True,
                 cycle={"dir": "20251010_163000", "running": True},
                 tasks=[{"stream_index": 0, "status": 4,
                         "output_file": "./output/20251010_163000/test_stream1.mp4"},
                        {"stream_index": 1, "status": 3,
                         "output_file": "./output/20251010_163000/test_stream2.mp4"}])
    assert_error(client.delete("/api/video", query_string={
        "path": "./output/20251010_163000/test_stream2.mp4"}), 409)
    assert (folder / "test_stream2.mp4").exists()
    # A finished clip of the running cycle may go.
    response = client.delete("/api/video", query_string={
        "path": "./output/20251010_163000/test_stream1.mp4"})
    assert response.status_code == 200
    assert not (folder / "test_stream1.mp4").exists()


# --- DELETE /api/timestamp/T -----------------------------------------------------------------

def test_delete_cycle(client: FlaskClient, make_cycle: MakeCycle, output_root: Path) -> None:
    folder = make_cycle("20251010_163000", TWO_CLIPS)
    other = make_cycle("20251010_163100", TWO_CLIPS)
    response = client.delete("/api/timestamp/20251010_163000")
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "timestamp": "20251010_163000",
                                   "path": "./output/20251010_163000", "message": "目录删除成功"}
    assert not folder.exists()
    assert sorted(p.name for p in other.iterdir()) == sorted([*TWO_CLIPS, *REPORT_FILES])
    body = client.get("/api/timestamps").get_json()
    assert [t["timestamp"] for t in body["timestamps"]] == ["20251010_163100"]
    assert_error(client.get("/api/videos/20251010_163000"), 404)


def test_delete_unknown_cycle_is_404(client: FlaskClient, make_cycle: MakeCycle) -> None:
    folder = make_cycle("20251010_163000", TWO_CLIPS)
    assert_error(client.delete("/api/timestamp/20991231_235959"), 404)
    assert folder.is_dir()


def test_delete_cycle_being_recorded_is_409(client: FlaskClient, make_cycle: MakeCycle,
                                            write_status: WriteStatus) -> None:
    folder = make_cycle("20251010_163000", TWO_CLIPS)
    older = make_cycle("20251010_162900", TWO_CLIPS)
    write_status(scheduler_running=True, current_cycle=2,
                 cycle={"dir": "20251010_163000", "running": True})
    assert_error(client.delete("/api/timestamp/20251010_163000"), 409)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*TWO_CLIPS, *REPORT_FILES])
    # Other cycles are not protected.
    assert client.delete("/api/timestamp/20251010_162900").status_code == 200
    assert not older.exists()


def _gone_pid() -> int:
    """The pid of a process that has ended (a recorder that died without a word)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_delete_cycle_of_a_dead_recorder_is_allowed(client: FlaskClient, make_cycle: MakeCycle,
                                                    write_status: WriteStatus) -> None:
    folder = make_cycle("20251010_163000", TWO_CLIPS)
    write_status(stale=True, scheduler_running=True, pid=_gone_pid(),
                 cycle={"dir": "20251010_163000", "running": True})
    response = client.delete("/api/timestamp/20251010_163000")
    assert response.status_code == 200
    assert response.get_json()["success"] is True
    assert not folder.exists()


def test_a_paused_recorder_keeps_its_cycle_and_clips_protected(
        client: FlaskClient, make_cycle: MakeCycle, write_status: WriteStatus) -> None:
    # SIGSTOP for longer than the heartbeat's grace: the heartbeat is stale, but the
    # recorder (this pid) still exists and its ffmpeg children may still be writing.
    folder = make_cycle("20251010_163000", TWO_CLIPS)
    write_status(stale=True, scheduler_running=True, pid=os.getpid(),
                 cycle={"dir": "20251010_163000", "running": True},
                 tasks=[{"stream_index": 0, "status": 3,
                         "output_file": "./output/20251010_163000/test_stream1.mp4"}])
    assert_error(client.delete("/api/timestamp/20251010_163000"), 409)
    assert_error(client.delete("/api/video", query_string={
        "path": "./output/20251010_163000/test_stream1.mp4"}), 409)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*TWO_CLIPS, *REPORT_FILES])


def test_delete_finished_cycle_while_recorder_alive(client: FlaskClient, make_cycle: MakeCycle,
                                                    write_status: WriteStatus) -> None:
    folder = make_cycle("20251010_163000", TWO_CLIPS)
    write_status(scheduler_running=True, cycle={"dir": "20251010_163000", "running": False})
    assert client.delete("/api/timestamp/20251010_163000").status_code == 200
    assert not folder.exists()


# --- where the output folder comes from ------------------------------------------------------

def _config_with_output(config_path: Path, output_directory: str) -> None:
    config = valid_config()
    config["global_config"]["output_directory"] = output_directory
    write_json_atomic(str(config_path), config)


def test_output_folder_from_the_config_when_not_given(config_path: Path, tmp_path: Path) -> None:
    _config_with_output(config_path, "./clips")
    folder = tmp_path / "clips" / "20251010_163000"
    folder.mkdir(parents=True)
    (folder / "test_stream1.mp4").write_bytes(CLIP1)
    client = create_app({"CONFIG_PATH": str(config_path)}).test_client()
    videos = client.get("/api/videos").get_json()["videos"]
    assert [v["full_path"] for v in videos] == ["./clips/20251010_163000/test_stream1.mp4"]
    # The listed path deletes the clip, whatever the server's working directory.
    response = client.delete("/api/video", query_string={"path": videos[0]["full_path"]})
    assert response.status_code == 200
    assert not (folder / "test_stream1.mp4").exists()


def test_a_clip_listed_under_an_output_folder_spelled_with_dotdot_can_be_deleted(
        tmp_path: Path) -> None:
    # README: "../clips" is a fine output_directory; the API listed "../clips/<cycle>/<clip>"
    # and then refused to delete it (403 路径不能包含 ..).
    home = tmp_path / "home"
    home.mkdir()
    config_path = home / "config.json"
    _config_with_output(config_path, "../clips")
    folder = tmp_path / "clips" / "20251010_163000"
    folder.mkdir(parents=True)
    (folder / "test_stream1.mp4").write_bytes(CLIP1)
    client = create_app({"CONFIG_PATH": str(config_path)}).test_client()
    videos = client.get("/api/videos").get_json()["videos"]
    assert [v["full_path"] for v in videos] == ["../clips/20251010_163000/test_stream1.mp4"]
    response = client.delete("/api/video", query_string={"path": videos[0]["full_path"]})
    assert response.status_code == 200, response.get_json()
    assert not (folder / "test_stream1.mp4").exists()
    # Past the output folder's own spelling, ".." is still refused.
    (folder / "test_stream2.mp4").write_bytes(CLIP1)
    for path in ("../clips/20251010_163000/../20251010_163000/test_stream2.mp4",
                 "../clips/../clips/20251010_163000/test_stream2.mp4"):
        assert client.delete("/api/video", query_string={"path": path}).status_code == 403
    assert (folder / "test_stream2.mp4").exists()


def test_config_output_folder_needs_a_valid_config(config_path: Path) -> None:
    config_path.write_text("{", encoding="utf-8")
    client = create_app({"CONFIG_PATH": str(config_path)}).test_client()
    assert_error(client.get("/api/timestamps"), 503)


def test_a_broken_hand_edit_leaves_the_results_of_the_config_the_recorder_keeps(
        config_path: Path, tmp_path: Path) -> None:
    # The recorder keeps working with the last valid config: the read-only views follow it
    # (its copy in the state folder), the config's own endpoints still say it is broken.
    config = valid_config()
    config["global_config"]["output_directory"] = "./clips"
    config["streams"][0]["rtsp_url"] = "rtsp://admin:s3cret@127.0.0.1:8554/cam1"
    write_json_atomic(str(config_path), config)
    ConfigWatch(str(config_path)).poll()  # the recorder read it: its copy in force
    copy = settings.config_in_force_path(str(config_path))
    assert os.stat(copy).st_mode & 0o777 == 0o600  # owner only
    with open(copy, encoding="utf-8") as handle:
        assert "s3cret" not in handle.read()  # passwords are written only in config.json
    folder = tmp_path / "clips" / "20251010_163000"
    folder.mkdir(parents=True)
    (folder / "test_stream1.mp4").write_bytes(CLIP1)
    config_path.write_text("{", encoding="utf-8")  # a typo by hand
    client = create_app({"CONFIG_PATH": str(config_path)}).test_client()
    assert client.get("/api/timestamps").get_json()["count"] == 1
    videos = client.get("/api/videos").get_json()["videos"]
    assert [v["full_path"] for v in videos] == ["./clips/20251010_163000/test_stream1.mp4"]
    assert_error(client.get("/api/config"), 503)
    ConfigWatch(str(config_path)).poll()  # a broken file replaces no copy
    assert client.get("/api/timestamps").get_json()["count"] == 1


@pytest.mark.parametrize("output_directory", ["/", "."])
def test_an_output_folder_the_rule_refuses_by_hand_leaves_the_results_of_the_kept_config(
        config_path: Path, tmp_path: Path, output_directory: str) -> None:
    # As the recorder does: such a config is broken, the views follow the last valid one.
    config = valid_config()
    config["global_config"]["output_directory"] = "./clips"
    write_json_atomic(str(config_path), config)
    ConfigWatch(str(config_path)).poll()
    (tmp_path / "clips" / "20251010_163000").mkdir(parents=True)
    (tmp_path / "clips" / "20251010_163000" / "test_stream1.mp4").write_bytes(CLIP1)
    config["global_config"]["output_directory"] = output_directory
    write_json_atomic(str(config_path), config)
    watch = ConfigWatch(str(config_path))
    watch.poll()  # the recorder's error names the file and the line, as for any broken rule
    assert (watch.error.file, watch.error.field) == (
        "config.json", "global_config.output_directory")
    assert config_path.read_text(encoding="utf-8").splitlines()[watch.error.line - 1].strip() \
        .startswith('"output_directory"')
    client = create_app({"CONFIG_PATH": str(config_path)}).test_client()
    assert client.get("/api/timestamps").get_json()["count"] == 1
    videos = client.get("/api/videos").get_json()["videos"]
    assert [v["full_path"] for v in videos] == ["./clips/20251010_163000/test_stream1.mp4"]


def test_given_output_folder_does_not_need_the_config(client: FlaskClient, config_path: Path,
                                                      make_cycle: MakeCycle) -> None:
    make_cycle("20251010_163000", TWO_CLIPS)
    config_path.write_text("{", encoding="utf-8")
    assert client.get("/api/timestamps").get_json()["count"] == 1


@pytest.mark.parametrize(("argv", "output_dir", "port"), [
    ([], None, 8080),
    (["./out"], "./out", 8080),
    (["./out", "9090"], "./out", 9090),
])
def test_dev_server_arguments(monkeypatch: pytest.MonkeyPatch, config_path: Path,
                              argv: list[str], output_dir: str | None, port: int) -> None:
    seen: dict = {}

    def fake_run(self: Flask, host: str, port: int, threaded: bool) -> None:
        seen.update(app=self, host=host, port=port)

    monkeypatch.setattr(Flask, "run", fake_run)
    main([*argv, "--config", str(config_path)])
    assert seen["port"] == port
    assert seen["app"].config["CONFIG_PATH"] == str(config_path)
    # Without the argument the config's output_directory is served (as the recorder writes it).
    assert seen["app"].config["OUTPUT_DIR"] == output_dir
