"""Unit tests of the config model (shared.config) and config.json on disk (shared.config_file)."""
from __future__ import annotations

import json
import re
from dataclasses import FrozenInstanceError, asdict, fields
from pathlib import Path
from typing import Any

import pytest

from shared import atomic
from shared import config as model
from shared import config_edits, config_rules
from shared.config_file import edit_config, load_config, replace_config
from shared.errors import ConfigError, ConfigUnavailable
from shared.global_settings import GlobalSettings
from tests.helpers import file_digest, valid_config

INT_FIELDS_GLOBAL = ("total_poll_duration_seconds", "max_concurrent_streams",
                     "connection_timeout_seconds", "read_timeout_seconds", "poll_cycles",
                     "cycle_interval_seconds")


def _with_global(**changes: Any) -> dict:
    config = valid_config()
    config["global_config"].update(changes)
    return config


def _with_stream(index: int = 0, **changes: Any) -> dict:
    config = valid_config()
    config["streams"][index].update(changes)
    return config


def _error(data: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        model.validate_config(data)
    return info.value


# --- the fixture config itself ---------------------------------------------------------------

def test_valid_config_round_trips_unchanged() -> None:
    config = valid_config()
    assert model.validate_config(config) == config


def test_validation_is_idempotent_and_orders_keys() -> None:
    config = valid_config()
    config["streams"][0] = dict(reversed(list(config["streams"][0].items())))
    once = model.validate_config(config)
    assert list(once["streams"][0]) == list(model.STREAM_KEYS)
    assert list(once["global_config"]) == list(model.GLOBAL_DEFAULTS)
    assert model.validate_config(once) == once


def test_validate_does_not_mutate_its_input() -> None:
    config = valid_config()
    del config["streams"][0]["weight"]
    snapshot = json.dumps(config, sort_keys=True)
    model.validate_config(config)
    assert json.dumps(config, sort_keys=True) == snapshot


def test_missing_global_keys_take_defaults() -> None:
    config = valid_config()
    config["global_config"] = {"max_concurrent_streams": 4}
    result = model.validate_config(config)
    assert result["global_config"] == {**model.GLOBAL_DEFAULTS, "max_concurrent_streams": 4}


# --- each rule: a valid and an invalid case --------------------------------------------------

GLOBAL_CASES: list[tuple[str, Any, Any, str]] = [
    # (field, valid value, invalid value, reason fragment)
    ("total_poll_duration_seconds", 1, 0, "必须大于 0"),
    ("total_poll_duration_seconds", 3600, -60, "必须大于 0"),
    ("max_concurrent_streams", 1, 0, "必须大于 0"),
    ("max_concurrent_streams", 64, -1, "必须大于 0"),
    ("connection_timeout_seconds", 1, 0, "必须大于 0"),
    ("read_timeout_seconds", 1, 0, "必须大于 0"),
    ("poll_cycles", -1, 0, "-1"),
    ("poll_cycles", 1, -2, "-1"),
    ("poll_cycles", 1000, -100, "-1"),
    ("cycle_interval_seconds", 0, -1, "必须大于等于 0"),
    ("report_filename", "patrol.json", "patrol.txt", ".json"),
    ("report_filename", "rtsp_report.JSON", ".json", ""),
    ("report_filename", "r.json", "sub/r.json", "文件名"),
    ("report_filename", "r.json", "../r.json", "文件名"),
    ("report_filename", "r.json", "sub\\r.json", "文件名"),
    ("report_filename", "r.json", ".hidden.json", "文件名"),
    ("report_filename", "r.json", "", "非空"),
    ("output_directory", "/var/lib/patrol/output", "", "非空"),
    ("output_directory", "out", "   ", "非空"),
    # Each clip's listed path is spelled from it, and DELETE /api/video refuses a path with a
    # control character or a backslash: no clip could be deleted.
    ("output_directory", "./out put", "./out\tput", "控制字符"),
    ("output_directory", "/srv/cams/东门", "/srv/cams\n", "控制字符"),
    ("output_directory", "./output", "./out\x7f", "控制字符"),
    ("output_directory", "./output", "./out\x85", "控制字符"),
    ("output_directory", "./output", "./out\\put", "反斜杠"),
    ("offline_after_failures", 1, 0, "必须大于 0"),
    ("offline_after_failures", 5, True, "整数"),
    ("history_retention_days", 0, -1, "永久保留"),
    ("history_retention_days", 365, 1.5, "整数"),
    ("alerts", {}, [], "JSON 对象"),
    ("alerts", {"remind_every_hours": 0}, "dingtalk://x", "JSON 对象"),
]


@pytest.mark.parametrize(("field", "good", "bad", "reason"), GLOBAL_CASES)
def test_global_rule(field: str, good: Any, bad: Any, reason: str) -> None:
    assert model.validate_config(_with_global(**{field: good}))["global_config"][field] == good
    error = _error(_with_global(**{field: bad}))
    assert error.field == f"global_config.{field}"
    assert reason in error.reason


STREAM_CASES: list[tuple[str, Any, Any, str]] = [
    ("rtsp_url", "rtsp://218.94.57.146:40007/rtp/4401_3402", "http://example.com/x", "rtsp://"),
    ("rtsp_url", "rtsps://cam.example.com:322/live", "rtsp://", "主机"),
    ("rtsp_url", "rtsp://user:p%40ss@10.0.0.1/x", "rtsp:///path", "主机"),
    ("rtsp_url", "RTSP://example.com/x", "rtsp://exa mple.com/x", "空白"),
    ("rtsp_url", "rtsp://example.com:8554/x", "rtsp://example.com:99999/x", "端口必须在 1-65535 之间"),
    ("rtsp_url", "rtsp://example.com:1/x", "rtsp://example.com:0/x", "端口必须在 1-65535 之间"),
    ("rtsp_url", "rtsp://[::1]:65535/x", "rtsp://[::1]:65536/x", "端口必须在 1-65535 之间"),
    ("rtsp_url", "rtsp://example.com:554/x", "rtsp://example.com:55a/x", "端口无效"),
    ("rtsp_url", "rtsp://example.com/x", "rtsp://h[x/y", "端口无效"),  # urlsplit raises
    ("rtsp_url", "rtsp://[::1]/x", "rtsp://[::1/x", "端口无效"),
    ("rtsp_url", "rtsp://[::1]:8554/x", " rtsp://example.com/x", "空白"),
    ("rtsp_url", "rtsp://example.com/x", "", ""),
    # A password's "/" ends the host part: "admin" port 12, and no mask finds the password.
    ("rtsp_url", "rtsp://u:p@ss@10.0.0.1/x", "rtsp://admin:12/34@10.0.0.1/x", "%2F"),
    ("rtsp_url", "rtsp://u:p%3F@10.0.0.1/x?a=b", "rtsp://admin:99?x@cam/x", "%3F"),
    # …whatever the password looks like ("pa" read as a port said only "invalid port").
    ("rtsp_url", "rtsp://u:pa%2Fss@10.0.0.1:554/x", "rtsp://u:pa/ss@10.0.0.1:554/x", "%2F"),
    ("rtsp_url", "rtsps://u:pa%3Fss@cam/x", "rtsps://u:pa?ss@cam/x", "%3F"),
    ("rtsp_url", "rtsp://u:pa%23ss@cam/x", "rtsp://u:pa#ss@cam/x", "%23"),
    ("rtsp_url", "rtsp://:pa%2Fss@cam/x", "rtsp://:pa/ss@cam/x", "%2F"),
    ("rtsp_url", "rtsp://u:p%5Ba%2Fss@cam/x", "rtsp://u:p[a/ss@cam/x", "%2F"),
    ("duration_seconds", 1, 0, "必须大于 0"),
    ("duration_seconds", 300, -15, "必须大于 0"),
    ("weight", 0.01, 0, "大于 0"),
    ("weight", 3, -1.5, "大于 0"),
    ("output_filename", "cam.mkv", "cam.txt", "视频扩展名"),
    ("output_filename", "cam.MP4", "cam", "视频扩展名"),
    ("output_filename", "cam.ts", ".mp4", "文件名"),
    # It is a camera's id and a clip's name: it closed the console's isolate (U+2069) and
    # turned the text after it around (U+202E) in a page's title and a delete's question.
    ("output_filename", "cam.mp4", "cam\u2069\u202egpm.mp4", "不可见的格式字符 (U+2069)"),
    ("output_filename", "cam.mp4", "cam\u202egpm.mp4", "不可见的格式字符 (U+202E)"),
    ("output_filename", "cam.mp4", "ca\u200bm.mp4", "不可见的格式字符 (U+200B)"),
    ("output_filename", "cam.mp4", "ca\u2028m.mp4", "不可见的格式字符 (U+2028)"),
    ("output_filename", "قناة\u200c1.mp4", "cam\u2066.mp4", "不可见的格式字符 (U+2066)"),
    ("output_filename", "cam.mov", "dir/cam.mp4", "文件名"),
    ("output_filename", "cam.m4v", "../cam.mp4", "文件名"),
    ("output_filename", "摄像头1.mp4", "dir\\cam.mp4", "文件名"),
    ("output_filename", "cam.mp4", "", "非空"),
    ("output_filename", "c" * 200 + ".mp4", "c" * 300 + ".mp4", "字节"),
    ("name", "东门入口 1号", "", "非空"),
    ("name", "n" * 64, "n" * 65, "64"),
    ("name", "gate", "gate\n2", "控制字符"),
    ("name", "gate", "gate\x85", "控制字符"),
    ("name", "gate", 17, "字符串"),
    ("name", " 东门 ", "   ", "不能只含空白字符"),  # blank in the console
    ("name", "东门", "\u3000\u2003", "不能只含空白字符"),
    ("name", "东门", "东\u200b门", "不可见的格式字符 (U+200B)"),
    ("name", "gate", "\u202egate", "不可见的格式字符 (U+202E)"),  # shown reversed: etag
    ("name", "gate", "\ufeffgate", "不可见的格式字符 (U+FEFF)"),
    ("name", "gate", "ga\u2028te", "不可见的格式字符 (U+2028)"),
    ("name", "gate", "gate\u2066", "不可见的格式字符 (U+2066)"),  # an isolate
    ("name", "gate", "\u061cgate", "不可见的格式字符 (U+061C)"),
    ("name", "东门", "东\u2060门", "不可见的格式字符 (U+2060)"),
    # Every other format character too (these rarer ones were accepted): a Mongolian vowel
    # separator, the invisible operators, the deprecated shaping controls, the interlinear
    # annotation marks, a musical beam control, the language tag
    *(("name", "gate", f"ga{chr(code)}te", f"不可见的格式字符 (U+{code:04X})")
      for code in (0x180E, *range(0x2061, 0x2065), *range(0x206A, 0x2070), 0xFFF9, 0xFFFA,
                   0xFFFB, 0x1D173, 0xE0001)),
    ("name", "gate", "\u200c", "不能只含空白或不可见的字符"),
    ("name", "gate", "\U000e0067 \u00ad", "不能只含空白或不可见的字符"),
    # Drawn as nothing: a Hangul filler, the blank braille pattern, a combining grapheme joiner,
    # a variation selector (an operator's walk-through saved each, and /tasks showed a blank link)
    *(("name", "gate", blank, "不能只含空白或不可见的字符")
      for blank in ("\u3164", "\u115f", "\uffa0", "\u2800", "\u034f", "\ufe0f", "\u17b4",
                    " \u3164 ")),
    ("alerts", False, "false", "true 或 false"),
    ("alerts", True, 0, "true 或 false"),
]


@pytest.mark.parametrize(("field", "good", "bad", "reason"), STREAM_CASES)
def test_stream_rule(field: str, good: Any, bad: Any, reason: str) -> None:
    result = model.validate_config(_with_stream(1, **{field: good}))
    expected = float(good) if field == "weight" else good
    assert result["streams"][1][field] == expected
    error = _error(_with_stream(1, **{field: bad}))
    assert error.field == f"streams[1].{field}"
    assert reason in error.reason


GOOD_ALERTS = {
    "webhooks": [{"url": "https://hooks.example.com/patrol", "secret": "s3cret",
                  "events": ["camera.offline", "camera.recovered"]},
                 {"url": "http://127.0.0.1:9000/x"}],
    "notify": ["dingtalk://token/", "mailto://user:pass@example.com"],
    "remind_every_hours": 6,
    "public_url": "https://patrol.example.com/cctv/",
}


def test_a_full_alerts_section_is_kept_as_given() -> None:
    result = model.validate_config(_with_global(alerts=GOOD_ALERTS))
    assert result["global_config"]["alerts"] == GOOD_ALERTS
    assert model.validate_config(result) == result


@pytest.mark.parametrize(("alerts", "field", "reason"), [
    ({"webhook": []}, "alerts.webhook", "未知字段"),
    ({"webhooks": {}}, "alerts.webhooks", "数组"),
    ({"webhooks": [{}]}, "alerts.webhooks[0].url", "必填"),
    ({"webhooks": [{"url": "ftp://x/y"}]}, "alerts.webhooks[0].url", "http"),
    ({"webhooks": [{"url": "http://"}]}, "alerts.webhooks[0].url", "http"),
    ({"webhooks": [{"url": "http://a b/"}]}, "alerts.webhooks[0].url", "http"),
    ({"webhooks": [{"url": "http://a/", "secret": ""}]}, "alerts.webhooks[0].secret", "字符串"),
    ({"webhooks": [{"url": "http://a/", "events": ["camera.down"]}]},
     "alerts.webhooks[0].events[0]", "camera.offline"),
    ({"webhooks": [{"url": "http://a/", "events": "camera.offline"}]},
     "alerts.webhooks[0].events", "数组"),
    ({"webhooks": [{"url": "http://a/", "headers": {}}]}, "alerts.webhooks[0].headers", "未知"),
    ({"webhooks": [{"url": "http://a/\n"}]}, "alerts.webhooks[0].url", "http"),
    ({"notify": ["dingtalk"]}, "alerts.notify[0]", "通知网址"),
    ({"notify": ["dingtalk://t/\n"]}, "alerts.notify[0]", "通知网址"),
    ({"notify": [5]}, "alerts.notify[0]", "字符串"),
    ({"notify": ["mailto://a@b"] * 51}, "alerts.notify", "50"),
    # One target per URL in the outbox: the second one's alerts went under the first's secret.
    ({"webhooks": [{"url": "http://a/h", "secret": "s1"}, {"url": "http://b/h"},
                   {"url": "http://a/h", "secret": "s2"}]},
     "alerts.webhooks[2]", "与 webhooks[0] 的网址相同"),
    ({"notify": ["mailto://a@b", "mailto://a@b"]}, "alerts.notify[1]", "只能出现一次"),
    ({"remind_every_hours": -1}, "alerts.remind_every_hours", "不提醒"),
    ({"public_uri": "https://patrol.example.com"}, "alerts.public_uri", "未知字段"),
    ({"public_url": "patrol.example.com"}, "alerts.public_url", "http"),
    ({"public_url": "ftp://patrol.example.com"}, "alerts.public_url", "http"),
    ({"public_url": "https://"}, "alerts.public_url", "http"),
    ({"public_url": "https://patrol.example.com/?token=x"}, "alerts.public_url", "?"),
    ({"public_url": "https://patrol.example.com/#x"}, "alerts.public_url", "#"),
    ({"public_url": "https://admin:pw@patrol.example.com"}, "alerts.public_url", "用户名"),
    ({"public_url": 8080}, "alerts.public_url", "字符串"),
])
def test_alerts_rules_name_the_nested_field(alerts: dict, field: str, reason: str) -> None:
    error = _error(_with_global(alerts=alerts))
    assert error.field == f"global_config.{field}"
    assert reason in error.reason


@pytest.mark.parametrize("field", model.REQUIRED_STREAM_KEYS)
def test_required_stream_keys(field: str) -> None:
    config = valid_config()
    del config["streams"][0][field]
    error = _error(config)
    assert (error.field, error.reason) == (f"streams[0].{field}", "是必填字段")


@pytest.mark.parametrize("section", model.TOP_KEYS)
def test_required_top_level_keys(section: str) -> None:
    config = valid_config()
    del config[section]
    assert _error(config).field == section


@pytest.mark.parametrize(("data", "field"), [
    ([], ""),
    ("config", ""),
    (None, ""),
    ({"global_config": [], "streams": []}, "global_config"),
    ({"global_config": {}, "streams": {}}, "streams"),
    ({"global_config": {}, "streams": ["rtsp://x/y"]}, "streams[0]"),
    ({"global_config": {}, "streams": [None]}, "streams[0]"),
])
def test_wrong_container_types(data: Any, field: str) -> None:
    assert _error(data).field == field


def test_empty_stream_list_is_valid() -> None:
    config = valid_config()
    config["streams"] = []
    assert model.validate_config(config)["streams"] == []


# --- type confusion --------------------------------------------------------------------------

NOT_INTEGERS: list[Any] = [True, False, "10", "", None, [10], {"v": 10}, 10.0, 10.5,
                           float("nan"), float("inf")]


@pytest.mark.parametrize("field", INT_FIELDS_GLOBAL)
@pytest.mark.parametrize("value", NOT_INTEGERS, ids=repr)
def test_global_integers_must_be_integers(field: str, value: Any) -> None:
    error = _error(_with_global(**{field: value}))
    assert (error.field, error.reason) == (f"global_config.{field}", "必须是整数")


@pytest.mark.parametrize("value", NOT_INTEGERS, ids=repr)
def test_duration_must_be_an_integer(value: Any) -> None:
    error = _error(_with_stream(0, duration_seconds=value))
    assert (error.field, error.reason) == ("streams[0].duration_seconds", "必须是整数")


@pytest.mark.parametrize("value", [True, "1.5", None, [1.0], {}], ids=repr)
def test_weight_must_be_a_number(value: Any) -> None:
    error = _error(_with_stream(0, weight=value))
    assert (error.field, error.reason) == ("streams[0].weight", "必须是数字")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=repr)
