"""The camera history database: its file, its schema (versioned) and how each side opens it.

One SQLite file in the state folder (``history.sqlite3``), in WAL mode so readers
never block the writer nor the writer them. The recorder is the only writer
(:func:`connect_writer`, which creates and migrates the file); the API's workers
open it read-only (:func:`connect_reader`) and never create it.

Tables (times are epoch seconds, REAL):

``outcomes``
    One row per finished task: ``camera`` (the camera id: ``output_filename``
    without its extension), ``cycle`` (the cycle folder, or ``checks/<folder>``
    for a check), ``kind`` (``cycle``, ``check`` or ``probe``), ``planned_start``,
    ``started``, ``ended``, ``status`` (0–9), ``error``, ``connect_seconds``,
    ``bytes``, ``frames``, ``clip_seconds`` (the recorder's own measure),
    ``codec``, ``resolution``, ``clip`` (display path of the kept clip, or NULL),
    ``quality`` (the task's quality object as JSON, or NULL), ``check_id`` (a camera check's
    id, for its rows; NULL for a cycle's; version 3).
``cameras``
    The state of every camera ever recorded, kept up to date in the same
    transaction as its outcome: ``id``, ``name``, ``url`` (masked), ``last_status``,
    ``last_error``, ``last_ended``, ``last_ok_at``, ``consecutive_failures``,
    ``failing_since`` (the first failure of the current run of failures),
    ``offline_since`` (set once the run reaches ``offline_after_failures``),
    ``last_clip``, ``last_reminded`` (the last offline reminder sent),
    ``offline_alerted`` (1 once the open outage's ``camera.offline`` was raised: only such
    an outage is reminded of and raises ``camera.recovered``; version 2).
``hourly`` / ``daily``
    Task counts per camera and local hour / local day (``bucket`` = epoch second
    of its start): ``total`` and ``ok`` (已完成). Uptime over 24 h comes from the
    hourly buckets, over 7 and 30 days from the daily ones, so answering it reads
    a few dozen rows per camera whatever the history holds.
``outbox``
    Events to deliver (alerts): ``event``, ``created``, ``target`` (one row per
    event and receiver), ``body`` (JSON), ``attempts``, ``next_attempt``,
    ``delivered`` (NULL until delivered), ``last_error``. An event is written in
    the same transaction as the outcome that caused it.
"""
from __future__ import annotations

import logging
import os
import pathlib
import sqlite3
import stat

from shared import settings
from shared.clock import SYSTEM_CLOCK

log = logging.getLogger(__name__)
HISTORY_FILE = "history.sqlite3"
# How long a writer or a reader waits for the other's lock before giving up.
BUSY_TIMEOUT_MS = 2000
# Between two tries to put a new file in WAL mode while another opener does it.
WAL_RETRY_SECONDS = 0.01

# Task counts per camera and time bucket; the hourly and the daily table are alike.
_BUCKETS = """
    CREATE TABLE {table} (
        camera TEXT NOT NULL,
        bucket REAL NOT NULL,
        total INTEGER NOT NULL DEFAULT 0,
        ok INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (camera, bucket)
    ) WITHOUT ROWID;
"""
# Each entry migrates the schema from version i to i + 1 (PRAGMA user_version).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE outcomes (
        id INTEGER PRIMARY KEY,
        camera TEXT NOT NULL,
        cycle TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'cycle',
        planned_start REAL,
        started REAL,
        ended REAL NOT NULL,
        status INTEGER NOT NULL,
        error TEXT NOT NULL DEFAULT '',
        connect_seconds REAL,
        bytes INTEGER NOT NULL DEFAULT 0,
        frames INTEGER NOT NULL DEFAULT 0,
        clip_seconds REAL,
        codec TEXT,
        resolution TEXT,
        clip TEXT,
        quality TEXT
    );
    CREATE INDEX outcomes_by_camera ON outcomes (camera, ended);
    CREATE INDEX outcomes_by_time ON outcomes (ended);
    CREATE TABLE cameras (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        url TEXT NOT NULL DEFAULT '',
        last_status INTEGER,
        last_error TEXT NOT NULL DEFAULT '',
        last_ended REAL,
        last_ok_at REAL,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        failing_since REAL,
        offline_since REAL,
        last_clip TEXT,
        last_reminded REAL
    );
    """ + "".join(_BUCKETS.format(table=table) for table in ("hourly", "daily")) + """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        event TEXT NOT NULL,
        created REAL NOT NULL,
        target TEXT NOT NULL,
        body TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL,
        delivered REAL,
        last_error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX outbox_due ON outbox (delivered, next_attempt);
    """,
    # An outage is followed by alerts only once its camera.offline was raised. Outages open
    # at the upgrade were, as far as this can tell (a stream with alerts off, or out of the
    # config, has its flag cleared by the recorder's first write: history_outcomes.py).
    """
    ALTER TABLE cameras ADD COLUMN offline_alerted INTEGER NOT NULL DEFAULT 0;
    UPDATE cameras SET offline_alerted = 1 WHERE offline_since IS NOT NULL;
    """,
    # A camera check's rows name it: a restart finds the verdict of a check its last status
    # still shows running (recorder/check_verdicts.py).
    """
    ALTER TABLE outcomes ADD COLUMN check_id INTEGER;
    CREATE INDEX outcomes_by_check ON outcomes (check_id) WHERE check_id IS NOT NULL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class HistoryUnavailable(Exception):
    """The history file is missing, unreadable, of a newer schema, or not a database."""


