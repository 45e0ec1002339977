"""The recorder's reads of its history at a start, before its writer opened it: the file
brought to this code's schema first (the first start after an upgrade finds the older one),
then read as the API reads it (shared/history_read.py::open_history: the path escaped in its
URI, the schema version checked)."""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from shared.history_read import open_history
from shared.history_schema import HistoryUnavailable, connect_writer, history_path


@contextmanager
def read_history(config_path: str) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection to ``config_path``'s history in one read transaction; None when
    there is no history file.

    :raises sqlite3.Error: it cannot be read (the caller logs it and does without).
    """
    path = history_path(config_path)
    if os.path.exists(path):
        try:
            connect_writer(path).close()  # migrated (the recorder is its one writer)
        except HistoryUnavailable as exc:  # of a newer schema: a reader refuses it too
            raise sqlite3.DatabaseError(str(exc)) from None
        except OSError as exc:
            raise sqlite3.OperationalError(str(exc)) from None
    with open_history(path) as conn:
        yield conn