def test_weight_must_be_finite(value: Any) -> None:
    assert _error(_with_stream(0, weight=value)).field == "streams[0].weight"


def test_integer_weight_becomes_float() -> None:
    result = model.validate_config(_with_stream(0, weight=2))
    assert result["streams"][0]["weight"] == 2.0
    assert isinstance(result["streams"][0]["weight"], float)


@pytest.mark.parametrize(("field", "value"), [
    ("rtsp_url", 42), ("rtsp_url", None), ("rtsp_url", ["rtsp://x/y"]),
    ("output_filename", 1), ("output_filename", None), ("output_filename", True),
])
def test_string_fields_reject_other_types(field: str, value: Any) -> None:
    assert _error(_with_stream(0, **{field: value})).field == f"streams[0].{field}"


@pytest.mark.parametrize(("field", "value"), [("report_filename", 1), ("report_filename", None),
                                              ("output_directory", 0), ("output_directory", [])])
def test_global_string_fields_reject_other_types(field: str, value: Any) -> None:
    assert _error(_with_global(**{field: value})).field == f"global_config.{field}"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_the_file_are_rejected(tmp_path: Path, literal: str) -> None:
    path = tmp_path / "config.json"
    text = atomic.dump_json(valid_config()).replace('"weight": 1.5', f'"weight": {literal}')
    assert literal in text
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert literal in info.value.message
    assert info.value.file == "config.json"


