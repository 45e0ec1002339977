"""The recorder's side of the coordinator lock: take it before a cycle, keep it, give it up."""
from __future__ import annotations

import logging
from collections.abc import Callable

from redis.exceptions import RedisError

from recorder.cluster import cycle_claim, link
from recorder.cluster.coordinator_lock import (REDIS_AWAY_MESSAGE, STANDBY_MESSAGE,
                                               CoordinatorLock, LockLost)
from recorder.cluster.desired_sync import sync_desired
from recorder.cluster.late_outcomes import LateOutcomes, Reported, Sheet
from recorder.cluster.outage import OUTAGE
from recorder.cluster.takeover import left_statuses, report_orphan_cycles
from shared.atomic import compact_json
from shared.cluster_config import cluster_settings
from shared.cluster_control import change_cluster_control, read_cluster_control
from shared.cluster_status import STATUS_TTL_SECONDS, mirrored, status_key
from shared.control_file import stop_change
from shared.errors import PatrolError
from shared.global_settings import GlobalSettings
from shared.timefmt import format_local

CHECK_SECONDS = 1.0  # how often the lock is renewed (well within its LOCK_SECONDS)
DESIRED_SECONDS = 1.0  # how often the cluster's desired state is read
RETRY_SECONDS = 10.0  # how soon a takeover tries again the cycles it could not report yet
RETRY_MAX_SECONDS = 300.0  # ... and how seldom at most, after failed tries (a full disk)
__all__ = ["Lead"]
log = logging.getLogger(__name__)


