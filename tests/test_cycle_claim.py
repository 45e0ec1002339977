"""Who reports a cluster cycle: its coordinator, or the recorder that took it over (one only)."""
from __future__ import annotations

import pytest

pytest.importorskip("rq")
from recorder.cluster import cycle_claim  # noqa: E402
from recorder.cluster.cycle_claim import Claim, Take  # noqa: E402
from recorder.cluster.lead import Lead  # noqa: E402
from testkit.cluster import redis_available  # noqa: E402
from tests import test_cluster_desired, test_coordinator_lock  # noqa: E402

pytestmark = pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")
CYCLE = "20261202_120000"
connection = test_cluster_desired.connection  # the fixture: a client of a Redis of its own
redis = test_coordinator_lock.redis  # the fixture: a Redis of its own


def claim(connection) -> str:
    raw = connection.get(cycle_claim.claim_key("patrol", CYCLE))
    return raw.decode() if raw else ""


def report(connection, owner: str = "a") -> Claim:
    return cycle_claim.claim_report(connection, "patrol", CYCLE, owner)


def take(connection, owner: str = "b") -> Take:
    return cycle_claim.claim_takeover(connection, "patrol", CYCLE, owner)


def test_a_coordinator_reports_its_own_cycle_and_a_takeover_meanwhile_or_later_leaves_it(
        connection) -> None:
    cycle_claim.mark_running(connection, "patrol", CYCLE, "a")
    assert report(connection) is Claim.OWN and claim(connection) == "reporting:a"
    assert connection.ttl(cycle_claim.claim_key("patrol", CYCLE)) <= cycle_claim.REPORTING_SECONDS
    assert take(connection) is Take.BUSY  # while it writes them: tried again later
    assert cycle_claim.settle(connection, "patrol", CYCLE, "a", cycle_claim.REPORTED)
    assert take(connection) is Take.REPORTED and claim(connection) == "reported:a"
    assert connection.ttl(cycle_claim.claim_key("patrol", CYCLE)) > 6 * 24 * 3600


def test_a_cycle_taken_over_is_not_reported_by_its_coordinator_when_it_comes_back(
        connection) -> None:
    cycle_claim.mark_running(connection, "patrol", CYCLE, "a")
    assert take(connection) is Take.TAKEN
    assert report(connection) is Claim.TAKEN and claim(connection) == "taken:b"
    # A takeover that could not write the report lets go: the coordinator, back, reports it.
    assert cycle_claim.settle(connection, "patrol", CYCLE, "b", "")
    assert report(connection) is Claim.UNCLAIMED


def test_a_claim_redis_lost_goes_to_the_first_to_ask(connection) -> None:
    assert report(connection) is Claim.UNCLAIMED and take(connection) is Take.BUSY
    connection.delete(cycle_claim.claim_key("patrol", CYCLE))
    assert take(connection) is Take.TAKEN and report(connection) is Claim.TAKEN


def test_a_coordinator_killed_while_reporting_leaves_a_claim_that_lapses(connection) -> None:
    cycle_claim.mark_running(connection, "patrol", CYCLE, "a")
    assert report(connection) is Claim.OWN
    connection.expire(cycle_claim.claim_key("patrol", CYCLE), 0)  # REPORTING_SECONDS later
    assert take(connection) is Take.TAKEN


def test_a_cycle_left_interrupted_by_a_clean_stop_is_settled_again_by_the_next_coordinator(
        connection) -> None:
    cycle_claim.mark_running(connection, "patrol", CYCLE, "a")
    assert report(connection) is Claim.OWN
    assert cycle_claim.settle(connection, "patrol", CYCLE, "a", cycle_claim.LEFT)
    assert take(connection) is Take.LEFT and claim(connection) == "taken-left:b"  # its
    # cycle.finished was sent at the stop: the taker settles the report again, sends none


