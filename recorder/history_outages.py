"""A camera's outage as its alerts follow it: one rule for the history writer and its forecast."""
from __future__ import annotations

from dataclasses import dataclass

from shared import event_names as ev


@dataclass(frozen=True)
class Outage:
    """What a camera's alerts follow: its failures in a row, whether it is in an outage
    (``offline``) and whether that outage's ``camera.offline`` was raised (``alerted``)."""

    failures: int = 0
    offline: bool = False
    alerted: bool = False


def camera_change(before: Outage, ok: bool, offline_after: int, alerting: bool | None,
                  ) -> tuple[Outage, str | None]:
    """A camera's outage after an outcome (已完成 or a failure), and the event it raises.

    ``alerting``: the camera's alerts are on (None: an import, the past: no event, and
    what was raised stays so). An outage opens when the failures reach ``offline_after``
    as it is now and stays open until 已完成, whatever the threshold becomes. Only an outage
    whose ``camera.offline`` was raised raises ``camera.recovered``; one not raised yet (its
    alerts were off, it opened in an import) raises it at its next failure with alerts on.
    """
    if ok:
        recovered = before.alerted and alerting
        return Outage(), (ev.CAMERA_RECOVERED if recovered else None)
    failures = before.failures + 1
    offline = before.offline or failures >= offline_after
    if alerting is None:
        return Outage(failures, offline, before.alerted), None
    if not alerting:  # under maintenance: an outage it was in is no longer followed
        return Outage(failures, offline, False), None
    event = ev.CAMERA_OFFLINE if offline and not before.alerted else None
    return Outage(failures, offline, offline), event
