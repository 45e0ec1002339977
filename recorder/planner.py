"""The cycle planner: which stream starts when, by weight, inside the window, within the concurrency
cap and the per-gateway cap."""
from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass
from functools import cached_property

from shared.gateways import gateway_key

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
    per_host: int = 0  # at most this many tasks of one gateway at once (0: no cap)

    def describe(self) -> str:
        """The ``schedule_info`` text: ``调度方案: 2个任务\\n任务 0: 0秒开始, 持续 15秒``."""
        return self._description

    @cached_property
    def _description(self) -> str:
        # Made once: the status shows it about once a second, and the plan never changes.
        cap = f", 每个网关最多同时 {self.per_host} 个" if self.per_host else ""
        lines = [f"调度方案: {len(self.tasks)}个任务{cap}"]
        lines += [f"任务 {t.task_id}: {_seconds(t.offset)}秒开始, 持续 {t.duration}秒"
                  for t in self.tasks]
        lines += [f"未调度: 流 {u.stream_index} ({u.reason})" for u in self.not_scheduled]
        return "\n".join(lines)


def _seconds(value: float) -> str:
    return f"{round(value, 2):g}"


def stagger_for(durations: list[int], window: int, max_concurrent: int) -> float:
    """The preferred gap between two starts, in seconds, for the streams that fit the window
    (``max_concurrent``: the slots they can use at once, per-gateway caps counted).
    """
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


def plan_cycle(streams: list[dict], window: int, max_concurrent: int,
               per_host: int = 0) -> Plan:
    """Plan one cycle: higher weight first (ties keep config order, taking turns between
    gateways when they are capped), spread starts,
    never more than ``max_concurrent`` at once nor more than ``per_host`` (0: no cap) of one
    gateway (shared/gateways.py), every task ending inside ``window``.

    A task whose gateway is full may start after lower-weight tasks of other gateways:
    waiting for it would leave the other gateways' slots idle.
    """
    keys = [gateway_key(stream["rtsp_url"]) if per_host else "" for stream in streams]
    order = _priority_order(streams, keys)
    too_long = [i for i in order if streams[i]["duration_seconds"] > window]
    fitting = [i for i in order if streams[i]["duration_seconds"] <= window]
    gateways = [keys[i] for i in fitting]
    starts = _spread_starts([streams[i]["duration_seconds"] for i in fitting], gateways,
                            window, max_concurrent, per_host)
    # Starts are made in priority order where gateways allow: a stable sort keeps it for ties.
    placed = sorted(((i, start) for i, start in zip(fitting, starts) if start is not None),
                    key=lambda item: item[1])
    tasks = [PlannedTask(n, i, start / MS_PER_SECOND, streams[i]["duration_seconds"])
             for n, (i, start) in enumerate(placed)]
    left_out = [Unscheduled(i, f"录制时长 {streams[i]['duration_seconds']}秒 "
                               f"超过轮询窗口 {window}秒") for i in too_long]
    left_out += [Unscheduled(i, NO_SLOT) for i, start in zip(fitting, starts) if start is None]
    return Plan(tasks, sorted(left_out, key=lambda u: u.stream_index), window, max_concurrent,
                per_host)


def _priority_order(streams: list[dict], gateways: list[str]) -> list[int]:
    """Higher weight first; among equal weights each gateway's n-th stream before any
    gateway's (n+1)-th, then config order. With no gateways (no cap) that is config order;
    with them, a platform listed first cannot keep the others' slots idle all window.
    """
    seen: dict[tuple[str, float], int] = {}
    turn = []
    for gateway, stream in zip(gateways, streams):
        key = (gateway, stream["weight"])
        turn.append(seen.get(key, 0))
        seen[key] = turn[-1] + 1
    return sorted(range(len(streams)), key=lambda i: (-streams[i]["weight"], turn[i], i))