def test_a_cycle_left_at_a_clean_stop_is_announced_by_no_later_taker_either(connection) -> None:
    # Before, the first taker's claim was a plain taken: b dead before its hand-over, c got
    # TAKEN and sent a second cycle.finished; one that could not write let the claim go.
    cycle_claim.mark_running(connection, "patrol", CYCLE, "a")
    assert report(connection) is Claim.OWN
    assert cycle_claim.settle(connection, "patrol", CYCLE, "a", cycle_claim.LEFT)
    assert take(connection, "b") is Take.LEFT
    assert take(connection, "c") is Take.LEFT  # b died before handing its report over
    assert cycle_claim.settle(connection, "patrol", CYCLE, "c", "")  # c could not write it
    assert claim(connection) == "left:c" and report(connection) is Claim.TAKEN
    assert take(connection, "d") is Take.LEFT
    assert cycle_claim.settle(connection, "patrol", CYCLE, "d", cycle_claim.REPORTED)
    assert take(connection, "e") is Take.REPORTED


def test_a_cycle_a_takeover_handed_to_the_history_is_taken_over_no_more(connection) -> None:
    # Its cycle.finished went out with it: a later takeover (the taker dead, the coordinator
    # back) must not report it, nor send it, again.
    cycle_claim.mark_running(connection, "patrol", CYCLE, "a")
    assert take(connection) is Take.TAKEN
    assert cycle_claim.settle(connection, "patrol", CYCLE, "b", cycle_claim.REPORTED)
    assert take(connection, "c") is Take.REPORTED and report(connection) is Claim.TAKEN


def test_a_takeover_leaves_the_takers_own_running_cycle_alone(connection) -> None:
    cycle_claim.mark_running(connection, "patrol", CYCLE, "b")  # its lock retaken after an outage
    assert take(connection) is Take.OWN and claim(connection) == "running:b"


def test_only_its_owner_settles_a_claim(connection) -> None:
    cycle_claim.mark_running(connection, "patrol", CYCLE, "a")
    assert report(connection, "x") is Claim.TAKEN  # another coordinator's running cycle
    assert take(connection) is Take.TAKEN
    assert not cycle_claim.settle(connection, "patrol", CYCLE, "a", cycle_claim.LEFT)
    assert claim(connection) == "taken:b"


def test_with_redis_away_the_lead_reports_only_while_its_lock_is_surely_its_own(
        redis, monkeypatch) -> None:
    from recorder.cluster import coordinator_lock
    clock = test_coordinator_lock.LockClock()
    monkeypatch.setattr(coordinator_lock, "SYSTEM_CLOCK", clock)
    config = {"global_config": {}, "streams": [],
              "cluster": {"redis_url": redis.url, "queue": "patrol"}}
    lead = Lead()
    assert lead.may_coordinate(config, 0.0)
    lead.cycle_started(config, CYCLE)
    redis.stop()
    clock.now += 4.9  # renewed less than half the lock ago: nobody else can hold it
    assert lead.may_report(config, CYCLE, 10.0, lambda: False) is True
    clock.now += 0.2
    assert lead.may_report(config, CYCLE, 11.0, lambda: False) is None
    assert lead.may_report(config, CYCLE, 11.5, lambda: False) is None  # not asked: too soon
    redis.start()  # without the claim: a report there is a takeover's
    assert lead.may_report(config, CYCLE, 12.5, lambda: True) is False
    assert lead.may_report(config, CYCLE, 13.5, lambda: False) is True


@pytest.mark.parametrize("taken_over", [True, False])
def test_a_lock_taken_anew_cancels_the_running_cycle_only_if_another_took_it_over(
        redis, taken_over) -> None:
    from recorder.cluster.coordinator_lock import CoordinatorLock
    from recorder.cluster.link import connect
    from shared.cluster_config import ClusterSettings
    from testkit.recorder_process import wait_for
    config = {"global_config": {}, "streams": [],
              "cluster": {"redis_url": redis.url, "queue": "patrol"}}
    lead, lock = Lead(), CoordinatorLock(connect(ClusterSettings(redis.url)), "patrol", 1)
    lead._locks[(redis.url, "patrol")] = lock  # a lock of 1 s
    assert lead.may_coordinate(config, 0.0)
    lead.cycle_started(config, CYCLE)
    wait_for(lambda: lock.connection.get(lock.key) is None, 5, "its lease to run out")
    if taken_over:  # a standby took it over meanwhile, then stopped
        assert take(lock.connection) is Take.TAKEN
    assert lead.may_coordinate(config, 5.0) is not taken_over and lock.taken_anew
    assert lead.may_coordinate(config, 6.0) and lock.held  # it coordinates on
