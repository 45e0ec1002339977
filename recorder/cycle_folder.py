"""Cycle folder names that never collide and always sort in creation order."""
from __future__ import annotations

import os

from shared.timefmt import cycle_name, is_cycle_name


def latest_cycle(root: str) -> str:
    """The greatest cycle folder name under ``root`` ("" when none)."""
    try:
        return max((n for n in os.listdir(root) if is_cycle_name(n)), default="")
    except OSError:
        return ""


def next_name(wanted: str, last: str) -> str:
    """``wanted`` if it sorts after ``last``; else ``last`` with the next ``_NN`` suffix.

    This covers two cycles in one second and a clock that went back (DST, NTP).
    """
    if wanted > last:
        return wanted
    base, _, suffix = last[:15], last[15:16], last[16:]
    number = int(suffix) + 1 if suffix.isdigit() else 1
    return f"{base}_{number:02d}"


def create_cycle_folder(root: str, wall: float, last: str) -> str:
    """Create and return the name of a new cycle folder under ``root``."""
    os.makedirs(root, exist_ok=True)
    name = next_name(cycle_name(wall), max(last, latest_cycle(root)))
    while True:
        try:
            os.mkdir(os.path.join(root, name))
            return name
        except FileExistsError:
            name = next_name(name, name)
