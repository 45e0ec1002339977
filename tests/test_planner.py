"""The cycle planner: weights, concurrency cap, spreading, window fit, and the schedule_info text."""
from __future__ import annotations

import pytest

from recorder.planner import MAX_STAGGER_SECONDS, plan_cycle


def streams(*specs: tuple[float, int]) -> list[dict]:
    return [{"weight": w, "duration_seconds": d} for w, d in specs]


def concurrency_at(plan, t: float) -> int:
    return sum(1 for task in plan.tasks if task.offset <= t < task.offset + task.duration)


def test_seed_example_two_tasks_higher_weight_first() -> None:
    plan = plan_cycle(streams((1.0, 15), (1.5, 20)), window=60, max_concurrent=2)
    assert [(t.stream_index, t.offset, t.duration) for t in plan.tasks] == [(1, 0, 20), (0, 5, 15)]
    assert plan.describe() == "调度方案: 2个任务\n任务 0: 0秒开始, 持续 20秒\n任务 1: 5秒开始, 持续 15秒"


def test_ties_keep_config_order() -> None:
    plan = plan_cycle(streams((1.0, 5), (2.0, 5), (1.0, 5), (2.0, 5)), window=60, max_concurrent=4)
    assert [t.stream_index for t in plan.tasks] == [1, 3, 0, 2]


@pytest.mark.parametrize("count,cap,window,duration", [
    (10, 2, 60, 15), (128, 16, 60, 15), (128, 128, 60, 15), (7, 3, 30, 10), (50, 5, 600, 20)])
def test_concurrency_never_exceeds_the_cap(count: int, cap: int, window: int, duration: int) -> None:
    plan = plan_cycle(streams(*[(1.0, duration)] * count), window=window, max_concurrent=cap)
    points = {t.offset for t in plan.tasks}
    assert max(concurrency_at(plan, p) for p in points) <= cap
    assert all(t.offset + t.duration <= window for t in plan.tasks)
    assert len(plan.tasks) + len(plan.not_scheduled) == count


def test_starts_are_spread_not_simultaneous() -> None:
    plan = plan_cycle(streams(*[(1.0, 15)] * 128), window=60, max_concurrent=128)
    offsets = [t.offset for t in plan.tasks]
    assert len(set(offsets)) == 128
    assert all(b > a for a, b in zip(offsets, offsets[1:]))
    assert len(plan.tasks) == 128  # all fit: spreading shrinks to the window
    assert max(offsets) + 15 <= 60


def test_stagger_is_bounded_for_few_streams() -> None:
    plan = plan_cycle(streams((1.0, 5), (1.0, 5)), window=600, max_concurrent=2)
    assert plan.tasks[1].offset == MAX_STAGGER_SECONDS


def test_stream_longer_than_the_window_is_reported_not_dropped() -> None:
    plan = plan_cycle(streams((1.0, 10), (5.0, 90)), window=60, max_concurrent=2)
    assert [t.stream_index for t in plan.tasks] == [0]
    assert [u.stream_index for u in plan.not_scheduled] == [1]
    assert "超过轮询窗口" in plan.not_scheduled[0].reason
    assert "未调度: 流 1" in plan.describe()


def test_low_weight_streams_are_left_out_first_when_the_window_is_full() -> None:
    specs = [(1.0, 20), (3.0, 20), (2.0, 20), (0.5, 20)]
    plan = plan_cycle(streams(*specs), window=40, max_concurrent=1)
    assert [t.stream_index for t in plan.tasks] == [1, 2]
    assert sorted(u.stream_index for u in plan.not_scheduled) == [0, 3]


def test_empty_config_plans_nothing() -> None:
    plan = plan_cycle([], window=60, max_concurrent=2)
    assert plan.tasks == [] and plan.not_scheduled == []
    assert plan.describe() == "调度方案: 0个任务"


def test_many_streams_with_little_slack_all_fit() -> None:
    plan = plan_cycle(streams(*[(1.0, 10)] * 128), window=13, max_concurrent=128)
    assert len(plan.tasks) == 128 and plan.not_scheduled == []
    assert all(t.offset + t.duration <= 13 for t in plan.tasks)
    assert len({t.offset for t in plan.tasks}) == 128  # still spread
