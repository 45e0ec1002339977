"""shared/i18n.py: every Chinese text the app can emit has its English, and templates match."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from shared import config as model
from shared import i18n, task_status
from shared.errors import ConfigError
from shared.output_rule import output_directory_problem
from shared.urls import rtsp_url_problem
from tests.helpers import valid_config

ROOT = Path(__file__).resolve().parent.parent
# The modules whose texts the API answers with (the recorder's own texts are not its).
SOURCES = sorted([*ROOT.glob("app/*.py"), *ROOT.glob("shared/*.py")])
TABLE_MODULE = ROOT / "shared" / "i18n.py"


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of a module and its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _chinese_strings(path: Path) -> list[tuple[str, bool]]:
    """Each Chinese string piece in ``path`` (no docstrings), and whether it is a whole text.

    Anything inside an f-string, and an operand of ``+``, is part of a longer text.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    parts = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts.update(id(inner) for inner in ast.walk(node))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            parts.update((id(node.left), id(node.right)))
    return [(node.value, id(node) not in parts) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in skip and i18n.has_chinese(node.value)]


def _all_chinese_strings() -> list[tuple[str, str, bool]]:
    return [(path.relative_to(ROOT).as_posix(), text, whole) for path in SOURCES
            if path != TABLE_MODULE for text, whole in _chinese_strings(path)]


def test_the_scan_finds_the_texts_it_must() -> None:
    texts = {text for _, text, _ in _all_chinese_strings()}
    assert {"配置更新成功", "必须是整数", "已完成", "文件不存在", "配置验证失败: "} <= texts
    assert len(texts) > 100


def test_every_whole_chinese_text_has_its_english() -> None:
    missing = [(where, text) for where, text, whole in _all_chinese_strings()
               if whole and i18n.translate(text) is None]
    assert missing == []


def test_every_piece_of_a_composed_text_is_in_a_template() -> None:
    """An f-string's or a sum's Chinese pieces each appear in some Chinese text of the table."""
    keys = [chinese for chinese, _ in i18n.TABLE]
    missing = [(where, text) for where, text, whole in _all_chinese_strings()
               if not whole and not any(text in key for key in keys)]
    assert missing == []


@pytest.mark.parametrize(("chinese", "english"), i18n.TABLE)
def test_each_entry_is_well_formed(chinese: str, english: str) -> None:
    assert not i18n.has_chinese(english)
    names = re.findall(r"\{(\w+)\}", chinese)
    assert sorted(names) == sorted(re.findall(r"\{(\w+)\}", english))
    # Two placeholders side by side could split anywhere.
    assert not re.search(r"\}\{", chinese)


def _sample(name: str) -> tuple[str, str]:
    """A value for placeholder ``name`` in Chinese and in English."""
    if name in {"message", "reason", "detail", "problem", "note", "why"}:
        return "必须是整数", "must be an integer"
    if name in {"low", "high", "count", "depth", "line", "lineno", "colno", "index"}:
        return "42", "42"
    return "some_value", "some_value"


@pytest.mark.parametrize(("chinese", "english"),
                         [entry for entry in i18n.TABLE if "{" in entry[0]])
def test_each_template_matches_its_own_texts(chinese: str, english: str) -> None:
    names = re.findall(r"\{(\w+)\}", chinese)
    zh = {name: _sample(name)[0] for name in names}
    en = {name: _sample(name)[1] for name in names}
    assert i18n.translate(chinese.format(**zh)) == english.format(**en)


def test_status_names_in_english() -> None:
    assert task_status.NAMES_EN == {0: "pending", 1: "connecting", 2: "connected",
                                    3: "recording", 4: "completed", 5: "connection error",
                                    6: "recording error", 7: "timeout", 8: "cancelled",
                                    9: "stream unavailable"}
    for code, name in task_status.NAMES.items():
        assert i18n.translate(name) == task_status.NAMES_EN[code]


