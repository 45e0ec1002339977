"""Before a cycle starts: apply retention, and hold the patrol while the disk is below its floor."""
from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from recorder.retention import MB, Limits, apply_retention
from shared.output_tree import OutputDir

log = logging.getLogger(__name__)
# Below the free-space floor no cycle starts; the floor is checked again this often.
LOW_SPACE_RETRY_SECONDS = 5.0
LOW_SPACE_MESSAGE = "磁盘剩余空间不足"


class SpaceGate:
    """Retention and the free-space floor, with the disk probe as a seam."""

    def __init__(self, free_space: Callable[[str], int | None]) -> None:
        self.free_space = free_space
        self.holding = False  # the last check found too little space
        self.free_mb = self.floor_mb = 0  # what that check found (for recorder.disk_low)

    def retain(self, out: OutputDir, limits: Limits, wall: float, current: str | None,
               busy: Collection[str] = ()) -> None:
        """Remove the cycle folders retention's limits leave no room for (never ``current``;
        the ``busy`` ones only below the free-space floor)."""
        try:
            apply_retention(out, wall, limits, current, self.free_space, busy)
        except OSError as exc:  # a scan that fails must not stop the patrol
            log.error("retention failed: %s", exc)

    def shortage(self, out: OutputDir, limits: Limits, wall: float,
                 busy: Collection[str] = ()) -> str:
        """Why no cycle may start now ("" when the disk is above the floor, after retention if needed)."""
        floor_mb = limits.min_free_mb
        if floor_mb <= 0 or self._above(out, floor_mb):
            return self._clear()
        self.retain(out, limits, wall, current=None, busy=busy)
        if self._above(out, floor_mb):
            log.info("free space above %d MB again after retention", floor_mb)
            return self._clear()
        free = self.free_space(out.root) or 0
        self.free_mb, self.floor_mb = free // MB, floor_mb
        message = f"{LOW_SPACE_MESSAGE}: 剩余 {free // MB} MB, 低于下限 {floor_mb} MB"
        if not self.holding:
            log.warning("%s; no new cycle until space returns (checked every %.0f s)", message,
                        LOW_SPACE_RETRY_SECONDS)
        self.holding = True
        return message

    def _above(self, out: OutputDir, floor_mb: int) -> bool:
        free = self.free_space(out.root)
        return free is None or free >= floor_mb * MB

    def _clear(self) -> str:
        if self.holding:
            log.info("free space is above the floor again; patrol resumes")
        self.holding = False
        return ""
