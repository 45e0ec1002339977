"""Cycle folder names that never collide and always sort as the newest cycle when created.

Names order by (timestamp, suffix number) (shared/timefmt.cycle_order). A new
cycle takes its wall-clock name when that sorts after every cycle folder;
otherwise (two cycles in one second, or a clock behind the newest folder after
a step back, DST or a clock that ran ahead) the newest name with the next
``_NN`` suffix, so the newest evidence always sorts newest and retention keeps
it. The cost: while the clock is behind, folder names carry the newest
folder's time (docs/RELIABILITY.md), and each such cycle logs a plain line.
"""
from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from shared.output_rule import OutputRefused, check_output_path
from shared.output_tree import OpenRoot, OutputDir, cycle_names, opened_root
from shared.timefmt import MAX_SUFFIX_DIGITS, cycle_name, cycle_order

log = logging.getLogger(__name__)


def next_name(wanted: str, last: str) -> str:
    """``wanted`` if it sorts after ``last``; else ``last`` with the next ``_NN`` suffix."""
    if cycle_order(wanted) > cycle_order(last):
        return wanted
    suffix = last[16:]
    number = int(suffix) + 1 if suffix else 1
    if len(str(number)) > MAX_SUFFIX_DIGITS:  # 10**18 cycles: never in practice
        raise OSError(errno.EOVERFLOW, f"no cycle name left after {last}")
    return f"{last[:15]}_{number:02d}"


def create_cycle_folder(root: str, wall: float, last: str, config_file: str | None = None) -> str:
    """Create and return the name of a new cycle folder under ``root``.

    With ``config_file``, the output_directory rule is checked on where
    ``root`` resolves now, and the folder is made in the folder checked.

    :raises OSError: it cannot be made, or the rule refuses the folder (EPERM).
    """
    try:
        with made_output_root(OutputDir(root, root, config_file)) as opened:
            return _make_next(opened, cycle_name(wall), last)
    except OutputRefused as exc:
        raise PermissionError(errno.EPERM, str(exc), root) from None


@contextmanager
def made_output_root(out: OutputDir) -> Iterator[OpenRoot]:
    """The output folder, made if missing, opened and checked against the output rule where
    it resolves now (checked before anything is made): what cycle and check folders are
    made in, through its descriptor.

    :raises OutputRefused: the rule refuses it. :raises OSError: it cannot be made, or vanished.
    """
    check_output_path(out.root, out.config_file)
    _refuse_a_missing_links_target(out.root)
    os.makedirs(out.root, exist_ok=True)
    with opened_root(out) as opened:
        if opened is None:
            raise FileNotFoundError(errno.ENOENT, "output folder vanished", out.root)
        yield opened


_LINK_TO_NOTHING = "是指向尚不存在位置的符号链接; 不会经由它创建目录, 等待该位置出现 (如磁盘挂载后)"


def _refuse_a_missing_links_target(path: str) -> None:
    """Refuse to make the output folder through a symlink to a place still missing (the rule
    takes it as "not there yet": a disk mounted later may make it). Making it would put the
    clips under the mount point, on the disk beneath, hidden once the disk comes; os.makedirs
    failed on it with "File exists". :raises FileNotFoundError: the link, and why."""
    probe = os.path.abspath(path)
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    if os.path.islink(probe) and not os.path.exists(probe):
        raise FileNotFoundError(errno.ENOENT, _LINK_TO_NOTHING, probe)


def _make_next(root: OpenRoot, wanted: str, last: str) -> str:
    names = cycle_names(root)
    newest = max(last, names[-1] if names else "", key=cycle_order)
    name = next_name(wanted, newest)
    if newest and wanted[:15] < newest[:15]:
        log.warning("cycle folder: the clock (%s) is behind the newest cycle %s; "
                    "naming this cycle %s so it sorts newest", wanted, newest, name)
    while True:
        try:
            os.mkdir(name, dir_fd=root.fd)
            return name
        except FileExistsError:
            name = next_name(name, name)
