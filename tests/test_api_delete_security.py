"""Hostile deletes: only a clip directly inside a cycle folder, or a whole cycle folder, may go.

Each test builds the same tree, fires one hostile request, expects 403 (400 for
a missing path) with the JSON error shape, and then checks that every file
and symlink under tmp_path (the output tree, the config, and the symlink
targets outside the output folder) is still there, byte for byte.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.helpers import MakeCycle, assert_error, snapshot_files

CYCLE = "20251010_163000"
OTHER_CYCLE = "20251010_163100"
LINK_INSIDE = "20251010_170000"     # symlink to the real cycle folder CYCLE
LINK_OUTSIDE = "20251010_180000"    # symlink to tmp_path/outside (a folder of files)
UNICODE_DIGITS = "２０２５１０１０_１６３０００"  # fullwidth digits: not a cycle name


@pytest.fixture
def tree(tmp_path: Path, output_root: Path, make_cycle: MakeCycle, config_path: Path) -> Path:
    """The hostile fixture tree; returns tmp_path."""
    clips = {"test_stream1.mp4": b"one" * 50, "test_stream2.mp4": b"two" * 50}
    cycle = make_cycle(CYCLE, clips)
    make_cycle(OTHER_CYCLE, clips)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.mp4").write_bytes(b"victim")
    (outside / "test_stream1.mp4").write_bytes(b"outside clip")
    (outside / "notes.txt").write_bytes(b"notes")
    (tmp_path / "secret.mp4").write_bytes(b"secret")
    (cycle / "evil.mp4").symlink_to(outside / "victim.mp4")
    (cycle / ".hidden.mp4").write_bytes(b"hidden")
    (cycle / "sub").mkdir()
    (cycle / "sub" / "deep.mp4").write_bytes(b"deep")
    (cycle / "dir.mp4").mkdir()
    (output_root / LINK_INSIDE).symlink_to(cycle, target_is_directory=True)
    (output_root / LINK_OUTSIDE).symlink_to(outside, target_is_directory=True)
    (output_root / "loose.mp4").write_bytes(b"loose")
    make_cycle("not_a_cycle", {"clip.mp4": b"nc"})
    make_cycle(UNICODE_DIGITS, {"test_stream1.mp4": b"unicode"})
    (tmp_path / "output_link").symlink_to(output_root, target_is_directory=True)
    return tmp_path


# Paths for client.delete("/api/video", query_string={"path": p}) (requests-style encoding).
# {tmp} is tmp_path, {root} the output folder; both absolute.
HOSTILE_PATHS: list[str] = [
    # .. in every position
    "../config.json",
    "..",
    "./output/../config.json",
    f"./output/{CYCLE}/../../config.json",
    f"./output/{CYCLE}/..",
    f"./output/{CYCLE}/test_stream1.mp4/..",
    f"./output/{CYCLE}/../{OTHER_CYCLE}/test_stream1.mp4",
    f"./output/{CYCLE}/../../output/{CYCLE}/test_stream1.mp4",
    f"{{root}}/{CYCLE}/../../secret.mp4",
    # percent signs sent literally (a twice-encoded ..) never decode to ..
    "%2e%2e/config.json",
    "%2e%2e%2fconfig.json",
    f"./output/{CYCLE}/%2e%2e/%2e%2e/secret.mp4",
    # absolute paths elsewhere
    "/etc/passwd",
    "/",
    "{tmp}/config.json",
    "{tmp}/secret.mp4",
    "{tmp}/outside/victim.mp4",
    "file:///etc/passwd",
    # symlinks: a cycle-named link to the real cycle, to a folder outside; a clip link outside
    f"{{root}}/{LINK_INSIDE}/test_stream1.mp4",
    f"./output/{LINK_INSIDE}/test_stream1.mp4",
    f"./output/{LINK_OUTSIDE}/victim.mp4",
    f"{{root}}/{LINK_OUTSIDE}/test_stream1.mp4",
    f"./output/{CYCLE}/evil.mp4",
    f"{{tmp}}/output_link/{CYCLE}/test_stream1.mp4",
    # NUL bytes and control characters
    f"./output/{CYCLE}/test_stream1.mp4\x00",
    f"./output/{CYCLE}/test_stream1.mp4\x00.txt",
    f"./output/{CYCLE}\x00/test_stream1.mp4",
    f"./output/{CYCLE}/test_stream1.mp4\n",
    f"./output/{CYCLE}\n/test_stream1.mp4",
    # backslashes
    "..\\config.json",
    f".\\output\\{CYCLE}\\test_stream1.mp4",
    f"./output/{CYCLE}\\test_stream1.mp4",
    f"./output/{CYCLE}/..\\..\\secret.mp4",
    # report files and other file types
    f"./output/{CYCLE}/rtsp_report.json",
    f"./output/{CYCLE}/report.txt",
    f"./output/{CYCLE}/streams.csv",
    # wrong depth, wrong folder, hidden, not a regular file
    "./output/loose.mp4",
    f"./output/{CYCLE}/sub/deep.mp4",
    "./output/not_a_cycle/clip.mp4",
    f"./output/{UNICODE_DIGITS}/test_stream1.mp4",
    "./output/2025101_163000/test_stream1.mp4",
    f"./output/{CYCLE}/.hidden.mp4",
    f"./output/{CYCLE}/dir.mp4",
    f"./output/{CYCLE}/sub",
    # the output folder and the cycle folder themselves
    "./output",
    "./output/",
    "{root}",
    ".",
    f"./output/{CYCLE}",
    f"./output/{CYCLE}/",
    f"{{root}}/{CYCLE}",
    # very long
    "./" + "a/" * 3000 + "x.mp4",
    f"./output/{CYCLE}/" + "a" * 5000 + ".mp4",
    f"./output/{CYCLE}/" + "a" * 300 + ".mp4",  # a name longer than any file's (NAME_MAX)
]

# Raw query strings for client.delete("/api/video?path=" + q): URL-encoded tricks.
HOSTILE_RAW_QUERIES: list[str] = [
    "%2e%2e%2fconfig.json",
    "%2E%2E%2Fconfig.json",
    "%2e%2E/config.json",
    ".%2e/config.json",
    "%2e%2e",
    "%252e%252e%252fconfig.json",
    "%25252e%25252e%25252fconfig.json",
    f"./output/{CYCLE}/%2e%2e/%2e%2e/config.json",
    f"./output/{CYCLE}/..%2f..%2fsecret.mp4",
    f"./output/{CYCLE}/%2E%2E",
    "%2Fetc%2Fpasswd",
    f"./output/{CYCLE}/test_stream1.mp4%00",
    f"./output/{CYCLE}/test_stream1.mp4%00.txt",
    "..%5cconfig.json",
    "%2e%2e%5c%2e%2e%5csecret.mp4",
    "%c0%ae%c0%ae/config.json",
    "%c0%ae%c0%ae%c0%afconfig.json",
    f"./output/{LINK_INSIDE}%2ftest_stream1.mp4",
    f"%2e/output/{LINK_OUTSIDE}/victim.mp4",
    f"./output/{CYCLE}/evil%2Emp4",
    f"./output/{CYCLE}/rtsp_report%2ejson",
    f"./output/{CYCLE}%0a/test_stream1.mp4",
]

# Timestamps for DELETE /api/timestamp/<T>, as raw URL path text.
HOSTILE_TIMESTAMPS: list[str] = [
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%252e%252e",
    "..%2f..%2foutside",
    "%2e%2e%2f%2e%2e%2foutside",
    f"{CYCLE}/..",
    f"{CYCLE}/%2e%2e",
    f"{CYCLE}/sub",
    f"{CYCLE}/test_stream1.mp4",
    "..%5coutside",
    ".",
    "%2e",
    LINK_OUTSIDE,
    LINK_INSIDE,
    "not_a_cycle",
    "loose.mp4",
    "output",
    "2025101_163000",
    "20251010-163000",
    "20251010_163000_1",
    "20251010163000",
    f"{CYCLE}%00",
    f"{CYCLE}%20",
    f"%20{CYCLE}",
    f"%0A{CYCLE}",
    UNICODE_DIGITS,
    "x" * 5000,
]


# T values the router itself cannot match (Werkzeug's path converter needs a first
# character other than "/" and no newline): a JSON 404, and nothing touched.
ROUTER_REJECTED_TIMESTAMPS: list[str] = ["%2Ftmp", "%2F", f"{CYCLE}%0A", ""]


def _fill(template: str, tmp_path: Path) -> str:
    return template.replace("{tmp}", str(tmp_path)).replace("{root}", str(tmp_path / "output"))


def _expect_forbidden(response: TestResponse) -> None:
    assert_error(response, 403)


def test_tables_are_big_enough() -> None:
    assert len(HOSTILE_PATHS) + len(HOSTILE_RAW_QUERIES) >= 30
    assert len(HOSTILE_PATHS) >= 30
    assert len(HOSTILE_TIMESTAMPS) >= 20


@pytest.mark.parametrize("template", HOSTILE_PATHS)
def test_hostile_video_path_is_forbidden(client: FlaskClient, tree: Path, template: str) -> None:
    before = snapshot_files(tree)
    response = client.delete("/api/video", query_string={"path": _fill(template, tree)})
    _expect_forbidden(response)
    assert snapshot_files(tree) == before


@pytest.mark.parametrize("raw", HOSTILE_RAW_QUERIES)
def test_hostile_raw_encoded_video_path_is_forbidden(client: FlaskClient, tree: Path,
                                                      raw: str) -> None:
    before = snapshot_files(tree)
    _expect_forbidden(client.delete("/api/video?path=" + raw))
    assert snapshot_files(tree) == before


@pytest.mark.parametrize("url", ["/api/video", "/api/video?path=", "/api/video?path",
                                 "/api/video?Path=x"])
def test_missing_or_empty_path_is_400(client: FlaskClient, tree: Path, url: str) -> None:
    before = snapshot_files(tree)
    assert_error(client.delete(url), 400)
    assert snapshot_files(tree) == before


def test_smuggled_second_path_is_refused(client: FlaskClient, tree: Path) -> None:
    before = snapshot_files(tree)
    response = client.delete(f"/api/video?path=./output/{CYCLE}/test_stream1.mp4"
                             "&path=../config.json")
    assert_error(response, 400, contains="只能出现一次")  # refused as ambiguous, before any path check
    assert snapshot_files(tree) == before


def test_symlinked_clip_is_not_followed_even_when_target_is_a_clip(client: FlaskClient,
                                                                    tree: Path) -> None:
    real = tree / "output" / OTHER_CYCLE / "test_stream1.mp4"
    link = tree / "output" / CYCLE / "alias.mp4"
    link.symlink_to(real)
    before = snapshot_files(tree)
    _expect_forbidden(client.delete("/api/video",
                                    query_string={"path": f"./output/{CYCLE}/alias.mp4"}))
    assert snapshot_files(tree) == before
    assert real.exists() and link.is_symlink()


def test_legitimate_delete_still_works_in_the_hostile_tree(client: FlaskClient,
                                                           tree: Path) -> None:
    """The control case: the same tree, a proper path, exactly one file gone."""
    before = snapshot_files(tree)
    target = tree / "output" / CYCLE / "test_stream1.mp4"
    response = client.delete("/api/video",
                             query_string={"path": f"./output/{CYCLE}/test_stream1.mp4"})
    assert response.status_code == 200
    after = snapshot_files(tree)
    assert set(before) - set(after) == {str(target)}
    assert all(after[key] == before[key] for key in after)


@pytest.mark.parametrize("raw", HOSTILE_TIMESTAMPS)
def test_hostile_timestamp_is_forbidden(client: FlaskClient, tree: Path, raw: str) -> None:
    before = snapshot_files(tree)
    _expect_forbidden(client.delete(f"/api/timestamp/{raw}"))
    assert snapshot_files(tree) == before
    assert (tree / "outside" / "victim.mp4").read_bytes() == b"victim"


@pytest.mark.parametrize("raw", ROUTER_REJECTED_TIMESTAMPS)
def test_unroutable_timestamp_is_json_404(client: FlaskClient, tree: Path, raw: str) -> None:
    before = snapshot_files(tree)
    assert_error(client.delete(f"/api/timestamp/{raw}"), 404)
    assert snapshot_files(tree) == before


def test_hostile_listing_does_not_show_symlinked_or_foreign_folders(client: FlaskClient,
                                                                     tree: Path) -> None:
    body = client.get("/api/timestamps").get_json()
    assert [t["timestamp"] for t in body["timestamps"]] == [OTHER_CYCLE, CYCLE]
    videos = client.get("/api/videos").get_json()["videos"]
    assert {v["filename"] for v in videos} == {"test_stream1.mp4", "test_stream2.mp4"}
    assert {v["timestamp_dir"] for v in videos} == {CYCLE, OTHER_CYCLE}


def test_delete_cycle_does_not_follow_symlinks_inside(client: FlaskClient, tree: Path) -> None:
    """Removing a real cycle holding a link to a file outside removes the link, not the target."""
    outside = tree / "outside"
    before_outside = snapshot_files(outside)
    response = client.delete(f"/api/timestamp/{CYCLE}")
    assert response.status_code == 200
    assert not (tree / "output" / CYCLE).exists()
    assert snapshot_files(outside) == before_outside
    assert (tree / "output" / OTHER_CYCLE / "test_stream1.mp4").exists()
    # The cycle-named symlink to it is now dangling but still only a link.
    assert os.path.islink(tree / "output" / LINK_INSIDE)


@pytest.mark.parametrize("url", [f"/api/clips/{CYCLE}/{'a' * 300}.mp4",
                                 f"/api/thumbnails/{CYCLE}/{'a' * 300}.mp4",
                                 f"/api/clips/{CYCLE}/a%00.mp4"])
def test_a_name_no_file_can_have_is_refused_not_a_server_error(client: FlaskClient, tree: Path,
                                                               url: str) -> None:
    # Longer than NAME_MAX or holding NUL: the system call fails (ENAMETOOLONG, ValueError),
    # which answered 500 with a traceback in the log.
    before = snapshot_files(tree)
    _expect_forbidden(client.get(url))
    assert snapshot_files(tree) == before
