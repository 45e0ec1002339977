"""A count with its noun for the logs: "1 partial clip kept", "2 partial clips kept"."""
from __future__ import annotations


def counted(count: int, noun: str, plural: str = "") -> str:
    """``count`` and ``noun``, the noun in the plural (``plural``, else ``noun`` + "s") unless
    the count is 1."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
