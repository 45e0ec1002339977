"""The status file's text, each task's record encoded once while it stays the same.

The status lists every task of the cycle about once a second (and in cluster mode once more,
for Redis). Encoding thousands of records each time cost the daemon more than all its other
work in a 1,000-task cycle (bench/status_in_daemon.py); but a record changes only while its
task runs: ``as_dict`` (recorder/recording.py, recorder/cluster/remote_task.py) returns the
same object until an input changes, and its callers never modify it. So a record's text is
kept with the object it was made from, and used again while ``as_dict`` returns that object.
"""
from __future__ import annotations

import secrets

from shared.atomic import compact_json


class StatusText:
    """Encodes status dicts as :func:`shared.atomic.compact_json` does, the same text, with
    the records of ``status["tasks"]`` encoded only when they are new objects."""

    def __init__(self) -> None:
        self._records: dict[int, tuple[dict, str]] = {}  # id(record): (record, its text)

    def encode(self, status: dict) -> str:
        """``compact_json(status)``, the text of the tasks' records reused when unchanged (the
        keys in the same order)."""
        tasks = status.get("tasks")
        if not isinstance(tasks, list) or not tasks:
            return compact_json(status)
        kept, texts = self._records, []
        for record in tasks:
            hit = kept.get(id(record))
            if hit is None or hit[0] is not record:
                hit = (record, compact_json(record))
            texts.append(hit[1])
        # Only the current records are kept (and holding each one, its id is never reused
        # by another object while its text is here).
        self._records = {id(record): (record, text) for record, text in zip(tasks, texts)}
        placeholder = _Placeholder()
        head = compact_json({**status, "tasks": placeholder.value})
        return head.replace(placeholder.text, "[" + ",".join(texts) + "]", 1)


class _Placeholder:
    """A string no status holds (a fresh random token), encoded where the tasks go."""

    def __init__(self) -> None:
        self.value = "tasks-" + secrets.token_hex(16)
        self.text = compact_json(self.value)
