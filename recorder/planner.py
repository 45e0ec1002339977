"""The cycle planner: which stream starts when, by weight, inside the window, within the concurrency cap."""
from __future__ import annotations

import math
from dataclasses import dataclass

# Starts are spread by at most this much (the seed's plan starts its second
# task 5 s after the first); with many streams and little slack the gap
# shrinks, since fitting every stream in the window comes first.
MAX_STAGGER_SECONDS = 5.0


@dataclass(frozen=True)
class PlannedTask:
    """One stream's slot in a cycle."""

    task_id: int
    stream_index: int
    offset: float  # seconds after the cycle's start
    duration: int


@dataclass(frozen=True)
class Unscheduled:
    """A stream that does not fit this cycle, and why."""

    stream_index: int
    reason: str


@dataclass(frozen=True)
class Plan:
    """A cycle's tasks in start order, and the streams left out."""

    tasks: list[PlannedTask]
    not_scheduled: list[Unscheduled]
    window: int
    max_concurrent: int

    def describe(self) -> str:
        """The ``schedule_info`` text: ``调度方案: 2个任务\\n任务 0: 0秒开始, 持续 15秒``."""
        lines = [f"调度方案: {len(self.tasks)}个任务"]
        lines += [f"任务 {t.task_id}: {_seconds(t.offset)}秒开始, 持续 {t.duration}秒"
                  for t in self.tasks]
        lines += [f"未调度: 流 {u.stream_index} ({u.reason})" for u in self.not_scheduled]
        return "\n".join(lines)


def _seconds(value: float) -> str:
    return f"{round(value, 2):g}"


def stagger_for(window: int, longest: int, lanes: int) -> float:
    """The gap between consecutive starts: the window's slack shared by one wave of starts."""
    slack = max(0.0, window - longest)
    return min(MAX_STAGGER_SECONDS, slack / max(1, lanes))


def plan_cycle(streams: list[dict], window: int, max_concurrent: int) -> Plan:
    """Plan one cycle: higher weight first (ties keep config order), spread starts,
    never more than ``max_concurrent`` at once, every task ending inside ``window``.
    """
    order = sorted(range(len(streams)), key=lambda i: -streams[i]["weight"])
    durations = [streams[i]["duration_seconds"] for i in order]
    fitting = [d for d in durations if d <= window]
    stagger = stagger_for(window, max(fitting, default=0), min(max_concurrent, len(fitting)) or 1)
    lanes = [0.0] * max_concurrent  # when each lane is free again
    tasks: list[PlannedTask] = []
    left_out: list[Unscheduled] = []
    last_start = -stagger
    for index in order:
        duration = streams[index]["duration_seconds"]
        if duration > window:
            left_out.append(Unscheduled(index, f"录制时长 {duration}秒 超过轮询窗口 {window}秒"))
            continue
        lane = min(range(max_concurrent), key=lambda k: lanes[k])
        start = max(lanes[lane], last_start + stagger)
        if start + duration > window:
            left_out.append(Unscheduled(index, "轮询窗口内没有空闲的并发槽位"))
            continue
        start = math.floor(start * 1000) / 1000  # never rounded past the window
        tasks.append(PlannedTask(len(tasks), index, start, duration))
        lanes[lane] = start + duration
        last_start = start
    return Plan(tasks, sorted(left_out, key=lambda u: u.stream_index), window, max_concurrent)
