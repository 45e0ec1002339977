"""Wrong API tokens, counted per client address: past a limit the address waits, unchecked.

The counts live in each gunicorn worker's memory: with W workers a client gets
at most W × :data:`FAILURE_LIMIT` guesses per :data:`WINDOW_SECONDS` (requests
are spread over the workers), which is still nothing against a 16-character
token, and needs no shared state that a killed worker could leave behind.
Behind a proxy every client has the proxy's address, so they share one count.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from flask import request

from app.log_text import request_logger
from shared.clock import SYSTEM_CLOCK

log = request_logger("app.auth")  # the lines of refused tokens, wherever refused
# Where app/auth.py keeps its throttle (one per worker, for the API's Bearer tokens and the
# console's sign-in form alike), and what a throttled client is told.
THROTTLE_KEY = "rtsp_patrol_token_throttle"
TOO_MANY = "API 令牌错误次数过多, 请稍后重试"
FAILURE_LIMIT = 20
WINDOW_SECONDS = 60.0
# Bounds the memory a flood from many addresses can take; the oldest are forgotten first.
MAX_CLIENTS = 10_000


class FailureThrottle:
    """Sliding-window count of failures per client; ``clock`` is monotonic seconds."""

    def __init__(self, limit: int = FAILURE_LIMIT, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = SYSTEM_CLOCK.monotonic,
                 max_clients: int = MAX_CLIENTS) -> None:
        self._limit, self._window, self._clock = limit, window, clock
        self._max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            self._failures.pop(client, None)
        return times

    def retry_after(self, client: str) -> int:
        """Whole seconds ``client`` must wait before its token is checked again; 0 when it may now."""
        now = self._clock()
        times = self._recent(client, now)
        if len(times) < self._limit:
            return 0
        return max(1, math.ceil(times[-self._limit] + self._window - now))

    def failed(self, client: str) -> bool:
        """Count a wrong token from ``client``; True when this one reached the limit."""
        now = self._clock()
        times = self._recent(client, now)
        times.append(now)
        self._failures.pop(client, None)
        self._failures[client] = times  # re-inserted: dict order is least recently failed first
        while len(self._failures) > self._max_clients:
            del self._failures[next(iter(self._failures))]
        return len(times) == self._limit


def log_refused(client: str, wrong: bool, now_throttled: bool) -> None:
    """The log lines of a refused token (never the token itself)."""
    log.warning("refused %s %s from %s: %s API token", request.method, request.path, client,
                "wrong" if wrong else "no")
    if now_throttled:
        log.warning("throttling %s: %d refused tokens within %d s", client,
                    FAILURE_LIMIT, WINDOW_SECONDS)
