"""Wrong API tokens, counted per client address: past a limit the address waits, unchecked.

Two counts per address: the API's Bearer tokens (:data:`API`) and the console's sign-in
form (:data:`SIGN_IN`), so a script with a wrong token does not lock its host's operator out
of the console, nor an operator's typing the script out of the API. The counts live in each
gunicorn worker's memory: with W workers a client gets at most 2 × W × :data:`FAILURE_LIMIT`
guesses per :data:`WINDOW_SECONDS` (requests are spread over the workers), which is still
nothing against a 16-character token, and needs no shared state that a killed worker could
leave behind. Behind a proxy every client has the proxy's address, so they share one count.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from flask import request

from app.log_text import request_logger
from shared.clock import SYSTEM_CLOCK

log = request_logger("app.auth")  # the lines of refused tokens, wherever refused
# Where app/auth.py keeps its throttles (per worker: one for each kind of attempt below).
THROTTLE_KEY = "rtsp_patrol_token_throttles"
API, SIGN_IN = "API tokens", "console sign-in"  # the kinds, as the log names them
# What a throttled client is told: what waits, for how long, and what does not.
WAIT_MESSAGES = {
    API: "此地址的错误 API 令牌过多, 请 {seconds} 秒后重试 (控制台登录另行计数, 不受影响)",
    SIGN_IN: "此地址登录时输错令牌次数过多, 请 {seconds} 秒后重试 (API 令牌另行计数, 不受影响)",
}
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


def throttles() -> dict[str, FailureThrottle]:
    """A throttle for each kind of attempt (:data:`API`, :data:`SIGN_IN`)."""
    return {API: FailureThrottle(), SIGN_IN: FailureThrottle()}


def wait_message(kind: str, seconds: int) -> str:
    """The 429's message: what this address may not try, and for how many seconds."""
    return WAIT_MESSAGES[kind].format(seconds=seconds)


def log_refused(client: str, wrong: bool, now_throttled: bool, kind: str = API) -> None:
    """The log lines of a refused token (never the token itself)."""
    log.warning("refused %s %s from %s: %s API token", request.method, request.path, client,
                "wrong" if wrong else "no")
    if now_throttled:
        other = SIGN_IN if kind == API else API
        log.warning("throttling %s for %s: %d refused within %d s (its %s counted apart)",
                    client, kind, FAILURE_LIMIT, WINDOW_SECONDS, other)
