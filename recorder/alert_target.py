"""One target's alerts: its due outbox rows sent in id order, each closed or rescheduled.

The alert sender runs this in a thread of its own per target (recorder/alert_sender.py),
so a receiver that hangs holds only its own rows. A later row of a target waits for its
earlier one; a row whose receiver left the config is dropped; while no valid config is
known (``receivers()`` returns None) nothing is sent and nothing dropped.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from recorder import alert_outbox
from recorder.alert_outbox import OutboxRow
from recorder.alert_receivers import WEBHOOK, Receiver, find_receiver, shown_target
from recorder.alert_transport import DeliveryError, post_webhook, send_notify
from shared.counts import counted

log = logging.getLogger("recorder.alert_sender")  # one logger for every line of delivery

Transport = Callable[[Receiver, str], None]


def deliver(receiver: Receiver, body: str) -> None:
    """Send ``body`` to ``receiver`` over its kind's transport. :raises DeliveryError:"""
    if receiver.kind == WEBHOOK:
        post_webhook(receiver.url, body, receiver.secret)
    else:
        send_notify(receiver.url, body)


def drain_target(conn: sqlite3.Connection, target: str, receivers: Callable[[], dict | None],
                 transport: Transport, wall: Callable[[], float],
                 stopping: threading.Event) -> None:
    """Send ``target``'s rows while due, oldest first, until one fails or the sender stops."""
    row = alert_outbox.next_open(conn, target)
    while row is not None and not stopping.is_set() and row.next_attempt <= wall():
        # Read for each row: the config may change during a long drain.
        alerts = receivers()
        if alerts is None:
            return  # receivers unknown, not gone: the rows wait for a valid config
        receiver = find_receiver(target, alerts)
        if receiver is None:
            log.warning("alert %s (%s) dropped: receiver no longer configured: %s",
                        row.id, row.event, shown_target(target))
            alert_outbox.drop(conn, row)
        elif not send_row(conn, row, receiver, transport, wall):
            return  # later rows of this target wait for this one's retry
        row = alert_outbox.next_open(conn, target)


def send_row(conn: sqlite3.Connection, row: OutboxRow, receiver: Receiver,
             transport: Transport, wall: Callable[[], float]) -> bool:
    """Try ``row`` once; True when it is closed (delivered or given up), False when rescheduled."""
    try:
        transport(receiver, row.body)
    except DeliveryError as exc:
        # The time after the send: a send that hung for its whole timeout backs off from its end.
        retry_at = alert_outbox.mark_failed(conn, row, wall(), str(exc))
        if retry_at is None:
            log.error("alert %s (%s) to %s given up after %s: %s", row.id,
                      row.event, shown_target(row.target), counted(row.attempts + 1, "attempt"),
                      exc)
        else:
            log.info("alert %s (%s) to %s failed (attempt %d): %s", row.id, row.event,
                     shown_target(row.target), row.attempts + 1, exc)
        return retry_at is None
    alert_outbox.mark_delivered(conn, row, wall())
    log.info("alert %s (%s) delivered to %s", row.id, row.event, shown_target(row.target))
    return True
