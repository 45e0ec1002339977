"""The alert sender: a background thread of the recorder that delivers the outbox's due rows.

Rows are sent in order per target (a later event waits for an earlier undelivered
one of the same receiver), retried with backoff for a day, and closed only once
delivered, so a crash or a restart loses nothing (an alert sent just before a
kill -9 may arrive twice). The thread also queues the offline reminders. It has
its own database connection and never touches the recording loop.
"""
from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
from collections.abc import Callable, Collection

from recorder import alert_outbox
from recorder.alert_outbox import OutboxRow
from recorder.alert_receivers import WEBHOOK, Receiver, find_receiver, shown_target
from recorder.alert_reminders import remind_due
from recorder.alert_transport import DeliveryError, post_webhook, send_notify
from recorder.config_watch import ConfigWatch
from shared.camera_state import camera_id
from shared.clock import SYSTEM_CLOCK, Clock
from shared.history_schema import connect_writer, history_path

log = logging.getLogger(__name__)
# Longest wait between two looks at the outbox: most of an alert's latency when the
# writer does not call wake(). One indexed query per look keeps it cheap while idle.
POLL_SECONDS = 1.0
# Reminders are due hours apart: looking for them once a minute is plenty.
REMINDER_CHECK_SECONDS = 60.0
STOP_WAIT_SECONDS = 2.0

Transport = Callable[[Receiver, str], None]


def deliver(receiver: Receiver, body: str) -> None:
    """Send ``body`` to ``receiver`` over its kind's transport. :raises DeliveryError:"""
    if receiver.kind == WEBHOOK:
        post_webhook(receiver.url, body, receiver.secret)
    else:
        send_notify(receiver.url, body)


class AlertSender:
    """Delivers due outbox rows of the database at ``db_path`` to ``receivers()``'s receivers.

    ``receivers`` returns the validated ``global_config.alerts`` (``{}`` when none, None
    while no valid config is known: then nothing is sent and nothing dropped);
    ``remindable`` the configured camera ids whose alerts are on (None: all).
    """

    def __init__(self, db_path: str, receivers: Callable[[], dict | None],
                 remindable: Callable[[], Collection[str] | None] = lambda: None,
                 clock: Clock = SYSTEM_CLOCK, transport: Transport = deliver,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.db_path, self.receivers, self.remindable = db_path, receivers, remindable
        self.clock, self.transport, self.poll_seconds = clock, transport, poll_seconds
        self._conn: sqlite3.Connection | None = None
        self._inode: tuple[int, int] | None = None
        self._next_reminder_check = -math.inf
        self._last_problem = ""
        self._wake, self._stopping = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AlertSender:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="alert-sender", daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        """Look at the outbox now (the writer calls this after committing events)."""
        self._wake.set()

    def stop(self, timeout: float = STOP_WAIT_SECONDS) -> None:
        """Stop the thread; a send under way is abandoned after ``timeout`` (its row stays open)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("alert sender still sending after %.0f s; leaving it", timeout)
        if self._thread is None or not self._thread.is_alive():
            self._close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                timeout = self.run_once()
            except Exception as exc:  # noqa: BLE001 - alerts must never stop for one bad pass
                timeout = self.poll_seconds
                self._report(f"alert sender: {type(exc).__name__}: {exc}")
                if isinstance(exc, sqlite3.DatabaseError):
                    self._close()  # reopen on the next pass (the file may have been replaced)
            self._wake.wait(timeout)
            self._wake.clear()

    def run_once(self) -> float:
        """Queue due reminders, send every due row; seconds until the next look."""
        conn = self._connection()
        if conn is None:
            return self.poll_seconds
        alerts = self.receivers()
        if alerts is None:
            # No valid config yet (the recorder starting, or config.json broken since
            # its start): every row would look like one for a receiver that left.
            self._report("alerts wait: no valid config.json to name their receivers")
            return self.poll_seconds
        if self.clock.monotonic() >= self._next_reminder_check:
            self._next_reminder_check = self.clock.monotonic() + REMINDER_CHECK_SECONDS
            remind_due(conn, alerts, self.clock.wall(), self.remindable())
        next_due = math.inf
        for head in alert_outbox.heads(conn):
            if self._stopping.is_set():
                break
            next_due = min(next_due, self._drain(conn, head, alerts))
        self._last_problem = ""
        return max(0.0, min(self.poll_seconds, next_due - self.clock.wall()))

    def _drain(self, conn: sqlite3.Connection, row: OutboxRow | None, alerts: dict) -> float:
        """Send ``row`` and its target's later rows while due; when the next one is due."""
        while row is not None and not self._stopping.is_set():
            if row.next_attempt > self.clock.wall():
                return row.next_attempt
            receiver = find_receiver(row.target, alerts)
            if receiver is None:
                log.warning("alert %s (%s) dropped: receiver no longer configured: %s",
                            row.id, row.event, shown_target(row.target))
                alert_outbox.drop(conn, row)
            else:
                retry_at = self._send(conn, row, receiver)
                if retry_at is not None:
                    return retry_at  # later rows of this target wait for this one
            row = alert_outbox.next_open(conn, row.target)
        return math.inf

    def _send(self, conn: sqlite3.Connection, row: OutboxRow, receiver: Receiver) -> float | None:
        """Try ``row`` once; None when it is closed (delivered or given up), else its retry time."""
        try:
            self.transport(receiver, row.body)
        except DeliveryError as exc:
            retry_at = alert_outbox.mark_failed(conn, row, self.clock.wall(), str(exc))
            if retry_at is None:
                log.error("alert %s (%s) to %s given up after %d attempts: %s", row.id,
                          row.event, shown_target(row.target), row.attempts + 1, exc)
            else:
                log.info("alert %s (%s) to %s failed (attempt %d): %s", row.id, row.event,
                         shown_target(row.target), row.attempts + 1, exc)
            return retry_at
        alert_outbox.mark_delivered(conn, row, self.clock.wall())
        log.info("alert %s (%s) delivered to %s", row.id, row.event, shown_target(row.target))
        return None

    def _connection(self) -> sqlite3.Connection | None:
        """The open database, reopened when its file was replaced; None before it exists."""
        try:
            stat = os.stat(self.db_path)
        except FileNotFoundError:
            self._close()
            return None
        if self._conn is None or self._inode != (stat.st_dev, stat.st_ino):
            self._close()
            self._conn = connect_writer(self.db_path)
            self._inode = (stat.st_dev, stat.st_ino)
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn, self._inode = None, None

    def _report(self, problem: str) -> None:
        # A broken database fails every pass: log each new problem once, not every second.
        if problem != self._last_problem:
            log.error("%s", problem)
            self._last_problem = problem


def for_recorder(config_path: str, config_watch: ConfigWatch, clock: Clock = SYSTEM_CLOCK) -> AlertSender:
    """The sender of the recorder on ``config_path``, reading receivers from its config watch."""
    return AlertSender(history_path(config_path), lambda: _alerts(config_watch),
                       lambda: _remindable(config_watch), clock)


def _alerts(config_watch: ConfigWatch) -> dict | None:
    return config_watch.settings.alerts if config_watch.settings else None


def _remindable(config_watch: ConfigWatch) -> frozenset[str]:
    config = config_watch.config or {"streams": []}
    return frozenset(camera_id(stream["output_filename"])
                     for stream in config["streams"] if stream.get("alerts", True))