def test_huge_exponent_in_the_file_is_rejected(tmp_path: Path) -> None:
    # 1e999 parses to inf in Python; it must not become a weight.
    path = tmp_path / "config.json"
    text = atomic.dump_json(valid_config()).replace('"weight": 1.5', '"weight": 1e999')
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert info.value.field == "streams[1].weight"


@pytest.mark.parametrize(("old", "new", "field"), [
    ('"test_stream1.mp4"', '"a\\ud800.mp4"', "streams[0].output_filename"),
    ('"./output"', '"./out\\udfff"', "global_config.output_directory"),
    ('"rtsp_report.json"', '"r\\ud800.json"', "global_config.report_filename"),
    ('"rtsp://127.0.0.1:8554/cam2"', '"rtsp://127.0.0.1/\\ud800"', "streams[1].rtsp_url"),
    ('"poll_cycles"', '"\\ud800"', "global_config.\\ud800"),
])
def test_lone_surrogate_escapes_in_the_file_are_rejected(tmp_path: Path, old: str, new: str,
                                                         field: str) -> None:
    # Valid JSON, but no path, argv or file can hold a lone surrogate: accepted, it
    # crashed every write of the config and stuck the recorder's cycle.
    path = tmp_path / "config.json"
    text = atomic.dump_json(valid_config()).replace(old, new, 1)
    assert new in text
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert info.value.field == field
    atomic.dump_json(info.value.to_dict()).encode("utf-8")  # the status file can hold it


