"""Camera passwords in config edits: shown masked, and a masked one sent back keeps the stored one.

The API never shows a stream's password (``rtsp://user:***@host/…``, also
``?password=***``). A client that reads the config, changes something and
sends it back must not turn every password into ``***``: before a write, each
masked URL takes its secrets back from the stored stream of the same camera,
the one with the same ``output_filename`` (or, for a stream without one there,
the only stored stream whose masked URL is the same).
"""
from __future__ import annotations

import copy

from shared import cluster_config
from shared.alert_secrets import has_masked_alerts, masked_alerts, with_stored_alerts
from shared.config import validate_config
from shared.errors import ConfigError
from shared.urls import is_masked, mask_credentials, unmask

_NO_STORED_SECRET = "含有隐藏的密码 (***), 但找不到同一摄像机 (相同 output_filename) 已保存的密码; 请填写完整地址"


def masked_stream(stream: dict) -> dict:
    """A copy of ``stream`` with the secrets of its ``rtsp_url`` masked."""
    return {**stream, "rtsp_url": mask_credentials(stream["rtsp_url"])}


def masked_global(global_config: dict) -> dict:
    """A copy of the global section fit to show: the alert receivers' secrets masked."""
    if "alerts" not in global_config:
        return global_config
    return {**global_config, "alerts": masked_alerts(global_config["alerts"])}


def masked_config(config: dict) -> dict:
    """A copy of ``config`` fit to show: every stream's and receiver's secrets masked (and the
    Redis password)."""
    shown = {**config, "global_config": masked_global(config["global_config"]),
             "streams": [masked_stream(stream) for stream in config["streams"]]}
    if config.get(cluster_config.KEY):
        shown[cluster_config.KEY] = cluster_config.masked_section(config[cluster_config.KEY])
    return shown


def _stored_url(stream: dict, stored: list[dict]) -> str | None:
    same_name = [old for old in stored if old["output_filename"] == stream["output_filename"]]
    if same_name:
        return same_name[0]["rtsp_url"]
    same_look = [old for old in stored if mask_credentials(old["rtsp_url"]) == stream["rtsp_url"]]
    return same_look[0]["rtsp_url"] if len(same_look) == 1 else None


def has_masked_secrets(config: dict) -> bool:
    """True when a stream's URL or a receiver carries a masked secret (a client sent back what it read)."""
    return (any(is_masked(stream["rtsp_url"]) for stream in config["streams"])
            or has_masked_alerts(config["global_config"].get("alerts", {})))


def _masked_redis(config: dict) -> bool:
    return bool(config.get(cluster_config.KEY)) and is_masked(config[cluster_config.KEY]["redis_url"])


def with_stored_secrets(new: dict, stored: dict | None) -> dict:
    """``new`` (a validated config) with each masked secret taken back from ``stored``.

    ``stored`` is the config on disk, None when there is none valid.

    :raises ConfigError: a masked URL whose camera has no such secret stored.
    """
    if not has_masked_secrets(new) and not _masked_redis(new):
        return new
    old_streams = stored["streams"] if stored else []
    result = copy.deepcopy(new)
    if _masked_redis(new):
        old = ((stored or {}).get(cluster_config.KEY) or {}).get("redis_url")
        url = unmask(new[cluster_config.KEY]["redis_url"], old) if old else None
        if url is None:
            raise ConfigError(f"{cluster_config.KEY}.redis_url", _NO_STORED_SECRET)
        result[cluster_config.KEY]["redis_url"] = url
    alerts = result["global_config"].get("alerts", {})
    if has_masked_alerts(alerts):
        result["global_config"]["alerts"] = with_stored_alerts(
            alerts, stored["global_config"].get("alerts", {}) if stored else {},
            "global_config.alerts")
    for i, stream in enumerate(result["streams"]):
        if not is_masked(stream["rtsp_url"]):
            continue
        old = _stored_url(stream, old_streams)
        url = unmask(stream["rtsp_url"], old) if old is not None else None
        if url is None:
            raise ConfigError(f"streams[{i}].rtsp_url", _NO_STORED_SECRET)
        stream["rtsp_url"] = url
    return validate_config(result)  # the combined URL obeys the rules too
