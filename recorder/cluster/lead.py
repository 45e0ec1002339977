"""The recorder's side of the coordinator lock: take it before a cycle, keep it, give it up."""
from __future__ import annotations

from redis.exceptions import RedisError

from recorder.cluster import link
from recorder.cluster.coordinator_lock import STANDBY_MESSAGE, CoordinatorLock
from recorder.cluster.late_outcomes import LateOutcomes, Reported
from recorder.cluster.outage import OUTAGE
from recorder.cluster.takeover import report_orphan_cycles
from shared.cluster_config import cluster_settings
from shared.cluster_control import read_cluster_control
from shared.cluster_status import STATUS_TTL_SECONDS, mirrored, status_key
from shared.global_settings import GlobalSettings

CHECK_SECONDS = 1.0  # how often the lock is renewed (well within its LOCK_SECONDS)
DESIRED_SECONDS = 1.0  # how often the cluster's desired state is read
__all__ = ["Lead", "STANDBY_MESSAGE"]


class Lead:
    """One recorder's coordinator lock, for the cluster of the config of the moment.

    ``on_reported``: a dead coordinator's cycle, taken over, has its final report (the camera
    history's feed).
    """

    def __init__(self, on_reported: Reported = lambda name, report: None,
                 left: dict | None = None) -> None:
        self._locks: dict[tuple[str, str], CoordinatorLock] = {}
        self._checked = float("-inf")
        self.late = LateOutcomes(on_reported)
        self.left = left  # this recorder's status before its restart, its cycle the cluster's
        self._desired: dict | None = None  # the cluster's desired state, as last read
        self._desired_read = float("-inf")

    def _lock(self, config: dict) -> CoordinatorLock:
        cluster = cluster_settings(config)
        key = (cluster.redis_url, cluster.queue)
        if key not in self._locks:
            self._locks[key] = CoordinatorLock(link.shared_connection(cluster), cluster.queue)
        return self._locks[key]

    def may_coordinate(self, config: dict, now: float) -> bool:
        """Take (or keep) the lock: False while another recorder coordinates.

        Taking it reports the cycle a dead predecessor left; ``late`` then follows the clips its
        workers were still recording (:meth:`LateOutcomes.step`, each loop step).
        """
        self._checked = now
        lock = self._lock(config)
        was_held = lock.held
        if lock.hold() and not was_held:  # before this recorder mirrors its own status there
            for orphan in report_orphan_cycles(
                    lock.connection, lock.queue,
                    GlobalSettings.from_config(config["global_config"]), now, self.left):
                self.late.follow(orphan)
        return lock.held

    def desired(self, config: dict, now: float) -> dict | None:
        """The cluster's desired state (shared/cluster_control.py; None: none was set), read at
        most every DESIRED_SECONDS; with Redis away, the last one read."""
        if now - self._desired_read >= DESIRED_SECONDS:
            self._desired_read = now
            lock = self._lock(config)
            try:
                self._desired = read_cluster_control(lock.connection, lock.queue)
                OUTAGE.answered()
            except RedisError as exc:
                OUTAGE.failed(exc)
        return self._desired

    def keep(self, config: dict, now: float) -> bool:
        """Renew the lock about once a second; False when another recorder took it."""
        if now - self._checked < CHECK_SECONDS:
            return True
        return self.may_coordinate(config, now)

    def mirror(self, config: dict, status: dict) -> None:
        """Put the coordinator's ``status`` in Redis for the API (only while it holds the lock)."""
        lock = self._lock(config)
        if not lock.held:
            return
        try:
            lock.connection.set(status_key(lock.queue), mirrored(status), ex=STATUS_TTL_SECONDS)
        except RedisError as exc:
            OUTAGE.failed(exc)

    def release(self) -> None:
        """A clean stop: a standby takes over at once."""
        for lock in self._locks.values():
            if lock.held:
                lock.release()
