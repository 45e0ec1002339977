"""The cameras a config names (id, display name, masked URL) and the offline threshold it sets.

Part A of issue 12 adds ``name``, ``alerts`` and ``offline_after_failures`` to the
config rules and ``camera_id`` to shared/camera_state.py; until then the keys are
read defensively here, in this one place, so the merge only has to swap it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from shared.camera_state import DEFAULT_OFFLINE_AFTER_FAILURES
from shared.urls import mask_credentials


@dataclass(frozen=True)
class ConfiguredCamera:
    """One stream of the config, as the per-camera API shows it."""

    id: str
    name: str
    url: str  # masked


def camera_id(output_filename: str) -> str:
    """The camera id: the stream's ``output_filename`` without its extension."""
    return os.path.splitext(output_filename)[0]


def configured_cameras(config: dict) -> list[ConfiguredCamera]:
    """Every stream of a validated config, in config order."""
    return [ConfiguredCamera(camera_id(stream["output_filename"]), stream.get("name", ""),
                             mask_credentials(stream["rtsp_url"]))
            for stream in config["streams"]]


def offline_after(config: dict) -> int:
    """``global_config.offline_after_failures`` (default 2)."""
    value = config["global_config"].get("offline_after_failures", DEFAULT_OFFLINE_AFTER_FAILURES)
    return value if isinstance(value, int) and value >= 1 else DEFAULT_OFFLINE_AFTER_FAILURES
