"""The cameras a config names (id, display name, masked URL) and those it alerts about."""
from __future__ import annotations

import os
from dataclasses import dataclass

from shared.camera_state import camera_id
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


def alerting_cameras(config: dict) -> frozenset[str]:
    """The ids of a validated config's cameras whose alerts are on (no ``"alerts": false``)."""
    return frozenset(camera_id(stream["output_filename"])
                     for stream in config["streams"] if stream.get("alerts", True))


def stream_of_record(record: dict, streams: list[dict]) -> dict | None:
    """The configured stream a report's task recorded (its clip's name, else its URL); None
    when no stream of ``streams`` is it, or more than one could be.

    A clip's name is its camera's id (its ``output_filename``): a record with a clip no
    configured stream writes is that camera's, removed since, never another's of its URL.
    """
    output_file, url = record.get("output_file"), record.get("rtsp_url")
    clip = os.path.basename(output_file) if isinstance(output_file, str) else ""
    if clip:
        return next((s for s in streams if s["output_filename"] == clip), None)
    if not isinstance(url, str):  # a hand-edited report's row
        return None
    index = record.get("stream_index")
    if isinstance(index, int) and 0 <= index < len(streams) and \
            mask_credentials(streams[index]["rtsp_url"]) == url:
        return streams[index]
    by_url = [s for s in streams if mask_credentials(s["rtsp_url"]) == url]
    return by_url[0] if len(by_url) == 1 else None

