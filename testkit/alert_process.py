"""``python -m testkit.alert_process DB RECEIVERS.json``: the alert sender alone, in a process of its own.

For tests that kill it (-9) with alerts undelivered and start it again. Runs until
SIGTERM/SIGINT; the receivers file holds the ``global_config.alerts`` object.
"""
from __future__ import annotations

import json
import logging
import signal
import sys
import threading

from recorder.alert_sender import AlertSender


def main(argv: list[str]) -> int:
    """Deliver ``argv[0]``'s outbox to the receivers in ``argv[1]`` until stopped."""
    db_path, receivers_path = argv
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with open(receivers_path, encoding="utf-8") as handle:
        alerts = json.load(handle)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sender = AlertSender(db_path, lambda: alerts).start()
    stop.wait()
    sender.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
