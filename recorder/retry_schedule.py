"""What a full disk (or a refused write) kept from being written, tried again later: 30 s after
its first failure, then 5 min after its second (a full disk needs time to be cleared), then
given up. One schedule for a cycle's contact sheet (recorder/contact_sheet_writer.py) and its
reports (recorder/report_retries.py); each line it logs begins with what it is about."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
RETRY_DELAYS_SECONDS = (30.0, 300.0)
ATTEMPTS = 1 + len(RETRY_DELAYS_SECONDS)
Item = TypeVar("Item")


@dataclass
class _Waiting(Generic[Item]):
    """A failed item, waiting for its next attempt."""

    key: str
    item: Item
    pause: float               # seconds from its failure to its next attempt
    due: float | None = None   # the loop's monotonic time of that attempt (set at its next step)


class RetrySchedule(Generic[Item]):
    """The failed items (each known by a key: its cycle folder), each tried :data:`ATTEMPTS`
    times in all. Not thread-safe: a caller with threads holds its lock around each call.

    ``label``: what an item is, with ``{}`` for its key (``contact sheet of {}``); ``verb``:
    what is done to it (``drawn``, ``written``)."""

    def __init__(self, label: str, verb: str) -> None:
        self.label, self.verb = label, verb
        self._attempts: dict[str, int] = {}  # an item's failed attempts, while it has some
        self._waiting: list[_Waiting[Item]] = []

    def failed(self, key: str, item: Item, why: str = "") -> None:
        """An attempt at ``item`` failed (``why``, when told): kept for :meth:`due`, unless that
        was its last attempt (logged either way)."""
        attempts = self._attempts.get(key, 0) + 1
        what = self.label.format(key)
        because = f" ({why})" if why else ""
        if attempts >= ATTEMPTS:
            self._attempts.pop(key, None)
            log.error("%s not written after %d attempts: given up%s", what, attempts, because)
            return
        self._attempts[key] = attempts
        pause = RETRY_DELAYS_SECONDS[attempts - 1]
        self._waiting.append(_Waiting(key, item, pause))
        log.warning("%s: attempt %d of %d failed%s, %s again in %.0f s", what, attempts,
                    ATTEMPTS, because, self.verb, pause)

    def succeeded(self, key: str) -> None:
        """An attempt at ``key``'s item worked: a retry's says so (the first's, nothing)."""
        attempts = self._attempts.pop(key, 0)
        if attempts:
            log.info("%s: attempt %d of %d %s", self.label.format(key), attempts + 1, ATTEMPTS,
                     self.verb)

    def due(self, now: float) -> list[tuple[str, Item]]:
        """The items whose pause is over at the loop's monotonic ``now`` (the pause of one that
        failed since the last call starts now), each logged as retried; they are the caller's
        to try again (and to report with :meth:`failed` or :meth:`succeeded`)."""
        due: list[_Waiting[Item]] = []
        waiting: list[_Waiting[Item]] = []
        for entry in self._waiting:
            if entry.due is None:
                entry.due = now + entry.pause
            (due if now >= entry.due else waiting).append(entry)
        self._waiting = waiting
        for entry in due:
            log.info("%s: retried (attempt %d of %d)", self.label.format(entry.key),
                     self._attempts.get(entry.key, 0) + 1, ATTEMPTS)
        return [(entry.key, entry.item) for entry in due]

    def waiting(self) -> list[str]:
        """The keys of the items waiting for their next attempt."""
        return [entry.key for entry in self._waiting]

    def forget(self, key: str) -> None:
        """Try ``key``'s item no more (it was handed out by :meth:`due`; nothing left to try)."""
        self._attempts.pop(key, None)
        self._waiting = [entry for entry in self._waiting if entry.key != key]

    def take_all(self) -> list[tuple[str, Item]]:
        """Every item waiting, whatever its pause (a stop's last attempt), forgotten here."""
        items = [(entry.key, entry.item) for entry in self._waiting]
        self._waiting.clear()
        self._attempts.clear()
        return items

    def clear(self) -> list[str]:
        """Forget every item waiting (a stop); returns their keys."""
        return [key for key, _ in self.take_all()]
