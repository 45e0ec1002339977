"""The config model: defaults and every rule of SPEC "Configuration", as pure functions on dicts."""
from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from shared.errors import ConfigError
from shared.urls import rtsp_url_problem

GLOBAL_DEFAULTS: dict[str, Any] = {
    "total_poll_duration_seconds": 60,
    "max_concurrent_streams": 2,
    "output_directory": "./output",
    "report_filename": "rtsp_report.json",
    "connection_timeout_seconds": 10,
    "read_timeout_seconds": 15,
    "poll_cycles": -1,
    "cycle_interval_seconds": 30,
}
# Settings beyond the seed's eight: validated when present, left out of the
# file (and of the seed-shaped answers) when not, read through setting().
OPTIONAL_DEFAULTS: dict[str, Any] = {
    "audio_mode": "auto",
    # Retention (recorder/retention.py; the reasons for these values are in
    # docs/RELIABILITY.md). 0 turns a limit off.
    "retention_max_cycles": 1000,
    "retention_max_hours": 168,
    "min_free_space_mb": 1024,
}
# auto: copy audio the container takes, else AAC; aac: always AAC; drop: video only.
AUDIO_MODES = ("auto", "aac", "drop")
STREAM_KEYS = ("rtsp_url", "duration_seconds", "weight", "output_filename")
REQUIRED_STREAM_KEYS = ("rtsp_url", "duration_seconds")
TOP_KEYS = ("global_config", "streams")
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".ts")

# Upper bounds keep a typo (an extra zero or ten) from planning a cycle of years.
DAY = 24 * 3600
MAX_STREAMS = 5000
MAX_NAME_BYTES = 255
MAX_URL_LENGTH = 4096
_PLAIN_NAME_RE = re.compile(r"^[^/\\\x00-\x1f]+$")


def _integer(field: str, value: Any, low: int, high: int, low_text: str) -> int:
    # bool is a subclass of int in Python; JSON true is not a count of seconds.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(field, "必须是整数")
    if value < low:
        raise ConfigError(field, low_text)
    if value > high:
        raise ConfigError(field, f"不能大于 {high}")
    return value


def _positive_int(high: int) -> Callable[[str, Any], int]:
    return lambda field, value: _integer(field, value, 1, high, "必须大于 0")