@pytest.mark.parametrize(("chinese", "english"), [
    ("配置验证失败: max_concurrent_streams 必须大于 0",
     "Config validation failed: max_concurrent_streams must be greater than 0"),
    ("配置验证失败: 配置文件不存在 (config.json)",
     "Config validation failed: the config file does not exist (config.json)"),
    ("配置验证失败: global_config.retention_max_cycles 必须大于等于 0 (0 表示不限制)",
     "Config validation failed: global_config.retention_max_cycles must be at least 0 "
     "(0 means no limit)"),
    ("配置验证失败: poll_cycles 不能大于 5 (/etc/a (b)/config.json 第3行)",
     "Config validation failed: poll_cycles must not be greater than 5 "
     "(/etc/a (b)/config.json line 3)"),
    ("配置验证失败: JSON 格式错误: Expecting value (第1行第2列) (配置.json 第1行)",
     "Config validation failed: JSON syntax error: Expecting value (line 1, column 2) "
     "(配置.json line 1)"),
    ("配置验证失败: JSON 格式错误: Expecting ',' delimiter (第5行第5列; 可能是第4行末尾缺少逗号) "
     "(config.json 第4行)",
     "Config validation failed: JSON syntax error: Expecting ',' delimiter (line 5, column 5; "
     "perhaps a comma missing at the end of line 4) (config.json line 4)"),
    # A field name is the client's own text, spaces and Chinese included.
    ("配置验证失败: global_config.摄像 头 是未知字段 (可能是拼写错误)",
     "Config validation failed: global_config.摄像 头 is an unknown field (a typo?)"),
    ("请求体不是有效的 JSON: 不支持的数值 NaN",
     "The request body is not valid JSON: unsupported number NaN"),
    ("请求体不是有效的 JSON: Exceeds the limit (4300 digits)",
     "The request body is not valid JSON: Exceeds the limit (4300 digits)"),
])
def test_composed_texts(chinese: str, english: str) -> None:
    assert i18n.translate(chinese) == english


def test_a_text_not_in_the_table_has_no_translation() -> None:
    assert i18n.translate("随便什么") is None
    assert i18n.translate("配置验证失败: x 随便什么") is None
    assert i18n.english("随便什么") == "随便什么"


_BAD_VALUES = [True, None, "x", "", -5, -1, 0, 1.5, float("nan"), 10**12, ".hidden", "a/b",
               "\ud800", "x.txt", "report.txt", "streams.csv", "a" * 300 + ".mp4",
               "rtsp://", "http://host/x", "rtsp://host:99999/x", "rtsp://h ost/x",
               "rtsp://host:0/x", "a" * 5000, " \u3000", "a\u200bb", "\u200c"]


def _rule_errors() -> list[str]:
    """The messages of every config rule for values it refuses, from the rules themselves."""
    messages = []
    for rules in (model.GLOBAL_RULES, model.STREAM_RULES):
        for key, rule in rules.items():
            for value in _BAD_VALUES:
                try:
                    rule.check(key, value)
                except ConfigError as exc:
                    messages.append(exc.message)
    return messages


def _config_errors() -> list[str]:
    bad: list[object] = [[], {}, {"global_config": {}}, {"global_config": [], "streams": []},
                         {"global_config": {}, "streams": {}},
                         {"global_config": {"typo": 1}, "streams": []},
                         {"global_config": {}, "streams": [{}]},
                         {"global_config": {}, "streams": [{"rtsp_url": "rtsp://h/a"}]}]
    twice = valid_config()
    twice["streams"][1]["output_filename"] = twice["streams"][0]["output_filename"]
    bad.append(twice)
    one_id = valid_config()
    one_id["streams"][1]["output_filename"] = "test_stream1.mkv"
    bad.append(one_id)
    messages = []
    for config in bad:
        with pytest.raises(ConfigError) as caught:
            model.validate_config(config)
        messages.append(caught.value.message)
    return messages


