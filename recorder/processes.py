"""Spawning and stopping ffmpeg: own session, tied to our death, graceful stop then kill."""
from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import subprocess
import time

from shared.file_cache import file_signature

_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - always there on Linux
    _libc = None


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: a new session (so signals to our
    # group do not reach it half-way), and SIGKILL when the daemon dies, even by
    # SIGKILL, so no ffmpeg outlives it.
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
# How often the preloaded libraries and ffmpeg are looked at for an upgrade.
PRELOAD_RECHECK_SECONDS = 10.0
log = logging.getLogger(__name__)
# ffmpeg runs a few steps below the daemon: when hundreds of start-ups saturate
# the CPUs, the daemon (and the API beside it) still get a core when they need
# one, so starts stay on time, watchdogs fire on time and a stop acts at once.
RECORDING_NICENESS = 5


def _signatures(paths: tuple[str, ...]) -> tuple:
    """Each file's version (see shared.file_cache.file_signature): changes when one is replaced."""
    return tuple(file_signature(path) for path in paths)


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


class ProcessRunner:
    """Every spawn and kill of the recorder goes through here; tests replace it with a fake.

    ``preload``: shared libraries the recordings' ffmpeg loads first (``LD_PRELOAD``),
    chosen by :func:`recorder.ffmpeg_preload.find_preload`.
    """

    def __init__(self, preload: tuple[str, ...] = ()) -> None:
        self.preload = preload
        # What the preload was checked against: an upgrade of ffmpeg or of one of
        # these libraries voids the check (a removed path would also make the
        # loader complain on ffmpeg's stderr at every start).
        self._preload_basis = (*preload, shutil.which("ffmpeg") or "ffmpeg") if preload else ()
        self._preload_signature = _signatures(self._preload_basis)
        self._preload_checked = time.monotonic()

    def current_preload(self) -> tuple[str, ...]:
        """The preload, dropped for good once what it was checked against changed."""
        now = time.monotonic()
        if self.preload and now - self._preload_checked >= PRELOAD_RECHECK_SECONDS:
            self._preload_checked = now
            if _signatures(self._preload_basis) != self._preload_signature:
                log.warning("ffmpeg start-up: ffmpeg or a library it loads first changed since "
                            "the check; ffmpeg loads its libraries in its own order until the "
                            "recorder restarts")
                self.preload = ()
        return self.preload

    def spawn(self, argv: list[str]) -> subprocess.Popen:
        """Start ``argv`` with stdout/stderr pipes in its own session, killed if we die."""
        options: dict = {}
        preload = " ".join(self.current_preload())
        if preload and SETPRIV and ENV:
            argv = [ENV, f"LD_PRELOAD={preload}", *argv]
        elif preload:
            options["env"] = {**os.environ, "LD_PRELOAD": preload}
        if SETPRIV:
            argv = [SETPRIV, "--pdeathsig", "KILL", *argv]
        else:
            options["preexec_fn"] = _die_with_parent
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, close_fds=True, **options)
        _lower_priority(proc.pid)
        return proc

    def interrupt(self, proc: subprocess.Popen) -> None:
        """Ask ffmpeg to finish the file and exit (SIGINT is its graceful stop)."""
        self._signal(proc, signal.SIGINT)

    def kill(self, proc: subprocess.Popen) -> None:
        """End it now, with its whole process group."""
        self._signal(proc, signal.SIGKILL)

    def _signal(self, proc: subprocess.Popen, signum: int) -> None:
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            pass

    def run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        """Run a short helper (ffprobe, a remux) to completion, killed after ``timeout``."""
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, start_new_session=True,
                              preexec_fn=_die_with_parent, check=False)