def _poll_cycles(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(field, "必须是整数")
    if value == -1 or 1 <= value <= 10**9:
        return value
    raise ConfigError(field, "必须为 -1 (无限循环) 或大于等于 1")


def _limit(high: int) -> Callable[[str, Any], int]:
    # A retention limit: 0 means "no limit", so 0 is allowed.
    return lambda field, value: _integer(field, value, 0, high, "必须大于等于 0 (0 表示不限制)")


def _non_negative_int(field: str, value: Any) -> int:
    return _integer(field, value, 0, 7 * DAY, "必须大于等于 0")


def is_utf8_text(value: str) -> bool:
    """False for a string holding a lone surrogate (from a ``"\ud800"`` escape in JSON).

    No path, argv or file can hold one: writing or opening it raises
    UnicodeEncodeError, which is no OSError and would escape every handler.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _output_directory(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(field, "必须是非空字符串")
    if "\x00" in value or len(value) > MAX_URL_LENGTH or not is_utf8_text(value):
        raise ConfigError(field, "不是有效的目录路径")
    return value


def plain_file_name_problem(value: Any) -> str | None:
    """Why ``value`` is not a plain file name (no folder part), or None when it is."""
    if not isinstance(value, str) or not value:
        return "必须是非空字符串"
    if not _PLAIN_NAME_RE.match(value) or value in (".", "..") or value.startswith("."):
        return "必须是不含目录部分的普通文件名"
    if not is_utf8_text(value):
        return "含有无效的 Unicode 字符"
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        return f"不能超过 {MAX_NAME_BYTES} 字节"
    return None


def _report_filename(field: str, value: Any) -> str:
    problem = plain_file_name_problem(value)
    if problem:
        raise ConfigError(field, problem)
    if not value.lower().endswith(".json") or len(value) <= len(".json"):
        raise ConfigError(field, "必须以 .json 结尾")
    if value in ("report.txt", "streams.csv"):
        raise ConfigError(field, "不能与报告文件同名")
    return value


def _audio_mode(field: str, value: Any) -> str:
    if value not in AUDIO_MODES:
        raise ConfigError(field, "必须是 " + ", ".join(AUDIO_MODES) + " 之一")
    return value


GLOBAL_RULES: dict[str, Callable[[str, Any], Any]] = {
    "total_poll_duration_seconds": _positive_int(7 * DAY),
    "max_concurrent_streams": _positive_int(1024),
    "output_directory": _output_directory,
    "report_filename": _report_filename,
    "connection_timeout_seconds": _positive_int(3600),
    "read_timeout_seconds": _positive_int(3600),
    "poll_cycles": _poll_cycles,
    "cycle_interval_seconds": _non_negative_int,
    "audio_mode": _audio_mode,
    "retention_max_cycles": _limit(10**9),
    "retention_max_hours": _limit(100 * 365 * 24),
    "min_free_space_mb": _limit(10**9),
}


def _rtsp_url(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(field, "必须是字符串")
    if len(value) > MAX_URL_LENGTH:
        raise ConfigError(field, f"不能超过 {MAX_URL_LENGTH} 个字符")
    if not is_utf8_text(value):
        raise ConfigError(field, "含有无效的 Unicode 字符")
    problem = rtsp_url_problem(value)
    if problem:
        raise ConfigError(field, problem)
    return value


def _weight(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(field, "必须是数字")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(field, "必须是大于 0 的有限数字")
    if value > 1e6:
        raise ConfigError(field, "不能大于 1000000")
    return float(value)


def _output_filename(field: str, value: Any) -> str:
    problem = plain_file_name_problem(value)
    if problem:
        raise ConfigError(field, problem)
    if not value.lower().endswith(VIDEO_EXTENSIONS) or os.path.splitext(value)[0] == "":
        raise ConfigError(field, "必须以视频扩展名结尾 (" + ", ".join(VIDEO_EXTENSIONS) + ")")
    return value


STREAM_RULES: dict[str, Callable[[str, Any], Any]] = {
    "rtsp_url": _rtsp_url,
    "duration_seconds": _positive_int(DAY),
    "weight": _weight,
    "output_filename": _output_filename,
}


def _require_object(field: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(field, "必须是 JSON 对象")
    return value


def _reject_unknown(prefix: str, data: dict, known: tuple[str, ...] | dict) -> None:
    for key in data:
        if key not in known:
            # The name is echoed into logs, the status file and answers: spell a
            # lone surrogate as an escape so all of them can still be written.
            shown = key.encode("utf-8", "backslashreplace").decode("utf-8")
            raise ConfigError(f"{prefix}{shown}", "是未知字段 (可能是拼写错误)")


def validate_global(data: Any, field: str = "global_config") -> dict:
    """A complete, checked global section: missing keys take their defaults.

    :raises ConfigError: a value breaks a rule or a key is unknown.
    """
    data = _require_object(field, data)
    prefix = "" if field == "" else f"{field}."
    _reject_unknown(prefix, data, GLOBAL_RULES)
    merged = {**GLOBAL_DEFAULTS, **data}
    return {key: rule(f"{prefix}{key}", merged[key]) for key, rule in GLOBAL_RULES.items()
            if key in merged}


def setting(global_config: dict, key: str) -> Any:
    """A global setting, with its default when the config leaves it out."""
    return global_config.get(key, OPTIONAL_DEFAULTS.get(key, GLOBAL_DEFAULTS.get(key)))


def validate_stream(data: Any, field: str = "stream") -> dict:
    """A checked stream; ``output_filename`` may still be missing (see :func:`validate_config`).

    :raises ConfigError:
    """
    data = _require_object(field, data)
    prefix = f"{field}." if field else ""
    _reject_unknown(prefix, data, STREAM_RULES)
    for key in REQUIRED_STREAM_KEYS:
        if key not in data:
            raise ConfigError(f"{prefix}{key}", "是必填字段")
    stream = {"rtsp_url": None, "duration_seconds": None, "weight": 1.0}
    stream.update(data)
    return {key: STREAM_RULES[key](f"{prefix}{key}", value) for key, value in stream.items()}


def default_output_filename(url: str, taken: set[str], index: int) -> str:
    """A file name derived from the stream's URL path (the device id on GB28181 platforms)."""
    tail = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", tail).strip("_")[:100] or f"stream{index + 1}"
    name, n = f"{stem}.mp4", 1
    while name in taken:
        n += 1
        name = f"{stem}_{n}.mp4"
    return name


def validate_config(data: Any) -> dict:
    """The whole config, checked and normalized; validating the result again changes nothing.

    :raises ConfigError: the first rule broken, naming its field.
    """
    data = _require_object("", data)
    _reject_unknown("", data, TOP_KEYS)
    for key in TOP_KEYS:
        if key not in data:
            raise ConfigError(key, "是必填字段")
    global_config = validate_global(data["global_config"])
    if not isinstance(data["streams"], list):
        raise ConfigError("streams", "必须是数组")
    if len(data["streams"]) > MAX_STREAMS:
        raise ConfigError("streams", f"不能超过 {MAX_STREAMS} 个")
    streams = [validate_stream(item, f"streams[{i}]") for i, item in enumerate(data["streams"])]
    taken: dict[str, int] = {}
    for i, stream in enumerate(streams):
        name = stream.get("output_filename")
        if name is None:
            continue
        if name in taken:
            raise ConfigError(f"streams[{i}].output_filename",
                              f"与 streams[{taken[name]}] 重复, 必须唯一")
        taken[name] = i
    for i, stream in enumerate(streams):
        if "output_filename" not in stream:
            stream["output_filename"] = default_output_filename(stream["rtsp_url"], set(taken), i)
            taken[stream["output_filename"]] = i
        # Keep the documented key order whatever order the input used.
        streams[i] = {key: stream[key] for key in STREAM_KEYS}
    return {"global_config": global_config, "streams": streams}


def with_global_update(config: dict, changes: Any) -> dict:
    """A copy of ``config`` with the global keys of ``changes`` replaced.

    :raises ConfigError:
    """
    changes = _require_object("", changes)
    _reject_unknown("", changes, GLOBAL_RULES)
    new = copy.deepcopy(config)
    new["global_config"].update(copy.deepcopy(changes))
    return _renamed_errors(new, "global_config")


def with_stream_added(config: dict, stream: Any) -> dict:
    """A copy of ``config`` with ``stream`` appended. :raises ConfigError:"""
    index = len(config["streams"])
    validate_stream(stream, "")  # name the body's own fields, not streams[N]
    new = copy.deepcopy(config)
    new["streams"].append(copy.deepcopy(stream))
    return _renamed_errors(new, f"streams[{index}]")


def with_stream_updated(config: dict, index: int, changes: Any) -> dict:
    """A copy of ``config`` with stream ``index`` partly replaced. :raises ConfigError:"""
    changes = _require_object("", changes)
    _reject_unknown("", changes, STREAM_RULES)
    new = copy.deepcopy(config)
    new["streams"][index].update(copy.deepcopy(changes))
    return _renamed_errors(new, f"streams[{index}]")


def with_stream_removed(config: dict, index: int) -> dict:
    """A copy of ``config`` without stream ``index``."""
    new = copy.deepcopy(config)
    del new["streams"][index]
    return validate_config(new)


def _renamed_errors(config: dict, path: str) -> dict:
    # Errors about the edited section name its fields plainly (duration_seconds),
    # as the seed's messages do; errors elsewhere keep their full path.
    try:
        return validate_config(config)
    except ConfigError as exc:
        if exc.field.startswith(path + "."):
            raise ConfigError(exc.field[len(path) + 1:], exc.reason) from None
        raise
