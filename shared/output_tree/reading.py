"""Reading from the output tree: a clip, a report or a picture of a cycle (or check) folder,
with the same confinement as deletion."""
from __future__ import annotations

import errno
import os
from typing import BinaryIO

from shared.errors import NotFound, UnsafePath
from shared.output_tree.names import check_file_in_cycle, is_clip_folder, is_picture_name, is_video_name
from shared.output_tree.root import (OpenRoot, OutputDir, existing_root, open_cycle_fd, open_folder,
                                     open_nofollow)
from shared.regular_file import RefusedFile, open_regular_file


def open_clip(out: OutputDir, cycle: str, filename: str) -> tuple[BinaryIO, os.stat_result]:
    """A clip directly inside a cycle folder (or a check's, ``checks/<check>``), opened for
    reading, and its stat.

    The same rules as deletion: a cycle folder name, a clip name, no symlink
    anywhere (the folders, the file), a regular file only. The caller closes it.

    :raises UnsafePath: anything else. :raises NotFound: no such clip.
    :raises OutputRefused: the output folder resolves where the rule forbids.
    """
    if not is_video_name(filename):
        raise UnsafePath("只能读取时间戳目录中的视频文件")
    return open_in_cycle(out, cycle, filename)


def open_in_cycle(out: OutputDir, cycle: str, filename: str) -> tuple[BinaryIO, os.stat_result]:
    """A regular file directly inside a cycle folder (the caller checked its name), for reading.

    :raises UnsafePath: a bad cycle or file name, a symlink, not a regular file.
    :raises NotFound: no such file. :raises OutputRefused: see :func:`opened_root`.
    """
    check_file_in_cycle(cycle, filename)  # a bad name is refused before anything is opened
    with existing_root(out) as root:
        return open_in_cycle_at(root, cycle, filename)


def open_in_cycle_at(root: OpenRoot, cycle: str, filename: str) -> tuple[BinaryIO, os.stat_result]:
    """:func:`open_in_cycle` in an output folder already open (several files, one check of it)."""
    check_file_in_cycle(cycle, filename)
    cycle_fd = open_cycle_fd(root, cycle)
    try:
        return _open_regular_in(cycle_fd, filename, "只能读取普通视频文件")
    finally:
        os.close(cycle_fd)


def _open_regular_in(folder_fd: int, name: str, refused: str, symlink_refused: str | None = None,
                     max_bytes: int | None = None) -> tuple[BinaryIO, os.stat_result]:
    """:func:`open_regular_file` of ``name`` in an open folder, its refusals in our words.

    :raises NotFound: :raises UnsafePath: ``refused``, or ``symlink_refused`` for a symlink.
    """
    try:
        return open_regular_file(name, dir_fd=folder_fd, max_bytes=max_bytes)
    except FileNotFoundError:
        raise NotFound("文件不存在") from None
    except RefusedFile:
        raise UnsafePath(refused) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(symlink_refused or refused) from None
        raise


MAX_PICTURE_BYTES = 64 * 1024 * 1024


def read_picture(out: OutputDir, cycle: str, name: str) -> tuple[bytes, float]:
    """The bytes and mtime of a thumbnail or contact sheet (by file name) in a cycle folder
    (or a check's, ``checks/<check>``).

    The same confinement as deletion: a cycle folder name, no symlink on the way
    (folders or file), a regular file.

    :raises UnsafePath: not a picture of a cycle folder, or a symlink.
    :raises NotFound: no such picture. :raises OutputRefused: see :func:`opened_root`.
    """
    if not is_clip_folder(cycle) or not is_picture_name(name):
        raise UnsafePath("只能读取时间戳目录中的图片")
    with existing_root(out) as root:
        folder = open_folder(root, cycle, lambda step, fd: open_nofollow(step, os.O_DIRECTORY, fd))
        try:
            file, info = _open_regular_in(folder, name, "只能读取普通图片文件", "不能读取符号链接",
                                          MAX_PICTURE_BYTES)
        finally:
            os.close(folder)
        with file:
            return file.read(), info.st_mtime