class Lead:
    """One recorder's coordinator lock, for the cluster of the config of the moment.

    ``on_reported``: a dead coordinator's cycle, taken over, has its final report (the camera
    history's feed; its cycle.finished too when ``announce``; ``written`` to call once the
    history has them: late_outcomes.Reported), and ``on_sheet`` its folder's
    path and that report (its contact sheet);
    ``references_dir``: this recorder's reference pictures, against which the outcomes of a
    cycle taken over are held (None: not held).
    """

    def __init__(self, on_reported: Reported = lambda name, report, announce, written: None,
                 left: dict | None = None, references_dir: str | None = None,
                 on_sheet: Sheet = lambda path, report: None) -> None:
        self._locks: dict[tuple[str, str], CoordinatorLock] = {}
        self._checked = float("-inf")
        self.late = LateOutcomes(on_reported, on_sheet)
        self.left = left  # this recorder's status before its restart, its cycle the cluster's
        self.references_dir = references_dir
        self._desired_read = float("-inf")  # when the cluster's desired state was last taken
        self.numbered = 0  # the last cycle number of the coordinators this one took over from
        self._claim_failed = float("-inf")  # when a cycle's claim last could not be asked
        self.again: list[dict] = []  # statuses of cycles a takeover is to try again
        self._tried = float("-inf")  # when it last tried
        self._retry_every = RETRY_SECONDS
        self.running_cycle: str | None = None  # this coordinator's cycle until it is reported

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
        if lock.hold() and lock.taken_anew:  # before this recorder mirrors its own status there
            statuses = left_statuses(lock.connection, lock.queue, self.left)
            # Cycle numbers go on from the last coordinator's: they only grow, across hosts too.
            self.numbered = max([self.numbered, *(old["current_cycle"] for old in statuses)])
            self._retry_every = RETRY_SECONDS
            ours = self._running_cycle_still_ours(lock)
            return self._take_over(config, lock, now, _with(statuses, self.again)) and ours
        if lock.holds_now() and self.again and now - self._tried >= self._retry_every:
            return self._take_over(config, lock, now, self.again, retry=True)
        return lock.held

    def _take_over(self, config: dict, lock: CoordinatorLock, now: float,
                   statuses: list[dict], retry: bool = False) -> bool:
        """Report the cycles ``statuses`` show left unreported; keep those to try again (their
        coordinator writing its reports, Redis away, a report not written) in ``again``, tried
        after RETRY_SECONDS, twice as long after each try that leaves some (RETRY_MAX_SECONDS
        at most). False: the lock was lost meanwhile (the recorder holding it now reports
        them; this one keeps them to try again should it hold the lock again)."""
        self._tried = now
        try:
            orphans, self.again = report_orphan_cycles(
                lock.connection, lock.queue, GlobalSettings.from_config(config["global_config"]),
                now, statuses, self.references_dir, lambda: lock.keep(CHECK_SECONDS), lock.owner)
        except LockLost as exc:  # the takeover outlasted the lock: the other one reports
            log.warning("takeover stopped: %s", exc)
            followed = {orphan.name for orphan in self.late.pending}
            self.again = [old for old in statuses if old["cycle"].get("dir") not in followed]
            return False
        if self.left is not None and any(orphan.name == self.left["cycle"].get("dir")
                                         for orphan in orphans):
            self.left = None  # its cycle reported: not again at each later takeover
        for orphan in orphans:
            self.late.follow(orphan)
        if retry and self.again:
            self._retry_every = min(self._retry_every * 2, RETRY_MAX_SECONDS)
        return lock.held

    def _running_cycle_still_ours(self, lock: CoordinatorLock) -> bool:
        """Taking the lock anew with a cycle running (its lease ran out while it was cut off):
        False when another recorder took that cycle over meanwhile (it is to be cancelled and
        left to that one, not recorded on)."""
        if self.running_cycle is None:
            return True
        try:
            ours = cycle_claim.still_running(lock.connection, lock.queue, self.running_cycle,
                                             lock.owner)
        except RedisError as exc:
            OUTAGE.failed(exc)
            return True
        if not ours:
            log.warning("cycle %s was taken over while this recorder was cut off from Redis; "
                        "cancelling it", self.running_cycle)
        return ours

    def renew(self, config: dict) -> None:
        """Keep the lock, nothing else (a coordinator that stops: no takeover, no retry)."""
        self._lock(config).hold()

    def cycle_started(self, config: dict, cycle_name: str) -> None:
        """This coordinator started ``cycle_name``: its reports are its own unless a takeover
        claims them (recorder/cluster/cycle_claim.py); with Redis away, no claim is the same."""
        self.running_cycle = cycle_name
        lock = self._lock(config)
        try:
            cycle_claim.mark_running(lock.connection, lock.queue, cycle_name, lock.owner)
        except RedisError as exc:
            OUTAGE.failed(exc)

    def may_report(self, config: dict, cycle_name: str, now: float,
                   report_exists: Callable[[], bool]) -> bool | None:
        """At the end of ``cycle_name``, before its reports are written: True when they are
        this coordinator's to write; False when another recorder took the cycle over (and
        reports it: with the claim lost with Redis's data, ``report_exists()`` tells); None
        when that cannot be known yet: Redis away (asked again CHECK_SECONDS after) and the
        lock not surely this recorder's for long enough to write them."""
        lock = self._lock(config)
        if now - self._claim_failed < CHECK_SECONDS:
            return None
        try:
            claim = cycle_claim.claim_report(lock.connection, lock.queue, cycle_name, lock.owner)
        except RedisError as exc:
            OUTAGE.failed(exc)
            if lock.holds_now(within=0.5):
                return True
            self._claim_failed = now
            return None
        OUTAGE.answered()
        self.running_cycle = None
        if claim is cycle_claim.Claim.UNCLAIMED and report_exists():  # a takeover's
            self._settle(lock, cycle_name, "")
            return False
        return claim is not cycle_claim.Claim.TAKEN

    def reported(self, config: dict, cycle_name: str, interrupted: bool) -> None:
        """``cycle_name``'s reports are written (interrupted by a clean stop: the recorder that
        coordinates next settles it again with what its workers stored since)."""
        self._settle(self._lock(config), cycle_name,
                     cycle_claim.LEFT if interrupted else cycle_claim.REPORTED)

    def not_reported(self, config: dict, cycle_name: str) -> None:
        """``cycle_name``'s reports could not be written: its claim goes (the next takeover
        reports it)."""
        self._settle(self._lock(config), cycle_name, "")

    @staticmethod
    def _settle(lock: CoordinatorLock, cycle_name: str, state: str) -> None:
        cycle_claim.settle_or_note(lock.connection, lock.queue, cycle_name, lock.owner, state)

    def why_not(self, config: dict) -> str:
        """Why :meth:`may_coordinate` said False, for the status: Redis away or refusing the
        lock (this recorder's password, its database, a full Redis), or another recorder
        coordinating."""
        failure = self._lock(config).failure
        return REDIS_AWAY_MESSAGE.format(reason=failure) if failure else STANDBY_MESSAGE

    def standby(self, config: dict) -> dict | None:
        """While another recorder coordinates (:meth:`why_not` says so, Redis answering):
        the coordinator this recorder waits for (its lock's owner name: host, pid, an id) and
        since when it waits (local time), for the status; None otherwise."""
        lock = self._lock(config)
        if lock.held or lock.failure or lock.waiting_since is None:
            return None
        return {"coordinator": lock.holder, "since": format_local(lock.waiting_since)}

    def sync_desired(self, config: dict, now: float, control_path: str) -> None:
        """Take the cluster's desired state into this recorder's control.json, at most every
        DESIRED_SECONDS (recorder/cluster/desired_sync.py); with Redis away, next time."""
        if now - self._desired_read < DESIRED_SECONDS:
            return
        self._desired_read = now
        lock = self._lock(config)
        try:
            sync_desired(lock.connection, lock.queue, control_path)
            OUTAGE.answered()
        except RedisError as exc:
            OUTAGE.failed(exc)
        except PatrolError as exc:  # the control file locked or unwritable: next time
            log.error("cannot take the cluster's desired state into %s: %s", control_path, exc)

    def finished(self, config: dict, generation: int) -> None:
        """This coordinator ran every cycle of the start ``generation``: the cluster stops (no
        standby runs them again); a newer start is left as it is."""
        def stop(control: dict) -> None:
            if control["start_generation"] == generation:
                stop_change(control)
        lock = self._lock(config)
        try:
            current = read_cluster_control(lock.connection, lock.queue)
            if current and current["scheduler_running"] and \
                    current["start_generation"] == generation:  # a start of the cluster's
                change_cluster_control(lock.connection, lock.queue, stop)
        except RedisError as exc:
            OUTAGE.failed(exc)

    def keep(self, config: dict, now: float) -> bool:
        """Renew the lock about once a second; False when another recorder took it."""
        if now - self._checked < CHECK_SECONDS:
            return True
        return self.may_coordinate(config, now)

    def mirror(self, config: dict, status: dict,
               encode: Callable[[dict], str] = compact_json) -> None:
        """Put the coordinator's ``status`` in Redis for the API (only while it holds the lock),
        encoded by ``encode`` (default: :func:`shared.atomic.compact_json`)."""
        lock = self._lock(config)
        if not lock.holds_now():
            return
        try:
            lock.connection.set(status_key(lock.queue), mirrored(status, encode),
                                 ex=STATUS_TTL_SECONDS)
        except RedisError as exc:
            OUTAGE.failed(exc)

    def release(self, queue: str | None = None) -> None:
        """A clean stop: a standby takes over at once. ``queue``: only that queue's lock (a
        queue left by a config edit; the new one's may be held already)."""
        for (_, locked_queue), lock in self._locks.items():
            if lock.held and queue in (None, locked_queue):
                lock.release()


def _with(statuses: list[dict], more: list[dict]) -> list[dict]:
    """``statuses`` and those of ``more`` whose cycle they do not have."""
    have = {old["cycle"].get("dir") for old in statuses}
    return statuses + [old for old in more if old["cycle"].get("dir") not in have]
