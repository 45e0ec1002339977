"""Locks for coordinated files: always a sibling ``<file>.lock``, never the data file itself.

A lock path is predictable, so someone who can write in the config's folder
could plant a symlink (or a hard link) there, hoping we open it for writing
and damage its target. filelock >= 3.20.1 opens with ``O_NOFOLLOW`` (4.x also
without ``O_TRUNC``), so it refuses a symlink instead of following it; but a
refusal alone would fail every write until someone removed the link. So we
first remove anything at the lock path that is not a plain, singly linked
file: unlinking a name never touches what it points to.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from collections.abc import Iterator

import filelock

from shared.atomic import remove_orphan_temp_files
from shared.errors import LockTimeout, LockUnusable

log = logging.getLogger(__name__)

# Long enough for any writer (they hold the lock only for a read and an atomic
# write), short enough that a request never waits into gunicorn's worker timeout:
# a request waits for at most MAX_LOCK_WAITS_PER_REQUEST locks, one after the
# other, and tests/test_locks.py checks that sum against gunicorn.conf.py.
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_LOCK_WAITS_PER_REQUEST = 2  # POST /api/config/reload: config.json, then control.json


def lock_path_for(path: str) -> str:
    """The lock file that guards ``path``."""
    return os.path.abspath(path) + ".lock"


def remove_planted_link(lock_path: str) -> bool:
    """Remove a symlink, hard link or special file found at ``lock_path``; True if one was removed.

    Our own lock files are regular files with one link; nothing of ours ever
    makes anything else there. A directory is left alone (filelock refuses it).
    """
    try:
        info = os.lstat(lock_path)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink == 1):
        return False
    log.warning("removing a link or special file planted at the lock path %s", lock_path)
    try:
        os.unlink(lock_path)
    except FileNotFoundError:
        pass
    return True


@contextlib.contextmanager
def locked(path: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the lock of ``path`` for the body of the ``with``.

    ``timeout`` defaults to :data:`DEFAULT_TIMEOUT_SECONDS` (read at call time).

    :raises LockTimeout: another process held it for longer than ``timeout`` seconds,
        or a symlink was planted at the lock path while we were opening it.
    :raises LockUnusable: the lock path cannot be opened (a directory planted there).
    """
    lock_path = lock_path_for(path)
    remove_planted_link(lock_path)
    wait = DEFAULT_TIMEOUT_SECONDS if timeout is None else timeout
    lock = filelock.FileLock(lock_path, timeout=wait)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise LockTimeout(lock_path) from exc
    except OSError as exc:
        # ELOOP: a link planted between our check and the open, refused by
        # O_NOFOLLOW. The caller retries (503 Retry-After) and we remove it then.
        if exc.errno == errno.ELOOP:
            raise LockTimeout(lock_path) from exc
        # A directory (which we never remove: it may hold someone's files), or a
        # folder we may not write in: no wait helps, someone has to fix it.
        raise LockUnusable(lock_path, exc.strerror or str(exc)) from exc
    try:
        removed = remove_orphan_temp_files(path)
        if removed:
            log.warning("removed %d temp file(s) of a writer that died: %s", len(removed),
                        ", ".join(removed))
        yield
    finally:
        lock.release()
