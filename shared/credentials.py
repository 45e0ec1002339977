"""Camera passwords in config edits: shown masked, and a masked one sent back keeps the stored one.

The API never shows a stream's password (``rtsp://user:***@host/…``, also
``?password=***``). A client that reads the config, changes something and
sends it back must not turn every password into ``***``: before a write, each
masked URL takes its secrets back from the stored stream of the same camera,
the one with the same ``output_filename`` (or, for a stream without one there,
the only stored stream whose masked URL is the same). Only when the URL still
points at the stored one's scheme, host and port: a password is never sent to
another server (the path and the other query parameters may change).
"""
from __future__ import annotations

import copy

from shared import cluster_config
from shared.alert_secrets import has_masked_alerts, masked_alerts, with_stored_alerts
from shared.config import validate_config
from shared.errors import ConfigError
from shared.urls import is_masked, mask_credentials, same_server, unmask

_NO_STORED_SECRET = "含有隐藏的密码 (***), 但找不到同一摄像机 (相同 output_filename) 已保存的密码; 请填写完整地址"
_MOVED_SECRET = ("含有隐藏的密码 (***), 但协议、主机或端口与已保存的地址不同; "
                "已保存的密码不会发往别的主机, 请填写完整地址 (含密码)")


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


def _masked_redis(config: dict) -> bool:
    return bool(config.get(cluster_config.KEY)) and is_masked(config[cluster_config.KEY]["redis_url"])


def has_masked_secrets(config: dict) -> bool:
    """True when a stream's URL, a receiver or the Redis URL carries a masked secret (a client
    sent back what it read)."""
    return (any(is_masked(stream["rtsp_url"]) for stream in config["streams"])
            or has_masked_alerts(config["global_config"].get("alerts", {}))
            or _masked_redis(config))


def with_stored_secrets(new: dict, stored: dict | None) -> dict:
    """``new`` (a validated config) with each masked secret taken back from ``stored``.

    ``stored`` is the config on disk, None when there is none valid.

    :raises ConfigError: a masked URL whose camera has no such secret stored, or that now
        points at another server.
    """
    if not has_masked_secrets(new):
        return new
    old_streams = stored["streams"] if stored else []
    result = copy.deepcopy(new)
    if _masked_redis(new):
        old = ((stored or {}).get(cluster_config.KEY) or {}).get("redis_url")
        result[cluster_config.KEY]["redis_url"] = _restored(
            new[cluster_config.KEY]["redis_url"], old, f"{cluster_config.KEY}.redis_url")
    alerts = result["global_config"].get("alerts", {})
    if has_masked_alerts(alerts):
        result["global_config"]["alerts"] = with_stored_alerts(
            alerts, stored["global_config"].get("alerts", {}) if stored else {},
            "global_config.alerts")
    for i, stream in enumerate(result["streams"]):
        if not is_masked(stream["rtsp_url"]):
            continue
        stream["rtsp_url"] = _restored(stream["rtsp_url"], _stored_url(stream, old_streams),
                                       f"streams[{i}].rtsp_url")
    return validate_config(result)  # the combined URL obeys the rules too


def _restored(url: str, stored: str | None, field: str) -> str:
    """The masked ``url`` with the secrets of ``stored``, the same server's URL.

    :raises ConfigError: nothing stored, or ``url`` points at another server.
    """
    if stored is not None and not same_server(url, stored):
        raise ConfigError(field, _MOVED_SECRET)
    restored = unmask(url, stored) if stored is not None else None
    if restored is None:
        raise ConfigError(field, _NO_STORED_SECRET)
    return restored
