"""Configuration endpoints: shapes as in the seed, every write on disk at once, failures change nothing."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from shared import config as model
from shared.control_file import read_control
from tests.helpers import assert_error, file_digest, snapshot_files, valid_config

SEED_PUT_CONFIG: dict[str, Any] = {
    "global_config": {
        "total_poll_duration_seconds": 120,
        "max_concurrent_streams": 3,
        "output_directory": "./output",
        "report_filename": "rtsp_report.json",
        "connection_timeout_seconds": 15,
        "read_timeout_seconds": 30,
        "poll_cycles": 5,
        "cycle_interval_seconds": 60,
    },
    "streams": [
        {"rtsp_url": "rtsp://example.com/stream1", "duration_seconds": 30, "weight": 2.0,
         "output_filename": "new_stream1.mp4"},
    ],
}
NEW_STREAM: dict[str, Any] = {"rtsp_url": "rtsp://example.com/new_stream", "duration_seconds": 25,
                              "weight": 1.8, "output_filename": "new_stream.mp4"}
BROKEN_TEXT = '{\n  "global_config": {\n    "max_concurrent_streams": 2,,\n  }\n'


def on_disk(config_path: Path) -> dict:
    return json.loads(config_path.read_text(encoding="utf-8"))


def ordered(response_text: str) -> Any:
    """The response JSON with its key order (dicts keep insertion order)."""
    return json.loads(response_text)


# --- reads -----------------------------------------------------------------------------------

def test_get_config(client: FlaskClient, config_path: Path) -> None:
    response = client.get("/api/config")
    assert response.status_code == 200
    assert response.get_json() == valid_config() == on_disk(config_path)
    assert list(ordered(response.get_data(as_text=True))) == ["global_config", "streams"]


def test_get_global(client: FlaskClient) -> None:
    response = client.get("/api/config/global")
    assert response.status_code == 200
    body = ordered(response.get_data(as_text=True))
    assert body == valid_config()["global_config"]
    assert list(body) == list(model.GLOBAL_DEFAULTS)


def test_list_streams(client: FlaskClient) -> None:
    response = client.get("/api/config/streams")
    assert response.status_code == 200
    body = ordered(response.get_data(as_text=True))
    assert body["count"] == 2
    assert body["streams"] == [{"index": i, **s} for i, s in enumerate(valid_config()["streams"])]
    assert list(body["streams"][0]) == ["index", *model.STREAM_KEYS]
    assert isinstance(body["streams"][0]["weight"], float)


def test_reads_see_a_hand_edit_at_once(client: FlaskClient, config_path: Path) -> None:
    config = valid_config()
    config["global_config"]["poll_cycles"] = 7
    config_path.write_text(json.dumps(config), encoding="utf-8")
    assert client.get("/api/config/global").get_json()["poll_cycles"] == 7


# --- whole replace ---------------------------------------------------------------------------

def test_put_config(client: FlaskClient, config_path: Path) -> None:
    response = client.put("/api/config", json=SEED_PUT_CONFIG)
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "message": "配置更新成功"}
    assert on_disk(config_path) == SEED_PUT_CONFIG
    assert client.get("/api/config").get_json() == SEED_PUT_CONFIG


def test_put_config_fills_defaults(client: FlaskClient, config_path: Path) -> None:
    response = client.put("/api/config", json={
        "global_config": {}, "streams": [{"rtsp_url": "rtsp://h/cam9", "duration_seconds": 5}]})
    assert response.status_code == 200
    assert on_disk(config_path) == {
        "global_config": model.GLOBAL_DEFAULTS,
        "streams": [{"rtsp_url": "rtsp://h/cam9", "duration_seconds": 5, "weight": 1.0,
                     "output_filename": "cam9.mp4"}]}


# --- global ----------------------------------------------------------------------------------

def test_put_global_seed_example(client: FlaskClient, config_path: Path) -> None:
    response = client.put("/api/config/global", json={
        "max_concurrent_streams": 3, "poll_cycles": 5, "cycle_interval_seconds": 45})
    assert response.status_code == 200
    expected = {**valid_config()["global_config"], "max_concurrent_streams": 3,
                "poll_cycles": 5, "cycle_interval_seconds": 45}
    body = ordered(response.get_data(as_text=True))
    assert body == {"success": True, "message": "全局配置更新成功", "updated_config": expected}
    assert list(body["updated_config"]) == list(model.GLOBAL_DEFAULTS)
    assert on_disk(config_path)["global_config"] == expected
    assert on_disk(config_path)["streams"] == valid_config()["streams"]


def test_put_global_empty_object_changes_nothing(client: FlaskClient, config_path: Path) -> None:
    response = client.put("/api/config/global", json={})
    assert response.status_code == 200
    assert on_disk(config_path) == valid_config()


# --- streams ---------------------------------------------------------------------------------

def test_add_stream_seed_example(client: FlaskClient, config_path: Path) -> None:
    response = client.post("/api/config/streams", json=NEW_STREAM)
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "message": "流配置添加成功",
                                   "stream_index": 2, "index": 2, "added_stream": NEW_STREAM}
    assert on_disk(config_path)["streams"][2] == NEW_STREAM
    assert client.get("/api/config/streams").get_json()["count"] == 3


def test_add_stream_with_defaults(client: FlaskClient, config_path: Path) -> None:
    response = client.post("/api/config/streams",
                           json={"rtsp_url": "rtsp://10.0.0.9:554/rtp/dev_ch1",
                                 "duration_seconds": 10})
    assert response.status_code == 200
    added = response.get_json()["added_stream"]
    assert added == {"rtsp_url": "rtsp://10.0.0.9:554/rtp/dev_ch1", "duration_seconds": 10,
                     "weight": 1.0, "output_filename": "dev_ch1.mp4"}
    assert on_disk(config_path)["streams"][2] == added


@pytest.mark.parametrize(("separator", "code"), [("/", "%2F"), ("?", "%3F"), ("#", "%23")])
def test_add_stream_with_a_separator_in_the_password_says_how_to_write_it(
        client: FlaskClient, config_path: Path, separator: str, code: str) -> None:
    # Not only for a number (admin:12/34 reads as port 12): "pa" read as a port is no help.
    url = f"rtsp://admin:pa{separator}ss@127.0.0.1:554/x"
    before = file_digest(config_path)
    response = client.post("/api/config/streams", json={"rtsp_url": url, "duration_seconds": 5})
    error = assert_error(response, 400, code)
    assert error["message"] == ("配置验证失败: rtsp_url @ 只能用在主机名之前; "
                                "用户名或密码中的 / ? # @ 须写成 %2F %3F %23 %40")
    assert file_digest(config_path) == before
    fixed = url.replace(f"pa{separator}ss", f"pa{code}ss")
    added = client.post("/api/config/streams", json={"rtsp_url": fixed, "duration_seconds": 5})
    assert added.status_code == 200, added.get_json()


@pytest.mark.parametrize("name", ["test_stream1.mkv", "test_stream1.MP4"])
def test_a_stream_with_another_streams_camera_id_is_refused(client: FlaskClient,
                                                             config_path: Path, name: str) -> None:
    digest = file_digest(config_path)
    stream = {**NEW_STREAM, "output_filename": name}
    body = assert_error(client.post("/api/config/streams", json=stream,
                                    headers={"Accept-Language": "en"}), 400,
                        "配置验证失败: output_filename 与 streams[0] 的摄像机 ID 相同")
    assert body["message_en"] == ("Config validation failed: output_filename gives the camera "
                                  "id of streams[0] (test_stream1: the name without its "
                                  "extension); it must be unique")
    assert_error(client.put("/api/config/streams/1", json={"output_filename": name}), 400,
                 "output_filename 与 streams[0] 的摄像机 ID 相同")
    config = valid_config()
    config["streams"][1]["output_filename"] = name
    assert_error(client.put("/api/config", json=config), 400,
                 "streams[1].output_filename 与 streams[0] 的摄像机 ID 相同")
    assert file_digest(config_path) == digest
    assert [c["id"] for c in client.get("/api/cameras").get_json()["cameras"]] == \
        ["test_stream1", "test_stream2"]


def test_update_stream_seed_example(client: FlaskClient, config_path: Path) -> None:
    response = client.put("/api/config/streams/0", json={"duration_seconds": 30, "weight": 2.0})
    assert response.status_code == 200
    expected = {**valid_config()["streams"][0], "duration_seconds": 30, "weight": 2.0}
    assert response.get_json() == {"success": True, "message": "流配置更新成功",
                                   "stream_index": 0, "index": 0, "updated_stream": expected}
    assert on_disk(config_path)["streams"] == [expected, valid_config()["streams"][1]]


def test_delete_stream(client: FlaskClient, config_path: Path) -> None:
    response = client.delete("/api/config/streams/1")
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True
    assert body["message"] == "流配置删除成功"
    assert body["deleted_stream_index"] == 1
    assert body["deleted_index"] == 1
    assert on_disk(config_path)["streams"] == valid_config()["streams"][:1]


@pytest.mark.parametrize("index", ["5", "2", "-1", "abc", "1.0", "0x1", "１", "00000000000000000009"])
def test_invalid_stream_index_is_404(client: FlaskClient, config_path: Path, index: str) -> None:
    digest = file_digest(config_path)
    body = assert_error(client.delete(f"/api/config/streams/{index}"), 404)
    assert body["message"] == f"无效的流索引: {index}"
    assert_error(client.put(f"/api/config/streams/{index}", json={"weight": 2.0}), 404)
    assert file_digest(config_path) == digest


def test_seed_404_message(client: FlaskClient) -> None:
    response = client.delete("/api/config/streams/5")
    assert response.get_json() == {"error": "Not Found", "message": "无效的流索引: 5"}


def test_each_write_is_on_disk_and_seen_by_another_worker(client: FlaskClient,
                                                          config_path: Path,
                                                          tmp_path: Path) -> None:
    other_worker = create_app({"CONFIG_PATH": str(config_path), "OUTPUT_DIR": "./output",
                               "OUTPUT_BASE": str(tmp_path)}).test_client()
    writes = [
        ("put", "/api/config/global", {"poll_cycles": 9}),
        ("post", "/api/config/streams", NEW_STREAM),
        ("put", "/api/config/streams/2", {"weight": 4.5}),
        ("delete", "/api/config/streams/0", None),
        ("put", "/api/config", SEED_PUT_CONFIG),
    ]
    for method, url, body in writes:
        response = getattr(client, method)(url, json=body) if body is not None else \
            getattr(client, method)(url)
        assert response.status_code == 200, (url, response.get_json())
        disk = on_disk(config_path)
        assert other_worker.get("/api/config").get_json() == disk
        assert model.validate_config(disk) == disk
    assert on_disk(config_path) == SEED_PUT_CONFIG


# --- validation failures change nothing ------------------------------------------------------

FAILURES: list[tuple[str, str, Any, str]] = [
    ("put", "/api/config/global", {"max_concurrent_streams": 0}, "max_concurrent_streams"),
    ("put", "/api/config/global", {"poll_cycles": 0}, "poll_cycles"),
    ("put", "/api/config/global", {"read_timeout_seconds": "15"}, "read_timeout_seconds"),
    ("put", "/api/config/global", {"cycle_interval_seconds": True}, "cycle_interval_seconds"),
    ("put", "/api/config/global", {"report_filename": "../x.json"}, "report_filename"),
    ("put", "/api/config/global", {"max_concurent_streams": 3}, "max_concurent_streams"),
    ("put", "/api/config/global", {"max_concurrent_streams": None}, "max_concurrent_streams"),
    ("post", "/api/config/streams", {"duration_seconds": 5}, "rtsp_url"),
    ("post", "/api/config/streams", {"rtsp_url": "http://x/y", "duration_seconds": 5}, "rtsp_url"),
    ("post", "/api/config/streams", {"rtsp_url": "rtsp://x/y"}, "duration_seconds"),
    ("post", "/api/config/streams", {**NEW_STREAM, "output_filename": "test_stream1.mp4"},
     "output_filename"),
    ("post", "/api/config/streams", {**NEW_STREAM, "output_filename": "../evil.mp4"},
     "output_filename"),
    ("post", "/api/config/streams", {**NEW_STREAM, "weight": 0}, "weight"),
    ("post", "/api/config/streams", {**NEW_STREAM, "index": 2}, "index"),
    ("put", "/api/config/streams/0", {"weight": "heavy"}, "weight"),
    ("put", "/api/config/streams/0", {"duration_seconds": 1.5}, "duration_seconds"),
    ("put", "/api/config/streams/1", {"output_filename": "test_stream1.mp4"}, "output_filename"),
    ("put", "/api/config/streams/0", {"rtsp_url": "rtsp://"}, "rtsp_url"),
    ("put", "/api/config", {"global_config": {"max_concurrent_streams": 0}, "streams": []},
     "max_concurrent_streams"),
    ("put", "/api/config", {"global_config": {}}, "streams"),
    ("put", "/api/config", {**valid_config(), "extra": 1}, "extra"),
    ("put", "/api/config", {"global_config": {}, "streams": [{"rtsp_url": "rtsp://h/a",
                                                              "duration_seconds": 0}]},
     "streams[0].duration_seconds"),
]


@pytest.mark.parametrize(("method", "url", "body", "field"), FAILURES)
def test_validation_failure_is_400_and_changes_nothing(client: FlaskClient, config_path: Path,
                                                       tmp_path: Path, method: str, url: str,
                                                       body: Any, field: str) -> None:
    before = snapshot_files(tmp_path)
    response = getattr(client, method)(url, json=body)
    error = assert_error(response, 400)
    assert error["message"].startswith("配置验证失败: ")
    assert field in error["message"]
    after = snapshot_files(tmp_path)
    after.pop(str(config_path) + ".lock", None)
    assert after == before
    assert client.get("/api/config").get_json() == valid_config()


def test_seed_validation_message(client: FlaskClient) -> None:
    response = client.put("/api/config/global", json={"max_concurrent_streams": 0})
    assert response.get_json() == {"error": "Bad Request",
                                   "message": "配置验证失败: max_concurrent_streams 必须大于 0"}


# --- save ------------------------------------------------------------------------------------

def test_save_default(client: FlaskClient, config_path: Path) -> None:
    response = client.post("/api/config/save")
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "message": "配置保存成功",
                                   "saved_to": "config.json", "file_path": "config.json"}
    assert on_disk(config_path) == valid_config()


def test_save_explicit_same_file(client: FlaskClient, config_path: Path) -> None:
    response = client.post("/api/config/save", json={"file_path": "config.json"})
    assert response.status_code == 200
    assert response.get_json()["file_path"] == "config.json"
    assert on_disk(config_path) == valid_config()


def test_save_as_other_file(client: FlaskClient, config_path: Path, tmp_path: Path) -> None:
    client.put("/api/config/global", json={"poll_cycles": 4})
    response = client.post("/api/config/save", json={"file_path": "other.json"})
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "message": "配置保存成功",
                                   "saved_to": "other.json", "file_path": "other.json"}
    assert on_disk(tmp_path / "other.json") == on_disk(config_path)
    assert on_disk(tmp_path / "other.json")["global_config"]["poll_cycles"] == 4
    assert not (tmp_path / "other.json.lock").exists()  # no lock file left beside the copy


def test_save_overwrites_an_existing_file_in_the_folder(client: FlaskClient,
                                                        tmp_path: Path) -> None:
    (tmp_path / "backup.json").write_text("old", encoding="utf-8")
    assert client.post("/api/config/save", json={"file_path": "./backup.json"}).status_code == 200
    assert on_disk(tmp_path / "backup.json") == valid_config()


@pytest.mark.parametrize(("file_path", "status"), [
    ("../x.json", 403),
    ("/tmp/x.json", 403),
    ("{parent}/x.json", 403),
    ("sub/x.json", 403),
    ("missing_sub/x.json", 403),
    ("link.json", 403),
    ("dangling.json", 403),
    ("sub", 400),
    (".", 403),
    ("..", 403),
    (".patrol-state/control.json", 403),
    (".patrol-state/status.json", 403),
    ("x.txt", 400),
    (".hidden.json", 400),
    (".json", 400),
    ("", 400),
    ("   ", 400),
    ("x.json\x00.txt", 403),
    ("a\nb.json", 400),  # control characters and backslashes: no name an operator typed
    ("a\x01b.json", 400),
    ("a\\b.json", 400),
    ("a" * 300 + ".json", 400),
    ("..\\x.json", 403),
    ("sub\\..\\..\\x.json", 403),
    (5, 400),
    (["x.json"], 400),
    ({"path": "x.json"}, 400),
])
def test_save_outside_the_folder_is_refused(client: FlaskClient, config_path: Path,
                                            tmp_path: Path, file_path: Any,
                                            status: int) -> None:
    (tmp_path / "sub").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "target.json").write_text("keep", encoding="utf-8")
    (tmp_path / "link.json").symlink_to(outside / "target.json")
    (tmp_path / "dangling.json").symlink_to(outside / "nothing.json")
    tmp_x = Path("/tmp/x.json")
    tmp_x_before = tmp_x.read_bytes() if tmp_x.exists() else None
    if isinstance(file_path, str):
        file_path = file_path.replace("{parent}", str(tmp_path.parent))
    before = snapshot_files(tmp_path)
    response = client.post("/api/config/save", json={"file_path": file_path})
    assert_error(response, status)
    after = snapshot_files(tmp_path)
    after.pop(str(config_path) + ".lock", None)
    assert after == before
    assert (outside / "target.json").read_text(encoding="utf-8") == "keep"
    assert sorted(p.name for p in outside.iterdir()) == ["target.json"]
    assert not (tmp_path.parent / "x.json").exists()
    assert (tmp_x.read_bytes() if tmp_x.exists() else None) == tmp_x_before


@pytest.mark.parametrize("file_path", [
    "output/x.json", ".patrol-state/status.json", "sub/x.json", "../x.json", "/tmp/x.json"])
def test_save_not_directly_in_the_folder_says_the_rule(client: FlaskClient, config_path: Path,
                                                         tmp_path: Path, file_path: str) -> None:
    # A path inside a subfolder is inside the config's folder too: the message must not
    # say that it is not, but what is asked for, a file name directly in that folder.
    (tmp_path / "sub").mkdir()
    response = client.post("/api/config/save", json={"file_path": file_path},
                           headers={"Accept-Language": "en"})
    body = assert_error(response, 403)
    assert body["message"] == "禁止访问: file_path 必须是配置文件所在目录中的文件名 (不含子目录)"
    assert body["message_en"] == ("Forbidden: file_path must be the name of a file directly "
                                  "in the config file's folder (no subfolder)")


def test_save_unknown_body_field_is_400(client: FlaskClient, config_path: Path) -> None:
    digest = file_digest(config_path)
    assert_error(client.post("/api/config/save", json={"filepath": "x.json"}), 400, "filepath")
    assert file_digest(config_path) == digest


# --- reload ----------------------------------------------------------------------------------

def test_reload(client: FlaskClient, config_path: Path, control_path: Path) -> None:
    before = read_control(str(control_path))["reload_generation"]
    response = client.post("/api/config/reload")
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "message": "配置重新加载成功",
                                   "loaded_from": "config.json", "file_path": "config.json"}
    assert read_control(str(control_path))["reload_generation"] == before + 1
    assert client.post("/api/config/reload").status_code == 200
    assert read_control(str(control_path))["reload_generation"] == before + 2


def test_reload_after_hand_edit(client: FlaskClient, config_path: Path) -> None:
    config = valid_config()
    config["streams"].append({"rtsp_url": "rtsp://127.0.0.1:8554/cam3", "duration_seconds": 5})
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    assert client.post("/api/config/reload").status_code == 200
    assert client.get("/api/config/streams").get_json()["count"] == 3


@pytest.mark.parametrize(("text", "reason"), [
    (BROKEN_TEXT, "第3行"),
    (json.dumps({**valid_config(), "global_config": {"max_concurrent_streams": 0}}, indent=2),
     "max_concurrent_streams 必须大于 0"),
    ('{"global_config": {}, "streams": [{"rtsp_url": "rtsp://h/x", "duration_seconds": 5,'
     ' "weight": NaN}]}', "NaN"),
    ("", "JSON"),
])
def test_reload_of_a_broken_file_is_400(client: FlaskClient, config_path: Path,
                                        control_path: Path, text: str, reason: str) -> None:
    config_path.write_text(text, encoding="utf-8")
    digest = file_digest(config_path)
    body = assert_error(client.post("/api/config/reload"), 400, reason)
    assert "config.json" in body["message"]
    assert file_digest(config_path) == digest
    assert read_control(str(control_path))["reload_generation"] == 0


def test_reload_of_a_missing_file_is_400(client: FlaskClient, config_path: Path) -> None:
    config_path.unlink()
    assert_error(client.post("/api/config/reload"), 400, "不存在")
    assert not config_path.exists()


# --- a hand-broken config.json ---------------------------------------------------------------

PARTIAL_EDITS: list[tuple[str, str, Any]] = [
    ("put", "/api/config/global", {"poll_cycles": 5}),
    ("post", "/api/config/streams", NEW_STREAM),
    ("put", "/api/config/streams/0", {"weight": 2.0}),
    ("delete", "/api/config/streams/0", None),
    ("post", "/api/config/save", None),
    ("post", "/api/config/save", {"file_path": "copy.json"}),
]


@pytest.fixture
def broken_config(config_path: Path) -> Path:
    config_path.write_text(BROKEN_TEXT, encoding="utf-8")
    return config_path


@pytest.mark.parametrize(("method", "url", "body"), PARTIAL_EDITS)
def test_partial_edit_of_a_broken_file_is_503(client: FlaskClient, broken_config: Path,
                                              tmp_path: Path, method: str, url: str,
                                              body: Any) -> None:
    digest = file_digest(broken_config)
    call = getattr(client, method)
    response = call(url, json=body) if body is not None else call(url)
    error = assert_error(response, 503)
    assert "config.json" in error["message"]
    assert error["config_error"]["line"] == 3
    assert file_digest(broken_config) == digest
    assert not (tmp_path / "copy.json").exists()


@pytest.mark.parametrize("url", ["/api/config", "/api/config/global", "/api/config/streams"])
def test_reads_of_a_broken_file_are_503(client: FlaskClient, broken_config: Path,
                                        url: str) -> None:
    assert_error(client.get(url), 503, "第3行")


def test_put_whole_config_repairs_a_broken_file(client: FlaskClient, broken_config: Path) -> None:
    response = client.put("/api/config", json=SEED_PUT_CONFIG)
    assert response.status_code == 200
    assert on_disk(broken_config) == SEED_PUT_CONFIG
    assert client.get("/api/config").get_json() == SEED_PUT_CONFIG
    assert client.put("/api/config/global", json={"poll_cycles": 2}).status_code == 200


def test_invalid_whole_config_does_not_repair(client: FlaskClient, broken_config: Path) -> None:
    digest = file_digest(broken_config)
    assert_error(client.put("/api/config", json={"global_config": {"poll_cycles": 0},
                                                 "streams": []}), 400, "poll_cycles")
    assert file_digest(broken_config) == digest


def test_app_with_a_missing_config_answers_503(tmp_path: Path) -> None:
    app: Flask = create_app({"CONFIG_PATH": str(tmp_path / "absent.json"),
                             "OUTPUT_DIR": "./output", "OUTPUT_BASE": str(tmp_path)})
    client = app.test_client()
    assert_error(client.get("/api/config"), 503, "不存在")
    assert_error(client.put("/api/config/global", json={"poll_cycles": 1}), 503)
    assert client.put("/api/config", json=SEED_PUT_CONFIG).status_code == 200
    assert on_disk(tmp_path / "absent.json") == SEED_PUT_CONFIG


# --- concurrent writers ----------------------------------------------------------------------

def test_concurrent_edits_lose_nothing(app: Flask, config_path: Path) -> None:
    """Writers in parallel (as gunicorn workers would be) each see the others' changes."""
    count = 8
    barrier = threading.Barrier(count)
    statuses: list[int] = []

    def add(n: int) -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/config/streams", json={
            "rtsp_url": f"rtsp://127.0.0.1:8554/par{n}", "duration_seconds": 5})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * count
    streams = on_disk(config_path)["streams"]
    assert len(streams) == 2 + count
    assert {s["output_filename"] for s in streams[2:]} == {f"par{n}.mp4" for n in range(count)}


