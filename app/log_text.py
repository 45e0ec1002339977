"""Log lines that carry request data: control characters escaped, so no request can forge a line."""
from __future__ import annotations

import logging
import re

# C0 and C1 controls, DEL and the Unicode line breaks: each could end a log line
# (or steer a terminal) where the text came from a client.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: object) -> str:
    r"""``text`` with every control character spelled as an escape (``\n``, ``\x1b``)."""
    return _CONTROL_RE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"),
                           str(text))


class _EscapeArguments(logging.Filter):
    """Escape the text arguments of each record (the message itself is our own literal)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(printable(arg) if isinstance(arg, (str, BaseException)) else arg
                                for arg in record.args)
        return True


def request_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` whose records have their text arguments escaped."""
    logger = logging.getLogger(name)
    if not any(isinstance(existing, _EscapeArguments) for existing in logger.filters):
        logger.addFilter(_EscapeArguments())
    return logger
