"""Time formats: displayed local times and cycle folder names."""
from __future__ import annotations

import re
import time
from datetime import datetime

DISPLAY_FORMAT = "%Y-%m-%d %H:%M:%S"
CYCLE_FORMAT = "%Y%m%d_%H%M%S"
# A cycle folder: YYYYMMDD_HHMMSS, with a _NN suffix when the name is taken
# (two cycles in one second, a clock behind the newest folder: recorder/cycle_folder.py).
# The suffix grows past two digits (_99, _100, ...): names order by
# (timestamp, number), never as text. 18 digits is more cycles than can ever run
# and keeps int() cheap on a client's path. ASCII digits only, and the whole
# name: "$" would also match before a trailing newline and "\d" matches any
# Unicode digit, letting odd names count as cycles. The pattern is the name's shape only:
# is_cycle_name also asks for a real date and time (no month 13, no hour 25).
MAX_SUFFIX_DIGITS = 18
CYCLE_NAME_RE = re.compile(r"\A[0-9]{8}_[0-9]{6}(?:_[0-9]{2,%d})?\Z" % MAX_SUFFIX_DIGITS)


def format_local(epoch: float | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in local time; ``""`` for a time not reached yet."""
    if epoch is None:
        return ""
    return time.strftime(DISPLAY_FORMAT, time.localtime(epoch))


def parse_local(text: object) -> float | None:
    """The epoch of a ``YYYY-MM-DD HH:MM:SS`` local time (:func:`format_local`'s); None when it
    is not one."""
    try:
        return time.mktime(time.strptime(str(text), DISPLAY_FORMAT))
    except (ValueError, OverflowError):
        return None


def format_iso(epoch: float | None) -> str | None:
    """ISO 8601 with the local offset (``2025-10-11T14:47:08+08:00``); None for no time."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


def cycle_name(epoch: float) -> str:
    """The folder name of a cycle started at ``epoch`` (local time)."""
    return time.strftime(CYCLE_FORMAT, time.localtime(epoch))


def is_cycle_name(name: str) -> bool:
    """True when ``name`` is a cycle folder name the API lists: the shape, and a real time."""
    return (isinstance(name, str) and CYCLE_NAME_RE.fullmatch(name) is not None
            and is_real_stamp(name[:15]))


def is_real_stamp(stamp: str) -> bool:
    """True when ``stamp`` (``YYYYMMDD_HHMMSS``, ASCII digits: the caller checked the shape) is
    a real date and time, as :func:`cycle_name` makes them; ``20261399_256199`` is not."""
    try:
        datetime(int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]),
                 int(stamp[9:11]), int(stamp[11:13]), int(stamp[13:15]))
    except ValueError:
        return False
    return True


def cycle_order(name: str) -> tuple[str, int, str]:
    """Sort key of a cycle folder name: (timestamp, suffix number, name); no suffix sorts first."""
    suffix = name[16:]
    return name[:15], int(suffix) if suffix else -1, name
