"""A stop request the loop can wait on like any pipe: a self-pipe set from a signal handler."""
from __future__ import annotations

import os


class StopSignal:
    """Set once (by SIGTERM/SIGINT or a test); readable from then on.

    ``set()`` only writes a byte, which is safe inside a signal handler, and the
    read end is one more file in the loop's selector, so a stop wakes the loop at
    once without a second kind of wait.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._set = False

    def set(self) -> None:
        """Ask the loop to stop (idempotent; callable from a signal handler)."""
        self._set = True
        try:
            os.write(self._write, b"x")
        except BlockingIOError:  # the pipe is full of earlier requests: already readable
            pass

    def is_set(self) -> bool:
        """True once :meth:`set` was called."""
        return self._set

    def fileno(self) -> int:
        """The read end: readable once the signal is set (it is never drained)."""
        return self._read

    def on_readable(self, _pipe) -> bool:
        """As a watched file: a set signal reads like a pipe that ended (wake and step)."""
        return False

    def close(self) -> None:
        """Release both ends."""
        for fd in (self._read, self._write):
            os.close(fd)
