"""The config model: defaults, the table of SPEC "Configuration"'s rules, and the whole config's
validation (the edits of one part are in shared/config_edits.py)."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from shared import cluster_config
from shared.clip_names import MAX_CLIP_NAME_BYTES, MAX_NAME_BYTES, retag_name
from shared.alert_rules import AlertsRule
from shared.camera_state import DEFAULT_OFFLINE_AFTER_FAILURES, camera_id
from shared.config_rules import (Choice, CountOrUnlimited, DirectoryPath, DisplayName, FileName,
                                 Flag, IntRange, PositiveNumber, Rule, RtspUrl)
from shared.config_rules import reject_unknown as _reject_unknown
from shared.config_rules import plain_file_name_problem  # noqa: F401 - the model's, re-exported
from shared.errors import ConfigError
from shared.quality_settings import DEFAULTS as QUALITY_DEFAULTS
from shared.quality_settings import QualityRule

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
# file (and of the seed-shaped answers) when not. The recorder reads them with
# the others from shared/global_settings.py's GlobalSettings.
OPTIONAL_DEFAULTS: dict[str, Any] = {
    "audio_mode": "auto",
    # Retention (recorder/retention.py; the reasons for these values are in
    # docs/RELIABILITY.md). 0 turns a limit off.
    "retention_max_cycles": 1000,
    "retention_max_hours": 168,
    "min_free_space_mb": 1024,
    "rtsp_transport": "auto",
    # At most this many tasks at once per gateway (shared/gateways.py); 0: no cap.
    "max_concurrent_per_host": 0,
    # Camera health (SPEC "Camera state", "History", "Events").
    "offline_after_failures": DEFAULT_OFFLINE_AFTER_FAILURES,
    "history_retention_days": 90,
    "alerts": {},
    # Picture checks (recorder/picture_quality.py): thresholds, on by default.
    "quality": QUALITY_DEFAULTS,
}
# auto: copy audio the container takes, else AAC; aac: always AAC; drop: video only.
AUDIO_MODES = ("auto", "aac", "drop")
# auto: RTP over TCP, over UDP where the server refuses TCP; tcp or udp: only that.
RTSP_TRANSPORTS = ("auto", "tcp", "udp")
STREAM_KEYS = ("rtsp_url", "duration_seconds", "weight", "output_filename")
# Stream keys beyond the seed's four: kept in the file only when given.
OPTIONAL_STREAM_KEYS = ("rtsp_transport", "name", "alerts")
MAX_CAMERA_NAME = 64
REQUIRED_STREAM_KEYS = ("rtsp_url", "duration_seconds")
TOP_KEYS = ("global_config", "streams")
# Top-level sections beyond the seed's two: kept in the file only when given.
OPTIONAL_TOP_KEYS = (cluster_config.KEY,)
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".ts")


# Upper bounds keep a typo (an extra zero or ten) from planning a cycle of years.
DAY = 24 * 3600
MAX_STREAMS = 5000
# The three reports of a cycle: report_filename must not take the other two names.
OTHER_REPORTS = ("report.txt", "streams.csv")
_SECONDS = IntRange(1, 3600)
# A retention limit: 0 means "no limit", so 0 is allowed.
_LIMIT_NOTE = "0 表示不限制"

GLOBAL_RULES: dict[str, Rule] = {
    "total_poll_duration_seconds": IntRange(1, 7 * DAY),
    "max_concurrent_streams": IntRange(1, 1024),
    "output_directory": DirectoryPath(),
    "report_filename": FileName((".json",), "必须以 .json 结尾", MAX_NAME_BYTES,
                                reserved=OTHER_REPORTS),
    "connection_timeout_seconds": _SECONDS,
    "read_timeout_seconds": _SECONDS,
    "poll_cycles": CountOrUnlimited(10**9),
    "cycle_interval_seconds": IntRange(0, 7 * DAY),
    "audio_mode": Choice(AUDIO_MODES),
    "retention_max_cycles": IntRange(0, 10**9, _LIMIT_NOTE),
    "retention_max_hours": IntRange(0, 100 * 365 * 24, _LIMIT_NOTE),
    "min_free_space_mb": IntRange(0, 10**9, _LIMIT_NOTE),
    "rtsp_transport": Choice(RTSP_TRANSPORTS),
    "max_concurrent_per_host": IntRange(0, 1024, "0 表示不限制"),
    "offline_after_failures": IntRange(1, 10**6),
    "history_retention_days": IntRange(0, 100 * 365, "0 表示永久保留"),
    "alerts": AlertsRule(),
    "quality": QualityRule(),
}
STREAM_RULES: dict[str, Rule] = {
    "rtsp_url": RtspUrl(),
    "duration_seconds": IntRange(1, DAY),
    "weight": PositiveNumber(10**6),
    "output_filename": FileName(
        VIDEO_EXTENSIONS, "必须以视频扩展名结尾 (" + ", ".join(VIDEO_EXTENSIONS) + ")",
        MAX_CLIP_NAME_BYTES, f"录制时的临时文件 {retag_name('<文件名>')} 不能超过 "
                             f"{MAX_NAME_BYTES} 字节"),
    "rtsp_transport": Choice(RTSP_TRANSPORTS),
    "name": DisplayName(MAX_CAMERA_NAME),
    # false: no camera events for this one (a camera under maintenance).
    "alerts": Flag(),
}


def require_object(field: str, value: Any) -> dict:
    """``value`` when it is a JSON object. :raises ConfigError: naming ``field``."""
    if not isinstance(value, dict):
        raise ConfigError(field, "必须是 JSON 对象")
    return value


def validate_global(data: Any, field: str = "global_config") -> dict:
    """A complete, checked global section: missing keys take their defaults.

    :raises ConfigError: a value breaks a rule or a key is unknown.
    """
    data = require_object(field, data)
    prefix = "" if field == "" else f"{field}."
    _reject_unknown(prefix, data, GLOBAL_RULES)
    merged = {**GLOBAL_DEFAULTS, **data}
    return {key: rule.check(f"{prefix}{key}", merged[key]) for key, rule in GLOBAL_RULES.items()
            if key in merged}


def setting(global_config: dict, key: str) -> Any:
    """A global setting, with its default when the config leaves it out (one key, for tests)."""
    return global_config.get(key, OPTIONAL_DEFAULTS.get(key, GLOBAL_DEFAULTS.get(key)))


def validate_stream(data: Any, field: str = "stream") -> dict:
    """A checked stream; ``output_filename`` may still be missing (see :func:`validate_config`).

    :raises ConfigError:
    """
    data = require_object(field, data)
    prefix = f"{field}." if field else ""
    _reject_unknown(prefix, data, STREAM_RULES)
    for key in REQUIRED_STREAM_KEYS:
        if key not in data:
            raise ConfigError(f"{prefix}{key}", "是必填字段")
    stream = {"rtsp_url": None, "duration_seconds": None, "weight": 1.0}
    stream.update(data)
    return {key: STREAM_RULES[key].check(f"{prefix}{key}", value) for key, value in stream.items()}


def default_output_filename(url: str, taken: set[str], index: int) -> str:
    """A file name derived from the stream's URL path (the device id on GB28181 platforms),
    whose camera id is none of ``taken`` (the ids of the other streams)."""
    tail = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", tail).strip("_")[:100] or f"stream{index + 1}"
    name, n = f"{stem}.mp4", 1
    while camera_id(name) in taken:
        n += 1
        name = f"{stem}_{n}.mp4"
    return name


def _camera_ids(streams: list[dict]) -> dict[str, int]:
    """The camera id of each stream that names its ``output_filename``, with its index.

    The id names the camera in the API, its history, its ``<id>.jpg`` reference and its
    metrics: ``cam1.mkv`` beside ``cam1.mp4`` is refused. Ids compare exactly, as the files
    and URLs they name do (``CAM1`` is another camera). :raises ConfigError:
    """
    taken: dict[str, int] = {}
    for i, stream in enumerate(streams):
        name = stream.get("output_filename")
        if name is None:
            continue
        camera, field = camera_id(name), f"streams[{i}].output_filename"
        if camera in taken:
            other = taken[camera]
            if streams[other]["output_filename"] == name:
                raise ConfigError(field, f"与 streams[{other}] 重复, 必须唯一")
            raise ConfigError(field, f"与 streams[{other}] 的摄像机 ID 相同 ({camera}: "
                                     "文件名去掉扩展名), 必须唯一")
        taken[camera] = i
    return taken


def validate_config(data: Any) -> dict:
    """The whole config, checked and normalized; validating the result again changes nothing.

    :raises ConfigError: the first rule broken, naming its field.
    """
    data = require_object("", data)
    _reject_unknown("", data, TOP_KEYS + OPTIONAL_TOP_KEYS)
    for key in TOP_KEYS:
        if key not in data:
            raise ConfigError(key, "是必填字段")
    global_config = validate_global(data["global_config"])
    if not isinstance(data["streams"], list):
        raise ConfigError("streams", "必须是数组")
    if len(data["streams"]) > MAX_STREAMS:
        raise ConfigError("streams", f"不能超过 {MAX_STREAMS} 个")
    streams = [validate_stream(item, f"streams[{i}]") for i, item in enumerate(data["streams"])]
    taken = _camera_ids(streams)
    for i, stream in enumerate(streams):
        if "output_filename" not in stream:
            stream["output_filename"] = default_output_filename(stream["rtsp_url"], set(taken), i)
            taken[camera_id(stream["output_filename"])] = i
        # Keep the documented key order whatever order the input used.
        streams[i] = {key: stream[key] for key in STREAM_KEYS + OPTIONAL_STREAM_KEYS
                      if key in stream}
    checked = {"global_config": global_config, "streams": streams}
    if cluster_config.KEY in data:
        checked[cluster_config.KEY] = cluster_config.validate_cluster(data[cluster_config.KEY])
    return checked
