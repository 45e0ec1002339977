"""The cameras a config names (id, display name, masked URL) and the offline threshold it sets."""
from __future__ import annotations

from dataclasses import dataclass

from shared.camera_state import camera_id
from shared.config import OPTIONAL_DEFAULTS
from shared.urls import mask_credentials


@dataclass(frozen=True)
class ConfiguredCamera:
    """One stream of the config, as the per-camera API shows it."""

    id: str
    name: str
    url: str  # masked


def configured_cameras(config: dict) -> list[ConfiguredCamera]:
    """Every stream of a validated config, in config order."""
    return [ConfiguredCamera(camera_id(stream["output_filename"]), stream.get("name", ""),
                             mask_credentials(stream["rtsp_url"]))
            for stream in config["streams"]]


def offline_after(config: dict) -> int:
    """``global_config.offline_after_failures`` of a validated config (its default when left out)."""
    key = "offline_after_failures"
    return config["global_config"].get(key, OPTIONAL_DEFAULTS[key])
