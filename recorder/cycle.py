"""One patrol cycle: start planned tasks on time within the concurrency cap, then report."""
from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable

from recorder.dead_gateways import SKIPPED_MESSAGE, DeadGateways
from recorder.contact_sheet import Tile, tile_of, unscheduled_tile
from recorder.ffmpeg_command import SourceCodecs
from recorder.planner import Plan, PlannedTask
from recorder.pipe_watcher import PipeWatcher
from recorder.processes import ProcessRunner
from recorder.recording import MISSED_WINDOW, Recording
from recorder.reports import build_report
from shared import task_status as st
from shared.counts import counted
from shared.gateways import gateway_key
from shared.global_settings import GlobalSettings
from shared.timefmt import format_local
from shared.urls import mask_credentials

log = logging.getLogger(__name__)
# Makes a task that quacks like Recording (recorder/cluster/remote_task.py's RemoteRecording).
TaskFactory = Callable[[PlannedTask, dict, "SourceCodecs | None"], Recording]

def fits(live: int, same_gateway: int, cap: int, per_host: int) -> bool:
    """Whether one more task fits beside ``live`` ones (``same_gateway`` of them on its gateway)."""
    return live < cap and (not per_host or same_gateway < per_host)



def _recordings(cycle_dir: str, display_dir: str, settings: GlobalSettings,
                runner: ProcessRunner, watcher: PipeWatcher,
                references_dir: str | None) -> TaskFactory:
    """The single-box task factory: this recorder's own ffmpeg records each task."""
    def make(planned: PlannedTask, stream: dict, source: SourceCodecs | None) -> Recording:
        return Recording(planned, stream, cycle_dir, display_dir, settings, runner, source,
                         watcher, references_dir=references_dir)
    return make