# --- unknown keys ----------------------------------------------------------------------------

def test_unknown_top_level_key() -> None:
    config = valid_config()
    config["global"] = {}
    error = _error(config)
    assert error.field == "global"
    assert "未知字段" in error.reason


def test_unknown_global_key() -> None:
    error = _error(_with_global(max_concurent_streams=3))
    assert error.field == "global_config.max_concurent_streams"
    assert "未知字段" in error.reason


def test_unknown_stream_key() -> None:
    error = _error(_with_stream(1, wieght=2.0))
    assert error.field == "streams[1].wieght"
    assert "未知字段" in error.reason


def test_unknown_keys_in_partial_updates() -> None:
    config = model.validate_config(valid_config())
    with pytest.raises(ConfigError, match="max_concurent_streams 是未知字段"):
        config_edits.with_global_update(config, {"max_concurent_streams": 3})
    with pytest.raises(ConfigError, match="wieght 是未知字段"):
        config_edits.with_stream_updated(config, 0, {"wieght": 2.0})
    with pytest.raises(ConfigError, match="index 是未知字段"):
        config_edits.with_stream_added(config, {"rtsp_url": "rtsp://h/x", "duration_seconds": 5,
                                         "index": 2})


# --- uniqueness and defaults -----------------------------------------------------------------

