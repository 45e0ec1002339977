"""The optional top-level ``cluster`` section: where the Redis of cluster mode is, and its queue."""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.errors import ConfigError
from shared.urls import mask_credentials

KEY = "cluster"
# A cluster section on a host without RQ: refused like any broken rule (the recorder keeps its
# last valid config and says why once), not an import error at every step.
NO_CLUSTER_EXTRA = ("需要集群模式的软件包 (RQ, redis): make install CLUSTER=1 "
                    "或 pip install '.[cluster]'")
DEFAULT_QUEUE = "patrol"
REDIS_SCHEMES = ("redis", "rediss", "unix")
_QUEUE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class ClusterSettings:
    """Cluster mode's settings: the Redis URL (may hold a password) and the RQ queue name."""

    redis_url: str
    queue: str = DEFAULT_QUEUE


def validate_cluster(data: Any, field: str = KEY) -> dict:
    """The checked section: ``{"redis_url": ..., "queue": ...?}``.

    :raises ConfigError: naming the field.
    """
    if not isinstance(data, dict):
        raise ConfigError(field, "必须是 JSON 对象")
    for key in data:
        if key not in ("redis_url", "queue"):
            raise ConfigError(f"{field}.{key}", "是未知字段 (可能是拼写错误)")
    url = data.get("redis_url")
    if not isinstance(url, str) or not _redis_url_form(url):
        raise ConfigError(f"{field}.redis_url", "必须是 redis://, rediss:// 或 unix:// 地址")
    queue = data.get("queue", DEFAULT_QUEUE)
    if not isinstance(queue, str) or not _QUEUE_RE.match(queue):
        raise ConfigError(f"{field}.queue", "必须是 1-64 个字母, 数字, '_', '-' 或 '.'")
    if not cluster_extra_installed():
        raise ConfigError(field, NO_CLUSTER_EXTRA)
    problem = _redis_url_problem(url)
    if problem:
        raise ConfigError(f"{field}.redis_url", problem)
    return {"redis_url": url, **({"queue": queue} if "queue" in data else {})}


def _redis_url_form(url: str) -> bool:
    """True when ``url`` has a Redis scheme and, but for a unix socket, a host."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
    except ValueError:  # a malformed IPv6 address: "redis://[fd00::5:6379"
        return False
    return scheme in REDIS_SCHEMES and (scheme == "unix" or bool(host))


def _redis_url_problem(url: str) -> str:
    """Why redis-py would refuse ``url`` when it first connects ("" when it would take it): its
    own parser, run now, so that a port out of range or a bad option is a config error at once
    and not a failure at every step; and what it would silently read as database 0."""
    from redis import ConnectionPool  # the [cluster] extra is installed (checked before)

    parts = urlsplit(url)
    if parts.scheme.lower() == "unix" and (not parts.path or parts.hostname):
        # unix://tmp/r.sock: "tmp" is no part of the path redis-py uses (/r.sock)
        return "unix:// 地址必须是 unix:///套接字的绝对路径 (例如 unix:///run/redis/redis.sock)"
    database = parts.path.strip("/") if parts.scheme.lower() != "unix" else ""
    if database and not database.isdigit():
        return f"数据库编号必须是非负整数, 而不是 {database!r}"
    try:
        # The options reach the connection only when it is made (made here, not connected).
        ConnectionPool.from_url(url).make_connection()
    except (ValueError, TypeError) as exc:
        return mask_credentials(f"无法使用: {exc}")
    return ""


def cluster_extra_installed() -> bool:
    """True when the [cluster] extra's packages (RQ, redis) can be imported here."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in ("rq", "redis"))
    except (ImportError, ValueError):
        return False


def cluster_settings(config: dict) -> ClusterSettings | None:
    """The cluster settings of a validated config; None in single-box mode."""
    section = config.get(KEY)
    return ClusterSettings(**section) if section else None


def cluster_queue(config: dict | None) -> str:
    """The RQ queue a validated config's cycles run on; "" in single-box mode (or no config)."""
    cluster = cluster_settings(config) if config else None
    return cluster.queue if cluster else ""


def masked_section(section: dict) -> dict:
    """The section fit to show: the Redis password masked like a camera's."""
    return {**section, "redis_url": mask_credentials(section["redis_url"])}
