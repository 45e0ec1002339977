"""The output tree's names: which file names are clips, pictures, cycle and check folders,
and where a path a client or the history gives points in the tree (no file is touched)."""
from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from shared.clip_names import THUMBNAIL_SUFFIX, WORK_PREFIX, contact_sheet_page
from shared.config import VIDEO_EXTENSIONS
from shared.config_rules import PLAIN_NAME_RE, hiding_character, is_plain_name
from shared.errors import UnsafePath
from shared.timefmt import is_cycle_name, is_real_stamp

if TYPE_CHECKING:
    from shared.output_tree.root import OutputDir


MAX_CLIENT_PATH = 4096
# "Check now" records into <output>/checks/<YYYYMMDD_HHMMSS>_<camera>/ (recorder/checks.py);
# "checks" is no cycle name, so cycle scans, listings and retention never see it.
CHECKS_FOLDER = "checks"
CHECKS_PREFIX = CHECKS_FOLDER + "/"
CHECK_NAME_RE = re.compile(r"\A[0-9]{8}_[0-9]{6}_[^/\x00\n]+\Z")
# The most bytes a file name can have (Linux's NAME_MAX): a longer one names nothing, and the
# system call refuses it (ENAMETOOLONG) instead of answering "no such file".
NAME_MAX_BYTES = 255


_VIDEO_EXTENSIONS = tuple(VIDEO_EXTENSIONS)
_NON_DIGITS = re.compile(r"[^0-9]+")


def _has_video_extension(name: str) -> bool:
    return (not name.startswith(".") and name.lower().endswith(_VIDEO_EXTENSIONS)
            and name.rfind(".") > 0)


def is_video_name(name: str) -> bool:
    """True for a clip file name: what the listings show, the API serves and deletes.

    A name the config's output_filename rule allows (no tab, newline or other control
    character, no backslash, no character that hides or turns text around such as U+202E,
    not hidden) with a video extension: a hand-placed file named otherwise is no clip, so no
    listing shows what the API would refuse to delete.
    """
    return _has_video_extension(name) and is_plain_name(name)


def is_foreign_video_name(name: str) -> bool:
    """A video file's name that no clip can have (a control character, a backslash or an
    invisible format character in it)."""
    return _has_video_extension(name) and not is_video_name(name)


def foreign_characters(name: str) -> str:
    """What in a foreign video name (:func:`is_foreign_video_name`) no clip can have, as the
    log says it."""
    hiding = hiding_character(name)
    if hiding is not None and PLAIN_NAME_RE.fullmatch(name):
        return f"an invisible format character (U+{ord(hiding):04X})"
    return "a control character or a backslash"


def is_entry_name(name: str) -> bool:
    """True for what one folder entry can be called: no ``/`` or NUL, NAME_MAX_BYTES at most."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\x00" in name:
        return False
    try:
        return len(os.fsencode(name)) <= NAME_MAX_BYTES
    except UnicodeEncodeError:  # a lone surrogate no file name on disk decodes to
        return False


def is_check_folder_name(name: str) -> bool:
    """True for the name of a check's folder inside ``checks/`` (``<YYYYMMDD_HHMMSS>_<camera>``,
    a real time as a cycle folder's: shared/timefmt.py::is_real_stamp)."""
    return (isinstance(name, str) and CHECK_NAME_RE.fullmatch(name) is not None
            and is_real_stamp(name[:15]))


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


def is_picture_name(name: str) -> bool:
    """A clip's thumbnail (``.cam.mp4.jpg``) or a page of the cycle's contact sheet."""
    if not is_entry_name(name):
        return False
    return contact_sheet_page(name) is not None or (name.startswith(WORK_PREFIX) and name.endswith(
        THUMBNAIL_SUFFIX) and is_video_name(name[len(WORK_PREFIX):-len(THUMBNAIL_SUFFIX)]))


def clip_location(display_path: str) -> tuple[str, str] | None:
    """``(folder, clip)`` of a clip's path as the history keeps it (``./output/<cycle>/cam.mp4``
    or ``…/checks/<check>/cam.mp4``); None for any other path."""
    head, _, name = display_path.rpartition("/")
    folder = folder_of(head)
    return (folder, name) if folder is not None and is_video_name(name) else None


def folder_of(head: str) -> str | None:
    """The cycle or check folder (``checks/<check>``) a clip's directory path ends in."""
    rest, _, folder = head.rpartition("/")
    if rest.rpartition("/")[2] == CHECKS_FOLDER and is_check_folder_name(folder):
        folder = CHECKS_PREFIX + folder
    return folder if is_clip_folder(folder) else None


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
    # The output folder's own spelling, as listed (``../clips/…`` is a fine output_directory),
    # is taken as the root; whatever follows it, or a path without it, may hold no "..".
    spelled = out.display.rstrip("/") + "/"
    start, rest = ((out.root, client_path[len(spelled):].lstrip("/"))
                   if client_path.startswith(spelled) else (base, client_path))
    if ".." in rest.split("/"):
        raise UnsafePath("路径不能包含 ..")
    candidate = os.path.normpath(os.path.join(start, rest))
    relative = os.path.relpath(candidate, out.root)
    parts = relative.split(os.sep)
    if len(parts) != 2 or not is_cycle_name(parts[0]) or not is_video_name(parts[1]):
        raise UnsafePath("只能删除时间戳目录中的视频文件")
    return parts[0], parts[1]


def check_file_in_cycle(cycle: str, filename: str) -> None:
    """:raises UnsafePath: not a cycle folder name, or not a plain file name."""
    if not (is_clip_folder(cycle) and is_entry_name(filename)):
        raise UnsafePath("只能读取时间戳目录中的视频文件")
