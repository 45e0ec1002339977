"""Who reports a cluster cycle: its coordinator, or the recorder that took it over (one only)."""
from __future__ import annotations

import pytest

pytest.importorskip("rq")
from recorder.cluster import cycle_claim  # noqa: E402
from testkit.cluster import redis_available  # noqa: E402
from tests import test_cluster_desired  # noqa: E402

pytestmark = pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")
CYCLE = "20261202_120000"
connection = test_cluster_desired.connection  # the fixture: a client of a Redis of its own


def running(connection, owner: str = "a") -> None:
    cycle_claim.mark(connection, "patrol", CYCLE, cycle_claim.RUNNING, owner)


def test_a_coordinator_reports_its_own_cycle_and_a_later_takeover_leaves_it(connection) -> None:
    running(connection)
    assert cycle_claim.claim_report(connection, "patrol", CYCLE, "a")
    assert cycle_claim.claim_report(connection, "patrol", CYCLE, "a")  # asked again: still its
    assert not cycle_claim.claim_takeover(connection, "patrol", CYCLE, "b")
    assert connection.ttl(cycle_claim.claim_key("patrol", CYCLE)) > 6 * 24 * 3600


def test_a_cycle_taken_over_is_not_reported_by_its_coordinator_when_it_comes_back(
        connection) -> None:
    running(connection)
    assert cycle_claim.claim_takeover(connection, "patrol", CYCLE, "b")
    assert not cycle_claim.claim_report(connection, "patrol", CYCLE, "a")
    # A third recorder taking over from the second (it died while following late clips) may.
    assert cycle_claim.claim_takeover(connection, "patrol", CYCLE, "c")


def test_without_a_claim_redis_lost_the_first_to_ask_reports_it(connection) -> None:
    assert cycle_claim.claim_report(connection, "patrol", CYCLE, "a")
    assert not cycle_claim.claim_takeover(connection, "patrol", CYCLE, "b")
    other = "20261202_121000"
    assert cycle_claim.claim_takeover(connection, "patrol", other, "b")
    assert not cycle_claim.claim_report(connection, "patrol", other, "a")


def test_a_cycle_left_interrupted_by_a_clean_stop_is_settled_again_by_the_next_coordinator(
        connection) -> None:
    running(connection)
    assert cycle_claim.claim_report(connection, "patrol", CYCLE, "a")
    cycle_claim.mark(connection, "patrol", CYCLE, cycle_claim.LEFT, "a")
    assert cycle_claim.claim_takeover(connection, "patrol", CYCLE, "b")


def test_another_coordinators_running_cycle_is_not_its_to_report(connection) -> None:
    running(connection, "a")
    assert not cycle_claim.claim_report(connection, "patrol", CYCLE, "x")
