"""The cycle planner: weights, concurrency cap, spreading, window fit, and the schedule_info text."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.planner import MAX_STAGGER_SECONDS, Plan, plan_cycle


def streams(*specs: tuple[float, int]) -> list[dict]:
    return [{"weight": w, "duration_seconds": d} for w, d in specs]


def concurrency_at(plan, t: float) -> int:
    return sum(1 for task in plan.tasks if task.offset <= t < task.offset + task.duration)


def most_at_once(plan: Plan) -> int:
    """The most tasks running at one instant (in whole ms: a task ending frees its slot)."""
    events = sorted(itertools.chain.from_iterable(
        ((round(t.offset * 1000), 1), (round(t.offset * 1000) + t.duration * 1000, -1))
        for t in plan.tasks), key=lambda event: (event[0], event[1]))
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def check_plan(plan: Plan, specs: list[tuple[float, int]], window: int, cap: int) -> None:
    """What every plan keeps: the cap, the window, each stream once, priority first."""
    assert most_at_once(plan) <= cap
    assert all(t.offset >= 0 and round(t.offset * 1000) + t.duration * 1000 <= window * 1000
               for t in plan.tasks)
    planned = [t.stream_index for t in plan.tasks]
    left_out = [u.stream_index for u in plan.not_scheduled]
    assert sorted(planned + left_out) == list(range(len(specs)))
    assert [t.task_id for t in plan.tasks] == list(range(len(plan.tasks)))
    assert [t.duration for t in plan.tasks] == [specs[i][1] for i in planned]
    offsets = [t.offset for t in plan.tasks]
    assert offsets == sorted(offsets)
    # Start order is priority order (higher weight first, ties in config order).
    assert planned == sorted(planned, key=lambda i: (-specs[i][0], i))
    reasons = {u.stream_index: u.reason for u in plan.not_scheduled}
    shortest_left_out = window + 1
    for i in sorted(range(len(specs)), key=lambda i: (-specs[i][0], i)):
        if specs[i][1] > window:
            assert "超过轮询窗口" in reasons[i]
        elif i in reasons:
            assert "并发槽位" in reasons[i]
            shortest_left_out = min(shortest_left_out, specs[i][1])
        else:
            # Never in the place of a higher-priority stream that was left out and is no longer.
            assert specs[i][1] < shortest_left_out


def lane_capacity(cap: int, window: int, duration: int) -> int:
    return cap * (window // duration)


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


def test_a_thousand_cameras_fill_the_slots() -> None:
    # Issue 11 item 0: 16 slots x 12 clips of 10 s in 120 s; the old 5 s gap planned 23.
    specs = [(1.0, 10)] * 1000
    plan = plan_cycle(streams(*specs), window=120, max_concurrent=16)
    check_plan(plan, specs, 120, 16)
    assert len(plan.tasks) >= 0.9 * lane_capacity(16, 120, 10)
    assert len(plan.not_scheduled) == 1000 - len(plan.tasks)
    offsets = [t.offset for t in plan.tasks]
    assert all(b > a for a, b in zip(offsets, offsets[1:]))  # still spread, never at once
    assert most_at_once(plan) == 16


def test_the_gap_shrinks_as_streams_grow_but_the_seed_look_stays() -> None:
    few = plan_cycle(streams((1.0, 10), (1.0, 10)), window=120, max_concurrent=16)
    many = plan_cycle(streams(*[(1.0, 10)] * 1000), window=120, max_concurrent=16)
    assert [t.offset for t in few.tasks] == [0, MAX_STAGGER_SECONDS]
    assert 0 < many.tasks[1].offset < 1


def test_priority_decides_who_is_left_out_of_a_full_window() -> None:
    specs = [(1.0, 10)] * 300 + [(2.0, 10)] * 100
    plan = plan_cycle(streams(*specs), window=120, max_concurrent=16)
    check_plan(plan, specs, 120, 16)
    assert [t.stream_index for t in plan.tasks[:100]] == list(range(300, 400))
    assert len(plan.tasks) >= 0.9 * lane_capacity(16, 120, 10)


@pytest.mark.parametrize("window,duration", [
    (120, 10), (600, 10), (60, 15), (61, 15), (13, 10), (10, 10), (3600, 60), (30, 1),
    (100, 33), (600, 599)])
@pytest.mark.parametrize("cap", [1, 2, 3, 16, 64, 128])
@pytest.mark.parametrize("load", [0.5, 0.95, 1, 1.5, 5])
def test_equal_durations_plan_at_least_nine_tenths_of_the_lanes(
        window: int, duration: int, cap: int, load: float) -> None:
    capacity = lane_capacity(cap, window, duration)
    count = max(1, round(load * capacity))
    specs = [(1.0, duration)] * count
    plan = plan_cycle(streams(*specs), window=window, max_concurrent=cap)
    check_plan(plan, specs, window, cap)
    assert len(plan.tasks) >= 0.9 * min(count, capacity)


@settings(max_examples=300, deadline=None, database=None)
@given(specs=st.lists(st.tuples(st.sampled_from([0.5, 1.0, 1.5, 3.0]), st.integers(1, 90)),
                      max_size=120),
       window=st.integers(1, 240), cap=st.integers(1, 24))
def test_any_config_keeps_the_cap_the_window_and_the_priorities(
        specs: list[tuple[float, int]], window: int, cap: int) -> None:
    plan = plan_cycle(streams(*specs), window=window, max_concurrent=cap)
    check_plan(plan, specs, window, cap)


# -- the per-gateway cap (max_concurrent_per_host) ---------------------------------

def gateway_streams(specs: list[tuple[float, int, int]]) -> list[dict]:
    """Streams of (weight, duration, gateway number); gateway 0 is spelt without its port."""
    return [{"weight": w, "duration_seconds": d, "output_filename": f"c{i}.mp4",
             "rtsp_url": f"rtsp://user:pw@10.0.0.{g}{'' if g == 0 else ':554'}/cam{i}"}
            for i, (w, d, g) in enumerate(specs)]


def most_at_once_per_gateway(plan: Plan, specs: list[tuple[float, int, int]]) -> dict[int, int]:
    by_gateway: dict[int, list] = {}
    for task in plan.tasks:
        by_gateway.setdefault(specs[task.stream_index][2], []).append(task)
    return {g: most_at_once(Plan(tasks, [], plan.window, plan.max_concurrent))
            for g, tasks in by_gateway.items()}


def check_gateway_plan(plan: Plan, specs: list[tuple[float, int, int]], window: int, cap: int,
                       per_host: int) -> None:
    """Every plan keeps both caps, the window, each stream once, priority within a gateway."""
    assert most_at_once(plan) <= cap
    assert all(n <= per_host for n in most_at_once_per_gateway(plan, specs).values())
    assert all(t.offset >= 0 and round(t.offset * 1000) + t.duration * 1000 <= window * 1000
               for t in plan.tasks)
    planned = [t.stream_index for t in plan.tasks]
    assert sorted(planned + [u.stream_index for u in plan.not_scheduled]) == list(
        range(len(specs)))
    assert [t.task_id for t in plan.tasks] == list(range(len(plan.tasks)))
    offsets = [t.offset for t in plan.tasks]
    assert offsets == sorted(offsets)
    for gateway in {g for _, _, g in specs}:
        mine = [i for i in planned if specs[i][2] == gateway]
        assert mine == sorted(mine, key=lambda i: (-specs[i][0], i))


def test_the_gateway_key_is_host_and_port_with_the_default_port() -> None:
    from shared.gateways import gateway_key
    assert gateway_key("rtsp://u:p@Cam.Example/x") == "cam.example:554"
    assert gateway_key("rtsp://cam.example:554/y") == "cam.example:554"
    assert gateway_key("rtsps://cam.example/x") == "cam.example:322"
    assert gateway_key("rtsp://[::1]:8554/x") == "[::1]:8554"


def test_one_gateway_at_its_cap_runs_one_task_at_a_time() -> None:
    specs = [(1.0, 10, 0)] * 4
    plan = plan_cycle(gateway_streams(specs), window=60, max_concurrent=4, per_host=1)
    check_gateway_plan(plan, specs, 60, 4, 1)
    assert [t.offset for t in plan.tasks] == [0, 10, 20, 30]
    assert plan.describe().splitlines()[0] == "调度方案: 4个任务, 每个网关最多同时 1 个"


def test_no_cap_keeps_the_plan_of_before() -> None:
    specs = [(1.0, 10, i % 3) for i in range(50)]
    capped = plan_cycle(gateway_streams(specs), window=120, max_concurrent=4, per_host=0)
    plain = plan_cycle(streams(*[(w, d) for w, d, _ in specs]), window=120, max_concurrent=4)
    assert capped.tasks == plain.tasks and capped.describe() == plain.describe()


def test_a_full_gateway_lets_the_others_go_first() -> None:
    # Config order groups cameras by platform: the first gateway's 20 must not hold back the rest.
    specs = [(1.0, 10, 0)] * 20 + [(1.0, 10, 1)] * 20 + [(1.0, 10, 2)] * 20
    plan = plan_cycle(gateway_streams(specs), window=100, max_concurrent=6, per_host=2)
    check_gateway_plan(plan, specs, 100, 6, 2)
    assert len(plan.tasks) >= 0.9 * 60  # 3 gateways x 2 slots x 10 clips, less the spreading
    assert {specs[t.stream_index][2] for t in plan.tasks[:6]} == {0, 1, 2}


@pytest.mark.parametrize("gateways,per_host,cap", [
    (50, 2, 16), (5, 20, 64), (200, 1, 128), (10, 3, 16), (3, 4, 64), (1000, 1, 16)])
@pytest.mark.parametrize("grouped", [True, False])
def test_many_gateways_still_fill_nine_tenths_of_the_slots(
        gateways: int, per_host: int, cap: int, grouped: bool) -> None:
    window, duration, count = 120, 10, 2000
    order = (sorted(range(count), key=lambda i: i % gateways) if grouped else range(count))
    specs = [(1.0, duration, i % gateways) for i in order]
    plan = plan_cycle(gateway_streams(specs), window=window, max_concurrent=cap,
                      per_host=per_host)
    check_gateway_plan(plan, specs, window, cap, per_host)
    usable = min(cap, gateways * per_host)
    assert len(plan.tasks) >= 0.9 * min(count, lane_capacity(usable, window, duration))


@settings(max_examples=300, deadline=None, database=None)
@given(specs=st.lists(st.tuples(st.sampled_from([0.5, 1.0, 1.5, 3.0]), st.integers(1, 90),
                                st.integers(0, 6)), max_size=120),
       window=st.integers(1, 240), cap=st.integers(1, 24), per_host=st.integers(1, 6))
def test_any_config_keeps_the_gateway_cap(specs: list[tuple[float, int, int]], window: int,
                                          cap: int, per_host: int) -> None:
    plan = plan_cycle(gateway_streams(specs), window=window, max_concurrent=cap,
                      per_host=per_host)
    check_gateway_plan(plan, specs, window, cap, per_host)
