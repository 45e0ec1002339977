"""One coordinator at a time: a Redis lock with a time to live, kept alive while it runs.

Every recorder of a cluster (the coordinator and its standbys, on other hosts) calls
:meth:`CoordinatorLock.hold` about once a second. The holder extends the lock; a standby gets
it once the holder stopped extending it for LOCK_SECONDS (it died, or lost Redis), or at once
when the holder gave it up (a clean stop).

A lock found free at another time is not a dead holder's: Redis restarted without its data
(free sooner than the holder's lease said), or the standby itself could not reach Redis for
half the lock's length or more (an outage that may have kept the holder from renewing too: a
Redis loading its data for longer than the lock lives). The last holder is given LOCK_SECONDS
to take it again, with Redis answering, before a standby takes it: a live coordinator's cycle
is not taken over, and cancelled, because of an outage both of them saw. (So a recorder
started well before its Redis also waits LOCK_SECONDS once Redis is up.)
"""
from __future__ import annotations

import logging
import os
import socket
import uuid

from redis import Redis
from redis.exceptions import RedisError

from recorder.cluster.link import PREFIX
from recorder.cluster.outage import OUTAGE
from shared.clock import SYSTEM_CLOCK

log = logging.getLogger(__name__)
LOCK_SECONDS = 10  # a dead coordinator's standby takes over within this (plus one step)
STANDBY_MESSAGE = "备用协调器: 另一个录制守护进程正在协调本集群, 等待接管"
# Why a recorder that never reached Redis does not coordinate (not a standby: it cannot tell).
REDIS_AWAY_MESSAGE = "集群的 Redis 不可用 ({reason}), 等待其恢复"

# Extend the lock if we hold it; take it if nobody does and we may take a free lock (ARGV[3]),
# or its holder gave it up (KEYS[2]), or it is still ours: our last extension (ARGV[6], ms of
# Redis's own clock, TIME; '0' none) less than a lease ago (Redis lost the lock: restarted
# without it, or from an older snapshot), or we held it last (ARGV[4]) and KEYS[3] names no
# other holder since (a recorder cut off alone was taken over meanwhile). Answers {answer,
# lease ms, Redis's time in ms, new, holder}: answer 1, we hold it after (new 1: taken, not
# kept: what happened to the lock meanwhile is to be taken over); 0, another recorder does
# (holder, its name), for lease ms more; -1, free, not taken. Redis's clock, not ours: a host
# suspended for a minute has its monotonic clock stopped meanwhile.
_HOLD_SCRIPT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local owner = redis.call('GET', KEYS[1])
local new = 0
local take = owner == ARGV[1]
    or (not owner and ARGV[6] ~= '0' and now - tonumber(ARGV[6]) < tonumber(ARGV[2]))
if not owner and not take then
    local last = redis.call('GET', KEYS[3])
    take = ARGV[3] == '1' or redis.call('EXISTS', KEYS[2]) == 1
        or (ARGV[4] == '1' and (not last or last == ARGV[1]))
    if take then
        new = 1
    end
end
if take then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[5])
    redis.call('DEL', KEYS[2])
    return {1, 0, now, new}
end
if owner then
    return {0, redis.call('PTTL', KEYS[1]), now, 0, owner}
end
return {-1, 0, now, 0}
"""
# Who held the lock last is kept this long (a recorder cut off longer is taken as a newcomer).
_LAST_HOLDER_SECONDS = 7 * 24 * 3600
# Give the lock up (ours only) and say so, for a standby to take it at once.
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""
# A holder's lease seen from a standby may end this much sooner than it computes (the time
# between Redis's answer and the standby's clock reading).
_LAPSE_LEEWAY_SECONDS = 0.5


class LockLost(Exception):
    """The lock is no longer surely this recorder's while it works under it (a long takeover):
    another recorder took it, or Redis could not renew it for the lock's length."""


def lock_key(queue: str) -> str:
    """The lock of the coordinator of ``queue``."""
    return f"{PREFIX}:{queue}:coordinator"


