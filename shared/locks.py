"""Locks for coordinated files: always a sibling ``<file>.lock``, never the data file itself."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import filelock

from shared.errors import LockTimeout

# Long enough for any writer (they hold the lock only for a read and an atomic
# write), short enough that a request never waits into gunicorn's worker timeout.
DEFAULT_TIMEOUT_SECONDS = 5.0


def lock_path_for(path: str) -> str:
    """The lock file that guards ``path``."""
    return os.path.abspath(path) + ".lock"


@contextlib.contextmanager
def locked(path: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the lock of ``path`` for the body of the ``with``.

    :raises LockTimeout: another process held it for longer than ``timeout`` seconds.
    """
    lock = filelock.FileLock(lock_path_for(path), timeout=timeout)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise LockTimeout(lock_path_for(path)) from exc
    try:
        yield
    finally:
        lock.release()
