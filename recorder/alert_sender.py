"""The alert sender: background threads of the recorder that deliver the outbox's due rows.

One dispatching thread looks at the outbox (each second, or at once on ``wake()``),
queues the offline reminders and hands every target with a due row to a sending
thread of that target's own (recorder/alert_target.py), at most one per target and
``MAX_SENDING_TARGETS`` at once: a receiver that accepts and never answers holds its
own alerts for the send timeout, never another receiver's. Rows are sent in order per
target, retried with backoff for a day, and closed only once delivered, so a crash or a
restart loses nothing (an alert sent just before a kill -9 may arrive twice). Every
thread has its own database connection (WAL: the history writer writes the same file);
none touches the recording loop.
"""
from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
from collections.abc import Callable, Collection

from recorder import alert_outbox
from recorder.alert_reminders import remind_due
from recorder.alert_target import Transport, deliver, drain_target
from recorder.config_watch import ConfigWatch
from shared.camera_roster import alerting_cameras
from shared.clock import SYSTEM_CLOCK, Clock
from shared.counts import counted
from shared.history_schema import connect_writer, history_path

log = logging.getLogger(__name__)
# Longest wait between two looks at the outbox: most of an alert's latency when the
# writer does not call wake(). One indexed query per look keeps it cheap while idle.
POLL_SECONDS = 1.0
# Reminders are due hours apart: looking for them once a minute is plenty.
REMINDER_CHECK_SECONDS = 60.0
# How long stop() waits for the dispatcher and every send under way, all together: the
# recorder's shutdown waits at most this long for alerts (a hanging send is abandoned,
# its row stays open and is sent again after the restart).
STOP_WAIT_SECONDS = 2.0
# Sending threads at once. Receivers are a handful in practice; the cap only bounds a
# config with very many: a target beyond it waits until a sending thread ends (a hanging
# receiver's after one send timeout, then it backs off for 5 s or more).
MAX_SENDING_TARGETS = 16


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
        self._problems: dict[str, str] = {}
        self._wake, self._stopping = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        # target -> its sending thread; a thread removes itself when it ends.
        self._sending: dict[str, threading.Thread] = {}
        self._sending_lock = threading.Lock()

    def start(self) -> AlertSender:
        """Start the dispatching thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="alert-sender", daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        """Look at the outbox now (the writer calls this after committing events)."""
        self._wake.set()

    def stop(self, timeout: float = STOP_WAIT_SECONDS) -> None:
        """Stop all threads; sends still under way after ``timeout`` in all are abandoned
        (their rows stay open)."""
        self._stopping.set()
        self._wake.set()
        # join() waits in real time whatever the injected clock says.
        deadline = SYSTEM_CLOCK.monotonic() + timeout
        if self._thread is not None:  # first: once it has ended, it starts no sender
            self._thread.join(timeout)
        for thread in self._senders():
            thread.join(max(0.0, deadline - SYSTEM_CLOCK.monotonic()))
        left = [thread for thread in self._senders() if thread.is_alive()]
        if left:
            log.warning("alert sender: %s still under way after %.0f s; leaving them",
                        counted(len(left), "send"), timeout)
        if self._thread is None:
            self._close()  # driven by run_once(): the caller's connection

    def _loop(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    timeout = self.run_once(wait=False)
                except Exception as exc:  # noqa: BLE001 - alerts must never stop for one bad pass
                    timeout = self.poll_seconds
                    self._report("pass", f"alert sender: {type(exc).__name__}: {exc}")
                    if isinstance(exc, sqlite3.DatabaseError):
                        self._close()  # reopen on the next pass (the file may have been replaced)
                self._wake.wait(timeout)
                self._wake.clear()
        finally:
            self._close()

    def run_once(self, wait: bool = True) -> float:
        """Queue due reminders, start sending every target with a due row; seconds until the
        next look. ``wait``: return only once those sends are over (tests drive it so)."""
        conn = self._connection()
        if conn is None:
            return self.poll_seconds
        alerts = self.receivers()
        if alerts is None:
            # No valid config yet (the recorder starting, or config.json broken since
            # its start): every row would look like one for a receiver that left.
            self._report("pass", "alerts wait: no valid config.json to name their receivers")
            return self.poll_seconds
        if self.clock.monotonic() >= self._next_reminder_check:
            self._next_reminder_check = self.clock.monotonic() + REMINDER_CHECK_SECONDS
            remind_due(conn, alerts, self.clock.wall(), self.remindable())
        next_due = self._dispatch(conn)
        self._problems.pop("pass", None)
        if wait:
            for thread in self._senders():
                thread.join()
        return max(0.0, min(self.poll_seconds, next_due - self.clock.wall()))

    def _dispatch(self, conn: sqlite3.Connection) -> float:
        """Start a sending thread for each target whose oldest open row is due; when the
        earliest of the others is due. A target already sending, or left waiting by the
        cap, is looked at again when a sending thread ends (it wakes this thread)."""
        now, next_due = self.clock.wall(), math.inf
        for head in alert_outbox.heads(conn):
            if head.next_attempt > now:
                next_due = min(next_due, head.next_attempt)
            else:
                self._start_sending(head.target)
        return next_due

    def _start_sending(self, target: str) -> None:
        with self._sending_lock:
            # Under the lock: stop() sets _stopping, then lists the senders to join.
            busy = target in self._sending or len(self._sending) >= MAX_SENDING_TARGETS
            if busy or self._stopping.is_set():
                return
            thread = threading.Thread(target=self._send_target, args=(target,),
                                      name="alert-sender-target", daemon=True)
            self._sending[target] = thread
        thread.start()

    def _send_target(self, target: str) -> None:
        """A sending thread: drain ``target`` on a connection of its own, then wake the
        dispatcher so the target's next due row (or a capped target) is seen at once."""
        woken = True
        try:
            conn = self._open()
            if conn is not None:
                try:
                    drain_target(conn, target, self.receivers, self.transport,
                                 self.clock.wall, self._stopping)
                finally:
                    conn.close()
            self._problems.pop("send", None)
        except Exception as exc:  # noqa: BLE001 - a failed drain is retried on the next pass
            # No wake: a database that fails every drain is tried once a poll, not in a spin.
            woken = False
            self._report("send", f"alert sender: {type(exc).__name__}: {exc}")
        finally:
            with self._sending_lock:
                del self._sending[target]
            if woken:
                self._wake.set()

    def _senders(self) -> list[threading.Thread]:
        with self._sending_lock:
            return list(self._sending.values())

    def _open(self) -> sqlite3.Connection | None:
        """A new connection to the database; None when it does not exist (not created here:
        only the history writer creates it)."""
        if not os.path.exists(self.db_path):
            return None
        return connect_writer(self.db_path)

    def _connection(self) -> sqlite3.Connection | None:
        """The dispatcher's open database, reopened when its file was replaced; None before
        it exists."""
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

    def _report(self, where: str, problem: str) -> None:
        # A broken database fails every pass: log each new problem once, not every second.
        if problem != self._problems.get(where):
            log.error("%s", problem)
            self._problems[where] = problem


def for_recorder(config_path: str, config_watch: ConfigWatch, clock: Clock = SYSTEM_CLOCK) -> AlertSender:
    """The sender of the recorder on ``config_path``, reading receivers from its config watch."""
    return AlertSender(history_path(config_path), lambda: _alerts(config_watch),
                       lambda: _remindable(config_watch), clock)


def _alerts(config_watch: ConfigWatch) -> dict | None:
    return config_watch.settings.alerts if config_watch.settings else None


def _remindable(config_watch: ConfigWatch) -> frozenset[str]:
    return alerting_cameras(config_watch.config or {"streams": []})
