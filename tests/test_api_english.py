"""English on request: ``Accept-Language: en`` adds ``*_en`` fields; Chinese stays, by default unchanged."""
from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from app.language import wants_english
from shared import task_status
from tests.helpers import MakeCycle, WriteStatus, assert_error

EN = {"Accept-Language": "en"}
CLIP = "./output/20251010_163000/test_stream1.mp4"


@pytest.mark.parametrize(("header", "english"), [
    (None, False), ("", False), ("en", True), ("en-US", True), ("EN-gb", True),
    ("zh-CN", False), ("zh-CN,zh;q=0.9,en;q=0.8", False), ("en-US,en;q=0.9,zh;q=0.5", True),
    ("fr, en;q=0.5", True), ("fr", False), ("*", False), ("*, en;q=0.5", False),
    ("en;q=0", False), ("zh;q=0.4, en;q=0.6", True), ("zh, en", False), ("en, zh", True),
    ("en;q=garbage", False), ("\x7f;;,,=", False), ("en;q=nan", False), ("en;q=2", False),
    ("en-US;q=0.2, en;q=0.9, zh;q=0.5", True), ("*;q=0.5, zh;q=0.1", True),
])
def test_who_wants_english(app: Flask, header: str | None, english: bool) -> None:
    headers = {} if header is None else {"Accept-Language": header}
    with app.test_request_context("/api/health", headers=headers):
        assert wants_english() is english


def _both(client: FlaskClient, method: str, url: str, **kwargs) -> tuple[dict, dict]:
    """The answer without the header, then with ``Accept-Language: en`` (same status)."""
    plain = getattr(client, method)(url, **kwargs)
    english = getattr(client, method)(url, headers=EN, **kwargs)
    assert plain.status_code == english.status_code
    return plain.get_json(), english.get_json()


def _english_beside(plain: dict, english: dict, message_en: str) -> None:
    """``english`` is ``plain`` plus ``message_en`` right after ``message``."""
    assert english["message_en"] == message_en
    assert list(english) == [key for key in plain for key in
                             ((key, "message_en") if key == "message" else (key,))]
    assert {key: value for key, value in english.items() if key != "message_en"} == plain


# --- default answers ---------------------------------------------------------------------------

@pytest.mark.parametrize("header", [None, "zh-CN", "fr", "*", "en;q=0"])
def test_default_answers_have_no_english(client: FlaskClient, write_status: WriteStatus,
                                         header: str | None) -> None:
    write_status(tasks=[{"task_id": 0, "stream_index": 0, "status": 4}])
    headers = {} if header is None else {"Accept-Language": header}
    for url in ("/api/tasks", "/api/scheduler/status", "/api/nothing", "/api/config"):
        response = client.get(url, headers=headers)
        assert "_en\"" not in response.get_data(as_text=True)
        assert response.get_data() == client.get(url).get_data()
        assert "Accept-Language" in response.vary
    response = client.post("/api/scheduler/stop", headers=headers)
    assert response.get_json() == {"success": True, "message": "调度器停止成功",
                                   "is_running": False}


def test_english_keeps_the_encoding_of_the_answer(client: FlaskClient) -> None:
    plain = client.get("/api/nothing").get_data(as_text=True)
    english = client.get("/api/nothing", headers=EN).get_data(as_text=True)
    assert english == plain[:-2] + ',"message_en":"The requested resource does not exist"}\n'


# --- results -----------------------------------------------------------------------------------

def test_results_in_english(client: FlaskClient, make_cycle: MakeCycle,
                            write_status: WriteStatus) -> None:
    make_cycle("20251010_163000")
    make_cycle("20251010_163100")
    plain, english = _both(client, "get", "/api/videos", query_string={"limit": "0"})
    _english_beside(plain, english, "Parameter limit must be an integer from 1 to 10000")
    plain, english = _both(client, "delete", "/api/video")
    _english_beside(plain, english, "Missing parameter path")
    response = client.delete("/api/video", query_string={"path": CLIP}, headers=EN)
    assert response.get_json() == {"success": True, "path": CLIP, "message": "文件删除成功",
                                   "message_en": "File deleted"}
    plain, english = _both(client, "delete", "/api/video", query_string={"path": CLIP})
    _english_beside(plain, english, "No such file")
    plain, english = _both(client, "delete", "/api/video", query_string={"path": "../x.mp4"})
    _english_beside(plain, english, "Forbidden: The path must not contain ..")
    write_status(scheduler_running=True, cycle={"dir": "20251010_163100", "running": True})
    plain, english = _both(client, "delete", "/api/timestamp/20251010_163100")
    _english_beside(plain, english, "This cycle folder is being recorded and cannot be deleted")
    assert english["error"] == "Conflict"
    response = client.delete("/api/timestamp/20251010_163000", headers=EN)
    assert response.get_json()["message_en"] == "Folder deleted"
    plain, english = _both(client, "get", "/api/videos/20251010_163000")
    _english_beside(plain, english, "No such cycle folder: 20251010_163000")


# --- config ------------------------------------------------------------------------------------

