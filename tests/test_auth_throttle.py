"""The per-address count of wrong API tokens (app/auth_throttle.py), driven by a fake clock."""
from __future__ import annotations

from app.auth_throttle import FailureThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_starts_a_wait_that_ends_with_the_window() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60.0, clock=clock)
    assert [throttle.failed("a") for _ in range(3)] == [False, False, True]
    assert throttle.retry_after("a") == 60
    clock.now += 59.5
    assert throttle.retry_after("a") == 1
    clock.now += 0.5
    assert throttle.retry_after("a") == 0


def test_failures_spread_over_more_than_the_window_never_wait() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60.0, clock=clock)
    for _ in range(10):
        throttle.failed("a")
        clock.now += 30.0
        assert throttle.retry_after("a") == 0


def test_addresses_are_counted_apart() -> None:
    throttle = FailureThrottle(limit=2, window=60.0, clock=Clock())
    throttle.failed("a")
    throttle.failed("a")
    assert throttle.retry_after("a") > 0
    assert throttle.retry_after("b") == 0


def test_memory_is_bounded_forgetting_the_oldest_address_first() -> None:
    throttle = FailureThrottle(limit=1, window=60.0, clock=Clock(), max_clients=3)
    for client in ("a", "b", "c", "d"):
        throttle.failed(client)
    assert throttle.retry_after("a") == 0
    assert all(throttle.retry_after(client) > 0 for client in ("b", "c", "d"))
