"""Retention: which cycle folders to remove so the output never fills the disk, and removing them."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from shared.errors import NotFound, UnsafePath
from shared.global_settings import GlobalSettings
from shared.output_rule import OutputRefused
from shared.output_tree import OpenRoot, OutputDir, cycle_names, delete_cycle, opened_root
from shared.timefmt import cycle_order, is_cycle_name

log = logging.getLogger(__name__)
MB = 1024 * 1024
HOUR = 3600


@dataclass(frozen=True)
class CycleFolder:
    """A cycle folder as retention sees it: its name, mtime (epoch) and bytes used on disk."""

    name: str
    mtime: float
    size: int


@dataclass(frozen=True)
class Removal:
    """A cycle folder to remove and why (the reason goes into the log line)."""

    name: str
    reason: str
    size: int


@dataclass(frozen=True)
class Limits:
    """The three retention settings; 0 turns a limit off."""

    max_cycles: int
    max_hours: int
    min_free_mb: int

    @classmethod
    def from_settings(cls, settings: GlobalSettings) -> "Limits":
        """The limits of the loaded config."""
        return cls(settings.retention_max_cycles, settings.retention_max_hours,
                   settings.min_free_space_mb)


def free_bytes(path: str) -> int | None:
    """Bytes we may still write on the file system of ``path`` (or of its nearest existing parent).

    None when it cannot be probed at all.
    """
    while True:
        try:
            info = os.statvfs(path)
        except (FileNotFoundError, NotADirectoryError):
            parent = os.path.dirname(path)
            if parent == path:
                return None
            path = parent
            continue
        except OSError:
            return None
        # f_bavail, not f_bfree: the blocks reserved for root are not ours to count on.
        return info.f_bavail * info.f_frsize


def _disk_usage(root: OpenRoot, name: str) -> int:
    # Allocated blocks, not st_size: that is what removing the folder gives back.
    try:
        total = os.lstat(name, dir_fd=root.fd).st_blocks * 512
    except OSError:
        return 0
    # fwalk works through folder descriptors and never follows a symlink; errors are skipped.
    for _, folders, files, fd in os.fwalk(name, dir_fd=root.fd):
        for entry in folders + files:
            try:
                total += os.lstat(entry, dir_fd=fd).st_blocks * 512
            except OSError:
                continue  # removed while we looked
    return total


def _folder(root: OpenRoot, name: str, sizes: bool) -> CycleFolder | None:
    try:
        info = os.lstat(name, dir_fd=root.fd)
    except OSError:
        return None
    return CycleFolder(name, info.st_mtime, _disk_usage(root, name) if sizes else 0)


def scan_cycles(out: OutputDir, sizes: bool = True) -> list[CycleFolder]:
    """The real cycle folders of the output, oldest first; symlinks and other names are not ours.

    ``sizes=False`` skips measuring them (size 0): that is a stat per clip.

    :raises OutputRefused: the output folder resolves where the rule forbids.
    """
    with opened_root(out) as root:
        return _scan(root, sizes) if root else []


def _scan(root: OpenRoot, sizes: bool) -> list[CycleFolder]:
    folders = (_folder(root, name, sizes) for name in cycle_names(root))
    return [folder for folder in folders if folder is not None]


def choose_removals(folders: list[CycleFolder], now: float, limits: Limits,
                    current: str | None, free: int | None,
                    busy: Collection[str] = ()) -> list[Removal]:
    """The cycle folders to remove, oldest first; ``current`` (being recorded) never is, nor,
    by the first two rules, the ``busy`` ones (a contact sheet being drawn), left for next
    time; below the floor, the third takes them too (the disk first: the sheet is then not
    written, which its thread logs).

    Three rules, each off when its limit is 0:

    1. keep the newest ``max_cycles`` folders (``current`` counts among them);
    2. remove folders last written (mtime) more than ``max_hours`` ago;
    3. while ``free`` bytes are below ``min_free_mb``, remove the oldest further
       folders until the shortfall is covered -- but only when removing every
       remaining one would cover it: otherwise something else fills the disk,
       and deleting our evidence would not bring the floor back.

    Folder names order as cycles were created (recorder/cycle_folder.py), by
    (timestamp, suffix number), never as text; names that are not cycle names
    are ignored.
    """
    ordered = sorted((f for f in folders if is_cycle_name(f.name)),
                     key=lambda f: cycle_order(f.name))
    candidates = [f for f in ordered if f.name != current]
    chosen: dict[str, Removal] = {}
    if limits.max_cycles > 0:
        excess = len(ordered) - limits.max_cycles
        # The oldest beyond the limit; a busy one among them is left for next time, never
        # traded for a newer one.
        for folder in candidates[:max(0, excess)]:
            if folder.name not in busy:
                chosen[folder.name] = Removal(folder.name,
                                              f"more than {limits.max_cycles} cycles", folder.size)
    if limits.max_hours > 0:
        cutoff = now - limits.max_hours * HOUR
        for folder in candidates:
            if folder.name not in chosen and folder.name not in busy and folder.mtime < cutoff:
                chosen[folder.name] = Removal(folder.name, f"older than {limits.max_hours} h",
                                              folder.size)
    if limits.min_free_mb > 0 and free is not None:
        shortfall = limits.min_free_mb * MB - free - sum(r.size for r in chosen.values())
        rest = [f for f in candidates if f.name not in chosen]
        chosen.update((r.name, r) for r in _for_space(rest, shortfall, limits.min_free_mb))
    return sorted(chosen.values(), key=lambda r: cycle_order(r.name))


def _for_space(rest: list[CycleFolder], shortfall: int, floor_mb: int) -> list[Removal]:
    """The oldest of ``rest`` until ``shortfall`` bytes are covered; none if all of them would not."""
    if shortfall <= 0 or sum(f.size for f in rest) < shortfall:
        return []
    chosen = []
    for folder in rest:
        if shortfall <= 0:
            break
        chosen.append(Removal(folder.name, f"free space below {floor_mb} MB", folder.size))
        shortfall -= folder.size
    return chosen


def remove_cycles(out: OutputDir, removals: list[Removal]) -> list[str]:
    """Remove the chosen folders (never following a symlink); one log line for each.

    A folder that is gone already or became a symlink is skipped; a failed
    removal is logged and the rest go on.
    """
    removed = []
    for removal in removals:
        try:
            delete_cycle(out, removal.name)
        except NotFound:
            continue  # deleted through the API meanwhile
        except OutputRefused as exc:
            log.error("retention: stopped, the output folder is refused: %s", exc.problem)
            break
        except UnsafePath as exc:
            log.warning("retention: skipped cycle %s: %s", removal.name, exc)
            continue
        except OSError as exc:
            log.error("retention: cannot remove cycle %s: %s", removal.name, exc.strerror or exc)
            continue
        log.info("retention: removed cycle %s (%s; %.1f MB)", removal.name, removal.reason,
                 removal.size / MB)
        removed.append(removal.name)
    return removed


def apply_retention(out: OutputDir, now: float, limits: Limits, current: str | None,
                    probe: Callable[[str], int | None] = free_bytes,
                    busy: Collection[str] = ()) -> list[str]:
    """Scan the output folder, choose what to remove and remove it; the names removed.

    Nothing is removed when the output folder resolves where the rule forbids
    (a hand edit, or a symlink swapped in while we run): those are not our folders.
    """
    free = probe(out.root) if limits.min_free_mb > 0 else None
    # Sizes matter only below the floor; otherwise measure just what goes, for the log.
    below = free is not None and free < limits.min_free_mb * MB
    try:
        with opened_root(out) as root:
            if root is None:
                return []
            removals = choose_removals(_scan(root, below), now, limits, current, free, busy)
            if not below:
                removals = [replace(r, size=_disk_usage(root, r.name)) for r in removals]
    except OutputRefused as exc:
        log.error("retention: skipped, the output folder is refused: %s", exc.problem)
        return []
    return remove_cycles(out, removals)
