"""The output tree ``<output>/<YYYYMMDD_HHMMSS>/<clip>``: listing it and deleting from it safely."""
from __future__ import annotations

import errno
import os
import re
import shutil
import stat
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


def is_video_name(name: str) -> bool:
    """True for a clip file name we record (and so may delete)."""
    return (not name.startswith(".") and name.lower().endswith(VIDEO_EXTENSIONS)
            and os.path.splitext(name)[0] != "")


def stream_index_of(name: str) -> str:
    """The digits of the file name without its extension (``test_stream1.mp4`` → ``"1"``)."""
    return "".join(re.findall(r"[0-9]", os.path.splitext(name)[0]))


def _cycle_entries(out: OutputDir) -> list[os.DirEntry]:
    try:
        with os.scandir(out.root) as entries:
            # Symlinked cycle folders are skipped: they could lead anywhere.
            return [e for e in entries if is_cycle_name(e.name) and e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _video_records(out: OutputDir, cycle: str) -> list[dict]:
    records = []
    try:
        with os.scandir(os.path.join(out.root, cycle)) as entries:
            for entry in entries:
                if not is_video_name(entry.name) or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while we looked
                records.append({
                    "filename": entry.name,
                    "full_path": out.display_path(cycle, entry.name),
                    "timestamp_dir": cycle,
                    "file_size": info.st_size,
                    "created_time": format_local(info.st_mtime),
                    "stream_index": stream_index_of(entry.name),
                })
    except (FileNotFoundError, NotADirectoryError):
        return []
    records.sort(key=lambda record: record["filename"])
    return records


def list_cycles(out: OutputDir) -> list[dict]:
    """Every cycle folder, newest first: ``{timestamp, video_count, total_size}``."""
    cycles = []
    for entry in sorted(_cycle_entries(out), key=lambda e: e.name, reverse=True):
        videos = _video_records(out, entry.name)
        cycles.append({"timestamp": entry.name, "video_count": len(videos),
                       "total_size": sum(v["file_size"] for v in videos)})
    return cycles


def list_videos(out: OutputDir, cycle: str | None = None) -> list[dict]:
    """Clips of every cycle (oldest cycle first, as the seed lists them) or of one.

    :raises NotFound: ``cycle`` is given and is not a cycle folder.
    """
    if cycle is None:
        names = sorted(entry.name for entry in _cycle_entries(out))
        return [video for name in names for video in _video_records(out, name)]
    if not cycle_exists(out, cycle):
        raise NotFound(f"时间戳目录不存在: {cycle}")
    return _video_records(out, cycle)


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
