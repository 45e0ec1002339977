"""Redis lost and back, logged once each: the coordinator keeps retrying without a line per step.

A Redis that answers but refuses a command (full to its ``maxmemory``, a denied command) is
no outage: reads go on working, so it is said apart, once per reason and at most every
REFUSAL_LOG_SECONDS, instead of "lost" and "back" each second.
"""
from __future__ import annotations

import logging

from redis.exceptions import ResponseError

from shared.clock import SYSTEM_CLOCK

log = logging.getLogger(__name__)
REFUSAL_LOG_SECONDS = 600.0


def failure_reason(exc: Exception) -> str:
    """A failed Redis call's reason for a log line or a status: the first line of redis-py's
    words (never a password), or the exception's name."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class Outage:
    """Whether this process last found Redis away; logs only the changes."""

    def __init__(self) -> None:
        self.down = False
        self.last_failure = ""  # the last failure's reason, an outage's or a refusal's
        self._refusal: tuple[str, float] | None = None  # the last refusal logged, and when

    def failed(self, exc: Exception) -> None:
        """A Redis call failed: one line when the connection is first lost (or a refusal)."""
        reason = failure_reason(exc)
        self.last_failure = reason
        if isinstance(exc, ResponseError):
            self._refused(reason)
            return
        if not self.down:
            self.down = True
            log.warning("Redis connection lost (%s); retrying until it is back", reason)

    def _refused(self, reason: str) -> None:
        now = SYSTEM_CLOCK.monotonic()
        if (self._refusal is None or self._refusal[0] != reason
                or now - self._refusal[1] >= REFUSAL_LOG_SECONDS):
            self._refusal = (reason, now)
            log.warning("Redis refused a command (%s); retrying", reason)

    def answered(self) -> None:
        """A Redis call succeeded: one line when that ends an outage."""
        if self.down:
            self.down = False
            log.warning("Redis connection back")


OUTAGE = Outage()  # one per process: the lock, the mirror and the tasks share one connection