def test_duplicate_output_filename() -> None:
    error = _error(_with_stream(1, output_filename="test_stream1.mp4"))
    assert error.field == "streams[1].output_filename"
    assert "streams[0]" in error.reason and "唯一" in error.reason


@pytest.mark.parametrize("other", ["test_stream1.mkv", "test_stream1.MP4", "test_stream1.ts"])
def test_two_streams_with_one_camera_id_are_refused(other: str) -> None:
    # The id (the name without its extension) names the camera everywhere: the API,
    # its history, its reference picture <id>.jpg, its metrics.
    error = _error(_with_stream(1, output_filename=other))
    assert error.field == "streams[1].output_filename"
    assert "streams[0]" in error.reason and "摄像机 ID" in error.reason
    assert "test_stream1" in error.reason


def test_camera_ids_compare_exactly() -> None:
    # On Linux TEST_STREAM1.jpg and test_stream1.jpg are two files, and the ids two cameras.
    config = _with_stream(1, output_filename="TEST_STREAM1.mp4")
    assert model.validate_config(config)["streams"][1]["output_filename"] == "TEST_STREAM1.mp4"


def test_a_default_output_filename_takes_no_camera_id_of_another_stream() -> None:
    config = valid_config()
    config["streams"] = [
        {"rtsp_url": "rtsp://a/other", "duration_seconds": 5, "output_filename": "cam.mkv"},
        {"rtsp_url": "rtsp://b/live/cam", "duration_seconds": 5},
    ]
    assert model.validate_config(config)["streams"][1]["output_filename"] == "cam_2.mp4"


def test_default_weight() -> None:
    config = valid_config()
    del config["streams"][1]["weight"]
    assert model.validate_config(config)["streams"][1]["weight"] == 1.0


def test_default_output_filename_from_the_url() -> None:
    config = valid_config()
    config["streams"] = [{"rtsp_url": "rtsp://218.94.57.146:40007/rtp/"
                                      "44010200492000000074_34020000001320000001",
                          "duration_seconds": 15}]
    stream = model.validate_config(config)["streams"][0]
    assert stream == {"rtsp_url": config["streams"][0]["rtsp_url"], "duration_seconds": 15,
                      "weight": 1.0,
                      "output_filename": "44010200492000000074_34020000001320000001.mp4"}


def test_default_output_filenames_are_unique() -> None:
    config = valid_config()
    config["streams"] = [
        {"rtsp_url": "rtsp://a/live/cam", "duration_seconds": 5},
        {"rtsp_url": "rtsp://b/live/cam", "duration_seconds": 5},
        {"rtsp_url": "rtsp://c/other", "duration_seconds": 5, "output_filename": "cam_3.mp4"},
        {"rtsp_url": "rtsp://d/live/cam", "duration_seconds": 5},
        {"rtsp_url": "rtsp://e", "duration_seconds": 5},
    ]
    names = [s["output_filename"] for s in model.validate_config(config)["streams"]]
    assert names[0] == "cam.mp4"
    assert names[4] == "stream5.mp4"
    assert len(set(names)) == len(names)
    for name in names:
        assert model.plain_file_name_problem(name) is None
        assert name.endswith(model.VIDEO_EXTENSIONS)


# --- the recorder's settings object -----------------------------------------------------------

def test_the_settings_object_holds_every_global_key_with_its_default() -> None:
    defaults = GlobalSettings.from_config(model.validate_config(_with_global())["global_config"])
    assert {field.name for field in fields(defaults)} == set(model.GLOBAL_RULES)
    assert asdict(GlobalSettings.from_config({})) == {**model.GLOBAL_DEFAULTS,
                                                      **model.OPTIONAL_DEFAULTS}
    assert (defaults.offline_after_failures, defaults.history_retention_days,
            defaults.alerts) == (2, 90, {})
    chosen = model.validate_config(_with_global(audio_mode="drop", retention_max_hours=0,
                                                offline_after_failures=3, alerts=GOOD_ALERTS))
    settings = GlobalSettings.from_config(chosen["global_config"])
    assert (settings.audio_mode, settings.retention_max_hours) == ("drop", 0)
    assert (settings.offline_after_failures, settings.alerts) == (3, GOOD_ALERTS)
    assert settings.report_filename == chosen["global_config"]["report_filename"]
    with pytest.raises(FrozenInstanceError):
        settings.audio_mode = "aac"  # type: ignore[misc]


