"""Follows the control file the API writes: the desired scheduler state and its generations.

In cluster mode the cluster's desired state is taken into this file (recorder/cluster/
desired_sync.py), so it is followed the same way.
"""
from __future__ import annotations

import logging

from shared.control_file import DEFAULT as NO_CONTROL, load_control, restore_control
from shared.errors import PatrolError
from shared.file_cache import file_signature

log = logging.getLogger(__name__)


class ControlFollower:
    """The last control state read, and the start and reload requests not yet acted on."""

    def __init__(self, path: str) -> None:
        self.path = path
        loaded = load_control(path)
        self._control = loaded or dict(NO_CONTROL)
        self._known = loaded is not None  # a valid file was read: keep its state
        self._damaged = False  # restoring it failed (logged once)
        self._signature: tuple | None = None
        self.start_generation = self._control["start_generation"]  # the start acted on
        self._reload_generation = self._control["reload_generation"]
        self.checks_taken = 0  # the last check request taken (recover() sets it from the status)

    @property
    def wants_running(self) -> bool:
        """The desired state: the scheduler should run."""
        return bool(self._control["scheduler_running"])

    def poll(self) -> bool:
        """Re-read the file if it changed; True when a new config reload was requested."""
        signature = file_signature(self.path)
        if signature == self._signature:
            return False
        self._signature = signature
        loaded = load_control(self.path)
        if loaded is None and self._known:
            self._restore()
            return False
        self._control = loaded or dict(NO_CONTROL)
        self._known = loaded is not None
        if self._control["reload_generation"] == self._reload_generation:
            return False
        self._reload_generation = self._control["reload_generation"]
        return True

    def take_new_start(self) -> bool:
        """True once for each start the API requested since the last one acted on."""
        if self._control["start_generation"] == self.start_generation:
            return False
        self.start_generation = self._control["start_generation"]
        return True

    def take_checks(self) -> list[dict]:
        """The check requests not taken yet, oldest first; each is handed out once."""
        new = sorted((item for item in self._control["checks"] if item["id"] > self.checks_taken),
                     key=lambda item: item["id"])
        if new:
            self.checks_taken = new[-1]["id"]
        return new

    def _restore(self) -> None:
        # The API only ever replaces the file whole: deleted or damaged, it was done
        # behind our back. Stopping (or starting) because of that would follow no one's
        # wish, so keep the last state read and write it back for the API and our next start.
        if not self._damaged:
            log.warning("control file %s is missing or damaged; keeping the last state "
                        "(scheduler %s) and writing it back", self.path,
                        "running" if self.wants_running else "stopped")
        try:
            restore_control(self.path, self._control)
            self._damaged = False
        except PatrolError as exc:
            if not self._damaged:
                log.error("cannot restore the control file: %s", exc)
            self._damaged = True
            self._signature = None  # try again next round