def test_config_in_english(client: FlaskClient) -> None:
    response = client.put("/api/config/global", json={"max_concurrent_streams": 3}, headers=EN)
    body = response.get_json()
    assert (body["message"], body["message_en"]) == ("全局配置更新成功", "Global config updated")
    assert list(body)[:3] == ["success", "message", "message_en"]
    assert "ETag" in response.headers
    plain, english = _both(client, "put", "/api/config/global",
                           json={"max_concurrent_streams": 0})
    assert plain["message"] == "配置验证失败: max_concurrent_streams 必须大于 0"
    _english_beside(plain, english,
                    "Config validation failed: max_concurrent_streams must be greater than 0")
    plain, english = _both(client, "delete", "/api/config/streams/7")
    _english_beside(plain, english, "Invalid stream index: 7")
    plain, english = _both(client, "put", "/api/config/global", data="{",
                           content_type="application/json")
    _english_beside(plain, english, "The request body is not valid JSON: Expecting property "
                                    "name enclosed in double quotes (line 1, column 2)")
    # The config's own GETs carry no text to translate: the same bytes either way.
    assert client.get("/api/config", headers=EN).get_data() == client.get("/api/config").get_data()


def test_config_errors_in_english(client: FlaskClient, config_path: Path) -> None:
    config_path.write_text('{"global_config": {"max_concurrent_streams": true}, "streams": []}',
                           encoding="utf-8")
    plain, english = _both(client, "post", "/api/config/reload")
    assert english["config_error"] == {**plain["config_error"],
                                       "reason_en": "must be an integer",
                                       "message_en": english["config_error"]["message_en"]}
    assert list(english["config_error"]) == ["file", "line", "field", "reason", "reason_en",
                                             "message", "message_en"]
    assert english["message_en"] == ("Reloading the config failed: Config validation failed: "
                                     "global_config.max_concurrent_streams must be an integer "
                                     "(config.json line 1)")
    plain, english = _both(client, "put", "/api/config/global", json={"poll_cycles": 2})
    assert english["error"] == "Service Unavailable"
    assert english["message_en"].startswith("The config file is invalid; fix it or replace it "
                                            "whole first: Config validation failed: ")
    assert english["config_error"]["reason_en"] == "must be an integer"


# --- tasks and scheduler -----------------------------------------------------------------------

def test_tasks_in_english(client: FlaskClient, write_status: WriteStatus) -> None:
    codes = sorted(task_status.NAMES)
    write_status(tasks=[{"task_id": code, "stream_index": code, "status": code}
                        for code in codes])
    for url in ("/api/tasks", "/api/tasks/status"):
        plain, english = _both(client, "get", url)
        for code, before, after in zip(codes, plain["tasks"], english["tasks"]):
            assert after["status_name"] == after["status_text"] == task_status.NAMES[code]
            assert after["status_name_en"] == task_status.NAMES_EN[code]
            position = list(before).index("status_name") + 1
            assert list(after) == [*list(before)[:position], "status_name_en",
                                   *list(before)[position:]]
        assert {k: v for k, v in english.items() if k != "tasks"} == \
               {k: v for k, v in plain.items() if k != "tasks"}


def test_scheduler_in_english(client: FlaskClient, write_status: WriteStatus) -> None:
    plain, english = _both(client, "post", "/api/scheduler/start")
    _english_beside(plain, english, "The recorder daemon is not running")
    write_status(scheduler_running=False)
    response = client.post("/api/scheduler/start", headers={"Accept-Language": "en-US"})
    assert response.get_json() == {"success": True, "message": "调度器启动成功",
                                   "message_en": "Scheduler started", "is_running": True}
    plain, english = _both(client, "post", "/api/scheduler/start")
    _english_beside(plain, english, "The scheduler is already running")
    response = client.post("/api/scheduler/stop", headers=EN)
    assert response.get_json()["message_en"] == "Scheduler stopped"


# --- errors ------------------------------------------------------------------------------------

def _error_en(response: TestResponse, status: int) -> str:
    return assert_error(response, status)["message_en"]


def test_errors_in_english(client: FlaskClient) -> None:
    assert _error_en(client.get("/api/nothing", headers=EN), 404) == \
        "The requested resource does not exist"
    assert _error_en(client.patch("/api/config", headers=EN), 405) == "Method not allowed"
    assert _error_en(client.put("/api/config", headers=EN, data="x" * (2 << 20),
                                content_type="application/json"), 413) == "Request body too large"
    assert _error_en(client.put("/api/config", headers=EN, data="",
                                content_type="application/json"), 400) == \
        "The request body must not be empty: a JSON object is needed"
    assert _error_en(client.get("/api/videos?limit=1&limit=2", headers=EN), 400) == \
        "Parameter limit may be given only once"
    assert _error_en(client.put("/api/config/global", headers={**EN, "If-Match": '"x"'},
                                json={}), 412) == \
        "The config file has changed (If-Match does not match); read it again, then resubmit"


def test_token_refusal_in_english(tmp_path: Path, config_path: Path) -> None:
    app = create_app({"CONFIG_PATH": str(config_path), "OUTPUT_DIR": "./output",
                      "OUTPUT_BASE": str(tmp_path), "API_TOKEN": "t" * 32})
    with app.test_client() as client:
        assert _error_en(client.post("/api/scheduler/stop", headers=EN), 401) == \
            "A valid API token is needed (Authorization: Bearer <token>)"


def test_the_openapi_document_names_the_switch(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
            assert "Accept-Language" in headers, (path, method)
    assert "message_en" in document["components"]["schemas"]["Error"]["properties"]
    assert "status_name_en" in document["components"]["schemas"]["Task"]["description"]
    assert "Accept-Language" in document["info"]["description"]
