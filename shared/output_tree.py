"""The output tree ``<output>/<YYYYMMDD_HHMMSS>/<clip>``: listing it and deleting from it safely."""
from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import time
from dataclasses import dataclass

from shared.config import VIDEO_EXTENSIONS
from shared.errors import NotFound, UnsafePath
from shared.timefmt import format_local, is_cycle_name

MAX_CLIENT_PATH = 4096


@dataclass(frozen=True)
class OutputDir:
    """The output folder as the user spelled it (for ``full_path``) and where it really is."""

    display: str
    root: str

    @classmethod
    def from_spelling(cls, spelling: str, base: str) -> "OutputDir":
        """``spelling`` as given on a command line or in the config, relative to ``base``."""
        return cls(spelling, os.path.normpath(os.path.join(base, spelling)))

    def display_path(self, *parts: str) -> str:
        """A path under the output folder, spelled from the user's spelling."""
        return os.path.join(self.display, *parts)


_VIDEO_EXTENSIONS = tuple(VIDEO_EXTENSIONS)
_NON_DIGITS = re.compile(r"[^0-9]+")


def is_video_name(name: str) -> bool:
    """True for a clip file name we record (and so may delete)."""
    return (not name.startswith(".") and name.lower().endswith(_VIDEO_EXTENSIONS)
            and name.rfind(".") > 0)


def stream_index_of(name: str) -> str:
    """The digits of the file name without its extension (``test_stream1.mp4`` → ``"1"``)."""
    dot = name.rfind(".")
    return _NON_DIGITS.sub("", name[:dot] if dot > 0 else name)


def _cycle_names(out: OutputDir) -> list[str]:
    """Cycle folder names, oldest first; symlinked ones are skipped (they could lead anywhere)."""
    try:
        with os.scandir(out.root) as entries:
            names = [e.name for e in entries
                     if is_cycle_name(e.name) and e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    names.sort()
    return names


def _scan_cycle(path: str) -> list[tuple[str, int, float]]:
    """``(name, size, mtime)`` of the clips directly inside a cycle folder, by name."""
    files = []
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if not is_video_name(entry.name) or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while we looked
                files.append((entry.name, info.st_size, info.st_mtime))
    except (FileNotFoundError, NotADirectoryError):
        return []
    files.sort()
    return files


class _ScanCache:
    """Clip lists of cycle folders, reused while the folder itself is unchanged.

    Clips are published by a rename into the folder (the recorder writes hidden
    work files), so a published clip never changes size, and any add, delete or
    rename changes the folder's mtime: a cached list is valid while the folder's
    (mtime, inode) is. A folder changed in the last seconds is always re-read,
    since mtimes only tick every few milliseconds. Each gunicorn worker holds its
    own cache, validated on every request, so no worker can answer stale.
    """

    SETTLE_SECONDS = 2.0
    MAX_FOLDERS = 100_000

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[int, int], list[tuple[str, int, float]]]] = {}

    def files(self, path: str) -> list[tuple[str, int, float]]:
        try:
            info = os.lstat(path)
        except OSError:
            return []
        key = (info.st_mtime_ns, info.st_ino)
        cached = self._entries.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        files = _scan_cycle(path)
        if time.time() - info.st_mtime > self.SETTLE_SECONDS:
            if len(self._entries) >= self.MAX_FOLDERS:
                self._entries.clear()
            self._entries[path] = (key, files)
        else:
            self._entries.pop(path, None)
        return files


_CACHE = _ScanCache()


def _video_files(out: OutputDir, cycle: str) -> list[tuple[str, int, float]]:
    """``(name, size, mtime)`` of the clips directly inside a cycle folder, by name."""
    return _CACHE.files(os.path.join(out.root, cycle))


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


def _video_records(out: OutputDir, cycle: str, when: _TimeFormatter) -> list[dict]:
    prefix = out.display_path(cycle) + "/"
    return [{"filename": name, "full_path": prefix + name, "timestamp_dir": cycle,
             "file_size": size, "created_time": when(mtime),
             "stream_index": stream_index_of(name)} for name, size, mtime in _video_files(out, cycle)]


def list_cycles(out: OutputDir) -> list[dict]:
    """Every cycle folder, newest first: ``{timestamp, video_count, total_size}``."""
    cycles = []
    for name in reversed(_cycle_names(out)):
        files = _video_files(out, name)
        cycles.append({"timestamp": name, "video_count": len(files),
                       "total_size": sum(size for _, size, _ in files)})
    return cycles