# --- a clip name leaves room for the recorder's work files (issue 11 item 12) ----------------

@pytest.mark.parametrize("size", [246, 250, 255])
def test_a_clip_name_too_long_for_its_work_files_is_refused(size: int) -> None:
    # ".<name>.part" and ".tag.<name>.part" must fit the 255-byte file-name limit too.
    error = _error(_with_stream(1, output_filename="c" * (size - 4) + ".mp4"))
    assert error.field == "streams[1].output_filename"
    assert "字节" in error.reason and ".part" in error.reason


def test_every_file_derived_from_the_longest_clip_name_can_be_created(tmp_path: Path) -> None:
    from shared.clip_names import derived_names
    longest = "摄" * 80 + "c" + ".mkv"  # 245 bytes: 3 per CJK character
    assert len(longest.encode("utf-8")) == 245
    stream = model.validate_config(_with_stream(1, output_filename=longest))["streams"][1]
    for name in (stream["output_filename"], *derived_names(stream["output_filename"])):
        (tmp_path / name).write_bytes(b"")
    assert len(list(tmp_path.iterdir())) == 1 + len(derived_names(longest))


# --- error message format --------------------------------------------------------------------

def test_error_message_format_of_a_partial_update() -> None:
    config = model.validate_config(valid_config())
    with pytest.raises(ConfigError) as info:
        config_edits.with_global_update(config, {"max_concurrent_streams": 0})
    assert info.value.message == "配置验证失败: max_concurrent_streams 必须大于 0"
    assert str(info.value) == "配置验证失败: max_concurrent_streams 必须大于 0"


def test_error_message_format_of_a_stream_update() -> None:
    config = model.validate_config(valid_config())
    with pytest.raises(ConfigError) as info:
        config_edits.with_stream_updated(config, 1, {"duration_seconds": -1})
    assert info.value.message == "配置验证失败: duration_seconds 必须大于 0"


def test_error_message_format_of_a_stream_add() -> None:
    config = model.validate_config(valid_config())
    with pytest.raises(ConfigError) as info:
        config_edits.with_stream_added(config, {"rtsp_url": "rtsp://h/x", "duration_seconds": 5,
                                         "output_filename": "test_stream2.mp4"})
    assert info.value.field == "output_filename"
    assert info.value.message.startswith("配置验证失败: output_filename ")


def test_error_of_a_whole_config_names_the_full_path() -> None:
    assert _error(_with_global(max_concurrent_streams=0)).message == (
        "配置验证失败: global_config.max_concurrent_streams 必须大于 0")


def test_with_helpers_return_copies() -> None:
    config = model.validate_config(valid_config())
    before = json.dumps(config)
    updated = config_edits.with_global_update(config, {"poll_cycles": 5})
    added = config_edits.with_stream_added(config, {"rtsp_url": "rtsp://h/new", "duration_seconds": 5})
    changed = config_edits.with_stream_updated(config, 0, {"weight": 3})
    removed = config_edits.with_stream_removed(config, 0)
    assert json.dumps(config) == before
    assert updated["global_config"]["poll_cycles"] == 5
    assert added["streams"][2] == {"rtsp_url": "rtsp://h/new", "duration_seconds": 5,
                                   "weight": 1.0, "output_filename": "new.mp4"}
    assert changed["streams"][0]["weight"] == 3.0
    assert [s["output_filename"] for s in removed["streams"]] == ["test_stream2.mp4"]


def test_with_stream_added_rejects_a_non_object() -> None:
    config = model.validate_config(valid_config())
    for body in ([], "rtsp://h/x", None, 3):
        with pytest.raises(ConfigError):
            config_edits.with_stream_added(config, body)


# --- config.json on disk ---------------------------------------------------------------------

def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_load_config_accepts_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b"\xef\xbb\xbf" + atomic.dump_json(valid_config()).encode("utf-8"))
    assert load_config(str(path)) == valid_config()


def test_load_config_bad_json_names_the_line(tmp_path: Path) -> None:
    text = atomic.dump_json(valid_config())
    lines = text.splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines, 1) if '"poll_cycles"' in line)
    lines[number - 1] = lines[number - 1].replace(",", "")  # drop the comma after poll_cycles
    path = _write(tmp_path / "config.json", "".join(lines))
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    error = info.value
    assert error.file == "config.json"
    # JSON notices the missing comma at the next key; the message points at the slip itself.
    assert error.line == number
    assert "JSON 格式错误" in error.message
    assert f"第{number + 1}行第" in error.message
    assert f"可能是第{number}行末尾缺少逗号" in error.message
    assert f"(config.json 第{number}行)" in error.message


