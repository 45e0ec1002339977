"""Alert latency: from an outbox row's commit to its arrival at a webhook receiver on 127.0.0.1.

The sender thread runs as in the recorder (default poll interval, real clock, its own
connection); this process writes outbox rows through another connection as the
history writer does, one at a time at random moments (so they fall anywhere in the
poll interval), and the receiver notes when each arrives. Two runs: polling only (a
writer that never calls ``wake()``), with ``wake()`` after each commit, and the latter
again with a second receiver that accepts every request and never answers, each event
queued for it first (its sends hang for the whole send timeout, then back off): the
good receiver's latency must not care. Also the sender thread's own CPU while idle (the
outbox empty), per hour of wall time.
"""
from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time

from bench.common import Row, median_seconds, percentile, print_table, save
from recorder.alert_sender import POLL_SECONDS, AlertSender
from shared.history_schema import connect_writer
from testkit.webhook_receiver import WebhookReceiver

TARGET_P95_SECONDS = 2.0
# An idle outbox still holds the delivered rows retention has not removed yet.
DELIVERED_ROWS = 100_000


def latencies(count: int, wake: bool, hanging: bool = False) -> list[float]:
    """Seconds from commit to arrival of ``count`` alerts at a good receiver, written at
    random moments; with ``hanging``, each also queued first for a receiver that hangs."""
    with tempfile.TemporaryDirectory() as folder, WebhookReceiver() as receiver, \
            WebhookReceiver() as stuck:
        stuck.hanging = True
        targets = [server.url for server in ([stuck] if hanging else []) + [receiver]]
        db = f"{folder}/history.sqlite3"
        conn = connect_writer(db)
        sender = AlertSender(db, lambda: {"webhooks": [{"url": url} for url in targets]}).start()
        written = []
        try:
            for n in range(count):
                time.sleep(random.uniform(0.1, POLL_SECONDS * 1.2))  # any phase of the poll
                _write_event(conn, targets, n)
                written.append(time.monotonic())
                if wake:
                    sender.wake()
            got = receiver.wait_for(count, timeout=60)
        finally:
            sender.stop()
            conn.close()
    arrived = {r.json()["n"]: r.arrived for r in got}
    return [arrived[n] - written[n] for n in range(count)]


def _write_event(conn: sqlite3.Connection, urls: list[str], n: int) -> None:
    """Event ``n`` for each webhook of ``urls``, in one transaction as the history writer does."""
    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    for url in urls:
        conn.execute("INSERT INTO outbox (event, created, target, body, attempts, next_attempt)"
                     " VALUES ('camera.offline', ?, ?, ?, 0, ?)",
                     (now, "webhook " + url, json.dumps({"n": n}), now))
    conn.execute("COMMIT")


def idle_pass_seconds(runs: int = 2000) -> float:
    """Median time of one pass over an idle outbox (90 days of delivered rows kept, none due)."""
    with tempfile.TemporaryDirectory() as folder:
        db = f"{folder}/history.sqlite3"
        conn = connect_writer(db)
        now = time.time()
        conn.executemany("INSERT INTO outbox (event, created, target, body, attempts, next_attempt,"
                         " delivered) VALUES ('cycle.finished', ?, 'webhook x', '{}', 1, ?, ?)",
                         [(now, now, now)] * DELIVERED_ROWS)
        sender = AlertSender(db, lambda: {"webhooks": [{"url": "http://127.0.0.1:9/"}]})
        sender.run_once()  # opens the connection
        seconds = median_seconds(sender.run_once, runs)
        sender.stop()
        conn.close()
    return seconds


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the alert latency benchmark; the rows of the result table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="30 alerts per run instead of 100")
    count = 30 if parser.parse_args(argv).quick else 100
    polled, woken = latencies(count, wake=False), latencies(count, wake=True)
    beside_hanging = latencies(count, wake=True, hanging=True)
    p95, p95_woken = percentile(polled, 0.95), percentile(woken, 0.95)
    p95_beside = percentile(beside_hanging, 0.95)
    idle = idle_pass_seconds()
    per_hour = idle * 3600 / POLL_SECONDS
    rows = [
        Row(f"alerts: outbox commit -> webhook received, p95 of {count}, polling every "
            f"{POLL_SECONDS:g} s", p95, None, "s", f"<= {TARGET_P95_SECONDS:g} s",
            p95 <= TARGET_P95_SECONDS),
        Row(f"alerts: the same with wake() after the commit, p95 of {count}", p95_woken, None,
            "s", f"<= {TARGET_P95_SECONDS:g} s", p95_woken <= TARGET_P95_SECONDS),
        Row(f"alerts: the same beside a receiver that never answers, p95 of {count}",
            p95_beside, None, "s", f"<= {TARGET_P95_SECONDS:g} s",
            p95_beside <= TARGET_P95_SECONDS),
        Row(f"alerts: one idle pass ({DELIVERED_ROWS:,} delivered rows kept), median", idle,
            None, "s", "(informative)", True),
        Row(f"alerts: idle sender, time per hour at one pass per {POLL_SECONDS:g} s", per_hour,
            None, "s/h", "<= 36 s/h (1 % of a core)", per_hour <= 36),
    ]
    save("alert_latency", rows, {"polled": polled, "woken": woken,
                                 "beside_hanging": beside_hanging,
                                 "median_polled": percentile(polled, 0.5),
                                 "median_woken": percentile(woken, 0.5),
                                 "median_beside_hanging": percentile(beside_hanging, 0.5)})
    print_table(rows)
    return rows