def test_every_rule_message_has_its_english(tmp_path: Path) -> None:
    messages = _rule_errors() + _config_errors()
    config_file = str(tmp_path / "config.json")
    (tmp_path / "notes.txt").write_text("notes", encoding="utf-8")
    for spelled in ("/", "/etc/x", "/var/lib", str(tmp_path), str(tmp_path / ".patrol-state"),
                    "notes.txt/out"):
        messages.append(ConfigError("output_directory",
                                    output_directory_problem(spelled, config_file)).message)
    for url in ("rtsp://h ost/", "rtsp://h:x/", "http://h/", "rtsp:///x", "rtsp://h:0/",
                "rtsp://u:1/2@h/x"):
        messages.append(ConfigError("rtsp_url", rtsp_url_problem(url) or "").message)
    assert len(messages) > 60
    untranslated = [text for text in messages if i18n.translate(text) is None]
    assert untranslated == []
    assert not any(i18n.has_chinese(i18n.translate(text) or "") for text in messages
                   if "摄像" not in text)


def test_a_huge_text_is_left_as_it_is() -> None:
    """A client's key of a megabyte echoed in a message must not cost seconds of matching."""
    text = "配置验证失败: global_config." + "a " * 500_000 + "是未知字段 (可能是拼写错误)"
    assert i18n.translate(text) is None and i18n.english(text) == text
    longest = "配置验证失败: streams[0].rtsp_url " + "a " * 2400 + "是未知字段 (可能是拼写错误)"
    assert i18n.translate(longest).endswith("is an unknown field (a typo?)")


def _recorder_texts() -> list[str]:
    """The recorder's texts the console shows (a task's error, its status message, why a cycle
    was interrupted), built as the recorder builds them."""
    from recorder import checks, dead_gateways, recording, reports
    from recorder.cluster import coordinator_lock, remote_task
    from recorder.cycle_launcher import REPORT_WAIT_MESSAGE
    from recorder.outcome import CLOCK_WENT_BACK_WARNING, Observation, classify
    from recorder.space_gate import LOW_SPACE_MESSAGE

    def seen(**facts) -> str:
        given = {"requested_seconds": 10, "recorded_seconds": 0.0, "frames": 0,
                 "exit_code": 1, "stderr": "", "last_line": "", **facts}
        return classify(Observation(**given))[1]
    return [
        seen(cancelled=True), seen(frames=250, recorded_seconds=10.0, clip_kept=False),
        seen(connect_timeout=True), seen(read_timeout=True),
        seen(stderr="Connection refused"), seen(exit_code=0),
        seen(frames=5, recorded_seconds=3.0, overstayed=True),
        seen(frames=5, recorded_seconds=3.0, exit_code=0),
        seen(frames=5, recorded_seconds=3.0, exit_code=0, last_line="Invalid data (found)"),
        CLOCK_WENT_BACK_WARNING, recording.MISSED_WINDOW, "无法启动 ffmpeg: No such file",
        "磁盘空间不足, 写入失败", "文件系统只读, 写入失败", "输出目录不存在, 写入失败",
        "输出目录无写入权限, 写入失败", dead_gateways.SKIPPED_MESSAGE, remote_task.WORKER_LOST,
        remote_task.QUEUED_AT_END, remote_task.NOT_ENQUEUED.format(reason="OOM command"),
        checks.STOPPED_MESSAGE, checks.NOT_RESUMED_MESSAGE, "检查目录无法创建, 未录制: EACCES",
        "没有有效的配置, 等待修复 config.json", "录制守护进程已停止", "已完成全部 3 轮巡检",
        "调度器已停止", "无法创建输出目录 ./output: Permission denied",
        f"{LOW_SPACE_MESSAGE}: 剩余 12 MB, 低于下限 500 MB",
        REPORT_WAIT_MESSAGE.format(number=7, name="20251010_163000"),
        coordinator_lock.STANDBY_MESSAGE,
        coordinator_lock.REDIS_AWAY_MESSAGE.format(reason="Connection refused"),
        reports.INTERRUPTED, "录制守护进程停止"]


def test_every_recorder_text_the_console_shows_has_its_english() -> None:
    # The English console showed them in Chinese (task errors, the recorder's message).
    texts = _recorder_texts()
    assert all(i18n.has_chinese(text) for text in texts)
    assert [text for text in texts if i18n.translate(text) is None] == []
    english = {i18n.english(text) for text in texts}
    assert "The stream ended early: only 3.0 s of 10 s recorded (Invalid data (found))" in english
    assert "No media data received" in english and "All 3 patrol cycles are done" in english
