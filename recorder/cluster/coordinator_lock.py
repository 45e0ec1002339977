"""One coordinator at a time: a Redis lock with a time to live, kept alive while it runs.

Every recorder of a cluster (the coordinator and its standbys, on other hosts) calls
:meth:`CoordinatorLock.hold` about once a second. The holder extends the lock; a standby gets
it only once the holder stopped extending it for LOCK_SECONDS (it died, or lost Redis). A
Redis restarted without persistence forgets the lock: the first to ask then holds it.
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

# Extend the lock if we hold it, take it if nobody does: 1 when we hold it after.
_HOLD_SCRIPT = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] or not owner then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""


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
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False
        self._renewed = float("-inf")  # monotonic time of the last extension
        self._script = connection.register_script(_HOLD_SCRIPT)
        # Why the last hold() could not reach Redis, or Redis refused it ("": it answered).
        self.failure = ""

    def hold(self) -> bool:
        """Take or extend the lock; True while this recorder is the coordinator.

        Redis away: the last answer stands (a standby cannot take a lock it cannot reach either).
        """
        try:
            held = bool(self._script(keys=[self.key], args=[self.owner, self.seconds * 1000]))
        except RedisError as exc:
            OUTAGE.failed(exc)
            self.failure = OUTAGE.last_failure
            return self.held
        OUTAGE.answered()
        self.failure = ""
        if held != self.held:
            log.info("coordinator lock %s %s by %s", self.key, "taken" if held else "lost",
                     self.owner)
        self.held = held
        if held:
            self._renewed = SYSTEM_CLOCK.monotonic()
        return held

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

    def holds_now(self) -> bool:
        """True while the lock, last extended less than its length ago, is surely still ours
        (a coordinator that stopped, or finished its cycles, extends it no more)."""
        return self.held and SYSTEM_CLOCK.monotonic() - self._renewed < self.seconds

    def release(self) -> None:
        """Let a standby take over at once (a clean stop)."""
        try:
            self.connection.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                 "return redis.call('DEL', KEYS[1]) end return 0", 1, self.key,
                                 self.owner)
        except RedisError:
            pass
        self.held = False
