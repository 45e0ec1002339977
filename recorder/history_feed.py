"""What the daemon tells the camera history: each verdict, each cycle's end, the disk and the config."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable

from recorder.config_watch import ConfigWatch
from recorder.cycle import Cycle
from recorder.finished_task import FinishedTask, from_recording
from recorder.held_recoveries import held_cycles, release
from recorder.history_events import RECOVERED_NOTE, TAKEOVER_NOTE
from recorder.history_import import not_in_history, read_report, recovered_cycle
from recorder.history_store import HistoryStore
from recorder.history_writer import HistoryWriter
from recorder.recording import Recording
from recorder.space_gate import SpaceGate
from shared.camera_roster import alerting_cameras
from shared.clock import SYSTEM_CLOCK, Clock
from shared.history_schema import history_path

log = logging.getLogger(__name__)


class HistoryFeed:
    """Hands the recorder's facts to the history writer (which batches them; never fatal)."""

    def __init__(self, config_path: str, config_watch: ConfigWatch, gate: SpaceGate,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.writer = HistoryWriter(HistoryStore(history_path(config_path)), background=True)
        self.config_path, self.config_watch, self.gate = config_path, config_watch, gate
        self.clock = clock
        # A verdict the status file does not show yet. The API serves a clip once the status
        # no longer lists its task as recording, so the status must say a task ended before
        # the history (and the console's pages read from it) offers the clip.
        self.unpublished = False
        self._alerting_of: dict | None = None  # the config the writer knows the alerts of
        self._held_released = False  # the cycles held for a valid config handed over

    def attach(self, cycle: Cycle) -> None:
        """Record each of ``cycle``'s verdicts as it is drawn."""
        cycle.on_verdict = self._record

    def _record(self, cycle: Cycle, task: Recording) -> None:
        self.record(from_recording(cycle.name, cycle.start_wall, task))

    def record(self, task: FinishedTask) -> None:
        """A verdict of this recorder's (a cycle's task, a check's): written after the status."""
        self.writer.record(task)
        self.unpublished = True

    def published(self) -> None:
        """The status file was written: it shows every verdict recorded so far."""
        self.unpublished = False

    def orphan_reported(self, name: str, report: dict, announce: bool = True,
                        on_written: Callable[[], None] = lambda: None) -> None:
        """Cluster mode: the final report of a dead coordinator's cycle, taken over; its finished
        tasks go into the history as recovery imports an interrupted cycle's (camera events too),
        with its ``cycle.finished`` when ``announce`` (not when its coordinator's clean stop
        sent one). ``on_written`` is called (at a later :meth:`step`) once the history has
        committed them; never when they could not be queued (no valid config) or were lost."""
        config = self.config_watch.config
        if config is None:  # no valid config: --import-history, or a later takeover, does it
            log.error("cannot put the tasks of cycle %s into the history: no valid config", name)
            return
        self._recovered(name, report, config, TAKEOVER_NOTE, announce, on_written)

    def _recovered(self, name: str, report: dict, config: dict, note: str,
                   announce: bool, on_written: Callable[[], None] | None = None) -> None:
        """A cycle its recorder never ended, reported since: its tasks and its cycle.finished
        (``announce``), as history_import.recovered_cycle gives them, in one write."""
        tasks, finished = recovered_cycle(name, report, config["streams"], self.clock.wall(),
                                          note)
        # Not what the history has already: a coordinator restarted on its own state folder
        # wrote the tasks that ended before it was killed.
        self.writer.cycle_recovered(not_in_history(self.config_path, tasks),
                                    finished if announce else None, on_written)

    def _hand_over_held(self) -> bool:
        """Once a valid config is loaded: the cycles a restart without one recovered (their
        tasks, their cycle.finished) go to the writer; True when there were any (their note
        goes once they are written)."""
        config = self.config_watch.config
        if self._held_released or config is None:
            return False
        self._held_released = True
        held = held_cycles(self.config_path)
        for cycle in held:
            name = os.path.basename(cycle.folder)
            report = read_report(os.path.join(cycle.folder, cycle.report_filename))
            if report is None:
                log.error("cycle %s, held for a valid config: its report %s cannot be read; "
                          "its tasks and cycle.finished are not sent", name,
                          cycle.report_filename)
                continue
            self._recovered(name, report, config, RECOVERED_NOTE, cycle.announce)
            if cycle.announce:
                log.warning("cycle %s, recovered at a restart without a valid config: its tasks "
                            "and its cycle.finished go into the history now", name)
            else:  # not interrupted: it ended before the kill
                log.info("cycle %s, ended before a restart without a valid config: its tasks "
                         "not in the history yet go in now", name)
        return bool(held)

    def cycle_ended(self, cycle: Cycle, wall: float) -> None:
        """``cycle`` ended: its counts go out as a ``cycle.finished`` event."""
        self.writer.cycle_finished(cycle.number, cycle.name, cycle.counts(),
                                   cycle.end_wall or wall)

    def step(self, now: float, wall: float, publish: Callable[[], None],
             force: bool = False) -> None:
        """This step's outcomes and events, in one transaction (see history_store).

        ``publish`` writes the status file; it is called first when this step's write
        carries a verdict the status does not show yet (at most once per history write).
        """
        gate, settings = self.gate, self.config_watch.settings
        self.writer.note_disk(gate.holding, gate.free_mb, gate.floor_mb, wall)
        self.writer.note_config_error(self.config_watch.error, wall)
        self._note_alerting()
        held = self._hand_over_held()
        if self.unpublished and (force or self.writer.due(settings, now)):
            publish()
        self.writer.flush(settings, now, wall, force=force or held)
        self.writer.run_committed()  # what waited for an earlier write, this one's when forced
        if held:  # written (or kept by the writer while the database fails): noted no more
            release(self.config_path)

    def _note_alerting(self) -> None:
        """Tell the writer which cameras' alerts are on, once per config taken."""
        config = self.config_watch.config
        if config is not None and config is not self._alerting_of:
            self._alerting_of = config
            self.writer.note_alerting(alerting_cameras(config))

    def close(self, now: float, wall: float, publish: Callable[[], None]) -> None:
        """Write what is still pending and close the database."""
        self.step(now, wall, publish, force=True)
        self.writer.close()
