"""A camera's state from its stored row (SPEC "Camera state"): one rule wherever it shows."""
from __future__ import annotations

import os

from shared import task_status as st

ONLINE, OFFLINE, DEGRADED, UNKNOWN = "online", "offline", "degraded", "unknown"
STATES = (ONLINE, OFFLINE, DEGRADED, UNKNOWN)
# The global key's default: one glitch is not an outage.
DEFAULT_OFFLINE_AFTER_FAILURES = 2


def camera_state(last_status: int | None, offline_since: float | None) -> str:
    """``online`` (last task 已完成), ``offline`` (an outage is open: ``offline_since`` set),
    ``degraded`` (failing, no outage), ``unknown`` (never checked).

    The state is the one the recorder stored with its alerts, never recomputed from the
    threshold in the config now: an ``offline_after_failures`` edited mid-outage takes
    effect at the camera's next outcome, for what is shown and what is alerted alike.
    """
    if last_status is None:
        return UNKNOWN
    if last_status == st.COMPLETED:
        return ONLINE
    return OFFLINE if offline_since is not None else DEGRADED


def is_failure(status: int) -> bool:
    """True for a finished task that counts against the camera (not 已完成, not 已取消)."""
    return status in st.FINISHED and status not in (st.COMPLETED, st.CANCELLED)


def camera_id(output_filename: str) -> str:
    """A camera's identity: its stream's ``output_filename`` without the extension (``gate.mp4`` → ``gate``)."""
    return os.path.splitext(output_filename)[0]
