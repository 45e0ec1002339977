"""The one clock seam: every reading of the time in the product goes through here.

Durations and deadlines use :meth:`Clock.monotonic`; wall time (:meth:`Clock.wall`) is
only for folder names and displayed timestamps. Tests hand a fake clock to the objects
that take one, or replace ``SYSTEM_CLOCK``'s readings where a module reads it directly.
"""
from __future__ import annotations

import time


class Clock:
    """Monotonic and wall time, read from the system."""

    def monotonic(self) -> float:
        """Seconds on a clock that never steps back (durations, deadlines)."""
        return time.monotonic()

    def wall(self) -> float:
        """Seconds since the epoch (names and displayed times only)."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` where nothing else can be waited on (a retry's pause)."""
        time.sleep(seconds)


SYSTEM_CLOCK = Clock()
