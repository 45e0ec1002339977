"""Cluster mode: the scheduler's desired state for the whole cluster, in Redis.

Started or stopped through the API of any host, every recorder of the cluster follows it: the
coordinator runs the cycles, the others wait as armed standbys for its lock, and a stop stops
them all (no standby takes over a stopped cluster). It holds control.json's two fields of the
desired state, ``scheduler_running`` and ``start_generation``, changed by the same rules
(shared/control_file.py's :func:`start_change`, :func:`stop_change`). Until a first start or
stop through the API in cluster mode there is none, and each recorder follows its own
control.json as in single-box mode. Imports ``redis`` only when called (the [cluster] extra).
"""
from __future__ import annotations

import json
from collections.abc import Callable

from shared.cluster_status import KEY_PREFIX

NOT_SET = {"scheduler_running": False, "start_generation": 0}


def control_key(queue: str) -> str:
    """The key of the desired state of the cluster of ``queue``."""
    return f"{KEY_PREFIX}:{queue}:control"


def parse_control(raw: bytes | None) -> dict | None:
    """The desired state stored as ``raw``; None when there is none (or it is damaged)."""
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not (isinstance(data, dict) and isinstance(data.get("scheduler_running"), bool)
            and type(data.get("start_generation")) is int and data["start_generation"] >= 0):
        return None
    return {"scheduler_running": data["scheduler_running"],
            "start_generation": data["start_generation"]}


def read_cluster_control(connection, queue: str) -> dict | None:
    """The cluster's desired state; None when none was set. :raises RedisError:"""
    return parse_control(connection.get(control_key(queue)))


def change_cluster_control(connection, queue: str, change: Callable[[dict], None]) -> dict:
    """Apply ``change`` to the cluster's desired state atomically (an optimistic transaction,
    tried again when another host changed it meanwhile); the new state.

    :raises RedisError: and what ``change`` raises (nothing is written then).
    """
    from redis.exceptions import WatchError
    key = control_key(queue)
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                control = dict(parse_control(pipe.get(key)) or NOT_SET)
                change(control)
                pipe.multi()
                pipe.set(key, json.dumps(control, separators=(",", ":")))
                pipe.execute()
                return control
            except WatchError:
                continue
