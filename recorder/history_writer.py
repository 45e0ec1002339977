"""The recorder's history sink: finished tasks and events of the loop's steps, handed over in batches."""
from __future__ import annotations

from collections.abc import Callable

from recorder.finished_task import FinishedTask
from recorder.history_batch import BatchWriter
from recorder.history_events import config_error_body, cycle_body, disk_low_body
from recorder.history_forecast import EventForecast
from recorder.history_retention import RetentionSchedule
from recorder.history_store import HistoryStore
from recorder.history_thread import WriterThread
from shared.camera_state import DEFAULT_OFFLINE_AFTER_FAILURES
from shared.errors import ConfigError
from shared.global_settings import GlobalSettings

# A batch that holds an event (a camera going offline or back, a cycle's end, the
# disk, the config) is written at most this long after the one before: an event
# reaches the outbox, and the alert sender, that much later (alert latency p95 ≤ 2 s).
FLUSH_SECONDS = 1.0
# Outcomes that raise no event wait at most this long to be written with the ones
# after them: much of a write's CPU is fixed per commit (BEGIN, COMMIT, the pages it
# touched to the WAL, the writer thread's wake-up and GIL hand-offs), so fewer, larger
# commits are what brings the history under 1 % of the recorder's CPU (5 s: 1.1 %,
# 10 s: 0.9 %; docs/PERFORMANCE.md). A kill -9 loses at most this long's outcomes
# from the history; recovery puts the interrupted cycle's back from its report
# (recorder/recovery.py), so only a camera check's may be lost.
OUTCOME_FLUSH_SECONDS = 10.0


class HistoryWriter:
    """Collects what a step finished (:meth:`record`, the ``note_*`` methods), writes it in :meth:`flush`.

    ``background``: the writes run on a thread of their own (the recorder's loop
    only hands a list over); otherwise :meth:`flush` writes before it returns.
    """

    def __init__(self, store: HistoryStore, background: bool = False) -> None:
        self.batches = BatchWriter(store)
        self.thread = WriterThread(self.batches) if background else None
        self._tasks: list[FinishedTask] = []
        self._events: list[dict] = []  # bodies of events about the recorder and its cycles
        self._after: list[Callable[[], None]] = []  # once those are committed (run_committed)
        self._disk_low = False
        self._config_error = ""  # the message of the error last reported
        self._written_at = float("-inf")  # monotonic time of the last handover
        self.forecast = EventForecast(store.path)
        self._forecast_upto = 0  # self._tasks[:this] went through the forecast
        self._urgent = False  # one of them raises an event

    @property
    def retention(self) -> RetentionSchedule:
        """When the next retention batch is due."""
        return self.batches.retention

    def on_events(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` after each commit that queued events (the alert sender's wake)."""
        self.batches.on_events = wake

    def record(self, task: FinishedTask) -> None:
        """A task's verdict is in: it goes into the next write."""
        self._tasks.append(task)

    def cycle_finished(self, number: int, folder: str, counts: dict, wall: float) -> None:
        """A cycle ended: ``cycle.finished`` with its counts (after its tasks, same write).

        Handed over at this step's flush, not after FLUSH_SECONDS: the cycle's report
        is written, and once the status says so recovery no longer treats it as interrupted.
        """
        self._events.append(cycle_body(number, folder, counts, wall))
        self._written_at = float("-inf")

    def cycle_recovered(self, tasks: list[FinishedTask], finished: dict | None,
                        on_written: Callable[[], None] | None = None) -> None:
        """A cycle its recorder never ended, reported since (a cluster takeover, a restart's
        recovery put off until a valid config): its ``tasks`` not in the history yet and its
        ``cycle.finished`` body (None: sent already), in one write at this step's flush;
        ``on_written`` is called by :meth:`run_committed` once that write is committed."""
        self._tasks.extend(tasks)
        if finished is not None:
            self._events.append(finished)
        if on_written is not None:
            self._after.append(on_written)
        self._written_at = float("-inf")

    def note_disk(self, holding: bool, free_mb: int, floor_mb: int, wall: float) -> None:
        """The space gate's state now: ``recorder.disk_low`` once when it starts holding."""
        if holding and not self._disk_low:
            self._events.append(disk_low_body(free_mb, floor_mb, wall))
        self._disk_low = holding

    def note_alerting(self, cameras: frozenset[str]) -> None:
        """The cameras whose alerts are on in the config now: the outages of the others are
        no longer followed by alerts (written with the next batch; history_outcomes.py)."""
        self.batches.alerting = cameras

    def note_config_error(self, error: ConfigError | None, wall: float) -> None:
        """The config watch's error now: ``recorder.config_error`` once per new error."""
        message = error.message if error is not None else ""
        if error is not None and message != self._config_error:
            self._events.append(config_error_body(error.to_dict(), message, wall))
        self._config_error = message

    def flush(self, settings: GlobalSettings | None, now: float, wall: float,
              force: bool = False) -> None:
        """Write what is pending in one transaction (and a retention batch when one is due).

        Called every loop step; writes FLUSH_SECONDS after the last write when an
        event is pending, else OUTCOME_FLUSH_SECONDS after it, or at once when ``force``
        (which, in the background, also waits for that write).
        """
        if not force and not self.due(settings, now):
            return
        self._written_at = now
        tasks, events, self._tasks, self._events = self._tasks, self._events, [], []
        after, self._after = self._after, []
        self._forecast_upto, self._urgent = 0, False
        if self.thread is None:
            self.batches.write(tasks, events, settings, now, wall, after)
            return
        if tasks or events or after or force or self.batches.has_work(now):  # no idle wake-ups
            self.thread.write(tasks, events, settings, now, wall, after)
        if force:
            self.thread.wait()

    def run_committed(self) -> None:
        """Call, on the loop's thread, each ``on_written`` whose write is committed."""
        while self.batches.committed:
            self.batches.committed.popleft()()

    def due(self, settings: GlobalSettings | None, now: float) -> bool:
        """True when :meth:`flush` at ``now`` writes (without ``force``)."""
        return now - self._written_at >= self._wait(settings)

    def _wait(self, settings: GlobalSettings | None) -> float:
        """How long after the last write the pending batch is due."""
        if len(self._tasks) > self._forecast_upto:
            offline_after = (settings.offline_after_failures if settings
                             else DEFAULT_OFFLINE_AFTER_FAILURES)
            new = self._tasks[self._forecast_upto:]
            # An event is due soon; so is a "check now" an operator waits for on its page.
            self._urgent = (self.forecast.raises_event(new, offline_after)
                            or any(task.kind != "cycle" for task in new) or self._urgent)
            self._forecast_upto = len(self._tasks)
        return FLUSH_SECONDS if self._urgent or self._events else OUTCOME_FLUSH_SECONDS

    def close(self) -> None:
        """Close the database (at shutdown, after the last flush)."""
        if self.thread is not None:
            self.thread.close()
        self.batches.store.close()
