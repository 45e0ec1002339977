"""The cycle planner: which stream starts when, by weight, inside the window, within the concurrency cap."""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

# Starts are spread by at most this much (the seed's plan starts its second
# task 5 s after the first). The gap shrinks as the number of streams grows,
# to MIN_STAGGER_SECONDS, and below it where the window's slack or the slots'
# throughput need it: fitting streams in the window comes before spreading.
MAX_STAGGER_SECONDS = 5.0
MIN_STAGGER_SECONDS = 0.05
# Spreading may cost at most this share of the tasks the slots hold without it
# (a spread first wave costs some lanes one slot); beyond that the gap shrinks.
SPREAD_MAY_COST = 0.10
# Plans are made in whole milliseconds, so that a lane's next start can never
# be rounded into its previous task.
MS_PER_SECOND = 1000
NO_SLOT = "轮询窗口内没有空闲的并发槽位"


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


def stagger_for(durations: list[int], window: int, max_concurrent: int) -> float:
    """The preferred gap between two starts, in seconds, for the streams that fit the window."""
    if not durations:
        return 0.0
    count, lanes = len(durations), min(max_concurrent, len(durations))
    slack = max(0, window - max(durations))
    floor = MIN_STAGGER_SECONDS
    if count > lanes:
        # Lanes are reused: starting slower than they free would leave slots idle.
        floor = min(floor, min(durations) / lanes)
    # Every start inside the slack (so all could fit), and the first wave too.
    return min(MAX_STAGGER_SECONDS, max(floor, slack / count), slack / lanes)


def plan_cycle(streams: list[dict], window: int, max_concurrent: int) -> Plan:
    """Plan one cycle: higher weight first (ties keep config order), spread starts,
    never more than ``max_concurrent`` at once, every task ending inside ``window``.
    """
    order = sorted(range(len(streams)), key=lambda i: -streams[i]["weight"])
    too_long = [i for i in order if streams[i]["duration_seconds"] > window]
    fitting = [i for i in order if streams[i]["duration_seconds"] <= window]
    starts = _spread_starts([streams[i]["duration_seconds"] for i in fitting], window,
                            max_concurrent)
    placed = [(i, start) for i, start in zip(fitting, starts) if start is not None]
    tasks = [PlannedTask(n, i, start / MS_PER_SECOND, streams[i]["duration_seconds"])
             for n, (i, start) in enumerate(placed)]
    left_out = [Unscheduled(i, f"录制时长 {streams[i]['duration_seconds']}秒 "
                               f"超过轮询窗口 {window}秒") for i in too_long]
    left_out += [Unscheduled(i, NO_SLOT) for i, start in zip(fitting, starts) if start is None]
    return Plan(tasks, sorted(left_out, key=lambda u: u.stream_index), window, max_concurrent)


def _spread_starts(durations: list[int], window: int, max_concurrent: int) -> list[int | None]:
    """Starts in ms at the preferred gap, the gap halved while it costs more than
    ``SPREAD_MAY_COST`` of what the slots hold with no gap at all.
    """
    gap = math.floor(stagger_for(durations, window, max_concurrent) * MS_PER_SECOND)
    starts = _fill(durations, window, max_concurrent, gap)
    if gap and None in starts:
        packed = _placed(_fill(durations, window, max_concurrent, 0))
        while gap and _placed(starts) < (1 - SPREAD_MAY_COST) * packed:
            gap //= 2
            starts = _fill(durations, window, max_concurrent, gap)
    return starts


def _placed(starts: list[int | None]) -> int:
    return len(starts) - starts.count(None)


def _fill(durations: list[int], window: int, max_concurrent: int, gap_ms: int) -> list[int | None]:
    """Each task's start in ms, in the given order, or None where no slot is free in time:
    a task takes the lane that frees first, no sooner than ``gap_ms`` after the last start.
    """
    lanes = [0] * min(max_concurrent, len(durations))  # a heap of when each lane is free
    window_ms, last_start = window * MS_PER_SECOND, -gap_ms
    starts: list[int | None] = []
    for duration in durations:
        length = round(duration * MS_PER_SECOND)
        start = max(lanes[0], last_start + gap_ms)
        if start + length > window_ms:
            starts.append(None)
            continue
        heapq.heapreplace(lanes, start + length)
        starts.append(start)
        last_start = start
    return starts
