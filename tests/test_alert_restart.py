"""kill -9 of a process with undelivered alerts loses none: the next one delivers them, in order."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from shared.history_schema import connect_writer
from testkit.recorder_process import REPO_ROOT, wait_for
from testkit.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


def start_sender(db: str, receivers_file: str, log) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    return subprocess.Popen([sys.executable, "-m", "testkit.alert_process", db, receivers_file],
                            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_kill_9_with_undelivered_alerts_loses_none(tmp_path) -> None:
    with contextlib.ExitStack() as stack:
        _kill_and_restart(tmp_path, stack)


def _kill_and_restart(tmp_path, stack: contextlib.ExitStack) -> None:
    db = str(tmp_path / ".patrol-state" / "history.sqlite3")
    receiver = WebhookReceiver()  # not listening yet: the receiver is down
    receivers_file = tmp_path / "alerts.json"
    receivers_file.write_text(json.dumps({"webhooks": [{"url": receiver.url, "secret": "k"}]}))
    conn = connect_writer(db)
    now = time.time()
    for i in range(3):
        conn.execute("INSERT INTO outbox (event, created, target, body, attempts, next_attempt)"
                     " VALUES (?, ?, ?, ?, 0, ?)", ("camera.offline", now, "webhook " + receiver.url,
                                                    json.dumps({"event": "camera.offline", "n": i}),
                                                    now))
    log = stack.enter_context(open(tmp_path / "sender.log", "wb"))
    first = start_sender(db, str(receivers_file), log)
    try:
        wait_for(lambda: conn.execute("SELECT attempts FROM outbox WHERE id = 1").fetchone()[0],
                 30, "a first, refused attempt")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert conn.execute("SELECT count(*) FROM outbox WHERE delivered IS NULL").fetchone()[0] == 3
    receiver.start()
    second = start_sender(db, str(receivers_file), log)
    try:
        got = receiver.wait_for(3, timeout=30)
        wait_for(lambda: conn.execute("SELECT count(*) FROM outbox WHERE delivered IS NULL")
                 .fetchone()[0] == 0, 10, "every row closed")
    finally:
        second.terminate()
        second.wait(timeout=10)
        receiver.stop()
        conn.close()
    assert [r.json()["n"] for r in got] == [0, 1, 2]
    assert len(receiver.received) == 3  # each once
