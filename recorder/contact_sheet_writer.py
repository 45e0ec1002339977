"""The contact sheets' thread: a cycle of thousands of cameras takes seconds to draw, and the
recording loop (its heartbeat, the next cycle's starts, the cluster's lock) must not wait."""
from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable

from recorder.contact_sheet import (Tile, report_sheet_tiles, sweep_sheet_temp_files,
                                    write_contact_sheet)
from recorder.retry_schedule import ATTEMPTS, RETRY_DELAYS_SECONDS, RetrySchedule
from shared.clock import SYSTEM_CLOCK
from shared.config_file import load_config
from shared.errors import PatrolError
from shared.global_settings import GlobalSettings

log = logging.getLogger(__name__)
# How long the recorder's stop waits for the sheets still being drawn, once its status says
# it stopped (5,000 cameras take about 3 s on a 2-core box; the systemd unit allows the whole
# stop 30 s): a sheet not finished by then is not written, as on kill -9.
CLOSE_WAIT_SECONDS = 5.0
# A sheet that could not be written (a full disk, say) is drawn again this long after its
# first failure, then after its second (a full disk needs time to be cleared, and each attempt
# draws the whole sheet); after its last attempt it is left undrawn (the log says so). The
# reports' schedule (recorder/retry_schedule.py).
SHEET_RETRY_DELAYS_SECONDS = RETRY_DELAYS_SECONDS
SHEET_ATTEMPTS = ATTEMPTS
# A sheet's tiles, or how to find them on the thread (none: nothing to draw).
Tiles = list[Tile] | Callable[[], list[Tile]]


class ContactSheetWriter:
    """Writes each cycle's sheet on one thread of its own, in the order handed over.

    The thread starts with the first sheet; ``write`` (tests replace it) is
    :func:`write_contact_sheet`, which logs its failures, never raises, and returns False when
    the sheet could not be written: :meth:`retry_failed` hands it over again.
    """

    def __init__(self, write: Callable[[str, list[Tile]], bool] = write_contact_sheet) -> None:
        self._write = write
        self._queue: deque[tuple[str, Tiles]] = deque()
        # The sheets that failed, to be drawn again (retry_failed); with the lock held.
        self._failed: RetrySchedule[Tiles] = RetrySchedule("contact sheet of {}", "drawn")
        self._drawing: str | None = None  # the folder of the sheet being drawn
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False

    def submit(self, cycle_dir: str, tiles: Tiles) -> None:
        """Hand a cycle's tiles over (returns at once); the sheet is written soon after (none
        once :meth:`close` was called)."""
        with self._changed:
            if self._closing:
                log.error("contact sheet of %s not written: the recorder is stopping", cycle_dir)
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="contact-sheets",
                                                daemon=True)
                self._thread.start()
            self._queue.append((cycle_dir, tiles))
            self._changed.notify_all()

    def retry_failed(self, now: float) -> None:
        """Hand the sheets that could not be written over again once their pause
        (:data:`SHEET_RETRY_DELAYS_SECONDS`) is over: the recorder's loop calls it each step with
        its monotonic ``now``; each sheet is tried :data:`SHEET_ATTEMPTS` times in all."""
        with self._changed:
            due = self._failed.due(now)
        for cycle_dir, tiles in due:
            self.submit(cycle_dir, tiles)

    def submit_report(self, cycle_dir: str, report: Callable[[], dict], config_path: str,
                      whole_too: bool = False) -> None:
        """Draw the sheet of a cycle known by its report if it is missing or short of pages (a
        recorder killed before it was drawn), or whatever is there (``whole_too``: a cluster
        takeover's final report): ``report()`` gives the report, read on the thread as the
        config's streams (:func:`recorder.contact_sheet.report_sheet_tiles`)."""
        def tiles() -> list[Tile]:
            sweep_sheet_temp_files(cycle_dir)  # a page a kill cut off
            streams, checks_on = _config_now(config_path)
            return report_sheet_tiles(cycle_dir, report(), streams, checks_on, whole_too)
        self.submit(cycle_dir, tiles)

    def pending(self) -> frozenset[str]:
        """The names of the cycle folders whose sheet is still to be written (retention leaves
        them for now, unless below the free-space floor: recorder/retention.py)."""
        with self._changed:
            folders = [cycle_dir for cycle_dir, _ in self._queue]
            folders += self._failed.waiting()
            if self._drawing is not None:
                folders.append(self._drawing)
        return frozenset(os.path.basename(folder) for folder in folders)

    def wait(self, timeout: float) -> bool:
        """Wait until every sheet handed over is written (or failed); False on timeout."""
        with self._changed:
            return self._changed.wait_for(self._idle, timeout)

    def close(self, timeout: float = CLOSE_WAIT_SECONDS) -> None:
        """Let the sheets handed over be written for up to ``timeout`` s in all; the ones not
        begun by then are dropped, the one being drawn is left to end with the process."""
        deadline = SYSTEM_CLOCK.monotonic() + timeout
        self.wait(timeout)
        with self._changed:
            finished, dropped = self._idle(), len(self._queue)
            self._queue.clear()
            if failed := self._failed.clear():
                log.error("contact sheets not written by the stop (not drawn again): %s",
                          ", ".join(failed))
            drawing, self._closing = self._drawing, True
            self._changed.notify_all()
            thread = self._thread
        if not finished:
            log.error("contact sheets not written by the stop (%.0f s): %s%d more dropped",
                      timeout, f"{drawing} unfinished, " if drawing else "", dropped)
        if thread is not None:
            thread.join(max(0.0, deadline - SYSTEM_CLOCK.monotonic()))

    def _idle(self) -> bool:
        return not self._queue and self._drawing is None

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queue or self._closing)
                if not self._queue:
                    return
                cycle_dir, tiles = self._queue.popleft()
                self._drawing = cycle_dir
            written = True
            try:
                tiles = tiles() if callable(tiles) else tiles
                if tiles:
                    written = self._write(cycle_dir, tiles) is not False
            except Exception:  # noqa: BLE001 - a bug here must not end the sheets for the run
                log.exception("contact sheet of %s failed unexpectedly", cycle_dir)
            with self._changed:
                self._drawing = None
                if not written:
                    self._failed.failed(cycle_dir, tiles)
                else:
                    self._failed.succeeded(cycle_dir)
                self._changed.notify_all()


def _config_now(config_path: str) -> tuple[list[dict], bool]:
    """The config's streams and whether its picture checks are on (none and off when it is not
    valid: tiles named by their clips, drawn when some camera left a thumbnail)."""
    try:
        config = load_config(config_path)
    except PatrolError:
        return [], False
    return config["streams"], GlobalSettings.from_config(config["global_config"]).quality.enabled
