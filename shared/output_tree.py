"""The output tree ``<output>/<YYYYMMDD_HHMMSS>/<clip>``: listing it and deleting from it safely."""
from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

from urllib.parse import quote

from shared.clip_names import CONTACT_SHEET, THUMBNAIL_SUFFIX, WORK_PREFIX, thumbnail_name
from shared.clock import SYSTEM_CLOCK
from shared.config import VIDEO_EXTENSIONS
from shared.errors import NotFound, UnsafePath
from shared.output_rule import check_output_path
from shared.timefmt import cycle_order, format_local, is_cycle_name

log = logging.getLogger(__name__)

MAX_CLIENT_PATH = 4096
# "Check now" records into <output>/checks/<YYYYMMDD_HHMMSS>_<camera>/ (recorder/checks.py);
# "checks" is no cycle name, so cycle scans, listings and retention never see it.
CHECKS_FOLDER = "checks"
CHECKS_PREFIX = CHECKS_FOLDER + "/"
CHECK_NAME_RE = re.compile(r"\A[0-9]{8}_[0-9]{6}_[^/\x00\n]+\Z")


@dataclass(frozen=True)
class OutputDir:
    """The output folder as the user spelled it (for ``full_path``) and where it really is.

    ``config_file`` is the config it belongs to: every use of the folder checks
    the output_directory rule (shared/output_rule.py) on where it resolves then.
    """

    display: str
    root: str
    config_file: str | None = None

    @classmethod
    def from_spelling(cls, spelling: str, base: str,
                      config_file: str | None = None) -> "OutputDir":
        """``spelling`` as given on a command line or in the config, relative to ``base``."""
        return cls(spelling, os.path.normpath(os.path.join(base, spelling)), config_file)

    def display_path(self, *parts: str) -> str:
        """A path under the output folder, spelled from the user's spelling."""
        return os.path.join(self.display, *parts)


_VIDEO_EXTENSIONS = tuple(VIDEO_EXTENSIONS)
_NON_DIGITS = re.compile(r"[^0-9]+")


def is_video_name(name: str) -> bool:
    """True for a clip file name we record (and so may delete)."""
    return (not name.startswith(".") and name.lower().endswith(_VIDEO_EXTENSIONS)
            and name.rfind(".") > 0)


def is_check_folder_name(name: str) -> bool:
    """True for the name of a check's folder inside ``checks/`` (``<YYYYMMDD_HHMMSS>_<camera>``)."""
    return isinstance(name, str) and CHECK_NAME_RE.fullmatch(name) is not None


def is_clip_folder(folder: str) -> bool:
    """True for where clips are served from: a cycle folder name, or ``checks/<check folder>``."""
    if not isinstance(folder, str):
        return False
    if folder.startswith(CHECKS_PREFIX):
        return is_check_folder_name(folder[len(CHECKS_PREFIX):])
    return is_cycle_name(folder)


def split_location(location: str) -> tuple[str, str]:
    """``(folder, file)`` of a served path: ``<cycle>/<file>`` or ``checks/<check>/<file>``.

    :raises UnsafePath: anything else (deeper, shallower, another folder).
    """
    folder, _, filename = location.rpartition("/")
    if not filename or not is_clip_folder(folder):
        raise UnsafePath("只能读取时间戳目录中的视频文件")
    return folder, filename


def stream_index_of(name: str) -> str:
    """The digits of the file name without its extension (``test_stream1.mp4`` → ``"1"``)."""
    dot = name.rfind(".")
    return _NON_DIGITS.sub("", name[:dot] if dot > 0 else name)


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


@dataclass(frozen=True)
class OpenRoot:
    """The output folder opened for one operation: its descriptor and where it resolved."""

    fd: int
    path: str


