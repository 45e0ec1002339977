"""A camera's state from its run of outcomes (SPEC "Camera state"): one rule for the recorder and the API."""
from __future__ import annotations

from shared import task_status as st

ONLINE, OFFLINE, DEGRADED, UNKNOWN = "online", "offline", "degraded", "unknown"
STATES = (ONLINE, OFFLINE, DEGRADED, UNKNOWN)
# The global key's default: one glitch is not an outage.
DEFAULT_OFFLINE_AFTER_FAILURES = 2


def camera_state(last_status: int | None, consecutive_failures: int, offline_after: int) -> str:
    """``online`` (last task 已完成), ``offline`` (the last ``offline_after`` failed),
    ``degraded`` (failing, fewer times), ``unknown`` (never checked)."""
    if last_status is None:
        return UNKNOWN
    if last_status == st.COMPLETED:
        return ONLINE
    return OFFLINE if consecutive_failures >= offline_after else DEGRADED


def is_failure(status: int) -> bool:
    """True for a finished task that counts against the camera (not 已完成, not 已取消)."""
    return status in st.FINISHED and status not in (st.COMPLETED, st.CANCELLED)
