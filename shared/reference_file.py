"""A camera's reference picture read from its file, never through a symlink at its name.

The ``references`` folder may itself be a symlink (one folder on a cluster's shared
mount, README "Reference pictures"); the picture in it may not be: whoever can write in
that folder could otherwise plant ``<camera>.jpg`` -> ``config.json`` and have the API
serve the passwords as the camera's picture, or the recorder compare against any file.
Both processes read a reference here, as the output tree reads a thumbnail.
"""
from __future__ import annotations

import errno
import os
import stat

from shared.output_tree.reading import MAX_PICTURE_BYTES


def read_reference(path: str) -> tuple[bytes, os.stat_result]:
    """The bytes of the reference picture at ``path`` and its file's stat.

    :raises OSError: missing (FileNotFoundError), a symlink (see :func:`is_symlink_refused`),
        not a regular file or too large (EINVAL), unreadable.
    """
    # O_NONBLOCK: a FIFO planted there must not hang the reader.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = _checked(os.fstat(fd), path)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        return handle.read(MAX_PICTURE_BYTES + 1), info


def reference_stamp(path: str) -> os.stat_result:
    """The stat of the reference picture at ``path`` (its time and size say whether it changed),
    never of a file a symlink there points to. :raises OSError: as :func:`read_reference`."""
    return _checked(os.lstat(path), path)


def _checked(info: os.stat_result, path: str) -> os.stat_result:
    if stat.S_ISLNK(info.st_mode):
        raise OSError(errno.ELOOP, "a symlink, not a picture", path)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_PICTURE_BYTES:
        raise OSError(errno.EINVAL, "not a regular picture file", path)
    return info


def is_symlink_refused(exc: OSError) -> bool:
    """True when ``exc`` refused the reference file for being a symlink."""
    return exc.errno == errno.ELOOP
