"""Cluster mode's status in Redis: the coordinator's status (same fields as its status file),
read by the API on any host. Imports ``redis`` only when called (the [cluster] extra)."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable

from shared.atomic import compact_json
from shared.cluster_config import ClusterSettings
from shared.redis_client import redis_client
from shared.status_file import status_from

log = logging.getLogger(__name__)
KEY_PREFIX = "rtsp-patrol"
# The copy outlives a dead coordinator this long; its own heartbeat says it is stale sooner.
STATUS_TTL_SECONDS = 60
_CLIENTS: dict = {}


def status_key(queue: str) -> str:
    """The key of the coordinator's status of ``queue``."""
    return f"{KEY_PREFIX}:{queue}:status"


def mirrored(status: dict, encode: Callable[[dict], str] = compact_json) -> str:
    """``status`` as stored in Redis: judged alive by its wall-clock heartbeat on any host;
    ``encode``: the recorder's encoder of the status file (the same text, kept per record)."""
    return encode({**status, "heartbeat_monotonic": None})


def cluster_client(cluster: ClusterSettings):
    """This process's Redis client of ``cluster`` (imports ``redis``)."""
    if cluster.redis_url not in _CLIENTS:
        _CLIENTS[cluster.redis_url] = redis_client(cluster.redis_url, 2)
    return _CLIENTS[cluster.redis_url]


def read_cluster_status_text(cluster: ClusterSettings) -> bytes | None:
    """The coordinator's last status from Redis, as stored (:func:`mirrored`); None when there
    is none or Redis is away."""
    from redis.exceptions import RedisError
    try:
        return cluster_client(cluster).get(status_key(cluster.queue)) or None
    except RedisError as exc:
        log.warning("cluster status not read from Redis: %s", exc)
        return None


def cluster_status_from(raw: bytes) -> dict:
    """A status as :func:`read_cluster_status_text` gave it, parsed and completed with defaults."""
    return status_from(json.loads(raw))
