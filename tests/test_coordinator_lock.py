"""One coordinator at a time: the Redis lock, its renewal, a standby's takeover."""
from __future__ import annotations

import pytest

pytest.importorskip("rq")
from recorder.cluster.coordinator_lock import CoordinatorLock  # noqa: E402
from recorder.cluster.link import connect  # noqa: E402
from shared.cluster_config import ClusterSettings  # noqa: E402
from testkit.cluster import RedisServer, redis_available  # noqa: E402
from testkit.recorder_process import wait_for  # noqa: E402

pytestmark = pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")


@pytest.fixture
def redis(tmp_path):
    with RedisServer(str(tmp_path)) as server:
        yield server


def two_locks(redis, seconds: int = 10) -> tuple[CoordinatorLock, CoordinatorLock]:
    return tuple(CoordinatorLock(connect(ClusterSettings(redis.url)), "patrol", seconds)
                 for _ in range(2))


def test_the_holder_keeps_it_and_the_standby_waits(redis) -> None:
    coordinator, standby = two_locks(redis)
    assert coordinator.hold() and not standby.hold()
    assert coordinator.hold() and not standby.hold()


def test_the_standby_knows_whose_lock_it_waits_for_and_since_when(redis) -> None:
    coordinator, standby = two_locks(redis)
    assert coordinator.hold() and not standby.hold()
    since = standby.waiting_since
    assert standby.holder == coordinator.owner and since is not None
    assert coordinator.holder == "" and coordinator.waiting_since is None
    assert not standby.hold() and standby.waiting_since == since  # the same wait
    coordinator.release()
    assert standby.hold()
    assert standby.holder == "" and standby.waiting_since is None
    assert not coordinator.hold() and coordinator.holder == standby.owner


def test_a_clean_stop_hands_over_at_once(redis) -> None:
    coordinator, standby = two_locks(redis)
    assert coordinator.hold()
    coordinator.release()
    assert standby.hold() and not coordinator.hold()


def test_the_standby_takes_over_once_the_holder_stops_renewing(redis) -> None:
    coordinator, standby = two_locks(redis, seconds=1)
    assert coordinator.hold()
    wait_for(standby.hold, 5, "the standby to take the expired lock")
    assert not coordinator.hold()


def test_after_a_redis_restart_the_holder_takes_it_again(redis) -> None:
    coordinator, _ = two_locks(redis)
    assert coordinator.hold()
    redis.restart()
    assert coordinator.hold() is True  # Redis away on the first try: the last answer stands
    assert wait_for(coordinator.hold, 10, "the lock taken again")


def test_a_long_piece_of_work_keeps_the_lock_or_learns_it_was_taken(redis) -> None:
    from recorder.cluster.coordinator_lock import LockLost
    coordinator, standby = two_locks(redis)
    assert coordinator.hold()
    coordinator.connection.pexpire(coordinator.key, 1000)  # as if its time ran out meanwhile
    coordinator.keep(60.0)  # extended less than 60 s ago: nothing asked of Redis
    assert coordinator.connection.pttl(coordinator.key) <= 1000
    coordinator._renewed -= 2.0
    coordinator.keep(1.0)  # due: extended
    assert coordinator.connection.pttl(coordinator.key) > 5000
    coordinator.connection.delete(coordinator.key)  # it lapsed, and the standby took it
    assert standby.hold()
    coordinator._renewed -= 2.0
    with pytest.raises(LockLost):
        coordinator.keep(1.0)
    assert not coordinator.held and standby.hold()


def test_a_long_piece_of_work_stops_once_redis_has_not_renewed_the_lock_for_its_length(
        redis) -> None:
    from recorder.cluster.coordinator_lock import LockLost
    coordinator, _ = two_locks(redis)
    assert coordinator.hold()
    redis.stop()
    coordinator._renewed -= 2.0
    coordinator.keep(1.0)  # Redis away, the lock surely still ours: the work goes on
    assert coordinator.held
    coordinator._renewed -= 10.0  # no renewal for the lock's length: a standby may hold it
    with pytest.raises(LockLost, match="not renewed"):
        coordinator.keep(1.0)
    assert not coordinator.held  # taken again later, the work is done again


