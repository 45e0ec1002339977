"""Atomic JSON files: write to a temp file in the same folder, fsync, os.replace, fsync the folder."""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import stat
import tempfile
from collections.abc import Callable
from typing import Any

from shared.errors import WriteError
from shared.regular_file import open_regular_file

log = logging.getLogger(__name__)


def dump_json(data: Any, compact: bool = False) -> str:
    """Serialize the way coordinated files are written: UTF-8 text, newline-ended.

    Indented for files people read; ``compact`` for machine-only files written
    every second (only the unindented form uses json's C encoder).
    """
    if compact:
        return compact_json(data) + "\n"
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def compact_json(data: Any) -> str:
    """``data`` as one line of JSON, the form of machine-only files (json's C encoder)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def write_text_atomic(path: str, text: str, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` so that readers see the old file or the new one, never half.

    ``mode``: the new file's, set before any byte is written (default: ``path``'s
    current mode, or the umask's for a new file).

    :raises WriteError: the file could not be written; ``path`` is unchanged.
    """
    write_bytes_atomic(path, text.encode("utf-8"), mode)


def write_bytes_atomic(path: str, data: bytes, mode: int | None = None) -> None:
    """:func:`write_text_atomic` for bytes (a picture). :raises WriteError:"""
    tmp = ""
    try:
        # Keep the target's mode, or the umask's default, so a recorder running as another
        # user can still read what the API wrote (and the owner can always read and write
        # it: see _mode_for).
        tmp = _write_temp(path, data, _mode_for(path) if mode is None else mode)
        os.replace(tmp, path)
        tmp = ""
        _fsync_folder(os.path.dirname(os.path.abspath(path)))
    except OSError as exc:
        raise WriteError(f"写入失败 {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp:
            _remove(tmp)


def write_bytes_once(path: str, data: bytes, mode: int | None = None,
                     or_replace: bool = False) -> bool:
    """Make ``path`` hold ``data`` unless it exists already; True when this call made it.

    Never seen half written, and of writers racing for it (gunicorn workers starting
    together, the recorder and the API) one wins whole: the data is written and fsynced
    under a temp name, then hard-linked to ``path``, which fails when ``path`` exists.
    ``mode``: the new file's (default: the umask's, as a new file of write_bytes_atomic).
    ``or_replace``: on a file system without hard links (SMB, vfat), the temp file replaces
    ``path`` if it is still missing, so a racing writer may then be overwritten; without it
    such a file system raises.

    :raises OSError: it could not be written.
    """
    tmp = _write_temp(path, data, NEW_FILE_MODE if mode is None else mode)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if not (or_replace and exc.errno in _NO_HARD_LINKS):
                raise
            if os.path.exists(path):
                return False
            os.replace(tmp, path)
        _fsync_folder(os.path.dirname(os.path.abspath(path)))
        return True
    finally:
        _remove(tmp)


def _write_temp(path: str, data: bytes, mode: int) -> str:
    """A new temp file beside ``path`` (so that a rename or link to it stays on its file
    system) holding ``data``, fsynced, of ``mode``; its path, for the caller to remove.
    :raises OSError: (no temp file is left then)"""
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=_TEMP_SUFFIX,
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        os.fchmod(fd, mode)  # mkstemp makes 0600 files
        with os.fdopen(fd, "wb") as handle:
            fd = -1  # owned by the file object now
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        if fd != -1:
            os.close(fd)
        _remove(tmp)
        raise
    return tmp


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


_TEMP_SUFFIX = ".tmp"
# What os.link raises on a file system without hard links.
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})
# ext4, xfs, btrfs… refuse a longer file name (ENAMETOOLONG), a temp file's too.
_MAX_NAME_BYTES = 255
# mkstemp's random part: 8 characters of [a-z0-9_].
_RANDOM_CHARS = 8
# The longest stem that ".<stem>.<random>.tmp" still fits in _MAX_NAME_BYTES.
_MAX_STEM_BYTES = _MAX_NAME_BYTES - len("..") - _RANDOM_CHARS - len(_TEMP_SUFFIX)
_DIGEST_CHARS = 16