def history_path(config_file: str) -> str:
    """Where the history database of ``config_file``'s recorder lives."""
    return os.path.join(settings.state_dir(config_file), HISTORY_FILE)


def connect_writer(path: str) -> sqlite3.Connection:
    """Open (creating and migrating) the database for the recorder, the only writer.

    Autocommit mode: the writer opens its transactions itself (``BEGIN IMMEDIATE``).

    :raises sqlite3.DatabaseError: the file is not a database (the caller moves it aside).
    :raises HistoryUnavailable: it is of a newer schema than this code knows.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _create_private(path)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    try:
        _use_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never corrupt
        _migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


# The outbox keeps every receiver's whole URL (a webhook's ?token=, a chat bot's key): the file
# is not for others to read; its group may (an API run as another user of the group). SQLite
# gives its -wal and -shm files the database's own mode.
HISTORY_MODE = 0o640


def _create_private(path: str) -> None:
    """Create the database file with HISTORY_MODE if there is none yet; one that others may
    read (made 0644 before this rule) loses their bits, its -wal and -shm files too."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                         HISTORY_MODE))
        return
    except FileExistsError:
        pass
    for name in (path, path + "-wal", path + "-shm"):
        try:
            mode = stat.S_IMODE(os.stat(name).st_mode)
            if mode & 0o007:
                os.chmod(name, mode & ~0o007)
                log.info("history: %s no longer readable by others (mode %o)", name,
                         mode & ~0o007)
        except OSError:
            pass  # none yet, or not ours to change: it stays as it is


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (once: it stays so). Two openers of a new file (the history
    writer and the alert sender, or an import) switch it at once, and SQLite answers the
    loser "database is locked" without its busy wait: it tries again, up to that wait."""
    deadline = SYSTEM_CLOCK.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or SYSTEM_CLOCK.monotonic() >= deadline:
                raise
            SYSTEM_CLOCK.sleep(WAL_RETRY_SECONDS)


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to SCHEMA_VERSION, all missing steps in one transaction. The version
    is read again once the write lock is held: another opener may have migrated meanwhile."""
    if _version(conn) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _version(conn)
        if version > SCHEMA_VERSION:
            raise HistoryUnavailable(f"history schema {version} is newer than {SCHEMA_VERSION}")
        for step in range(version, SCHEMA_VERSION):
            for statement in _statements(MIGRATIONS[step]):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def _statements(script: str) -> list[str]:
    # executescript() would commit on its own: statements one by one keep the step atomic.
    return [part.strip() for part in script.split(";") if part.strip()]


def connect_reader(path: str) -> sqlite3.Connection:
    """Open the database read-only for the API (never creates it).

    :raises HistoryUnavailable: no database yet, or one this code cannot read.
    """
    if not os.path.isfile(path):
        raise HistoryUnavailable("no history yet")
    try:
        conn = sqlite3.connect(f"{pathlib.Path(path).absolute().as_uri()}?mode=ro", uri=True,
                               timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise HistoryUnavailable(str(exc)) from None
    if version != SCHEMA_VERSION:
        conn.close()
        raise HistoryUnavailable(f"history schema {version}, expected {SCHEMA_VERSION}")
    return conn
