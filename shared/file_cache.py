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
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


def stat_signature(info: os.stat_result) -> tuple:
    """``(inode, size, mtime, ctime)`` of a stat result (of an open file, too): differs per version."""
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def file_signature(path: str) -> tuple | None:
    """The :func:`stat_signature` of ``path``, None if it cannot be stat'ed."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return stat_signature(info)


class FileCache:
    """``get(path, load)``: ``load(path)``'s result, reloaded only when the file changed.

    ``max_entries``: forget every entry when that many are held (for caches keyed by
    many files, e.g. one per cycle folder); None keeps them all.
    """

    def __init__(self, max_entries: int | None = None) -> None:
        self._entries: dict[Hashable, tuple[tuple, Any]] = {}
        self._max = max_entries

    def get(self, path: str, load: Callable[[str], T], kind: str = "") -> T:
        """The cached value of ``load(path)``; callers must treat it as read-only."""
        return self.get_version((path, kind), file_signature(path), lambda: load(path))

    def get_version(self, key: Hashable, signature: tuple | None, load: Callable[[], T]) -> T:
        """The value cached under ``key`` for this ``signature``, else ``load()``'s (then kept)."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] == signature and signature:
            return entry[1]
        value = load()
        if self._max is not None and len(self._entries) >= self._max and key not in self._entries:
            self._entries.clear()
        self._entries[key] = (signature, value)
        return value
