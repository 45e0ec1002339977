"""Receivers are independent: one that hangs or answers slowly delays no other receiver's alerts.

Real receivers on 127.0.0.1 (testkit/webhook_receiver.py): a ``hanging`` one accepts the
request and never answers (the send would wait for its whole timeout), a slow one answers
late. The sender runs its threads as in the recorder; a fake clock stands still so that
retries happen only when the test moves it.
"""
from __future__ import annotations

import contextlib
import logging

import pytest

from recorder import alert_sender
from recorder.alert_sender import AlertSender
from testkit.recorder_process import wait_for
from testkit.webhook_receiver import UNANSWERED, WebhookReceiver
from tests.test_alert_sender import T0, FakeClock, conn, db, enqueue, row  # noqa: F401 - fixtures


@pytest.fixture
def receivers(request):
    """Two receivers on 127.0.0.1, or as many as an indirect parametrization asks for."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(WebhookReceiver())
               for _ in range(getattr(request, "param", 2))]


def start_sender(db: str, receivers: list[WebhookReceiver], clock: FakeClock) -> AlertSender:
    alerts = {"webhooks": [{"url": server.url} for server in receivers]}
    return AlertSender(db, lambda: alerts, clock=clock).start()


@pytest.mark.parametrize("receivers", [4], indirect=True)
def test_hanging_receivers_hold_no_other_receivers_alerts(db, conn, receivers) -> None:
    *hanging, good = receivers
    for server in hanging:
        server.hanging = True
    held = [enqueue(conn, "camera.offline", "webhook " + server.url, T0) for server in hanging]
    sent = enqueue(conn, "camera.offline", "webhook " + good.url, T0)  # the last in id order
    sender = start_sender(db, receivers, FakeClock())
    try:
        good.wait_for(1)
        wait_for(lambda: row(conn, sent)["delivered"] == T0, 20, "the delivery's record")
        # The hanging sends are still under way: with one thread for all receivers the
        # good one's alert would wait for each of their timeouts (10 s each) first.
        for server, row_id in zip(hanging, held):
            assert [r.status for r in server.wait_received(1)] == [UNANSWERED]
            assert (row(conn, row_id)["attempts"], row(conn, row_id)["delivered"]) == (0, None)
    finally:
        for server in hanging:
            server.release()
        sender.stop()


def test_a_slow_receiver_keeps_its_order_and_delays_no_other(db, conn, receivers) -> None:
    slow, good = receivers
    slow.answer_delay = 600.0  # answered only once the test releases it
    for n in range(3):  # interleaved ids: each target's own rows in order
        enqueue(conn, f"event.{n}", "webhook " + slow.url, T0)
        enqueue(conn, f"event.{n}", "webhook " + good.url, T0)
    sender = start_sender(db, receivers, FakeClock())
    try:
        assert [r.json()["event"] for r in good.wait_for(3)] == ["event.0", "event.1", "event.2"]
        # The slow receiver still has its first alert only: the later ones wait for it.
        assert [r.json()["event"] for r in slow.wait_received(1)] == ["event.0"]
        assert len(slow.received) == 1
        slow.release()
        assert [r.json()["event"] for r in slow.wait_for(3)] == ["event.0", "event.1", "event.2"]
    finally:
        sender.stop()


def test_a_hanging_send_is_retried_in_order_after_its_failure(db, conn, receivers) -> None:
    receiver = receivers[0]
    receiver.hanging = True
    clock = FakeClock()
    ids = [enqueue(conn, f"event.{n}", "webhook " + receiver.url, T0) for n in range(2)]
    sender = start_sender(db, [receiver], clock)
    try:
        receiver.wait_received(1)
        receiver.hanging = False
        receiver.release()  # the connection closes without an answer: a failure
        wait_for(lambda: row(conn, ids[0])["attempts"] == 1, 20, "the failed attempt")
        assert row(conn, ids[1])["attempts"] == 0  # the later one waits for the retry
        clock.advance(5)
        sender.wake()
        got = receiver.wait_for(2)
    finally:
        sender.stop()
    assert [r.json()["event"] for r in got] == ["event.0", "event.1"]


def test_stop_returns_while_a_send_hangs_and_leaves_its_row_open(db, conn, receivers,
                                                                   caplog) -> None:
    receiver = receivers[0]
    receiver.hanging = True
    row_id = enqueue(conn, "camera.offline", "webhook " + receiver.url, T0)
    sender = start_sender(db, [receiver], FakeClock())
    receiver.wait_received(1)
    with caplog.at_level(logging.WARNING):
        sender.stop()
    # The dispatching thread has ended; only the hanging send is abandoned.
    assert not sender._thread.is_alive()
    assert "1 send still under way" in caplog.text
    assert (row(conn, row_id)["attempts"], row(conn, row_id)["delivered"]) == (0, None)


def test_beyond_the_cap_a_target_waits_for_a_sending_thread_to_end(db, conn, receivers,
                                                                     monkeypatch) -> None:
    monkeypatch.setattr(alert_sender, "MAX_SENDING_TARGETS", 1)
    hanging, good = receivers
    hanging.hanging = True
    enqueue(conn, "camera.offline", "webhook " + hanging.url, T0)
    enqueue(conn, "camera.offline", "webhook " + good.url, T0)
    sender = start_sender(db, receivers, FakeClock())
    try:
        hanging.wait_received(1)  # the first pass started it, the lower id, and skipped good
        assert good.received == []
        hanging.release()  # that send fails and its thread ends: the good target's turn
        good.wait_for(1)
    finally:
        sender.stop()