def _usable_slots(gateways: list[str], max_concurrent: int, per_host: int) -> int:
    """How many tasks can run at once, the per-gateway cap counted."""
    if not per_host:
        return max_concurrent
    counts: dict[str, int] = {}
    for gateway in gateways:
        counts[gateway] = counts.get(gateway, 0) + 1
    return min(max_concurrent, sum(min(per_host, n) for n in counts.values()))


def _spread_starts(durations: list[int], gateways: list[str], window: int, max_concurrent: int,
                   per_host: int) -> list[int | None]:
    """Starts in ms at the preferred gap, the gap halved while it costs more than
    ``SPREAD_MAY_COST`` of what the slots hold with no gap at all.
    """
    slots = _usable_slots(gateways, max_concurrent, per_host)
    gap = math.floor(stagger_for(durations, window, slots) * MS_PER_SECOND)

    def fill(gap_ms: int) -> list[int | None]:
        return _fill(durations, _Heads(gateways, per_host), window, max_concurrent, gap_ms)

    starts = fill(gap)
    if gap and None in starts:
        packed = _placed(fill(0))
        while gap and _placed(starts) < (1 - SPREAD_MAY_COST) * packed:
            gap //= 2
            starts = fill(gap)
    return starts


def _placed(starts: list[int | None]) -> int:
    return len(starts) - starts.count(None)


def _fill(durations: list[int], heads: _Heads, window: int, max_concurrent: int,
          gap_ms: int) -> list[int | None]:
    """Each task's start in ms, or None where no slot is free in time: the next task (by
    priority, among gateways with a free slot soonest) takes the lane that frees first,
    no sooner than ``gap_ms`` after the last start.
    """
    lanes = [0] * min(max_concurrent, len(durations))  # a heap of when each lane is free
    window_ms, last_start = window * MS_PER_SECOND, -gap_ms
    starts: list[int | None] = [None] * len(durations)
    while heads:
        n, start = heads.pop(max(lanes[0], last_start + gap_ms))
        length = round(durations[n] * MS_PER_SECOND)
        if start + length > window_ms:
            heads.done(None)  # its earliest start only grows: it never fits
            continue
        heapq.heapreplace(lanes, start + length)
        heads.done(start + length)
        starts[n], last_start = start, start
    return starts


class _Heads:
    """Each gateway's tasks in priority order, and when each of its slots is free."""

    def __init__(self, gateways: list[str], per_host: int) -> None:
        self.queues: dict[str, deque[int]] = {}
        for n, gateway in enumerate(gateways):
            self.queues.setdefault(gateway, deque()).append(n)
        self.slots = {g: [0] * min(per_host or len(q), len(q)) for g, q in self.queues.items()}
        self.ready: list[tuple[int, str]] = []             # (head task, gateway): a slot is free
        self.blocked: list[tuple[int, int, str]] = []      # (free at, head task, gateway)
        for gateway, queue in self.queues.items():
            heapq.heappush(self.ready, (queue[0], gateway))
        self.current = ""

    def __bool__(self) -> bool:
        return bool(self.ready or self.blocked)

    def pop(self, earliest: int) -> tuple[int, int]:
        """The next task and its start: the first by priority whose gateway is free at
        ``earliest``, else the one whose gateway frees first; :meth:`done` must follow.
        """
        while self.blocked and self.blocked[0][0] <= earliest:
            _, n, gateway = heapq.heappop(self.blocked)
            heapq.heappush(self.ready, (n, gateway))
        if self.ready:
            n, self.current = heapq.heappop(self.ready)
            return n, earliest
        start, n, self.current = heapq.heappop(self.blocked)
        return n, start

    def done(self, end: int | None) -> None:
        """The popped task ends at ``end`` (None: it was left out)."""
        gateway = self.current
        queue, slots = self.queues[gateway], self.slots[gateway]
        queue.popleft()
        if end is not None:
            heapq.heapreplace(slots, end)
        if queue:
            heapq.heappush(self.blocked, (slots[0], queue[0], gateway))
