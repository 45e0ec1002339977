"""Redis lost and back, logged once each: the coordinator keeps retrying without a line per step."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class Outage:
    """Whether this process last found Redis away; logs only the changes."""

    def __init__(self) -> None:
        self.down = False
        self.reason = ""  # the failure that began the outage (redis-py's words: no password)

    def failed(self, exc: Exception) -> None:
        """A Redis call failed: one line when the connection is first lost."""
        if not self.down:
            self.down = True
            self.reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("Redis connection lost (%s); retrying until it is back", self.reason)

    def answered(self) -> None:
        """A Redis call succeeded: one line when that ends an outage."""
        if self.down:
            self.down = False
            log.warning("Redis connection back")


OUTAGE = Outage()  # one per process: the lock, the mirror and the tasks share one connection
