"""Console sign-outs shared by every API worker: the ids of sessions ended before they expired.

A sign-in lives in its signed cookie, so clearing the cookie ends it only in that browser;
a copy (stolen, or another tab's) stays valid. Each sign-in therefore carries a random
session id, and a sign-out lists that id in ``console_sign_outs.json`` in the state folder,
which every gunicorn worker (and every host sharing the folder) reads: an id listed there is
signed out. The file is ``{"ended": {id: signed-in-at}}``, changed under its lock and written
atomically; every rewrite drops the entries whose session would have expired anyway (one kept
longer is harmless: its session is refused as expired).
A reader keeps the parsed file while it is unchanged (one ``stat`` a request). A read that
fails is tried once more (a one-off error, e.g. ESTALE on NFS); a file that still cannot be
read fails closed: every session counts as signed out, and the log says why once.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from shared import settings
from shared.atomic import read_json, write_json_atomic
from shared.file_cache import FileCache
from shared.locks import locked

SIGN_OUTS_FILE = "console_sign_outs.json"

log = logging.getLogger(__name__)


class SignOutsUnreadable(Exception):
    """The sign-outs file exists but cannot be read or is not one we wrote; says why."""


def sign_outs_path(config_file: str) -> str:
    """Where the sign-outs of the console of ``config_file`` are kept."""
    return os.path.join(settings.state_dir(config_file), SIGN_OUTS_FILE)


def _parse(data: Any) -> dict[str, float]:
    ended = data.get("ended") if isinstance(data, dict) else None
    if not isinstance(ended, dict) or not all(
            isinstance(since, (int, float)) and not isinstance(since, bool)
            for since in ended.values()):
        raise SignOutsUnreadable("not a sign-outs file (no {\"ended\": {id: time}})")
    return ended


def _read(path: str) -> dict[str, float]:
    """The ended sessions in ``path`` (none when there is no file), read a second time after
    an error reading it. :raises SignOutsUnreadable:"""
    try:
        return _parse(_read_json_again_after_an_error(path))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SignOutsUnreadable(exc.strerror or str(exc)) from exc
    except ValueError as exc:  # not JSON, or not UTF-8
        raise SignOutsUnreadable(f"damaged: {exc}") from exc


def _read_json_again_after_an_error(path: str) -> Any:
    """``read_json(path)``, tried once more if it fails with an OSError but a missing file."""
    try:
        return read_json(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        log.warning("console sign-outs %s: reading failed (%s), read again", path, exc)
        return read_json(path)


class SignOuts:
    """The sign-outs file at ``path``; sessions last ``lifetime_seconds`` after their sign-in."""

    def __init__(self, path: str, lifetime_seconds: float) -> None:
        self.path = path
        self._lifetime = lifetime_seconds
        self._cache = FileCache()
        self._problem: str | None = None  # why the file could not be read, as last logged

    def is_ended(self, session_id: str) -> bool:
        """True when ``session_id`` was signed out, or the file cannot be read to tell."""
        try:
            ended = self._cache.get(self.path, _read)
        except SignOutsUnreadable as exc:
            if str(exc) != self._problem:
                self._problem = str(exc)
                log.error("console sign-outs %s cannot be read (%s): every console session "
                          "counts as signed out until it can", self.path, exc)
            return True
        if self._problem is not None:
            self._problem = None
            log.warning("console sign-outs %s can be read again", self.path)
        return session_id in ended

    def end(self, session_id: str, signed_in_at: float, now: float) -> None:
        """List ``session_id`` (signed in at ``signed_in_at``) as ended; forget the expired.

        An unreadable file is left as it is: rewriting it would revive the sessions it ended.

        :raises SignOutsUnreadable: :raises WriteError: :raises LockTimeout:
        :raises LockUnusable: :raises OSError: the state folder cannot be made.
        """
        self._rewrite({session_id: signed_in_at}, now)

    def _rewrite(self, added: dict[str, float], now: float) -> None:
        """The file with ``added`` listed, and without what has expired at ``now``: every
        rewrite drops those, whatever it is for. :raises: as :meth:`end`."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with locked(self.path):
            listed = {**_read(self.path), **added}
            ended = {sid: since for sid, since in listed.items() if now - since < self._lifetime}
            write_json_atomic(self.path, {"ended": ended}, compact=True)

