"""Spawning and stopping ffmpeg: own session, tied to our death, graceful stop then kill."""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
from typing import IO, Protocol

_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - always there on Linux
    _libc = None


def _die_with_parent() -> None:
    # Runs in the child between fork and exec (only where setpriv is missing):
    # SIGKILL when the daemon dies, even by SIGKILL, so no ffmpeg outlives it.
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# util-linux's setpriv sets the death signal and then execs the command, so the
# child needs no Python preexec_fn; without one, subprocess can use vfork,
# which spares copying the daemon's page tables at every one of hundreds of
# spawns per cycle.
SETPRIV = shutil.which("setpriv")
# Sets LD_PRELOAD for ffmpeg alone: in setpriv's environment it would make
# setpriv itself load the libraries (see recorder/ffmpeg_preload.py). The exec
# keeps the pid, and the death signal (env is not set-uid).
ENV = shutil.which("env")
# ffmpeg runs a few steps below the daemon: when hundreds of start-ups saturate
# the CPUs, the daemon (and the API beside it) still get a core when they need
# one, so starts stay on time, watchdogs fire on time and a stop acts at once.
RECORDING_NICENESS = 5


class Preload(Protocol):
    """Which shared libraries a recording's ffmpeg loads first (recorder.ffmpeg_preload)."""

    def libraries(self) -> tuple[str, ...]:
        """The libraries for the next start; () for none."""


def _lower_priority(pid: int) -> None:
    """Run ``pid`` RECORDING_NICENESS steps below us (a failure changes nothing else).

    Its own session is also its own scheduler autogroup (Linux, when autogrouping
    is on), and between autogroups only the group's niceness counts: both are set.
    """
    niceness = min(19, os.getpriority(os.PRIO_PROCESS, 0) + RECORDING_NICENESS)
    try:
        os.setpriority(os.PRIO_PROCESS, pid, niceness)
        with open(f"/proc/{pid}/autogroup", "w", encoding="ascii") as handle:
            handle.write(str(niceness))
    except OSError:
        pass  # no autogroups here, or it already exited (its pipes tell how)


def _tied_to_us(argv: list[str], options: dict) -> list[str]:
    """``argv`` run so that it is killed when we die: through setpriv, else a preexec_fn."""
    if SETPRIV:
        return [SETPRIV, "--pdeathsig", "KILL", *argv]
    options["preexec_fn"] = _die_with_parent
    return argv


class ProcessHandle:
    """One spawned process: its pid, output pipes, exit status, and the signals it is sent.

    Signals go to its whole process group (its own session), and never to a
    process already reaped (its pid may be someone else's by then).
    """

    def __init__(self, popen: subprocess.Popen) -> None:
        self._popen = popen
        self.pid: int = popen.pid
        self.stdout: IO[bytes] = popen.stdout
        self.stderr: IO[bytes] = popen.stderr

    @property
    def returncode(self) -> int | None:
        """Its exit status once reaped (negative: the signal that ended it), else None."""
        return self._popen.returncode

    def poll(self) -> int | None:
        """Reap it if it exited; its exit status, or None while it runs."""
        return self._popen.poll()

    def wait(self, timeout: float) -> int:
        """Wait for its exit. :raises subprocess.TimeoutExpired: still running after ``timeout``."""
        return self._popen.wait(timeout=timeout)

    def interrupt(self) -> None:
        """SIGINT: ffmpeg finishes the file and exits, once its current read returns."""
        self._signal(signal.SIGINT)

    def terminate(self) -> None:
        """SIGTERM: to ffmpeg a second stop signal, which also aborts a read blocked on the network."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: end it now."""
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if self._popen.poll() is not None:
            return
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass


class ProcessRunner:
    """Every spawn of the recorder goes through here; tests replace it with a fake.

    ``preload``: the libraries a recording's ffmpeg loads first; the runner only
    applies what it is told, for recordings (:meth:`spawn`) alone.
    """

    def __init__(self, preload: Preload | None = None) -> None:
        self.preload = preload

    def spawn(self, argv: list[str]) -> ProcessHandle:
        """Start ``argv`` with stdout/stderr pipes in its own session, killed if we die.

        :raises OSError: it could not be started.
        """
        options: dict = {}
        libraries = " ".join(self.preload.libraries()) if self.preload else ""
        if libraries and SETPRIV and ENV:
            argv = [ENV, f"LD_PRELOAD={libraries}", *argv]
        elif libraries:
            options["env"] = {**os.environ, "LD_PRELOAD": libraries}
        popen = subprocess.Popen(
            _tied_to_us(argv, options), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True, close_fds=True, **options)
        _lower_priority(popen.pid)
        return ProcessHandle(popen)

    def run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        """Run a short helper (ffprobe, a remux) to completion, killed after ``timeout``.

        :raises OSError: it could not be started.
        :raises subprocess.TimeoutExpired: it ran longer than ``timeout`` (and was killed).
        """
        options: dict = {}
        return subprocess.run(_tied_to_us(argv, options), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout,
                              start_new_session=True, check=False, **options)