def temp_stem(name: str) -> str:
    """What the temp files of the file ``name`` are named after: ``name`` itself, or, when
    the temp name would then pass the file system's 255 bytes (a long camera id's reference
    picture), its start and a digest of the whole (``<start>~<digest>``): one stem per name."""
    encoded = os.fsencode(name)
    if len(encoded) <= _MAX_STEM_BYTES:
        return name
    digest = hashlib.sha256(encoded).hexdigest()[:_DIGEST_CHARS]
    start = encoded[:_MAX_STEM_BYTES - 1 - _DIGEST_CHARS].decode("utf-8", "ignore")
    return f"{start}~{digest}"


def _temp_prefix(path: str) -> str:
    return "." + temp_stem(os.path.basename(path)) + "."


def temp_target(name: str) -> str | None:
    """The stem (:func:`temp_stem`) of the file a temp file named ``name`` is written for
    (``.x.json.<rnd>.tmp`` → ``x.json``; mkstemp's random part has no dot); None for any
    other name."""
    if not (name.startswith(".") and name.endswith(_TEMP_SUFFIX)):
        return None
    target, dot, _random = name[1:-len(_TEMP_SUFFIX)].rpartition(".")
    return target if dot and target else None


def remove_orphan_temp_files(path: str) -> list[str]:
    """Remove the temp files that writers of ``path`` left when they died; returns their names.

    Call it holding ``path``'s lock: every writer holds that lock while its temp
    file exists, so any temp file found then is a killed writer's (SIGKILL, OOM,
    power loss), and would otherwise stay for good.
    """
    stem = temp_stem(os.path.basename(path))
    return remove_temp_files_in(os.path.dirname(os.path.abspath(path)),
                                lambda target: target == stem)


def remove_temp_files_in(folder: str, of: Callable[[str], bool]) -> list[str]:
    """Remove the temp files in ``folder`` written for a file whose name (its stem, when
    long: :func:`temp_target`) ``of`` accepts; returns their names. Only when no writer of those files is at
    work: a temp file found then is a dead writer's."""
    removed = []
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if (target := temp_target(e.name)) is not None
                     and of(target) and e.is_file(follow_symlinks=False)]
    except OSError:
        return removed
    for name in names:
        try:
            os.unlink(os.path.join(folder, name))
            removed.append(name)
        except FileNotFoundError:
            pass  # gone meanwhile (another sweeper)
        except OSError as exc:
            log.error("cannot remove the temp file %s in %s: %s", name, folder,
                      exc.strerror or exc)
    return removed


def write_json_atomic(path: str, data: Any, compact: bool = False) -> None:
    """Atomically replace ``path`` with ``data`` as JSON. :raises WriteError:"""
    write_text_atomic(path, dump_json(data, compact))


def read_json(path: str) -> Any:
    """Read a JSON file written by :func:`write_json_atomic`.

    :raises FileNotFoundError: no such file.
    :raises OSError: not a regular file (a FIFO planted at the name is refused at once, not
        waited on); :raises ValueError: the file is not valid JSON (hand edits can do that).
    """
    handle, _ = open_regular_file(path, follow_symlinks=True)
    with handle:
        return json.load(handle)


def _read_umask() -> int:
    # os.umask can only be read by setting it; do it once, at import, before
    # any worker thread exists.
    umask = os.umask(0)
    os.umask(umask)
    return umask


NEW_FILE_MODE = 0o666 & ~_read_umask()


def _mode_for(path: str) -> int:
    # A file made unreadable (chmod 000) and then rewritten must come out readable
    # by its writer, or the write "succeeds" and every later read fails.
    try:
        return (os.stat(path).st_mode & 0o7777) | stat.S_IRUSR | stat.S_IWUSR
    except OSError:
        return NEW_FILE_MODE


def _fsync_folder(folder: str) -> None:
    # The rename is only durable once the folder entry itself reaches the disk.
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