@pytest.mark.parametrize("url", ["/api/config/save", "/api/config/reload"])
@pytest.mark.parametrize("body", [b"\r", b" \n", b"\t"])
def test_an_optional_body_of_whitespace_is_malformed_json(client: FlaskClient, url: str,
                                                          body: bytes) -> None:
    # No body at all is an empty optional body; whitespace is no JSON document (schemathesis
    # sent "\r" to /api/config/save and got 200).
    assert_error(client.post(url, data=body, content_type="application/json"), 400,
                 "请求体不是有效的 JSON")
    assert client.post(url).status_code == 200


@pytest.mark.parametrize("name", ["status.json", "control.json", "config.in-force.json"])
def test_save_never_overwrites_a_state_file_in_the_config_folder(
        client: FlaskClient, config_path: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    # $RTSP_PATROL_STATE_DIR may name the config's own folder: its state files are then plain
    # names there, and a copy of the config saved over one would wreck the recorder's state.
    monkeypatch.setenv("RTSP_PATROL_STATE_DIR", str(tmp_path))
    (tmp_path / name).write_text('{"state": "kept"}', encoding="utf-8")
    response = client.post("/api/config/save", json={"file_path": name},
                           headers={"Accept-Language": "en"})
    body = assert_error(response, 403)
    assert body["message"] == f"禁止访问: file_path 不能是记录器的状态文件 {name}"
    assert body["message_en"] == ("Forbidden: file_path must not be one of the recorder's "
                                  f"state files: {name}")
    assert (tmp_path / name).read_text(encoding="utf-8") == '{"state": "kept"}'


def test_save_never_overwrites_a_state_file_reached_through_a_symlinked_folder(
        client: FlaskClient, config_path: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    link = tmp_path.parent / f"{tmp_path.name}-state-link"
    link.symlink_to(tmp_path)
    monkeypatch.setenv("RTSP_PATROL_STATE_DIR", str(link))
    (tmp_path / "status.json").write_text('{"state": "kept"}', encoding="utf-8")
    response = client.post("/api/config/save", json={"file_path": "status.json"})
    assert_error(response, 403)
    assert (tmp_path / "status.json").read_text(encoding="utf-8") == '{"state": "kept"}'


def test_a_stream_update_removes_a_key_sent_as_null(client: FlaskClient, config_path: Path) -> None:
    url = "rtsp://example.com/live/gate7"
    assert client.put("/api/config/streams/1", json={
        "rtsp_url": url, "name": "东门", "alerts": False, "rtsp_transport": "udp",
        "weight": 3}).status_code == 200
    answer = client.put("/api/config/streams/1", json={
        "name": None, "alerts": None, "rtsp_transport": None, "weight": None,
        "duration_seconds": 12})
    assert answer.status_code == 200, answer.get_json()
    stream = on_disk(config_path)["streams"][1]
    assert stream == {"rtsp_url": url, "duration_seconds": 12, "weight": 1.0,
                      "output_filename": valid_config()["streams"][1]["output_filename"]}
    assert answer.get_json()["updated_stream"] == stream
    # a key left out stays; output_filename sent as null takes the one derived from the URL
    assert client.put("/api/config/streams/1", json={"output_filename": None}).status_code == 200
    assert on_disk(config_path)["streams"][1] == {**stream, "output_filename": "gate7.mp4"}


@pytest.mark.parametrize("key", ["rtsp_url", "duration_seconds"])
def test_a_required_stream_key_sent_as_null_is_refused(client: FlaskClient, config_path: Path,
                                                       key: str) -> None:
    before = file_digest(config_path)
    assert_error(client.put("/api/config/streams/0", json={key: None}), 400, f"{key} 是必填字段")
    assert file_digest(config_path) == before