class LockClock:
    """The locks' clock, moved by the test (Redis's own time runs as it does)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> LockClock:
    from recorder.cluster import coordinator_lock
    made = LockClock()
    monkeypatch.setattr(coordinator_lock, "SYSTEM_CLOCK", made)
    return made


def test_after_an_outage_both_saw_the_last_holder_takes_the_lock_back_not_the_standby(
        redis, clock) -> None:
    coordinator, standby = two_locks(redis)
    assert coordinator.hold() and not standby.hold()
    redis.stop()  # a Redis loading its data, a network cut: longer than the lock's half
    assert not standby.hold() and coordinator.hold()  # cut off: their last answers stand
    clock.now += 12
    redis.start()  # without the lock, as after a lapse
    assert not standby.hold()  # asks first, yet leaves the free lock to its last holder
    clock.now += 9.9
    assert not standby.hold()
    assert coordinator.hold() and not standby.hold()


def test_a_lock_gone_before_its_lease_ended_is_left_to_its_holder_for_the_locks_length(
        redis, clock) -> None:
    coordinator, standby = two_locks(redis)
    assert coordinator.hold() and not standby.hold()
    coordinator.connection.delete(coordinator.key)  # Redis restarted without its data
    assert not standby.hold()  # free 10 s before the lease said: not a dead holder's
    clock.now += 9.9  # the old lease's end passes: still the holder's time
    assert not standby.hold()
    clock.now += 0.2  # free for the lock's length: its holder died with Redis
    assert standby.hold() and not coordinator.hold()


def test_the_standby_takes_a_dead_holders_lock_when_its_lease_runs_out(redis, clock) -> None:
    coordinator, standby = two_locks(redis, seconds=1)
    assert coordinator.hold() and not standby.hold()
    wait_for(lambda: coordinator.connection.get(coordinator.key) is None, 5, "the lease's end")
    clock.now += 1.0
    assert standby.hold()  # at once: no wait beyond the lease


def test_a_short_failure_does_not_restart_the_wait_nor_a_long_one_skip_it(redis, clock) -> None:
    coordinator, standby = two_locks(redis)
    assert coordinator.hold() and not standby.hold()
    coordinator.connection.delete(coordinator.key)
    assert not standby.hold()
    clock.now += 6
    redis.stop()
    assert not standby.hold()  # a failed call, 1 s long: what it saw still holds
    clock.now += 1
    redis.start()
    clock.now += 3.1  # free for 10.1 s in all, Redis answering but for a second
    assert standby.hold()


def test_a_recorder_that_never_saw_a_holder_takes_a_free_lock_at_once(redis) -> None:
    first, _ = two_locks(redis)
    assert first.hold()


def test_a_clean_stop_hands_over_at_once_even_to_a_standby_that_was_cut_off(redis, clock) -> None:
    coordinator, standby = two_locks(redis)
    assert coordinator.hold() and not standby.hold()
    redis.stop()
    assert not standby.hold()
    clock.now += 12
    redis.start()
    assert coordinator.hold()
    coordinator.release()
    assert standby.hold() and not coordinator.hold()


def test_a_holder_whose_long_work_lost_the_lock_to_nobody_takes_it_back_at_once(
        redis, clock) -> None:
    from recorder.cluster.coordinator_lock import LockLost
    coordinator, standby = two_locks(redis)
    assert coordinator.hold() and not standby.hold()
    redis.stop()
    assert not standby.hold()  # it asks each second, as the holder's work does
    clock.now += 11  # its work went on; the lock lapsed with Redis away
    with pytest.raises(LockLost):
        coordinator.keep(1.0)
    redis.start()
    assert not standby.hold() and coordinator.hold()


def lapsed(lock: CoordinatorLock) -> None:
    """Wait until Redis lets ``lock``'s key lapse (its lease ran out on Redis's own clock)."""
    wait_for(lambda: lock.connection.get(lock.key) is None, 5, "the lease to run out")


def test_a_holder_cut_off_alone_and_taken_over_is_a_newcomer_when_it_comes_back(
        redis, clock) -> None:
    coordinator, standby = two_locks(redis, seconds=1)
    assert coordinator.hold() and not standby.hold()
    lapsed(coordinator)  # its network is cut: it renews no more
    clock.now += 1.1
    assert standby.hold()  # taken over
    standby.release()  # ... and the new coordinator stopped (or died) in its turn
    standby.connection.delete(standby.released_key)
    assert not coordinator.hold()  # back: no longer the last holder, so no right to it at once
    assert not coordinator.held  # its own cycle was taken over: it is to follow, not go on
    clock.now += 1.1
    assert coordinator.hold() and coordinator.taken_anew  # free for the lock's length: taken,
    # as a standby would, and what the other left is to be taken over


def test_a_holder_whose_lease_still_runs_takes_a_lock_redis_lost_whoever_held_it_before(
        redis, clock) -> None:
    coordinator, standby = two_locks(redis)
    assert coordinator.hold() and not standby.hold()
    # Redis restarted from a snapshot older than the coordinator's lock: no lock, and the
    # snapshot's last holder another recorder.
    coordinator.connection.delete(coordinator.key)
    coordinator.connection.set(coordinator.last_holder_key, "another:1:x")
    clock.now += 3
    assert coordinator.hold() and not coordinator.taken_anew  # kept: its cycle goes on


def test_a_lock_taken_after_its_own_lease_ran_out_is_taken_anew(redis, clock) -> None:
    coordinator, _ = two_locks(redis, seconds=1)
    assert coordinator.hold() and coordinator.taken_anew  # its first take
    assert coordinator.hold() and not coordinator.taken_anew  # kept
    lapsed(coordinator)  # cut off for longer than its lease (by Redis's clock, not its own:
    assert coordinator.hold() and coordinator.taken_anew  # a suspended host's stands still)
    redis.stop()
    assert coordinator.hold() and not coordinator.taken_anew  # Redis away: no takeover again