class CoordinatorLock:
    """This recorder's claim to coordinate ``queue``."""

    def __init__(self, connection: Redis, queue: str, seconds: int = LOCK_SECONDS) -> None:
        self.connection, self.queue, self.seconds = connection, queue, seconds
        self.key = lock_key(queue)
        self.released_key = f"{self.key}:released"
        self.last_holder_key = f"{self.key}:last"
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False
        self._renewed = float("-inf")  # monotonic time of the last extension
        self._script = connection.register_script(_HOLD_SCRIPT)
        # Why the last hold() could not reach Redis, or Redis refused it ("": it answered).
        self.failure = ""
        # What this recorder knows of the lock when it does not hold it: it held it last (a
        # free lock is its again at once, also after a long piece of work lost it, unless
        # Redis names another holder since: _HOLD_SCRIPT), it knows
        # nothing yet (it may take a free lock at once), when another holder's lease ends
        # (monotonic; None: not known), since when it has seen the lock free with Redis
        # answering (None: not free at the last answer), since when its calls fail (None:
        # the last one was answered).
        self._was_holder = False
        self._knows_nothing = True
        self._lapse_at: float | None = None
        self._free_since: float | None = None
        self._cut_since: float | None = None
        self.taken_anew = False  # the last hold() took the lock, not kept it (_HOLD_SCRIPT)
        # Not holding it: the holder last seen (its owner name, "host:pid:id"; "" none seen),
        # and since when (epoch seconds) this recorder has waited for the lock (None: it holds it).
        self.holder = ""
        self.waiting_since: float | None = None
        self._extended_ms = 0  # Redis's time of its last extension

    def hold(self) -> bool:
        """Take or extend the lock; True while this recorder is the coordinator.

        Redis away: the last answer stands (a standby cannot take a lock it cannot reach either).
        """
        now = SYSTEM_CLOCK.monotonic()
        self.taken_anew = False
        try:
            held, lease_ms, redis_ms, new, *holder = self._script(
                keys=[self.key, self.released_key, self.last_holder_key],
                args=[self.owner, self.seconds * 1000, int(self._may_take_free(now)),
                      int(self._was_holder), _LAST_HOLDER_SECONDS,
                      self._extended_ms if self.held else 0])
        except RedisError as exc:
            OUTAGE.failed(exc)
            self.failure = OUTAGE.last_failure
            if self._cut_since is None:
                self._cut_since = now
            return self.held
        OUTAGE.answered()
        self.failure = ""
        if self._cut_off_long(now):  # what it knew is stale: the holder may have lapsed unseen
            self._knows_nothing, self._lapse_at, self._free_since = False, None, None
        self._cut_since = None
        self._note(held, lease_ms, now)
        self._note_holder(held, holder, redis_ms)
        held = held == 1
        self.taken_anew = held and new == 1
        if held != self.held or self.taken_anew:
            log.info("coordinator lock %s %s by %s", self.key, "taken" if held else "lost",
                     self.owner)
        self.held = held
        if held:
            self._renewed, self._extended_ms = now, redis_ms
        return held

    def _cut_off_long(self, now: float) -> bool:
        """Its calls have failed for half the lock's length: long enough for the holder, cut
        off too, to miss its renewals (a shorter failure leaves what it knew as it was)."""
        return self._cut_since is not None and now - self._cut_since >= self.seconds / 2

    def _may_take_free(self, now: float) -> bool:
        """Whether this recorder takes the lock if Redis finds it free (module docstring; the
        last holder's own right is the script's, which knows who held it last): not just back
        from a long cut, it knows of no holder, saw the holder's lease run out, or has seen the
        lock free for its length with Redis answering (its last holder did not come back)."""
        if self._cut_off_long(now):
            return False
        return (self._knows_nothing
                or (self._lapse_at is not None and now >= self._lapse_at - _LAPSE_LEEWAY_SECONDS)
                or (self._free_since is not None and now - self._free_since >= self.seconds))

    def _note(self, answer: int, lease_ms: int, now: float) -> None:
        """What the script's answer tells of the lock, for :meth:`_may_take_free` next time."""
        if answer == 0:  # another recorder holds it
            self._was_holder, self._knows_nothing, self._free_since = False, False, None
            self._lapse_at = now + max(lease_ms, 0) / 1000
        elif answer == -1:  # free, and not taken: its last holder's time to come back
            self._was_holder = False  # another held it since (else the script had given it)
            self._lapse_at = None  # gone before its lease said: Redis lost it
            if self._free_since is None:
                self._free_since = now
                log.info("coordinator lock %s found free before its holder's lease ended, or "
                         "after Redis was away: left %d s to its last holder", self.key,
                         self.seconds)
        else:
            self._was_holder, self._knows_nothing = True, False
            self._lapse_at, self._free_since = None, None

    def _note_holder(self, answer: int, holder: list, redis_ms: int) -> None:
        """Who holds the lock (answer 0), and since when this recorder waits for it; a free
        lock (answer -1) leaves both: it still waits, its last holder given time to come back.
        The time is Redis's (epoch ms), the same for every recorder of the cluster."""
        if answer == 1:
            self.holder, self.waiting_since = "", None
            return
        if holder:
            name = holder[0]
            self.holder = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
        if self.waiting_since is None:
            self.waiting_since = redis_ms / 1000

    def keep(self, every: float) -> None:
        """Within a long piece of work under the lock (a takeover's settling of thousands of
        outcomes on a slow shared mount): extend it once ``every`` seconds have passed since
        the last extension. LockLost: another recorder holds it now, or Redis has not renewed
        it for its length (a standby may hold it), and the work must stop (two coordinators
        would write the same cycle's reports); the lock counts as not held, so that the work is
        done again once it is taken again."""
        if SYSTEM_CLOCK.monotonic() - self._renewed < every:
            return
        if not self.hold():
            raise LockLost(f"coordinator lock {self.key} taken by another recorder")
        if not self.holds_now():  # Redis away: hold() kept its last answer
            self.held = False
            raise LockLost(f"coordinator lock {self.key} not renewed for {self.seconds} s")

    def holds_now(self, within: float = 1.0) -> bool:
        """True while the lock, last extended less than ``within`` its length ago, is surely
        still ours (a coordinator that stopped, or finished its cycles, extends it no more)."""
        return self.held and SYSTEM_CLOCK.monotonic() - self._renewed < self.seconds * within

    def release(self) -> None:
        """Let a standby take over at once (a clean stop)."""
        try:
            self.connection.eval(_RELEASE_SCRIPT, 2, self.key, self.released_key, self.owner,
                                 self.seconds * 1000)
        except RedisError:
            pass
        self.held = False
