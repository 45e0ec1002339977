"""Listing the output tree: cycles and their clips, thumbnails and contact sheets, from a scan
cache each gunicorn worker keeps and checks on every request."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

from shared.clip_names import contact_sheet_name, thumbnail_name
from shared.clock import SYSTEM_CLOCK
from shared.errors import NotFound, UnsafePath
from shared.output_tree.names import (CHECKS_FOLDER, CHECKS_PREFIX, folder_of,
                                      foreign_characters, is_foreign_video_name,
                                      is_picture_name, is_video_name, stream_index_of)
from shared.output_tree.reading import read_picture
from shared.output_tree.root import (OpenRoot, OutputDir, check_folder_names, cycle_names,
                                     is_cycle_at, is_real_dir_at, opened_root)
from shared.output_tree.urls import clip_url, contact_sheet_url, thumbnail_url
from shared.timefmt import format_local

log = logging.getLogger(__name__)


class _OnceLog:
    """Log each skipped entry once per process: listings run on every request."""

    LIMIT = 10_000

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def __call__(self, key: str, message: str, *args: object) -> None:
        if key in self._seen:
            return
        if len(self._seen) >= self.LIMIT:
            self._seen.clear()
        self._seen.add(key)
        log.warning(message, *args)


_skipped = _OnceLog()


def _shown(name: str) -> str:
    """A file name as a log line can show it: undecodable bytes and control characters escaped."""
    return repr(os.fsencode(name))[2:-1]


def _is_text(name: str) -> bool:
    """True when ``name`` is valid UTF-8 (a name we can answer in JSON)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clip_entry(root: OpenRoot, cycle: str, entry: os.DirEntry) -> tuple[str, int, float] | None:
    """``(name, size, mtime)`` of a clip; None for anything else (foreign names are logged)."""
    if not is_video_name(entry.name):
        if is_foreign_video_name(entry.name):
            _skipped(f"{root.path}/{cycle}/{_shown(entry.name)}",
                     "listing: skipped %s/%s: %s in its name",
                     cycle, _shown(entry.name), foreign_characters(entry.name))
        return None
    if not _is_text(entry.name):
        _skipped(f"{root.path}/{cycle}/{_shown(entry.name)}",
                 "listing: skipped %s/%s: not a UTF-8 name", cycle, _shown(entry.name))
        return None
    try:
        if not entry.is_file(follow_symlinks=False):
            return None
        info = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None  # deleted while we looked
    return entry.name, info.st_size, info.st_mtime


def _scan_cycle(root: OpenRoot, cycle: str) -> tuple[list, frozenset] | None:
    """The clips directly inside a cycle folder, by name, and the names of its pictures;
    None when it cannot be read."""
    try:
        fd = os.open(cycle, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=root.fd)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        _skipped(f"{root.path}/{cycle}", "listing: skipped cycle %s: %s", cycle,
                 exc.strerror or exc)
        return None
    try:
        with os.scandir(fd) as entries:
            listed = list(entries)
        files = [clip for clip in (_clip_entry(root, cycle, e) for e in listed) if clip]
        # Only files: a symlink at a picture's name is refused when asked for (403), so it
        # is no thumbnail or contact-sheet page to list either.
        pictures = frozenset(e.name for e in listed
                             if is_picture_name(e.name) and e.is_file(follow_symlinks=False))
    except OSError as exc:
        _skipped(f"{root.path}/{cycle}", "listing: skipped cycle %s: %s", cycle,
                 exc.strerror or exc)
        return None
    finally:
        os.close(fd)
    files.sort()
    return files, pictures