@contextmanager
def opened_root(out: OutputDir) -> Iterator[OpenRoot | None]:
    """The output folder opened once and checked against the rule where it resolves now.

    Everything done through the descriptor stays in the folder that was checked,
    even if the path is swapped for a symlink meanwhile. None when it does not exist.

    :raises OutputRefused: the folder resolves where the rule forbids.
    """
    try:
        fd = os.open(out.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        yield None
        return
    try:
        path = _where(fd, out.root)
        check_output_path(path, out.config_file)
        yield OpenRoot(fd, path)
    finally:
        os.close(fd)


def _where(fd: int, spelled: str) -> str:
    """Where an open folder is; from its spelling, links followed, only when /proc is missing."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(spelled)


def _is_real_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def cycle_names(root: OpenRoot) -> list[str]:
    """Cycle folder names, oldest first by (timestamp, suffix); symlinked ones are skipped.

    The one scan of cycle folders: the API's listings and retention both use it.
    """
    with os.scandir(root.fd) as entries:
        names = [e.name for e in entries if is_cycle_name(e.name) and _is_real_dir(e)]
    names.sort(key=cycle_order)
    return names


def cycle_names_in(out: OutputDir) -> list[str]:
    """:func:`cycle_names` of the output folder, opened and checked for this one scan ([] when absent).

    :raises OutputRefused: the folder resolves where the rule forbids.
    :raises OSError: it cannot be read.
    """
    with opened_root(out) as root:
        return cycle_names(root) if root else []


def _clip_entry(root: OpenRoot, cycle: str, entry: os.DirEntry) -> tuple[str, int, float] | None:
    """``(name, size, mtime)`` of a clip; None for anything else (foreign names are logged)."""
    if not is_video_name(entry.name):
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


def _is_picture_name(name: str) -> bool:
    """A clip's thumbnail (``.cam.mp4.jpg``) or the cycle's contact sheet."""
    if "/" in name or "\x00" in name:
        return False
    return name == CONTACT_SHEET or (name.startswith(WORK_PREFIX) and name.endswith(
        THUMBNAIL_SUFFIX) and is_video_name(name[len(WORK_PREFIX):-len(THUMBNAIL_SUFFIX)]))


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
        pictures = frozenset(e.name for e in listed if _is_picture_name(e.name))
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


THUMBNAIL_ROUTE = "/api/thumbnails/"
CONTACT_SHEET_ROUTE = "/api/contact_sheets/"


def thumbnail_url(cycle: str, clip: str) -> str:
    """Where the API serves a clip's thumbnail (app/pictures.py); ``cycle`` may be a check's folder."""
    return f"{THUMBNAIL_ROUTE}{quote(cycle, safe='/')}/{quote(clip, safe='')}"


def clip_location(display_path: str) -> tuple[str, str] | None:
    """``(folder, clip)`` of a clip's path as the history keeps it (``./output/<cycle>/cam.mp4``
    or ``…/checks/<check>/cam.mp4``); None for any other path."""
    head, _, name = display_path.rpartition("/")
    folder = _folder_of(head)
    return (folder, name) if folder is not None and is_video_name(name) else None


def _folder_of(head: str) -> str | None:
    """The cycle or check folder (``checks/<check>``) a clip's directory path ends in."""
    rest, _, folder = head.rpartition("/")
    if rest.rpartition("/")[2] == CHECKS_FOLDER and is_check_folder_name(folder):
        folder = CHECKS_PREFIX + folder
    return folder if is_clip_folder(folder) else None


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
        checks_real = root is not None and _is_real_dir_at(root, CHECKS_FOLDER)
        for head, named in by_folder.items() if root is not None else ():
            folder = _folder_of(head)
            if folder is None or (folder.startswith(CHECKS_PREFIX) and not checks_real):
                continue
            pictures = _CACHE.pictures(root, folder)
            found.update((clip, thumbnail_url(folder, name)) for clip, name in named
                         if is_video_name(name) and thumbnail_name(name) in pictures)
    return found


def _is_real_dir_at(root: OpenRoot, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(name, dir_fd=root.fd).st_mode)
    except OSError:
        return False


def _video_records(out: OutputDir, root: OpenRoot, cycle: str, when: _TimeFormatter) -> list[dict]:
    prefix = out.display_path(cycle) + "/"
    pictures = _CACHE.pictures(root, cycle)
    return [{"filename": name, "full_path": prefix + name, "timestamp_dir": cycle,
             "file_size": size, "created_time": when(mtime),
             "stream_index": stream_index_of(name), "url": clip_url(cycle, name),
             "thumbnail": (thumbnail_url(cycle, name) if thumbnail_name(name) in pictures
                           else None)}
            for name, size, mtime in _CACHE.files(root, cycle) or ()]


CLIPS_URL = "/api/clips"


def clip_url(cycle: str, filename: str) -> str:
    """Where the API serves a clip (SPEC "Clips over HTTP"), the name percent-encoded."""
    return f"{CLIPS_URL}/{quote(cycle, safe='/')}/{quote(filename, safe='')}"


def _cycle_record(root: OpenRoot, name: str) -> dict | None:
    """``{timestamp, video_count, total_size, contact_sheet}`` of a cycle folder (None: unreadable)."""
    files = _CACHE.files(root, name)
    if files is None:
        return None
    sheet = CONTACT_SHEET in _CACHE.pictures(root, name)
    return {"timestamp": name, "video_count": len(files),
            "total_size": sum(size for _, size, _ in files),
            "contact_sheet": CONTACT_SHEET_ROUTE + name if sheet else None}


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
        if root is None or not _is_cycle_at(root, cycle):
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


