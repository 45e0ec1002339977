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
from shared.regular_file import check_regular, open_regular_file


def read_reference(path: str) -> tuple[bytes, os.stat_result]:
    """The bytes of the reference picture at ``path`` and its file's stat.

    :raises OSError: missing (FileNotFoundError), a symlink (see :func:`is_symlink_refused`),
        not a regular file or too large (EINVAL), unreadable.
    """
    handle, info = open_regular_file(path, max_bytes=MAX_PICTURE_BYTES)
    with handle:
        return handle.read(MAX_PICTURE_BYTES + 1), info


def reference_stamp(path: str) -> os.stat_result:
    """The stat of the reference picture at ``path`` (its time and size say whether it changed),
    never of a file a symlink there points to. :raises OSError: as :func:`read_reference`."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise OSError(errno.ELOOP, "a symlink, not a picture", path)
    return check_regular(info, path, MAX_PICTURE_BYTES)


def is_symlink_refused(exc: OSError) -> bool:
    """True when ``exc`` refused the reference file for being a symlink."""
    return exc.errno == errno.ELOOP