class ScanCache:
    """Clip lists of cycle folders, reused while the folder itself is unchanged.

    Clips are published by a rename into the folder (the recorder writes hidden
    work files), so a published clip never changes size, and any add, delete or
    rename changes the folder's mtime: a cached list is valid while the folder's
    (mtime, inode) is. A folder changed in the last seconds is always re-read,
    since mtimes only tick every few milliseconds. Each gunicorn worker holds its
    own cache, validated on every request, so no worker can answer stale.
    ``clock`` (wall time, as mtimes are) is the seam tests replace.
    """

    SETTLE_SECONDS = 2.0
    MAX_FOLDERS = 100_000

    def __init__(self, clock: Callable[[], float] = SYSTEM_CLOCK.wall) -> None:
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[tuple[int, int], tuple]] = {}

    def files(self, root: OpenRoot, cycle: str) -> list[tuple[str, int, float]] | None:
        """``(name, size, mtime)`` of the clips in ``cycle``; None when it cannot be read."""
        scan = self._scan(root, cycle)
        return scan[0] if scan is not None else None

    def pictures(self, root: OpenRoot, cycle: str) -> frozenset:
        """The names of the thumbnails and the contact sheet in ``cycle`` (their files' names)."""
        scan = self._scan(root, cycle)
        return scan[1] if scan is not None else frozenset()

    def _scan(self, root: OpenRoot, cycle: str) -> tuple[list, frozenset] | None:
        try:
            info = os.lstat(cycle, dir_fd=root.fd)
        except OSError:
            return [], frozenset()
        key, path = (info.st_mtime_ns, info.st_ino), (root.path, cycle)
        cached = self._entries.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        scan = _scan_cycle(root, cycle)
        if scan is not None and self._clock() - info.st_mtime > self.SETTLE_SECONDS:
            if len(self._entries) >= self.MAX_FOLDERS:
                self._entries.clear()
            self._entries[path] = (key, scan)
        else:
            self._entries.pop(path, None)
        return scan


_CACHE = ScanCache()


class _TimeFormatter:
    """format_local with a cache: the clips of a cycle share few distinct seconds."""

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def __call__(self, epoch: float) -> str:
        second = int(epoch)
        text = self._cache.get(second)
        if text is None:
            text = self._cache[second] = format_local(second)
        return text


def thumbnail_urls(out: OutputDir, clips: Iterable[str | None]) -> dict[str, str]:
    """The thumbnail URL of each clip (by its history path) whose thumbnail is there now.

    One ``lstat`` per distinct folder: its pictures come from the worker's scan cache
    (:class:`ScanCache`) while the folder is unchanged, so 1,000 cameras cost no 1,000 stats.
    """
    by_folder: dict[str, list[tuple[str, str]]] = {}
    for clip in {clip for clip in clips if clip}:
        head, _, name = clip.rpartition("/")
        by_folder.setdefault(head, []).append((clip, name))
    found: dict[str, str] = {}
    with opened_root(out) as root:
        checks_real = root is not None and is_real_dir_at(root, CHECKS_FOLDER)
        for head, named in by_folder.items() if root is not None else ():
            folder = folder_of(head)
            if folder is None or (folder.startswith(CHECKS_PREFIX) and not checks_real):
                continue
            pictures = _CACHE.pictures(root, folder)
            found.update((clip, thumbnail_url(folder, name)) for clip, name in named
                         if is_video_name(name) and thumbnail_name(name) in pictures)
    return found


def _video_records(out: OutputDir, root: OpenRoot, cycle: str, when: _TimeFormatter) -> list[dict]:
    prefix = out.display_path(cycle) + "/"
    pictures = _CACHE.pictures(root, cycle)
    return [{"filename": name, "full_path": prefix + name, "timestamp_dir": cycle,
             "file_size": size, "created_time": when(mtime),
             "stream_index": stream_index_of(name), "url": clip_url(cycle, name),
             "thumbnail": (thumbnail_url(cycle, name) if thumbnail_name(name) in pictures
                           else None)}
            for name, size, mtime in _CACHE.files(root, cycle) or ()]


def _cycle_record(root: OpenRoot, name: str) -> dict | None:
    """``{timestamp, video_count, total_size, contact_sheet, contact_sheet_pages}`` of a cycle
    folder (None: unreadable)."""
    files = _CACHE.files(root, name)
    if files is None:
        return None
    pages = _sheet_pages(_CACHE.pictures(root, name))
    return {"timestamp": name, "video_count": len(files),
            "total_size": sum(size for _, size, _ in files),
            "contact_sheet": contact_sheet_url(name) if pages else None,
            "contact_sheet_pages": pages}


def _sheet_pages(pictures: frozenset) -> int:
    """How many pages of the contact sheet a folder holds, from the first on without a gap."""
    pages = 0
    while contact_sheet_name(pages + 1) in pictures:
        pages += 1
    return pages