def _require_cycle_at(root: OpenRoot, cycle: str) -> None:
    """:raises UnsafePath: not a cycle folder name, or a symlink. :raises NotFound:"""
    if not isinstance(cycle, str) or not is_cycle_name(cycle):
        raise UnsafePath("只能删除时间戳目录")
    try:
        mode = os.lstat(cycle, dir_fd=root.fd).st_mode
    except FileNotFoundError:
        raise NotFound(f"时间戳目录不存在: {cycle}") from None
    if not stat.S_ISDIR(mode):
        raise UnsafePath("时间戳目录不能是符号链接")


def _is_cycle_at(root: OpenRoot, cycle: str) -> bool:
    try:
        _require_cycle_at(root, cycle)
    except (UnsafePath, NotFound, OSError):
        return False
    return True


def cycle_exists(out: OutputDir, cycle: str) -> bool:
    """True when ``cycle`` is a real (not symlinked) cycle folder."""
    with opened_root(out) as root:
        return root is not None and _is_cycle_at(root, cycle)


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


@contextmanager
def _existing_root(out: OutputDir) -> Iterator[OpenRoot]:
    """:func:`opened_root`, for an operation on something that must exist. :raises NotFound:"""
    with opened_root(out) as root:
        if root is None:
            raise NotFound("文件不存在")
        yield root


def delete_video(out: OutputDir, cycle: str, filename: str) -> None:
    """Unlink one clip without following any symlink on the way.

    :raises UnsafePath: the folder or the file is a symlink or not a regular file.
    :raises NotFound: no such clip (or another request removed it first).
    :raises OutputRefused: the output folder resolves where the rule forbids.
    :raises OSError: the unlink itself failed.
    """
    with _existing_root(out) as root:
        cycle_fd = _open_cycle_fd(root, cycle)
        try:
            _unlink_clip(cycle_fd, filename)
        finally:
            os.close(cycle_fd)


def _open_folder(root: OpenRoot, folder: str, open_one: Callable[[str, int], int]) -> int:
    """A cycle folder, or ``checks/<check>`` one step at a time with ``open_one(name, dir_fd)``
    (O_NOFOLLOW only guards a path's last step: ``checks`` itself must be no symlink either)."""
    if not folder.startswith(CHECKS_PREFIX):
        return open_one(folder, root.fd)
    checks = open_one(CHECKS_FOLDER, root.fd)
    try:
        return open_one(folder[len(CHECKS_PREFIX):], checks)
    finally:
        os.close(checks)


def _open_cycle_fd(root: OpenRoot, cycle: str) -> int:
    """A cycle (or check) folder opened without following a symlink. :raises NotFound, UnsafePath:"""
    return _open_folder(root, cycle, _open_cycle_at)


def _open_cycle_at(name: str, dir_fd: int) -> int:
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                       dir_fd=dir_fd)
    except FileNotFoundError:
        raise NotFound("文件不存在") from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePath("时间戳目录不能是符号链接") from None
        raise


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
    _check_file_in_cycle(cycle, filename)  # a bad name is refused before anything is opened
    with _existing_root(out) as root:
        return open_in_cycle_at(root, cycle, filename)


def _check_file_in_cycle(cycle: str, filename: str) -> None:
    """:raises UnsafePath: not a cycle folder name, or not a plain file name."""
    if not (is_clip_folder(cycle) and filename and "/" not in filename
            and "\x00" not in filename and filename not in (".", "..")):
        raise UnsafePath("只能读取时间戳目录中的视频文件")


def open_in_cycle_at(root: OpenRoot, cycle: str, filename: str) -> tuple[BinaryIO, os.stat_result]:
    """:func:`open_in_cycle` in an output folder already open (several files, one check of it)."""
    _check_file_in_cycle(cycle, filename)
    cycle_fd = _open_cycle_fd(root, cycle)
    try:
        # O_NONBLOCK: a FIFO named like a clip must not hang the worker (refused below).
        fd = os.open(filename, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     dir_fd=cycle_fd)
    except FileNotFoundError:
        raise NotFound("文件不存在") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath("只能读取普通视频文件") from None
        raise
    finally:
        os.close(cycle_fd)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafePath("只能读取普通视频文件")
    return os.fdopen(fd, "rb"), info


