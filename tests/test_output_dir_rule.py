"""The output_directory rule (shared/output_rule.py) and the API refusing what it refuses."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from shared import settings
from shared.atomic import write_json_atomic
from shared.control_file import read_control
from shared.output_rule import output_directory_problem
from tests.helpers import assert_error, file_digest, valid_config

TOP = "根目录或顶层目录"
SYSTEM = "系统目录"
CONFIG_FOLDER = "配置文件所在目录或其上级目录"
STATE = "状态目录"

# (output_directory as written in <tmp>/site/cfg/config.json, a fragment of the reason or None)
CASES: list[tuple[str, str | None]] = [
    ("./output", None),
    ("output", None),
    ("clips/2025", None),
    ("../output", None),                       # beside the config's folder, not above it
    ("./output/.patrol-state", None),          # a folder of that name elsewhere is just a folder
    (".patrol-state-clips", None),             # a prefix of the state folder's name is not it
    ("/var/lib/rtsp-patrol/output", None),
    ("/home/alice/clips", None),
    ("/srv/cams", None),
    ("/mnt/disk/out", None),
    ("/run/media/alice/usb/out", None),
    ("/", TOP),
    ("//", TOP),
    ("/home", TOP),
    ("/var", TOP),
    ("/root", TOP),
    ("/tmp", TOP),
    ("/srv", TOP),
    ("/data", TOP),
    ("/home/../etc/x", SYSTEM),
    ("//etc", TOP),
    ("/etc", TOP),
    ("/etc/rtsp", SYSTEM),
    ("/usr/local/share/clips", SYSTEM),
    ("/bin/x", SYSTEM),
    ("/sbin/x", SYSTEM),
    ("/boot/x", SYSTEM),
    ("/dev/shm/clips", SYSTEM),
    ("/proc/1", SYSTEM),
    ("/sys/kernel", SYSTEM),
    ("/lib/x", SYSTEM),
    ("/lib64/x", SYSTEM),
    ("/libx32/x", SYSTEM),
    ("/var/lib", SYSTEM),
    ("/var/log", SYSTEM),
    (".", CONFIG_FOLDER),
    ("./", CONFIG_FOLDER),
    ("./output/..", CONFIG_FOLDER),
    ("..", CONFIG_FOLDER),
    ("../..", CONFIG_FOLDER),
    ("{cfg}", CONFIG_FOLDER),
    ("{site}", CONFIG_FOLDER),
    ("{tmp}", CONFIG_FOLDER),
    (".patrol-state", STATE),
    ("./.patrol-state/clips", STATE),
    ("{cfg}/.patrol-state/x/y", STATE),
]


def _spelled(template: str, tmp_path: Path) -> str:
    return template.format(tmp=tmp_path, site=tmp_path / "site", cfg=tmp_path / "site" / "cfg")


@pytest.fixture
def site_config(tmp_path: Path) -> Path:
    folder = tmp_path / "site" / "cfg"
    folder.mkdir(parents=True)
    return folder / "config.json"


@pytest.mark.parametrize(("spelling", "reason"), CASES)
def test_rule(site_config: Path, tmp_path: Path, spelling: str, reason: str | None) -> None:
    problem = output_directory_problem(_spelled(spelling, tmp_path), str(site_config))
    if reason is None:
        assert problem is None
    else:
        assert problem is not None and reason in problem, problem


@pytest.mark.parametrize(("target", "reason"), [("/etc", SYSTEM), ("{tmp}", CONFIG_FOLDER),
                                                ("{cfg}/.patrol-state", STATE),
                                                ("{site}/elsewhere", None)])
def test_symlinks_are_followed(site_config: Path, tmp_path: Path, target: str,
                               reason: str | None) -> None:
    if target == "/etc":
        link_target = "/etc/ssl" if os.path.isdir("/etc/ssl") else "/etc"
    else:
        link_target = _spelled(target, tmp_path)
        os.makedirs(link_target, exist_ok=True)
    os.symlink(link_target, site_config.parent / "clips")
    problem = output_directory_problem("./clips", str(site_config))
    if reason is None:
        assert problem is None
    else:
        assert problem is not None and reason in problem, problem


def test_a_moved_state_folder_moves_the_rule(site_config: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.STATE_DIR_ENV, str(tmp_path / "site" / "state"))
    assert STATE in (output_directory_problem("../state/clips", str(site_config)) or "")
    assert output_directory_problem(".patrol-state", str(site_config)) is None


def test_a_path_through_an_unreadable_link_is_refused_not_raised(site_config: Path) -> None:
    # /proc/1/root is a link only its owner (with ptrace rights) may read.
    try:
        os.readlink("/proc/1/root")
        pytest.skip("/proc/1/root is readable here")
    except PermissionError:
        pass
    assert SYSTEM in (output_directory_problem("/proc/1/root/tmp/x", str(site_config)) or "")
    os.symlink("/proc/1/root/tmp", site_config.parent / "clips")
    problem = output_directory_problem("./clips/x", str(site_config))
    assert problem is not None and "无法解析" in problem, problem


@pytest.mark.parametrize("spelling", ["./loop", "./loop/out", "./a/out"])
def test_a_symlink_loop_is_refused(site_config: Path, spelling: str) -> None:
    folder = site_config.parent
    os.symlink("loop", folder / "loop")
    os.symlink("b", folder / "a")
    os.symlink("a", folder / "b")
    problem = output_directory_problem(spelling, str(site_config))
    assert problem is not None and "符号链接循环" in problem, problem


NOT_A_FOLDER = "已存在且不是目录"


def _plant(folder: Path, kind: str) -> None:
    """What stands at ``folder / "clips"``: a file, a link to one, a FIFO, a link to a place
    still missing, a folder, or a link to one."""
    clips = folder / "clips"
    if kind == "file":
        clips.write_text("notes", encoding="utf-8")
    elif kind == "link to a file":
        (folder / "notes.txt").write_text("notes", encoding="utf-8")
        clips.symlink_to(folder / "notes.txt")
    elif kind == "fifo":
        os.mkfifo(clips)
    elif kind == "link to nothing yet":
        clips.symlink_to(folder / "disk" / "clips")
    elif kind == "folder":
        clips.mkdir()
    elif kind == "link to a folder":
        (folder / "elsewhere").mkdir()
        clips.symlink_to(folder / "elsewhere")


@pytest.mark.parametrize(("kind", "spelling", "refused"), [
    ("file", "./clips", "clips"),
    ("link to a file", "./clips", "clips"),
    ("fifo", "./clips", "clips"),
    ("file", "./clips/2025/out", "clips"),  # a file on the way: no folder can be made below
    ("link to a file", "./clips/out", "clips"),
    ("link to nothing yet", "./clips", None),  # a disk mounted later may make it
    ("folder", "./clips", None),
    ("folder", "./clips/not/yet", None),
    ("link to a folder", "./clips", None),
])
def test_a_path_no_folder_can_be_made_at_is_refused(site_config: Path, kind: str, spelling: str,
                                                    refused: str | None) -> None:
    # The recorder failed to make it every 5 s (无法创建输出目录 … File exists), no cycle ran.
    _plant(site_config.parent, kind)
    problem = output_directory_problem(spelling, str(site_config))
    if refused is None:
        assert problem is None
    else:
        assert problem == (f"必须是目录或尚不存在的路径: {site_config.parent / refused} "
                           f"{NOT_A_FOLDER}")


# --- through the API ---------------------------------------------------------------------------

REFUSED = ["/", "/etc/rtsp", "/home", ".", "..", ".patrol-state/out", "/usr/share/x"]


@pytest.mark.parametrize("spelling", REFUSED)
def test_put_global_refuses(client: FlaskClient, config_path: Path, spelling: str) -> None:
    digest = file_digest(config_path)
    body = assert_error(client.put("/api/config/global", json={"output_directory": spelling}),
                        400, "配置验证失败: output_directory ")
    assert "global_config." not in body["message"]
    assert file_digest(config_path) == digest


@pytest.mark.parametrize("spelling", REFUSED)
def test_put_config_refuses(client: FlaskClient, config_path: Path, spelling: str) -> None:
    digest = file_digest(config_path)
    config = valid_config()
    config["global_config"]["output_directory"] = spelling
    assert_error(client.put("/api/config", json=config), 400,
                 "配置验证失败: global_config.output_directory ")
    assert file_digest(config_path) == digest


def test_an_unresolvable_or_looping_directory_is_a_400(client: FlaskClient,
                                                       config_path: Path) -> None:
    os.symlink("loop", config_path.parent / "loop")
    digest = file_digest(config_path)
    for spelling, reason in (("/proc/1/root/tmp/x", SYSTEM), ("./loop/x", "符号链接循环")):
        assert_error(client.put("/api/config/global", json={"output_directory": spelling}),
                     400, "配置验证失败: output_directory ")
        config = valid_config()
        config["global_config"]["output_directory"] = spelling
        body = assert_error(client.put("/api/config", json=config), 400, reason)
        assert "global_config.output_directory" in body["message"]
    assert file_digest(config_path) == digest


@pytest.mark.parametrize("spelling", ["./out\tput", "./output\n", "./out\\put"])
def test_a_path_the_delete_of_a_clip_would_refuse_is_a_400(tmp_path: Path, config_path: Path,
                                                           spelling: str) -> None:
    # Each clip's full_path is spelled from output_directory, and DELETE /api/video refuses a
    # path holding a control character or a backslash (403): no clip could be deleted.
    client = create_app({"CONFIG_PATH": str(config_path)}).test_client()
    digest = file_digest(config_path)
    body = assert_error(client.put("/api/config/global", json={"output_directory": spelling},
                                   headers={"Accept-Language": "en"}), 400,
                        "配置验证失败: output_directory 不能含有控制字符 (如制表符, 换行) 或反斜杠")
    assert body["message_en"] == ("Config validation failed: output_directory must not contain "
                                  "a control character (such as a tab or a newline) or a "
                                  "backslash")
    config = valid_config()
    config["global_config"]["output_directory"] = spelling
    assert_error(client.put("/api/config", json=config), 400,
                 "global_config.output_directory 不能含有控制字符")
    assert file_digest(config_path) == digest


@pytest.mark.parametrize("kind", ["file", "link to a file"])
def test_a_file_as_the_output_folder_is_a_400(config_path: Path, client: FlaskClient,
                                              kind: str) -> None:
    _plant(config_path.parent, kind)
    digest = file_digest(config_path)
    body = assert_error(client.put("/api/config/global", json={"output_directory": "./clips"},
                                   headers={"Accept-Language": "en"}), 400,
                        f"配置验证失败: output_directory 必须是目录或尚不存在的路径: "
                        f"{config_path.parent / 'clips'} {NOT_A_FOLDER}")
    assert body["message_en"] == ("Config validation failed: output_directory must be a folder "
                                  f"or a path not made yet: {config_path.parent / 'clips'} "
                                  "exists and is not a folder")
    config = valid_config()
    config["global_config"]["output_directory"] = "./clips/out"
    assert_error(client.put("/api/config", json=config), 400,
                 "global_config.output_directory 必须是目录或尚不存在的路径")
    assert file_digest(config_path) == digest


def test_a_folder_of_unusual_characters_lists_clips_the_api_deletes(tmp_path: Path,
                                                                    config_path: Path) -> None:
    client = create_app({"CONFIG_PATH": str(config_path)}).test_client()
    spelling = "./出 力 #%?"
    assert client.put("/api/config/global",
                      json={"output_directory": spelling}).status_code == 200
    clip = tmp_path / spelling / "20251010_163000" / "cam.mp4"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"\x00\x00\x00\x18ftypisom")
    path = client.get("/api/videos").get_json()["videos"][0]["full_path"]
    assert client.delete("/api/video", query_string={"path": path}).status_code == 200
    assert not clip.exists()


@pytest.mark.parametrize("spelling", ["./clips", "../beside", "/var/lib/rtsp-patrol/output"])
def test_allowed_values_are_written(client: FlaskClient, config_path: Path, spelling: str) -> None:
    response = client.put("/api/config/global", json={"output_directory": spelling})
    assert response.status_code == 200, response.get_json()
    assert client.get("/api/config/global").get_json()["output_directory"] == spelling
    config = valid_config()
    config["global_config"]["output_directory"] = spelling
    assert client.put("/api/config", json=config).status_code == 200


def test_a_hand_edited_bad_value_blocks_edits_until_fixed(client: FlaskClient,
                                                          config_path: Path) -> None:
    config = valid_config()
    config["global_config"]["output_directory"] = "/"
    write_json_atomic(str(config_path), config)
    digest = file_digest(config_path)
    stream = {"rtsp_url": "rtsp://127.0.0.1:8554/cam3", "duration_seconds": 5}
    assert_error(client.post("/api/config/streams", json=stream), 400, "output_directory")
    assert file_digest(config_path) == digest
    # The fix itself goes through, and then other edits do too.
    assert client.put("/api/config/global", json={"output_directory": "./output"}).status_code == 200
    assert client.post("/api/config/streams", json=stream).status_code == 200


def test_a_reload_of_a_hand_edited_bad_value_is_a_400_as_the_recorder_refuses_it(
        client: FlaskClient, config_path: Path) -> None:
    config = valid_config()
    config["global_config"]["output_directory"] = "/etc/rtsp"
    write_json_atomic(str(config_path), config)
    body = assert_error(client.post("/api/config/reload"), 400, "global_config.output_directory")
    assert body["config_error"]["field"] == "global_config.output_directory"
    assert read_control(settings.control_path(str(config_path)))["reload_generation"] == 0


def test_the_rule_uses_the_config_files_folder_not_the_working_directory(
        tmp_path: Path, config_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # From the working directory "." would be a harmless sub-folder; from the config it is its folder.
    elsewhere = tmp_path / "work" / "dir"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    app: Flask = create_app({"CONFIG_PATH": str(config_path)})
    response = app.test_client().put("/api/config/global", json={"output_directory": "."})
    assert_error(response, 400, CONFIG_FOLDER)
