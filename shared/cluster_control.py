"""Cluster mode: the scheduler's desired state for the whole cluster, in Redis.

Started or stopped through the API of any host, every recorder of the cluster takes it into its
own control.json within a second (recorder/cluster/desired_sync.py): the coordinator patrols,
the others wait as armed standbys for its lock, and a stop stops them all (no standby takes
over a stopped cluster). A coordinator that has run all its ``poll_cycles`` stops the cluster
the same way. It holds control.json's two fields of the desired state, changed by the same
rules (shared/control_file.py's :func:`start_change`, :func:`stop_change`), and a ``version``
that every change moves on. A recorder takes a version newer than the one its control.json
names; with none in Redis (never set, or forgotten by a restart without persistence) each
goes on with the state it took last. Versions and a start's generation are the change's time
in milliseconds (or one more than the last, if that is later), so a change after Redis forgot
the key is still newer than any a recorder took, and a start never equals a count a
recorder's own file reached before.
Imports ``redis`` only when called (the [cluster] extra).
"""
from __future__ import annotations

import json
from collections.abc import Callable

from shared.clock import SYSTEM_CLOCK
from shared.cluster_status import KEY_PREFIX

FIELDS = ("scheduler_running", "start_generation", "version")
NOT_SET = {"scheduler_running": False, "start_generation": 0, "version": 0}


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
            and all(type(data.get(name)) is int and data[name] >= 0
                    for name in ("start_generation", "version"))):
        return None
    return {name: data[name] for name in FIELDS}


def encode_control(control: dict) -> str:
    """``control`` as stored."""
    return json.dumps({name: control[name] for name in FIELDS}, separators=(",", ":"))


def read_cluster_control(connection, queue: str) -> dict | None:
    """The cluster's desired state; None when none was set. :raises RedisError:"""
    return parse_control(connection.get(control_key(queue)))


def change_cluster_control(connection, queue: str, change: Callable[[dict], None]) -> dict:
    """Apply ``change`` to the cluster's desired state atomically (an optimistic transaction,
    tried again when another host changed it meanwhile), as a new version; the new state.

    :raises RedisError: and what ``change`` raises (nothing is written then).
    """
    from redis.exceptions import WatchError
    key = control_key(queue)
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                before = parse_control(pipe.get(key)) or NOT_SET
                control = dict(before)
                change(control)
                moment = int(SYSTEM_CLOCK.wall() * 1000)
                if control["start_generation"] != before["start_generation"]:
                    control["start_generation"] = max(control["start_generation"], moment)
                control["version"] = max(before["version"] + 1, moment)
                pipe.multi()
                pipe.set(key, encode_control(control))
                pipe.execute()
                return control
            except WatchError:
                continue