@pytest.mark.parametrize(("text", "line", "hint"), [
    ('{\n  "a": 1,\n}\n', 2, "可能是第2行末尾多了一个逗号"),
    ('{\n  "a": [1,\n  ]\n}\n', 2, "可能是第2行末尾多了一个逗号"),
    ('{\n  "a": 1\n\n  "b": 2\n}\n', 2, "可能是第2行末尾缺少逗号"),
    ('{"a": 1 "b": 2}', 1, ""),  # on one line: the position is the slip's
    ('{\n  "a": tru\n}\n', 2, ""),  # not a comma: Python's position as it is
    # After a comma, a bad key or value is the slip, not the comma before it.
    ('{\n  "a": 1,\n  b: 2\n}\n', 3, ""),
    ("{\n  \"a\": 1,\n  'b': 2\n}\n", 3, ""),
    ('[\n  1,\n  abc\n]\n', 3, ""),
])
def test_a_comma_slip_is_shown_at_the_line_it_is_on(tmp_path: Path, text: str, line: int,
                                                     hint: str) -> None:
    path = _write(tmp_path / "config.json", text)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert info.value.line == line
    assert (hint in info.value.message) if hint else "可能是" not in info.value.message


def test_load_config_rule_failure_names_the_line_and_field(tmp_path: Path) -> None:
    text = atomic.dump_json(valid_config()).replace('"max_concurrent_streams": 2',
                                                    '"max_concurrent_streams": 0')
    path = _write(tmp_path / "config.json", text)
    number = text.splitlines().index('    "max_concurrent_streams": 0,') + 1
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    error = info.value
    assert (error.field, error.line, error.file) == (
        "global_config.max_concurrent_streams", number, "config.json")
    assert error.message == (f"配置验证失败: global_config.max_concurrent_streams 必须大于 0 "
                             f"(config.json 第{number}行)")
    assert error.to_dict() == {"file": "config.json", "line": number,
                               "field": "global_config.max_concurrent_streams",
                               "reason": "必须大于 0", "message": error.message}


def test_load_config_stream_rule_failure_line(tmp_path: Path) -> None:
    text = atomic.dump_json(valid_config()).replace('"weight": 1.5', '"weight": -1')
    path = _write(tmp_path / "config.json", text)
    number = text.splitlines().index('      "weight": -1,') + 1
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert (info.value.field, info.value.line) == ("streams[1].weight", number)


@pytest.mark.parametrize(("content", "reason"), [
    (None, "不存在"),
    (b"", "JSON"),
    (b"\xff\xfe{}", "UTF-8"),
    (b"[]", "JSON 对象"),
    (b"[" * 100000 + b"]" * 100000, ""),
])
def test_load_config_broken_files(tmp_path: Path, content: bytes | None, reason: str) -> None:
    path = tmp_path / "config.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert reason in info.value.message
    assert info.value.message.startswith("配置验证失败: ")


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    atomic.write_json_atomic(str(path), valid_config())
    return path


def test_edit_config_writes_the_change(tmp_path: Path) -> None:
    path = _config_file(tmp_path)
    new = edit_config(str(path), lambda c: config_edits.with_global_update(c, {"poll_cycles": 5}))
    assert new["global_config"]["poll_cycles"] == 5
    assert json.loads(path.read_text(encoding="utf-8")) == new


@pytest.mark.parametrize("changes", [{"max_concurrent_streams": 0}, {"poll_cycles": True},
                                     {"bogus": 1}, {"report_filename": "../x.json"}])
def test_rejected_edit_leaves_the_file_byte_for_byte(tmp_path: Path, changes: dict) -> None:
    path = _config_file(tmp_path)
    digest = file_digest(path)
    with pytest.raises(ConfigError):
        edit_config(str(path), lambda c: config_edits.with_global_update(c, changes))
    assert file_digest(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "config.json.lock") == [
        "config.json"]


def test_edit_of_a_broken_file_is_unavailable_and_leaves_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.json", '{"global_config": {,}\n')
    digest = file_digest(path)
    with pytest.raises(ConfigUnavailable) as info:
        edit_config(str(path), lambda c: config_edits.with_global_update(c, {"poll_cycles": 5}))
    assert info.value.cause.line == 1
    assert file_digest(path) == digest