def cycle_record(out: OutputDir, name: str) -> dict | None:
    """:func:`list_cycles`' record of the one cycle folder ``name`` (None: none, or unreadable)."""
    with opened_root(out) as root:
        return _cycle_record(root, name) if root else None


def list_cycles(out: OutputDir) -> list[dict]:
    """Every readable cycle folder, newest first: ``{timestamp, video_count, total_size}``."""
    with opened_root(out) as root:
        records = [_cycle_record(root, name) for name in reversed(cycle_names(root) if root else [])]
    return [record for record in records if record is not None]


def page_of_cycles(out: OutputDir, offset: int, limit: int,
                   newest_first: bool = True) -> tuple[int, list[dict]]:
    """How many cycle folders there are, and a page of them as :func:`list_cycles` lists them.

    Only the page's folders are read (an unreadable one is left out of the page).
    """
    with opened_root(out) as root:
        names = cycle_names(root) if root else []
        ordered = names[::-1] if newest_first else names
        records = [_cycle_record(root, name) for name in ordered[offset:offset + limit]]
    return len(names), [record for record in records if record is not None]


def list_videos(out: OutputDir, cycle: str | None = None) -> list[dict]:
    """Clips of every cycle (oldest cycle first, as the seed lists them) or of one.

    :raises NotFound: ``cycle`` is given and is not a cycle folder.
    """
    when = _TimeFormatter()
    with opened_root(out) as root:
        if cycle is None:
            names = cycle_names(root) if root else []
            return [video for name in names for video in _video_records(out, root, name, when)]
        if root is None or not is_cycle_at(root, cycle):
            raise NotFound(f"时间戳目录不存在: {cycle}")
        return _video_records(out, root, cycle, when)


def page_of_videos(out: OutputDir, offset: int, limit: int | None,
                   newest_first: bool) -> list[dict]:
    """A page of the clip listing; reads only the cycle folders the page needs."""
    when = _TimeFormatter()
    page: list[dict] = []
    skipped = 0
    with opened_root(out) as root:
        names = cycle_names(root) if root else []
        for name in reversed(names) if newest_first else names:
            records = _video_records(out, root, name, when)
            if newest_first:
                records.reverse()
            if skipped + len(records) <= offset:
                skipped += len(records)
                continue
            page.extend(records[max(0, offset - skipped):])
            skipped = offset
            if limit is not None and len(page) >= limit:
                break
    return page[:limit] if limit is not None else page


def latest_thumbnail(out: OutputDir, clip: str) -> tuple[str, bytes] | None:
    """The newest thumbnail of ``clip`` in a cycle or a check's folder: that folder (a cycle
    name, or ``checks/<check>``) and the thumbnail's bytes.

    Newest by the picture's own time (its file's mtime: written as its clip ended), not by
    the folder's name, the time its cycle or check began: a check may run beside a cycle
    that records the camera later than the check did. Equal times go to the later folder.
    """
    name = thumbnail_name(clip)
    with opened_root(out) as root:
        found = _thumbnail_times(root, name) if root is not None else []
    for _, folder in sorted(found, reverse=True):
        try:
            return folder, read_picture(out, folder, name)[0]
        except (NotFound, UnsafePath):
            continue  # removed or swapped meanwhile: the next newest
    return None


def _thumbnail_times(root: OpenRoot, name: str) -> list[tuple[tuple[int, str], str]]:
    """``((mtime_ns, folder timestamp), folder)`` of every cycle and check folder holding the
    picture ``name`` (from the scan cache: a stat only where it is)."""
    folders = cycle_names(root) + [CHECKS_PREFIX + check for check in check_folder_names(root)]
    found = []
    for folder in folders:
        if name not in _CACHE.pictures(root, folder):
            continue
        try:
            info = os.stat(f"{folder}/{name}", dir_fd=root.fd, follow_symlinks=False)
        except OSError:
            continue  # gone meanwhile
        stamp = folder.removeprefix(CHECKS_PREFIX)[:15]  # YYYYMMDD_HHMMSS of either kind
        found.append(((info.st_mtime_ns, stamp), folder))
    return found