def _unlink_clip(cycle_fd: int, filename: str) -> None:
    try:
        info = os.stat(filename, dir_fd=cycle_fd, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePath("只能删除普通视频文件")
        os.unlink(filename, dir_fd=cycle_fd)
    except FileNotFoundError:
        # Also when a concurrent delete of the same clip won between stat and unlink.
        raise NotFound("文件不存在") from None
    try:  # its thumbnail goes with it (unlink removes a symlink, never its target)
        os.unlink(thumbnail_name(filename), dir_fd=cycle_fd)
    except FileNotFoundError:
        pass


def require_cycle(out: OutputDir, cycle: str) -> str:
    """The path of cycle folder ``cycle``, checked.

    :raises UnsafePath: ``cycle`` is not a cycle folder name, or it is a symlink.
    :raises NotFound: no such folder.
    :raises OutputRefused: the output folder resolves where the rule forbids.
    """
    if not isinstance(cycle, str) or not is_cycle_name(cycle):
        raise UnsafePath("只能删除时间戳目录")
    with opened_root(out) as root:
        if root is None:
            raise NotFound(f"时间戳目录不存在: {cycle}")
        _require_cycle_at(root, cycle)
    return os.path.join(out.root, cycle)


DELETING_PREFIX = ".deleting_"


def delete_cycle(out: OutputDir, cycle: str) -> None:
    """Remove a whole cycle folder; of concurrent removals of one folder, one wins.

    The folder is first renamed to a hidden name: the rename is atomic, so a
    second request (or retention) finds nothing and gets NotFound, and listings
    stop showing it at once.

    :raises UnsafePath, NotFound, OutputRefused: see :func:`require_cycle`.
    :raises OSError: the removal failed part way (the folder keeps its name).
    """
    if not isinstance(cycle, str) or not is_cycle_name(cycle):
        raise UnsafePath("只能删除时间戳目录")
    with _existing_root(out) as root:
        _require_cycle_at(root, cycle)
        hidden = f"{DELETING_PREFIX}{cycle}_{secrets.token_hex(4)}"
        try:
            os.rename(cycle, hidden, src_dir_fd=root.fd, dst_dir_fd=root.fd)
        except FileNotFoundError:
            raise NotFound(f"时间戳目录不存在: {cycle}") from None
        _remove_renamed(root, hidden, cycle)


def _remove_renamed(root: OpenRoot, hidden: str, cycle: str) -> None:
    """Remove the renamed folder; on failure put it back under its name, so it stays visible."""
    try:
        if not stat.S_ISDIR(os.lstat(hidden, dir_fd=root.fd).st_mode):
            raise UnsafePath("时间戳目录不能是符号链接")  # swapped after our check
        # rmtree works through directory fds on Linux and never follows a symlink inside.
        shutil.rmtree(hidden, dir_fd=root.fd)
    except (OSError, UnsafePath):
        try:
            os.rename(hidden, cycle, src_dir_fd=root.fd, dst_dir_fd=root.fd)
        except OSError as exc:
            log.error("cannot restore %s as %s: %s", hidden, cycle, exc.strerror or exc)
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
    if not is_clip_folder(cycle) or not _is_picture_name(name):
        raise UnsafePath("只能读取时间戳目录中的图片")
    with _existing_root(out) as root:
        folder = _open_folder(root, cycle, lambda step, fd: _open_nofollow(step, os.O_DIRECTORY, fd))
        try:
            fd = _open_nofollow(name, os.O_NONBLOCK, folder)
        finally:
            os.close(folder)
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_PICTURE_BYTES:
                raise UnsafePath("只能读取普通图片文件")
            return file.read(), info.st_mtime


def _open_nofollow(name: str, flags: int, dir_fd: int,
                   symlink_message: str = "不能读取符号链接") -> int:
    """Open ``name`` in ``dir_fd`` read-only, never through a symlink.

    :raises NotFound: :raises UnsafePath: a symlink (or not a folder where one must be).
    """
    try:
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | flags, dir_fd=dir_fd)
    except FileNotFoundError:
        raise NotFound("文件不存在") from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePath(symlink_message) from None
        raise


def latest_thumbnail(out: OutputDir, clip: str) -> tuple[str, bytes] | None:
    """The newest cycle holding a thumbnail of ``clip``, and that thumbnail's bytes."""
    with opened_root(out) as root:
        cycles = [name for name in reversed(cycle_names(root) if root else [])
                  if thumbnail_name(clip) in _CACHE.pictures(root, name)]
    for cycle in cycles:
        try:
            return cycle, read_picture(out, cycle, thumbnail_name(clip))[0]
        except (NotFound, UnsafePath):
            continue  # removed or swapped meanwhile: an older one
    return None