def test_replace_config_rejects_invalid_and_repairs_broken(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.json", "{ not json")
    digest = file_digest(path)
    with pytest.raises(ConfigError):
        replace_config(str(path), {"global_config": {}, "streams": [{"rtsp_url": "x"}]})
    assert file_digest(path) == digest
    replace_config(str(path), valid_config())
    assert load_config(str(path)) == valid_config()


# --- the RTSP transport (issue 11 item 22) ------------------------------------------------------

def test_the_rtsp_transport_is_optional_global_and_per_stream() -> None:
    config = _with_global(rtsp_transport="udp")
    config["streams"][0]["rtsp_transport"] = "tcp"
    checked = model.validate_config(config)
    assert checked["global_config"]["rtsp_transport"] == "udp"
    assert checked["streams"][0]["rtsp_transport"] == "tcp"
    assert "rtsp_transport" not in model.validate_config(_with_global())["streams"][0]
    assert GlobalSettings.from_config({}).rtsp_transport == "auto"


@pytest.mark.parametrize("where", ["global", "stream"])
def test_an_unknown_rtsp_transport_is_refused(where: str) -> None:
    config = _with_global()
    if where == "global":
        config["global_config"]["rtsp_transport"] = "http"
        field = "global_config.rtsp_transport"
    else:
        config["streams"][0]["rtsp_transport"] = "TCP "
        field = "streams[0].rtsp_transport"
    with pytest.raises(ConfigError) as caught:
        model.validate_config(config)
    assert caught.value.field == field


# --- the per-gateway cap (issue 15) --------------------------------------------------------------

def test_the_per_gateway_cap_is_optional_and_zero_means_none() -> None:
    assert GlobalSettings.from_config({}).max_concurrent_per_host == 0
    checked = model.validate_config(_with_global(max_concurrent_per_host=4))
    assert checked["global_config"]["max_concurrent_per_host"] == 4
    assert "max_concurrent_per_host" not in model.validate_config(_with_global())["global_config"]


@pytest.mark.parametrize("value", [-1, 1.5, True, "2", 1025])
def test_a_bad_per_gateway_cap_is_refused(value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        model.validate_config(_with_global(max_concurrent_per_host=value))
    assert caught.value.field == "global_config.max_concurrent_per_host"


def test_receivers_are_compared_once_their_masked_secrets_are_restored() -> None:
    # Masked, two robots of one service look alike (?access_token=***): the rule waits for the
    # stored secrets, then holds (shared/config_file.py calls it after restoring them).
    from shared.alert_rules import check_receivers_once
    masked = [{"url": "https://oapi.example/robot/send?access_token=***"}] * 2
    assert model.validate_config(_with_global(alerts={"webhooks": masked}))
    restored = _with_global(alerts={"webhooks": [
        {"url": "https://oapi.example/robot/send?access_token=a"},
        {"url": "https://oapi.example/robot/send?access_token=a"}]})
    with pytest.raises(model.ConfigError, match="与 webhooks\\[0\\] 的网址相同"):
        check_receivers_once(restored)


# Real names that hold format characters: Persian with a zero width non-joiner, an emoji ZWJ
# sequence, a soft hyphen, a flag's tag characters.
REAL_NAMES = ["دانشگاه\u200cتهران", "\U0001f468\u200d\U0001f469\u200d\U0001f467 门口",
              "Kamera\u00adeingang", "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063"
              "\U000e0074\U000e007f Hall", "e\u0301cole \u2764\ufe0f", "\u3131\u3164\u314f",
              "\u0600\u0661\u0662 \u0628\u0627\u0628"]  # an Arabic number sign: drawn, a format


@pytest.mark.parametrize("name", REAL_NAMES)
def test_a_real_name_with_a_joiner_or_soft_hyphen_is_accepted(name: str) -> None:
    # c37d7d4 refused every format character: such a config failed as a whole after an upgrade
    assert model.validate_config(_with_stream(1, name=name))["streams"][1]["name"] == name


@pytest.mark.parametrize(("name", "allowed"), [
    ("东门入口 1号", True), (" gate ", True), ("   ", False), ("\u3000", False),
    ("东\u200b门", False), ("\u202egate", False), ("\ufeffgate", False), ("ga\u2028te", False),
    ("\u200c\u200d", False), (" \u00ad", False), ("\u3164", False), ("\u2800 \ufe0f", False),
    ("\u180egate", False), ("ga\ufffbte", False), ("\U0001d173gate", False),
    # Beyond U+FFFF: a name of only tag characters or marks draws nothing (the pattern took it)
    ("\U000e0067\U000e0062", False), ("\U0001e944", False), ("\U0001f600", True),
    *((name, True) for name in REAL_NAMES)])
def test_the_schema_of_a_name_refuses_what_the_rule_refuses(name: str, allowed: bool) -> None:
    pattern = model.STREAM_RULES["name"].schema()["pattern"]
    assert (re.search(pattern, name) is not None) is allowed


def _rule_takes(name: str) -> bool:
    try:
        model.STREAM_RULES["name"].check("name", name)
    except ConfigError:
        return False
    return True


def test_the_schema_and_the_rule_agree_on_every_character_that_may_hide_or_draw_nothing() -> None:
    """Alone, and in a name: every format character, separator, mark and blank letter, and
    a character of every 256 (the pattern and the rule are made from one definition)."""
    pattern = re.compile(model.STREAM_RULES["name"].schema()["pattern"])
    samples = [*config_rules._may_draw_nothing(), *range(0x20, 0x110000, 256)]
    disagree = [f"U+{code:04X}" for code in samples if 0xD800 > code or code > 0xDFFF
                for name in (chr(code), f"a{chr(code)}b")
                if (pattern.search(name) is not None) != _rule_takes(name)]
    assert not disagree


def test_an_output_filename_refuses_what_hides_text_in_a_stream_name() -> None:
    """One rule (config_rules.hides_text) for both: every such character, in a clip name."""
    hiding = [code for code in config_rules._may_draw_nothing()
              if config_rules.hides_text(chr(code))]
    rule = model.STREAM_RULES["output_filename"]

    def reason(name: str) -> str:
        try:
            rule.check("output_filename", name)
        except ConfigError as exc:
            return exc.reason
        return ""

    assert len(hiding) > 50
    assert not [f"U+{code:04X}" for code in hiding
                if reason(f"a{chr(code)}b.mp4") != f"不能含有不可见的格式字符 (U+{code:04X})"]
    assert reason("a\u200cb.mp4") == reason("a\u00adb.mp4") == ""  # as a name keeps them


def test_no_character_beyond_the_planes_scanned_may_hide_or_draw_nothing() -> None:
    """The pattern lists the planes config_rules scans; Python's Unicode has no such
    character in another plane."""
    others = (code for code in range(0x110000)
              if code >> 16 not in config_rules.PLANES_WITH_INVISIBLES)
    assert not [code for code in others if config_rules.draws_nothing(chr(code))
                or config_rules.hides_text(chr(code))]
