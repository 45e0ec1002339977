"""Time formats: displayed local times and cycle folder names."""
from __future__ import annotations

import re
import time

DISPLAY_FORMAT = "%Y-%m-%d %H:%M:%S"
CYCLE_FORMAT = "%Y%m%d_%H%M%S"
# A cycle folder: YYYYMMDD_HHMMSS, with a _NN suffix when two cycles would
# otherwise share a second (the suffixed name still sorts after the plain one).
# ASCII digits only, and the whole name: "$" would also match before a trailing
# newline and "\d" matches any Unicode digit, letting odd names count as cycles.
CYCLE_NAME_RE = re.compile(r"\A[0-9]{8}_[0-9]{6}(?:_[0-9]{2,4})?\Z")


def format_local(epoch: float | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in local time; ``""`` for a time not reached yet."""
    if epoch is None:
        return ""
    return time.strftime(DISPLAY_FORMAT, time.localtime(epoch))


def cycle_name(epoch: float) -> str:
    """The folder name of a cycle started at ``epoch`` (local time)."""
    return time.strftime(CYCLE_FORMAT, time.localtime(epoch))


def is_cycle_name(name: str) -> bool:
    """True when ``name`` is a cycle folder name the API lists."""
    return isinstance(name, str) and CYCLE_NAME_RE.fullmatch(name) is not None
