"""Cluster mode: each recorder takes the cluster's desired state into its own control.json.

The API of any host sets the cluster's desired state in Redis (shared/cluster_control.py); each
recorder follows its own control.json, as in single-box mode, into which this takes every newer
version of the cluster's. So whatever happens to Redis or to the config's cluster section, a
recorder goes on with the last state it took.
"""
from __future__ import annotations

import logging

from redis import Redis

from shared.cluster_control import read_cluster_control
from shared.control_file import read_control, update_control

log = logging.getLogger(__name__)


def sync_desired(connection: Redis, queue: str, control_path: str) -> None:
    """One look: a version in Redis newer than the one ``control_path`` took last is taken
    into it; none there, or not newer: nothing changes.

    :raises RedisError: and the control file's LockTimeout, WriteError.
    """
    cluster = read_cluster_control(connection, queue)
    if cluster is None or cluster["version"] <= read_control(control_path)["cluster_version"]:
        return

    def take(control: dict) -> None:
        control.update(scheduler_running=cluster["scheduler_running"],
                       start_generation=cluster["start_generation"],
                       cluster_version=cluster["version"])
    update_control(control_path, take)
    log.info("cluster's desired state taken: scheduler %s",
             "running" if cluster["scheduler_running"] else "stopped")
