"""Where camera checks keep their clips (``<output>/checks/<YYYYMMDD_HHMMSS>_<camera>/``), and
their retention.

The ``checks`` folder is no cycle name (shared/timefmt.py::is_cycle_name), so cycle
scans, listings and cycle retention never see it; its folders follow the cycle
retention's limits of their own: the newest ``retention_max_cycles`` kept, those
last written more than ``retention_max_hours`` ago removed.
"""
from __future__ import annotations

import itertools
import logging
import os
import shutil
import stat
from collections.abc import Collection

from recorder.cycle_folder import made_output_root
from recorder.retention import HOUR, Limits
from shared.output_rule import OutputRefused
from shared.output_tree import CHECKS_FOLDER, OutputDir, is_check_folder_name, opened_root
from shared.timefmt import cycle_name

log = logging.getLogger(__name__)


def check_folder_name(wall: float, camera: str) -> str:
    """The folder of a check of ``camera`` started at ``wall``, under ``checks/``."""
    return f"{cycle_name(wall)}_{camera}"


def free_check_folder_name(root: str, wall: float, camera: str,
                           taken: Collection[str] = ()) -> str:
    """The folder of a check of ``camera`` started at ``wall`` under ``root`` (the output
    folder, resolved): named by that second, or by the first later second whose folder is
    neither in ``checks/`` yet nor ``taken``. A check so never records into an earlier one's
    folder (run again by a restart within the second of the attempt a stop or kill cut short)."""
    for second in itertools.count():
        name = check_folder_name(wall + second, camera)
        if name not in taken and not os.path.lexists(os.path.join(root, CHECKS_FOLDER, name)):
            break
    return name


def make_check_folder(out: OutputDir, name: str) -> None:
    """Make ``checks/<name>`` in the output folder, checked against the output rule where it
    resolves now, never through a symlink (as recorder/cycle_folder.py makes a cycle's).

    :raises OutputRefused: the output folder resolves where the rule forbids.
    :raises OSError: it cannot be made; ELOOP or ENOTDIR when ``checks`` is a symlink or a file.
    """
    with made_output_root(out) as root:
        try:
            os.mkdir(CHECKS_FOLDER, dir_fd=root.fd)
        except FileExistsError:
            pass
        checks = os.open(CHECKS_FOLDER, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=root.fd)
        try:
            os.mkdir(name, dir_fd=checks)
        except FileExistsError:
            pass
        finally:
            os.close(checks)


def choose_old(folders: list[tuple[str, float]], now: float, limits: Limits,
               keep: frozenset[str] = frozenset()) -> list[str]:
    """Of ``(name, mtime)`` check folders, the names retention removes, oldest first (never ``keep``)."""
    ordered = sorted((f for f in folders if is_check_folder_name(f[0])),
                     key=lambda f: (f[0][:15], f[1]))
    chosen = []
    excess = len(ordered) - limits.max_cycles if limits.max_cycles > 0 else 0
    cutoff = now - limits.max_hours * HOUR if limits.max_hours > 0 else float("-inf")
    for index, (name, mtime) in enumerate(ordered):
        if (index < excess or mtime < cutoff) and name not in keep:
            chosen.append(name)
    return chosen


def retain_checks(out: OutputDir, now: float, limits: Limits,
                  keep: frozenset[str] = frozenset()) -> list[str]:
    """Remove the check folders the limits leave no room for (never ``keep``, never following
    a symlink)."""
    try:
        with opened_root(out) as root:
            if root is None:
                return []
            try:
                fd = os.open(CHECKS_FOLDER, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                             | os.O_CLOEXEC, dir_fd=root.fd)
            except OSError:
                return []  # no check yet (or not our folder)
            try:
                return _remove(fd, choose_old(_scan(fd), now, limits, keep))
            finally:
                os.close(fd)
    except (OutputRefused, OSError) as exc:
        log.error("retention: check folders skipped: %s", exc)
        return []


def _scan(fd: int) -> list[tuple[str, float]]:
    found = []
    for name in os.listdir(fd):
        try:
            info = os.lstat(name, dir_fd=fd)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            found.append((name, info.st_mtime))
    return found


def _remove(fd: int, names: list[str]) -> list[str]:
    removed = []
    for name in names:
        try:
            shutil.rmtree(name, dir_fd=fd)  # through descriptors: never follows a symlink
        except OSError as exc:
            log.error("retention: cannot remove check %s: %s", name, exc.strerror or exc)
            continue
        log.info("retention: removed check %s", name)
        removed.append(name)
    return removed
