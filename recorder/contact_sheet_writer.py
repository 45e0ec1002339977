"""The contact sheets' thread: a cycle of thousands of cameras takes seconds to draw, and the
recording loop (its heartbeat, the next cycle's starts, the cluster's lock) must not wait."""
from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from recorder.contact_sheet import Tile, write_contact_sheet

log = logging.getLogger(__name__)
# How long the recorder's shutdown waits for the sheets still being drawn (5,000 cameras take
# about 5 s on a 2-core box); a sheet not finished then is not written, as on kill -9.
CLOSE_WAIT_SECONDS = 30.0


class ContactSheetWriter:
    """Writes each cycle's sheet on one thread of its own, in the order handed over.

    The thread starts with the first sheet; ``write`` (tests replace it) is
    :func:`write_contact_sheet`, which logs its failures and never raises.
    """

    def __init__(self, write: Callable[[str, list[Tile]], None] = write_contact_sheet) -> None:
        self._write = write
        self._queue: deque[tuple[str, list[Tile]]] = deque()
        self._handed = self._written = 0
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False

    def submit(self, cycle_dir: str, tiles: list[Tile]) -> None:
        """Hand a cycle's tiles over (returns at once); the sheet is written soon after."""
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="contact-sheets",
                                                daemon=True)
                self._thread.start()
            self._queue.append((cycle_dir, tiles))
            self._handed += 1
            self._changed.notify_all()

    def wait(self, timeout: float) -> bool:
        """Wait until every sheet handed over is written (or failed); False on timeout."""
        with self._changed:
            handed = self._handed
            return self._changed.wait_for(lambda: self._written >= handed, timeout)

    def close(self, timeout: float = CLOSE_WAIT_SECONDS) -> None:
        """Write what was handed over, for up to ``timeout`` s, then end the thread."""
        if not self.wait(timeout):
            log.error("contact sheets: not all written within %.0f s; the rest are not", timeout)
        with self._changed:
            self._closing = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queue or self._closing)
                if not self._queue:
                    return
                cycle_dir, tiles = self._queue.popleft()
            try:
                self._write(cycle_dir, tiles)
            except Exception:  # noqa: BLE001 - a bug here must not end the sheets for the run
                log.exception("contact sheet of %s failed unexpectedly", cycle_dir)
            with self._changed:
                self._written += 1
                self._changed.notify_all()
