"""The output folder opened once per operation and checked against the output rule; cycle and
check folders, and files in them, opened through its descriptor without following a symlink."""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from shared.errors import NotFound, UnsafePath
from shared.output_rule import check_output_path
from shared.output_tree.names import CHECKS_FOLDER, CHECKS_PREFIX, is_check_folder_name
from shared.timefmt import cycle_order, is_cycle_name


@dataclass(frozen=True)
class OutputDir:
    """The output folder as the user spelled it (for ``full_path``) and where it really is.

    ``config_file`` is the config it belongs to: every use of the folder checks
    the output_directory rule (shared/output_rule.py) on where it resolves then.
    """

    display: str
    root: str
    config_file: str | None = None

    @classmethod
    def from_spelling(cls, spelling: str, base: str,
                      config_file: str | None = None) -> "OutputDir":
        """``spelling`` as given on a command line or in the config, relative to ``base``."""
        return cls(spelling, os.path.normpath(os.path.join(base, spelling)), config_file)

    def display_path(self, *parts: str) -> str:
        """A path under the output folder, spelled from the user's spelling."""
        return os.path.join(self.display, *parts)


@dataclass(frozen=True)
class OpenRoot:
    """The output folder opened for one operation: its descriptor and where it resolved."""

    fd: int
    path: str


@contextmanager
def opened_root(out: OutputDir) -> Iterator[OpenRoot | None]:
    """The output folder opened once and checked against the rule where it resolves now.

    Everything done through the descriptor stays in the folder that was checked,
    even if the path is swapped for a symlink meanwhile. None when it does not exist.

    :raises OutputRefused: the folder resolves where the rule forbids.
    """
    try:
        fd = os.open(out.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        yield None
        return
    try:
        path = _where(fd, out.root)
        check_output_path(path, out.config_file)
        yield OpenRoot(fd, path)
    finally:
        os.close(fd)


def _where(fd: int, spelled: str) -> str:
    """Where an open folder is; from its spelling, links followed, only when /proc is missing."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(spelled)


def _is_real_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def cycle_names(root: OpenRoot) -> list[str]:
    """Cycle folder names, oldest first by (timestamp, suffix); symlinked ones are skipped.

    The one scan of cycle folders: the API's listings and retention both use it.
    """
    with os.scandir(root.fd) as entries:
        names = [e.name for e in entries if is_cycle_name(e.name) and _is_real_dir(e)]
    names.sort(key=cycle_order)
    return names


def check_folder_names(root: OpenRoot) -> list[str]:
    """The check folders' names inside ``checks/``, sorted; symlinked ones are skipped, and all
    when ``checks`` itself is no real folder ([] before the first check)."""
    try:
        fd = os.open(CHECKS_FOLDER, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=root.fd)
    except OSError:
        return []
    try:
        with os.scandir(fd) as entries:
            return sorted(e.name for e in entries
                          if is_check_folder_name(e.name) and _is_real_dir(e))
    finally:
        os.close(fd)


def cycle_names_in(out: OutputDir) -> list[str]:
    """:func:`cycle_names` of the output folder, opened and checked for this one scan ([] when absent).

    :raises OutputRefused: the folder resolves where the rule forbids.
    :raises OSError: it cannot be read.
    """
    with opened_root(out) as root:
        return cycle_names(root) if root else []


def is_real_dir_at(root: OpenRoot, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(name, dir_fd=root.fd).st_mode)
    except OSError:
        return False


def require_cycle_at(root: OpenRoot, cycle: str) -> None:
    """:raises UnsafePath: not a cycle folder name, or a symlink. :raises NotFound:"""
    if not isinstance(cycle, str) or not is_cycle_name(cycle):
        raise UnsafePath("只能删除时间戳目录")
    try:
        mode = os.lstat(cycle, dir_fd=root.fd).st_mode
    except FileNotFoundError:
        raise NotFound(f"时间戳目录不存在: {cycle}") from None
    if not stat.S_ISDIR(mode):
        raise UnsafePath("时间戳目录不能是符号链接")


def is_cycle_at(root: OpenRoot, cycle: str) -> bool:
    try:
        require_cycle_at(root, cycle)
    except (UnsafePath, NotFound, OSError):
        return False
    return True


@contextmanager
def existing_root(out: OutputDir) -> Iterator[OpenRoot]:
    """:func:`opened_root`, for an operation on something that must exist. :raises NotFound:"""
    with opened_root(out) as root:
        if root is None:
            raise NotFound("文件不存在")
        yield root


def open_folder(root: OpenRoot, folder: str, open_one: Callable[[str, int], int]) -> int:
    """A cycle folder, or ``checks/<check>`` one step at a time with ``open_one(name, dir_fd)``
    (O_NOFOLLOW only guards a path's last step: ``checks`` itself must be no symlink either)."""
    if not folder.startswith(CHECKS_PREFIX):
        return open_one(folder, root.fd)
    checks = open_one(CHECKS_FOLDER, root.fd)
    try:
        return open_one(folder[len(CHECKS_PREFIX):], checks)
    finally:
        os.close(checks)


def open_cycle_fd(root: OpenRoot, cycle: str) -> int:
    """A cycle (or check) folder opened without following a symlink. :raises NotFound, UnsafePath:"""
    return open_folder(root, cycle, _open_cycle_at)


def _open_cycle_at(name: str, dir_fd: int) -> int:
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                       dir_fd=dir_fd)
    except FileNotFoundError:
        raise NotFound("文件不存在") from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePath("时间戳目录不能是符号链接") from None
        raise


def open_nofollow(name: str, flags: int, dir_fd: int,
                   symlink_message: str = "不能读取符号链接") -> int:
    """Open ``name`` in ``dir_fd`` read-only, never through a symlink.

    :raises NotFound: :raises UnsafePath: a symlink (or not a folder where one must be).
    """
    try:
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | flags, dir_fd=dir_fd)
    except FileNotFoundError:
        raise NotFound("文件不存在") from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePath(symlink_message) from None
        raise
