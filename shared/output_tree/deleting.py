"""Deleting from the output tree: one clip (with its thumbnail) or a whole cycle folder,
never through a symlink; of concurrent deletions of one thing, one wins."""
from __future__ import annotations

import logging
import os
import secrets
import shutil
import stat

from shared.clip_names import thumbnail_name
from shared.errors import NotFound, UnsafePath
from shared.output_tree.names import is_entry_name, is_video_name
from shared.output_tree.root import (OpenRoot, OutputDir, existing_root, open_cycle_fd,
                                     opened_root, require_cycle_at)
from shared.timefmt import is_cycle_name

log = logging.getLogger(__name__)


def delete_video(out: OutputDir, cycle: str, filename: str) -> None:
    """Unlink one clip without following any symlink on the way.

    :raises UnsafePath: the folder or the file is a symlink or not a regular file.
    :raises NotFound: no such clip (or another request removed it first).
    :raises OutputRefused: the output folder resolves where the rule forbids.
    :raises OSError: the unlink itself failed.
    """
    # Checked here, not only by the routes: a cycle of ".." or "." would reach the files
    # beside the output folder (config.json) or in its root.
    if not (isinstance(cycle, str) and is_cycle_name(cycle) and is_entry_name(filename)
            and is_video_name(filename)):
        raise UnsafePath("只能删除时间戳目录中的视频文件")
    with existing_root(out) as root:
        cycle_fd = open_cycle_fd(root, cycle)
        try:
            _unlink_clip(cycle_fd, filename)
        finally:
            os.close(cycle_fd)


def _unlink_clip(cycle_fd: int, filename: str) -> None:
    try:
        info = os.stat(filename, dir_fd=cycle_fd, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePath("只能删除普通视频文件")
        os.unlink(filename, dir_fd=cycle_fd)
    except FileNotFoundError:
        # Also when a concurrent delete of the same clip won between stat and unlink.
        raise NotFound("文件不存在") from None
    try:  # its thumbnail goes with it (unlink removes a symlink, never its target)
        os.unlink(thumbnail_name(filename), dir_fd=cycle_fd)
    except FileNotFoundError:
        pass


def require_cycle(out: OutputDir, cycle: str) -> str:
    """The path of cycle folder ``cycle``, checked.

    :raises UnsafePath: ``cycle`` is not a cycle folder name, or it is a symlink.
    :raises NotFound: no such folder.
    :raises OutputRefused: the output folder resolves where the rule forbids.
    """
    if not isinstance(cycle, str) or not is_cycle_name(cycle):
        raise UnsafePath("只能删除时间戳目录")
    with opened_root(out) as root:
        if root is None:
            raise NotFound(f"时间戳目录不存在: {cycle}")
        require_cycle_at(root, cycle)
    return os.path.join(out.root, cycle)


DELETING_PREFIX = ".deleting_"


def delete_cycle(out: OutputDir, cycle: str) -> None:
    """Remove a whole cycle folder; of concurrent removals of one folder, one wins.

    The folder is first renamed to a hidden name: the rename is atomic, so a
    second request (or retention) finds nothing and gets NotFound, and listings
    stop showing it at once.

    :raises UnsafePath, NotFound, OutputRefused: see :func:`require_cycle`.
    :raises OSError: the removal failed part way (the folder keeps its name).
    """
    if not isinstance(cycle, str) or not is_cycle_name(cycle):
        raise UnsafePath("只能删除时间戳目录")
    with existing_root(out) as root:
        require_cycle_at(root, cycle)
        hidden = f"{DELETING_PREFIX}{cycle}_{secrets.token_hex(4)}"
        try:
            os.rename(cycle, hidden, src_dir_fd=root.fd, dst_dir_fd=root.fd)
        except FileNotFoundError:
            raise NotFound(f"时间戳目录不存在: {cycle}") from None
        _remove_renamed(root, hidden, cycle)


def _remove_renamed(root: OpenRoot, hidden: str, cycle: str) -> None:
    """Remove the renamed folder; on failure put it back under its name, so it stays visible."""
    try:
        if not stat.S_ISDIR(os.lstat(hidden, dir_fd=root.fd).st_mode):
            raise UnsafePath("时间戳目录不能是符号链接")  # swapped after our check
        # rmtree works through directory fds on Linux and never follows a symlink inside.
        shutil.rmtree(hidden, dir_fd=root.fd)
    except (OSError, UnsafePath):
        try:
            os.rename(hidden, cycle, src_dir_fd=root.fd, dst_dir_fd=root.fd)
        except OSError as exc:
            log.error("cannot restore %s as %s: %s", hidden, cycle, exc.strerror or exc)
        raise