def list_videos(out: OutputDir, cycle: str | None = None) -> list[dict]:
    """Clips of every cycle (oldest cycle first, as the seed lists them) or of one.

    :raises NotFound: ``cycle`` is given and is not a cycle folder.
    """
    when = _TimeFormatter()
    if cycle is None:
        return [video for name in _cycle_names(out) for video in _video_records(out, name, when)]
    if not cycle_exists(out, cycle):
        raise NotFound(f"时间戳目录不存在: {cycle}")
    return _video_records(out, cycle, when)


def page_of_videos(out: OutputDir, offset: int, limit: int | None,
                   newest_first: bool) -> list[dict]:
    """A page of the clip listing; reads only the cycle folders the page needs."""
    names = _cycle_names(out)
    if newest_first:
        names.reverse()
    when = _TimeFormatter()
    page: list[dict] = []
    skipped = 0
    for name in names:
        records = _video_records(out, name, when)
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


def cycle_exists(out: OutputDir, cycle: str) -> bool:
    """True when ``cycle`` is a real (not symlinked) cycle folder."""
    try:
        require_cycle(out, cycle)
    except (UnsafePath, NotFound, OSError):
        return False
    return True


def video_location(out: OutputDir, client_path: str, base: str) -> tuple[str, str]:
    """``(cycle, filename)`` of a client's path if it names a clip directly inside a cycle folder.

    Relative paths are taken from ``base`` (the folder the output spelling is
    relative to), so the ``full_path`` values the API lists work as given.

    :raises UnsafePath: anything else, whether or not it exists.
    """
    if not isinstance(client_path, str) or not client_path or len(client_path) > MAX_CLIENT_PATH:
        raise UnsafePath("路径无效")
    if "\x00" in client_path or "\\" in client_path or any(ord(c) < 32 for c in client_path):
        raise UnsafePath("路径包含非法字符")
    if ".." in client_path.split("/"):
        raise UnsafePath("路径不能包含 ..")
    candidate = os.path.normpath(os.path.join(base, client_path))
    relative = os.path.relpath(candidate, out.root)
    parts = relative.split(os.sep)
    if len(parts) != 2 or not is_cycle_name(parts[0]) or not is_video_name(parts[1]):
        raise UnsafePath("只能删除时间戳目录中的视频文件")
    return parts[0], parts[1]


def delete_video(out: OutputDir, cycle: str, filename: str) -> None:
    """Unlink one clip without following any symlink on the way.

    :raises UnsafePath: the folder or the file is a symlink or not a regular file.
    :raises NotFound: no such clip.
    :raises OSError: the unlink itself failed.
    """
    try:
        root_fd = os.open(out.root, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise NotFound("文件不存在") from None
    try:
        try:
            cycle_fd = os.open(cycle, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=root_fd)
        except FileNotFoundError:
            raise NotFound("文件不存在") from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UnsafePath("时间戳目录不能是符号链接") from None
            raise
        try:
            try:
                info = os.stat(filename, dir_fd=cycle_fd, follow_symlinks=False)
            except FileNotFoundError:
                raise NotFound("文件不存在") from None
            if not stat.S_ISREG(info.st_mode):
                raise UnsafePath("只能删除普通视频文件")
            os.unlink(filename, dir_fd=cycle_fd)
        finally:
            os.close(cycle_fd)
    finally:
        os.close(root_fd)


def require_cycle(out: OutputDir, cycle: str) -> str:
    """The path of cycle folder ``cycle``, checked.

    :raises UnsafePath: ``cycle`` is not a cycle folder name, or it is a symlink.
    :raises NotFound: no such folder.
    """
    if not isinstance(cycle, str) or not is_cycle_name(cycle):
        raise UnsafePath("只能删除时间戳目录")
    path = os.path.join(out.root, cycle)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise NotFound(f"时间戳目录不存在: {cycle}") from None
    if not stat.S_ISDIR(mode):
        raise UnsafePath("时间戳目录不能是符号链接")
    return path


def delete_cycle(out: OutputDir, cycle: str) -> None:
    """Remove a whole cycle folder.

    :raises UnsafePath, NotFound: see :func:`require_cycle`.
    :raises OSError: the removal failed part way.
    """
    path = require_cycle(out, cycle)
    # rmtree works through directory fds on Linux and never follows a symlink inside.
    shutil.rmtree(path)
