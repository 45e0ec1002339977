"""A process runner for unit tests: notes every argv and signal; the test writes the output.

A fake process has real pipes (the recorder reads them through its selector as
it reads ffmpeg's), but nothing runs: the test writes what ffmpeg would print
and decides when and how it exits. How it answers each stop signal is set per
runner, like an ffmpeg that flows (SIGINT ends it) or one that is stalled.
"""
from __future__ import annotations

import os
import subprocess
from typing import IO

# ffmpeg's exit status after a stop signal.
STOPPED = 255
# What ffmpeg says first, at the recorder's -loglevel verbose, once it has started up (its
# libraries loaded, its options read) and before it connects.
STARTED_LINE = "ffmpeg stats and -progress period set to 1.\n"


def progress_block(frames: int, seconds: float, end: bool = False) -> str:
    """One block of ffmpeg's ``-progress`` output."""
    return (f"frame={frames}\ntotal_size={frames * 1000}\nout_time_us={int(seconds * 1e6)}\n"
            f"progress={'end' if end else 'continue'}\n")


class FakeProcess:
    """A spawned "ffmpeg": pipes the test writes into, an exit the test (or a signal) causes."""

    def __init__(self, runner: FakeRunner, argv: list[str], pid: int) -> None:
        self.argv, self.pid, self._runner = argv, pid, runner
        self.returncode: int | None = None
        self.signals: list[str] = []
        out_read, self._out = os.pipe()
        err_read, self._err = os.pipe()
        self.stdout: IO[bytes] = os.fdopen(out_read, "rb", buffering=0)
        self.stderr: IO[bytes] = os.fdopen(err_read, "rb", buffering=0)

    @property
    def output_path(self) -> str:
        """The work file named on its command line."""
        return next(arg for arg in self.argv if arg.endswith(".part"))

    def write(self, stdout: str = "", stderr: str = "") -> None:
        """Print on its stdout (progress) and stderr (log)."""
        if stdout:
            os.write(self._out, stdout.encode())
        if stderr:
            os.write(self._err, stderr.encode())

    def exit(self, code: int) -> None:
        """End it with ``code``: its pipes reach their end."""
        if self.returncode is None:
            self.returncode = code
            os.close(self._out)
            os.close(self._err)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float) -> int:
        if self.returncode is None:
            raise subprocess.TimeoutExpired(self.argv, timeout)
        return self.returncode

    def interrupt(self) -> None:
        self._signal("INT")

    def terminate(self) -> None:
        self._signal("TERM")

    def kill(self) -> None:
        self._signal("KILL")

    def _signal(self, name: str) -> None:
        if self.returncode is not None:
            return  # as the real handle: an exited process gets no signal
        self.signals.append(name)
        self._runner.signals.append(name)
        if name == "KILL":
            self.exit(-9)
        elif name in self._runner.stops_on:
            self.exit(STOPPED)


class FakeRunner:
    """Spawns :class:`FakeProcess` es and answers ``run`` (ffprobe, remux) with ``run_returncode``.

    ``stops_on``: the stop signals a process exits on (``{"INT", "TERM"}`` flows,
    ``{"TERM"}`` is stalled, ``set()`` ignores both). ``work_file``: bytes each
    spawn writes to its work file, as ffmpeg would on connecting (None: none).
    ``started``: each spawn says :data:`STARTED_LINE` at once, as an ffmpeg whose start-up
    took no time (False: the test writes it when its ffmpeg is done starting up).
    """

    def __init__(self, stops_on: set[str] | None = None, work_file: bytes | None = None,
                 run_returncode: int = 1, run_stdout: str = "", started: bool = True) -> None:
        self.stops_on = {"INT", "TERM"} if stops_on is None else stops_on
        self.work_file = work_file
        self.started = started
        self.run_returncode = run_returncode
        self.run_stdout = run_stdout  # e.g. what ffprobe prints for a playable clip
        self.processes: list[FakeProcess] = []
        self.signals: list[str] = []
        self.runs: list[list[str]] = []

    def spawn(self, argv: list[str]) -> FakeProcess:
        process = FakeProcess(self, list(argv), 10_000 + len(self.processes))
        self.processes.append(process)
        if self.started:
            process.write(stderr=STARTED_LINE)
        if self.work_file is not None:
            with open(process.output_path, "wb") as handle:
                handle.write(self.work_file)
        return process

    def run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        self.runs.append(list(argv))
        return subprocess.CompletedProcess(argv, self.run_returncode, stdout=self.run_stdout,
                                           stderr="")

    def close(self) -> None:
        """End every process still "running" (closes the test's ends of their pipes)."""
        for process in self.processes:
            process.exit(-9)
