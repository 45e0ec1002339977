"""A file opened for reading only when it is a regular file, checked before a byte is read.

The one way the API and the recorder open a file whose name someone else may have planted
(a reference picture, a cycle's clip or report, config.json): never through a symlink at the
name (unless the caller allows one), never blocking on a FIFO there until a writer comes,
never a folder or a device, and never larger than the caller's bound.
"""
from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO


class RefusedFile(OSError):
    """The file is there but not one to read: not a regular file, or larger than allowed."""


def open_regular_file(path: str, dir_fd: int | None = None, max_bytes: int | None = None,
                      follow_symlinks: bool = False) -> tuple[BinaryIO, os.stat_result]:
    """``path`` (in ``dir_fd`` when given) opened for binary reading, and its stat.

    The caller closes the file. :raises FileNotFoundError: missing.
    :raises OSError: ``errno.ELOOP``: a symlink at the name (unless ``follow_symlinks``);
        :class:`RefusedFile`: see :func:`check_regular`; others as :func:`os.open` raises them.
    """
    # O_NONBLOCK: a FIFO planted at the name must not hang the reader (refused below).
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    fd = os.open(path, flags, dir_fd=dir_fd)
    try:
        info = check_regular(os.fstat(fd), path, max_bytes)
        handle = os.fdopen(fd, "rb")  # after the check: fdopen refuses a folder itself
    except BaseException:
        os.close(fd)
        raise
    return handle, info


def check_regular(info: os.stat_result, path: str, max_bytes: int | None = None) -> os.stat_result:
    """``info`` when it is a regular file's of at most ``max_bytes`` (when given).

    :raises RefusedFile: (``errno.EINVAL``) a folder, FIFO, device or socket, or too large.
    """
    if not stat.S_ISREG(info.st_mode):
        raise RefusedFile(errno.EINVAL, "not a regular file", path)
    if max_bytes is not None and info.st_size > max_bytes:
        raise RefusedFile(errno.EINVAL, f"larger than {max_bytes} bytes", path)
    return info