class Cycle:
    """A running cycle; :meth:`tick` is called by the daemon's loop with the monotonic time."""

    def __init__(self, number: int, config: dict, settings: GlobalSettings, plan: Plan,
                 cycle_dir: str, display_dir: str, runner: ProcessRunner,
                 codecs: dict[str, SourceCodecs], watcher: PipeWatcher, now: float,
                 wall: float, make_task: TaskFactory | None = None,
                 references_dir: str | None = None) -> None:
        self.number = number
        self.config = config
        self.settings = settings  # read from config["global_config"] when it was loaded
        self.plan = plan
        self.dir = cycle_dir
        self.name = os.path.basename(cycle_dir)
        self.runner = runner
        self.codecs = codecs
        self.started, self.start_wall = now, wall
        self.end_wall: float | None = None
        self.interrupted = ""  # why its report says it was cut short ("": it was not)
        self.max_concurrent_used = 0
        self.cancelled = False
        # Cluster mode hands in its own factory (a worker records the task).
        make = make_task or _recordings(cycle_dir, display_dir, settings, runner, watcher,
                                        references_dir)
        streams = [config["streams"][planned.stream_index] for planned in plan.tasks]
        self.tasks = [make(planned, stream, codecs.get(stream["rtsp_url"]))
                      for planned, stream in zip(plan.tasks, streams)]
        # The loop asks these many times a second: kept up to date as tasks
        # start and end rather than found by walking every task each time.
        self._pending = deque(sorted(self.tasks, key=lambda t: t.planned.offset))
        self._live: list[Recording] = []  # spawned, verdict still to draw
        self._cap = settings.max_concurrent_streams
        # The per-gateway cap at run time too: tasks run longer than planned (connecting,
        # finishing the file), and a late one must not push its gateway over the cap.
        self._per_host = settings.max_concurrent_per_host
        self._gateway_live: dict[str, int] = {}
        self.dead_gateways = DeadGateways()
        # Tasks running beside the cycle that take its slots (the checks, recorder/checks.py):
        # how many, and how many of them on a gateway.
        self.beside: Callable[[str], tuple[int, int]] = lambda gateway: (0, 0)
        # Told of each verdict once (the daemon wires the history in here).
        self.on_verdict: Callable[[Cycle, Recording], None] | None = None

    @property
    def running(self) -> list[Recording]:
        """Tasks with a live process or a verdict still to draw."""
        return list(self._live)

    @property
    def done(self) -> bool:
        """True when every task has its verdict."""
        return not self._live and all(t.finished for t in self._pending)

    def tick(self, now: float, wall: float) -> list[Recording]:
        """Start due tasks, advance running ones; returns the tasks started now."""
        started = []
        if not self.cancelled:
            elapsed = now - self.started
            pending = self._pending
            while pending and elapsed >= self.plan.window:
                # The loop was held past the window's end (a paused recorder, a frozen
                # VM): what has not started by now is not started at all.
                task = pending.popleft()
                task.skip(wall, st.CANCELLED, MISSED_WINDOW)
                self._publish(task, wall)
            while pending and self._has_slot() and pending[0].planned.offset <= elapsed:
                task = pending[0]
                task.start(now, wall)  # if it raises, the task stays pending: tried again next tick
                pending.popleft()
                task.start_offset = round(now - self.started, 3)
                started.append(task)
                if task.finished:  # could not even spawn: its verdict is in
                    self._publish(task, wall)
                else:
                    self._live.append(task)
                    self._count_gateway(task, 1)
            self.max_concurrent_used = max(self.max_concurrent_used, len(self._live))
        for task in self._live:
            task.tick(now, wall)
        for task in [t for t in self._live if t.finished]:
            # Out of the live list first: published once even if publishing fails;
            # the others, should it fail, stay live and are published next tick.
            self._live.remove(task)
            self._count_gateway(task, -1)
            self._publish(task, wall)
        if self.end_wall is None and self.done:
            self.end_wall = wall
        return started

    def seconds_to_next_start(self, now: float) -> float:
        """How long the loop may sleep before a planned start is due (inf: none is startable)."""
        if self.cancelled or not self._pending:
            return float("inf")
        if not self._has_slot():
            return float("inf")  # a task's end (its pipes closing) wakes the loop
        return max(0.0, self.started + self._pending[0].planned.offset - now)

    def waiting_for_slot(self, now: float) -> bool:
        """True when a task is due but its slot (or its gateway's) is taken: a task's end starts it."""
        return (not self.cancelled and bool(self._pending) and not self._has_slot()
                and self.started + self._pending[0].planned.offset <= now)

    def slot_free_beside(self, gateway: str, now: float) -> bool:
        """Whether a task beside the cycle (a check) of ``gateway`` may start now: a slot free,
        and no task of the cycle due that could take it, which comes first (a check that took
        the slot of a due task pushed it, and every task after it, towards the window's end).
        A due task its own gateway's cap holds back leaves the slot to a check of another."""
        if not self.slot_free(gateway):
            return False
        due = (not self.cancelled and bool(self._pending)
               and self.started + self._pending[0].planned.offset <= now)
        return not due or not self._has_slot()

    def _has_slot(self) -> bool:
        """Whether the next pending task may start: a free slot, and one of its gateway's."""
        return self.slot_free(self._gateway(self._pending[0]))

    def slot_free(self, gateway: str) -> bool:
        """Whether a task of ``gateway`` may start now: the cycle's and the checks' slots counted."""
        live, same = self.beside(gateway)
        return fits(len(self._live) + live, self._gateway_live.get(gateway, 0) + same,
                    self._cap, self._per_host)

    def _gateway(self, task: Recording) -> str:
        return gateway_key(task.stream["rtsp_url"])

    def _count_gateway(self, task: Recording, change: int) -> None:
        if self._per_host:
            key = self._gateway(task)
            self._gateway_live[key] = self._gateway_live.get(key, 0) + change

    def cancel(self, now: float, wall: float) -> None:
        """Stop the cycle: pending tasks are cancelled, running ones stopped gracefully."""
        self.cancelled = True
        for task in self.tasks:
            task.cancel(now, wall)
        while self._pending:
            self._publish(self._pending.popleft(), wall)
        self.tick(now, wall)

    def _publish(self, task: Recording, wall: float) -> None:
        """A task's verdict is in: keep what it learned of the camera and of its gateway."""
        learned = task.stderr.codecs
        if learned.video:
            self.codecs[task.stream["rtsp_url"]] = learned
        if self.on_verdict is not None:
            self.on_verdict(self, task)
        if task.proc is not None and task.status != st.CANCELLED and \
                self.dead_gateways.note(self._gateway(task), task.status):
            self._skip_gateway(self._gateway(task), wall)

    def _skip_gateway(self, gateway: str, wall: float) -> None:
        """Every task of ``gateway`` timed out: its pending ones are not worth their timeouts."""
        skipped = [t for t in self._pending if self._gateway(t) == gateway]
        kept = [t for t in self._pending if self._gateway(t) != gateway]
        self._pending.clear()  # in place: tick may hold it
        self._pending.extend(kept)
        for task in skipped:
            task.skip(wall, st.CONNECTION_ERROR, SKIPPED_MESSAGE)
            self._publish(task, wall)  # never spawned: no gateway note, no recursion
        log.warning("cycle %s: gateway %s timed out %s and answered nothing else: "
                    "skipping its %s", self.name, gateway,
                    counted(self.dead_gateways.timeouts(gateway), "time"),
                    counted(len(skipped), "remaining task"))

    def stats(self) -> dict:
        """Counters of SPEC's scheduler summary."""
        return {**st.tally(t.status for t in self.tasks),
                "max_concurrent_used": self.max_concurrent_used}

    def counts(self) -> dict:
        """The tallies of its ``cycle.finished`` event: tasks by outcome, streams not scheduled."""
        return {**st.tally(t.status for t in self.tasks),
                "not_scheduled": len(self.plan.not_scheduled)}

    def not_scheduled(self) -> list[dict]:
        """The streams left out of the plan, with their reasons."""
        streams = self.config["streams"]
        return [{"stream_index": u.stream_index,
                 "rtsp_url": mask_credentials(streams[u.stream_index]["rtsp_url"]),
                 "duration_seconds": streams[u.stream_index]["duration_seconds"],
                 "reason": u.reason} for u in self.plan.not_scheduled]

    def contact_sheet_tiles(self) -> list[Tile]:
        """The tiles of the cycle's contact sheet, a camera each (the ones left out of the plan
        last); none when the picture checks, which make the thumbnails, are off."""
        if not self.settings.quality.enabled:
            return []
        streams = self.config["streams"]
        return [tile_of(t.as_dict(), t.stream, t.picture.path if t.clip_kept else None)
                for t in self.tasks] + [unscheduled_tile(entry, streams[entry["stream_index"]])
                                        for entry in self.not_scheduled()]

    def report(self, interrupted: str = "") -> dict:
        """The content of the JSON report (also the source of the other two)."""
        return build_report(
            number=self.number, folder=self.name, start_time=format_local(self.start_wall),
            end_time=format_local(self.end_wall), window=self.plan.window,
            max_concurrent_streams=self.plan.max_concurrent,
            max_concurrent_used=self.max_concurrent_used, schedule_info=self.plan.describe(),
            tasks=[t.as_dict() for t in self.tasks], not_scheduled=self.not_scheduled(),
            interrupted=interrupted)
