"""Parsed files reused while the file is unchanged: for readers that poll files written atomically.

Every coordinated file is replaced by a rename, so each write gives it a new
inode: ``(inode, size, mtime)`` identifies a version exactly. The ctime is in
it too: a ``chmod`` or ``chown`` changes no content but may make an unreadable
file readable again, and a reader that failed on it must try again. A hit costs one
``stat``; each process (each gunicorn worker) keeps its own entries and
checks them on every read, so none can answer from a stale copy.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def file_signature(path: str) -> tuple | None:
    """``(inode, size, mtime, ctime)`` of ``path``, None if it cannot be stat'ed: differs per version."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class FileCache:
    """``get(path, load)``: ``load(path)``'s result, reloaded only when the file changed."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[tuple, Any]] = {}

    def get(self, path: str, load: Callable[[str], T], kind: str = "") -> T:
        """The cached value of ``load(path)``; callers must treat it as read-only."""
        signature = file_signature(path)
        key = (path, kind)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == signature and signature:
            return entry[1]
        value = load(path)
        self._entries[key] = (signature, value)
        return value
