"""The benchmarks' own method: runs take turns so that no side always runs in the same place."""
from __future__ import annotations

from bench.recorder_overhead import KINDS, rotated


def test_over_three_rounds_each_run_takes_each_place_in_the_order_once() -> None:
    orders = [rotated(KINDS, turn) for turn in range(len(KINDS))]
    assert all(sorted(order) == sorted(KINDS) for order in orders)
    for place in range(len(KINDS)):
        assert sorted(order[place] for order in orders) == sorted(KINDS)
    assert rotated(KINDS, len(KINDS)) == KINDS
