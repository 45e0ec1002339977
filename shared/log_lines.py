"""How every process of the patrol logs: plain lines an operator can grep (journald keeps them)."""
from __future__ import annotations

import logging
import sys

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = ("DEBUG", "INFO", "WARNING")  # what --log-level offers (the recorder's, a worker's)


def log_plain_lines(level: int | str = logging.INFO) -> None:
    """Lines of LINE_FORMAT on stderr from ``level`` up (a no-op when logging is set up already)."""
    logging.basicConfig(stream=sys.stderr, level=level, format=LINE_FORMAT)
