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
