"""``global_config.quality``: the picture checks' thresholds, their defaults and their rule.

Why each default has its value: README "Picture checks" and docs/QUALITY.md (measured
on real day footage and night variants of it, bench/quality_scenes.py). The recorder reads
them as a frozen :class:`QualitySettings`; the config model validates the
object with :class:`QualityRule`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from shared.errors import ConfigError


@dataclass(frozen=True)
class QualitySettings:
    """Whether pictures are checked, how often, and the threshold of each verdict."""

    enabled: bool = True
    # Not a threshold: one keyframe looked at per this many seconds at most (0: each one);
    # at 2, of keyframes 1 s apart every other one (README "Picture checks": its limits).
    sample_seconds: float = 2.0
    black_ratio: float = 0.5         # black: share of keyframes blackdetect calls black, >=
    frozen_ratio: float = 0.5        # frozen: share of the clip freezedetect calls frozen, >=
    blur_max: float = 6.5            # blurred: blurdetect's median edge width, >
    dark_luma: float = 25.0          # too_dark: mean luma (0-255, full range), <
    bright_luma: float = 215.0       # too_bright: mean luma, >
    cast_max: float = 24.0           # colour_cast: mean chroma offset from neutral (128), >
    min_fps: float = 5.0             # low_fps: frames per second recorded, <
    fps_ratio: float = 0.7           # low_fps: or below this share of the announced frame rate
    min_bitrate_kbps: float = 32.0   # low_bitrate: kilobits per second recorded, <
    min_similarity: float = 0.2      # scene_changed: similarity to the reference picture, <

    @classmethod
    def from_config(cls, value: dict | None) -> QualitySettings:
        """The settings of a validated ``global_config.quality`` (None: every default)."""
        return cls(**(value or {}))


DEFAULTS = asdict(QualitySettings())
# Thresholds that are shares (0..1); the others are measures on their own scales.
_SHARES = ("black_ratio", "frozen_ratio", "fps_ratio", "min_similarity")
_HIGH = {"blur_max": 1000.0, "dark_luma": 255.0, "bright_luma": 255.0, "cast_max": 128.0,
         "min_fps": 1000.0, "min_bitrate_kbps": 10.0**6, "sample_seconds": 60.0}


@dataclass(frozen=True)
class QualityRule:
    """The ``quality`` object: known keys only, ``enabled`` a boolean, thresholds in range."""

    def check(self, field: str, value: Any) -> dict:
        """``value`` with its numbers as floats. :raises ConfigError:"""
        if not isinstance(value, dict):
            raise ConfigError(field, "必须是 JSON 对象")
        checked = {}
        for key, item in value.items():
            if key not in DEFAULTS:
                shown = key.encode("utf-8", "backslashreplace").decode("utf-8")
                raise ConfigError(f"{field}.{shown}", "是未知字段 (可能是拼写错误)")
            checked[key] = (_check_flag if key == "enabled" else _check_threshold)(
                f"{field}.{key}", key, item)
        return checked

    def schema(self) -> dict:
        """The JSON-schema fragment of this rule."""
        properties: dict[str, dict] = {"enabled": {"type": "boolean"}}
        for item in fields(QualitySettings):
            if item.name != "enabled":
                properties[item.name] = {"type": "number", "minimum": 0,
                                         "maximum": _high(item.name)}
        return {"type": "object", "properties": properties, "additionalProperties": False}


def _high(key: str) -> float:
    return 1.0 if key in _SHARES else _HIGH[key]


def _check_flag(field: str, _key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(field, "必须是 true 或 false")
    return value


def _check_threshold(field: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(field, "必须是有限数字")
    if not 0 <= value <= _high(key):
        raise ConfigError(field, f"必须在 0 到 {_high(key):g} 之间")
    return float(value)
