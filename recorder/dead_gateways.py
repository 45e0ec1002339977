"""Gateways that answer nothing this cycle: after enough timeouts and nothing else, skip the rest."""
from __future__ import annotations

from shared import task_status as st

# Timeouts in a row, with no other verdict from the gateway this cycle, that make it dead.
DEAD_AFTER_TIMEOUTS = 3
SKIPPED_MESSAGE = "网关无响应, 本轮跳过"


class DeadGateways:
    """Per gateway key, this cycle's verdicts so far; a gateway is dead once every one of at
    least :data:`DEAD_AFTER_TIMEOUTS` was a timeout (one other verdict clears it for the cycle).
    """

    def __init__(self) -> None:
        self._timeouts: dict[str, int] = {}
        self._alive: set[str] = set()
        self.dead: set[str] = set()

    def note(self, gateway: str, status: int) -> bool:
        """Record a verdict of a task that ran; True when it makes ``gateway`` dead just now."""
        if gateway in self.dead or gateway in self._alive:
            return False
        if status != st.TIMEOUT:
            self._alive.add(gateway)
            return False
        self._timeouts[gateway] = self._timeouts.get(gateway, 0) + 1
        if self._timeouts[gateway] >= DEAD_AFTER_TIMEOUTS:
            self.dead.add(gateway)
            return True
        return False

    def timeouts(self, gateway: str) -> int:
        """How many tasks of ``gateway`` timed out this cycle so far."""
        return self._timeouts.get(gateway, 0)
