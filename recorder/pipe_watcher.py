"""One selector for the output pipes of every running ffmpeg, so one thread watches them all."""
from __future__ import annotations

import selectors


class PipeWatcher:
    """Registers pipes with the object that reads them (``on_readable(pipe) -> bool``)."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()

    def watch(self, pipe, reader) -> None:
        """Deliver ``pipe``'s output to ``reader``."""
        self.selector.register(pipe, selectors.EVENT_READ, reader)

    def unwatch(self, pipe) -> None:
        """Stop watching ``pipe`` (not watched is fine)."""
        try:
            self.selector.unregister(pipe)
        except (KeyError, ValueError):
            pass

    def dispatch(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds and hand every readable pipe to its reader.

        Returns True when a pipe reached its end (its process is exiting).
        """
        if not self.selector.get_map():
            return False
        ended = False
        for key, _ in self.selector.select(timeout):
            if not key.data.on_readable(key.fileobj):
                ended = True
        return ended

    @property
    def watching(self) -> int:
        """How many pipes are watched."""
        return len(self.selector.get_map())
