"""Writing the status file: at least once a second, and soon after any task changes state."""
from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable

from recorder.status_text import StatusText
from shared.atomic import write_text_atomic
from shared.errors import PatrolError
from shared.locks import locked

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 1.0
# A burst of changes (a hundred starts) is published twice a second, not on each.
MIN_GAP_SECONDS = 0.5


class StatusPublisher:
    """Publishes ``snapshot(now, wall)`` atomically; a failed write is logged, never fatal."""

    def __init__(self, path: str, snapshot: Callable[[float, float], dict]) -> None:
        self.path = path
        self.snapshot = snapshot
        self._last_write = float("-inf")
        self._last_fingerprint: tuple = ()
        self._failing = False
        self._held = contextlib.ExitStack()
        self._holding = False
        # Also given each status written, and how to encode it (its records' text kept).
        self.mirror: Callable[[dict, Callable[[dict], str]], None] | None = None
        self.text = StatusText()
        self.written: Callable[[], None] | None = None  # called after each write (or attempt)

    def hold(self, timeout: float = 5.0) -> None:
        """Take the status file's lock for the daemon's whole life.

        The recorder is the file's only writer, so one lock held throughout
        covers every write at no cost per write, and a second recorder started
        on the same config cannot take it.

        :raises LockTimeout: another recorder holds it.
        """
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._held.enter_context(locked(self.path, timeout=timeout))
        self._holding = True

    def release(self) -> None:
        """Let go of the lock taken by :meth:`hold`."""
        self._held.close()
        self._holding = False

    def maybe_publish(self, now: float, wall: float, fingerprint: tuple) -> None:
        """Publish when a beat is due or ``fingerprint`` changed (at most every MIN_GAP_SECONDS)."""
        since = now - self._last_write
        if since < MIN_GAP_SECONDS:
            return
        if since >= HEARTBEAT_SECONDS or fingerprint != self._last_fingerprint:
            self._last_fingerprint = fingerprint
            self.publish(now, wall)

    def publish(self, now: float, wall: float, stopped: bool = False) -> None:
        """Write the status file now."""
        self._last_write = now
        status = self.snapshot(now, wall)
        if stopped:
            status["heartbeat"] = status["heartbeat_monotonic"] = None
        if self.mirror is not None:  # cluster mode: the API of any host reads it from Redis
            self.mirror(status, self.text.encode)
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with contextlib.nullcontext() if self._holding else locked(self.path, timeout=2.0):
                write_text_atomic(self.path, self.text.encode(status) + "\n")
            if self._failing:
                log.info("status file writable again")
            self._failing = False
        except (OSError, PatrolError) as exc:
            if not self._failing:
                log.error("cannot write the status file %s: %s", self.path, exc)
            self._failing = True
        if self.written is not None:
            self.written()
