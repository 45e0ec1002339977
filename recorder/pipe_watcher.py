"""The loop's one wait: a selector over every running ffmpeg's pipes and the stop signal."""
from __future__ import annotations

import selectors


class PipeWatcher:
    """Registers pipes with the object that reads them (``on_readable(pipe) -> bool``).

    The stop signal, once watched, wakes every wait, whether or not the pipes
    are read in it; the pipes are left unread in a wait that only batches up
    their output.
    """

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self._stop_only = selectors.DefaultSelector()
        self._stop = None

    def watch(self, pipe, reader) -> None:
        """Deliver ``pipe``'s output to ``reader``."""
        self.selector.register(pipe, selectors.EVENT_READ, reader)

    def unwatch(self, pipe) -> None:
        """Stop watching ``pipe`` (not watched is fine)."""
        try:
            self.selector.unregister(pipe)
        except (KeyError, ValueError):
            pass

    def watch_stop(self, stop) -> None:
        """Wake every wait when ``stop`` (a :class:`~recorder.stop_signal.StopSignal`) is set."""
        self.watch(stop, stop)
        self._stop_only.register(stop, selectors.EVENT_READ, stop)
        self._stop = stop

    def unwatch_stop(self) -> None:
        """Waits no longer end at the stop signal (the shutdown drains pipes after it)."""
        if self._stop is not None:
            self.unwatch(self._stop)
            self._stop_only.unregister(self._stop)
            self._stop = None

    def wait(self, timeout: float, read_pipes: bool = True) -> bool:
        """Wait up to ``timeout`` seconds; hand every readable pipe to its reader if ``read_pipes``.

        Returns True when a pipe reached its end (its process is exiting) or the stop
        signal is set.
        """
        selector = self.selector if read_pipes else self._stop_only
        ended = False
        for key, _ in selector.select(max(0.0, timeout)):
            if not key.data.on_readable(key.fileobj):
                ended = True
        return ended

    def dispatch(self, timeout: float) -> bool:
        """Read what the pipes have within ``timeout`` seconds (see :meth:`wait`)."""
        return self.wait(timeout)

    def close(self) -> None:
        """Release the selectors (a process that records one task after another)."""
        self.selector.close()
        self._stop_only.close()

    @property
    def watching(self) -> int:
        """How many ffmpeg pipes are watched (the stop signal is not counted)."""
        return len(self.selector.get_map()) - (self._stop is not None)
