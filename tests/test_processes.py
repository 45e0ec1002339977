"""Spawning ffmpeg: its own session, below the daemon's priority, tied to us, signalled by handle."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from recorder import processes
from recorder.processes import RECORDING_NICENESS, ProcessRunner

LIB = "/lib/x86_64-linux-gnu/"
needs_setpriv = pytest.mark.skipif(not (processes.SETPRIV and processes.ENV),
                                   reason="util-linux setpriv and env are not installed")


def proc_stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (field 3 is index 0)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return handle.read().rsplit(")", 1)[1].split()


def wait_for_exec(pid: int, command: str) -> None:
    deadline = time.monotonic() + 5
    while open(f"/proc/{pid}/comm", encoding="ascii").read().strip() != command:
        assert time.monotonic() < deadline, f"{command} was never exec'd"
        time.sleep(0.01)


def finish(handle: processes.ProcessHandle) -> int:
    """Kill what is left, reap it, close its pipes; its exit status."""
    handle.kill()
    code = handle.wait(5)
    handle.stdout.close()
    handle.stderr.close()
    return code


def spy_on(monkeypatch, name: str) -> list[tuple[list[str], dict]]:
    """Note every (argv, options) the runner passes to ``subprocess.<name>``, then call it."""
    calls: list[tuple[list[str], dict]] = []
    real = getattr(processes.subprocess, name)

    def spy(argv, **kwargs):
        calls.append((argv, kwargs))
        return real(argv, **kwargs)

    monkeypatch.setattr(processes.subprocess, name, spy)
    return calls


class FixedPreload:
    """A preload that never changes."""

    def __init__(self, libraries: tuple[str, ...]) -> None:
        self._libraries = libraries

    def libraries(self) -> tuple[str, ...]:
        return self._libraries


def test_a_recording_runs_in_its_own_session_below_the_daemons_priority() -> None:
    handle = ProcessRunner().spawn(["sleep", "30"])
    try:
        wait_for_exec(handle.pid, "sleep")
        fields = proc_stat(handle.pid)
        nice = int(fields[16])  # field 19 of proc(5)
        expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + RECORDING_NICENESS)
        assert nice == expected
        if os.path.exists(f"/proc/{handle.pid}/autogroup"):  # its own autogroup, niced too
            with open(f"/proc/{handle.pid}/autogroup", encoding="ascii") as autogroup:
                assert autogroup.read().split()[-1] == str(expected)
        assert int(fields[3]) == handle.pid != os.getsid(0)  # field 6: session id
    finally:
        code = finish(handle)
    assert code == handle.returncode == -9


@pytest.mark.parametrize("send,signum", [("interrupt", signal.SIGINT),
                                         ("terminate", signal.SIGTERM),
                                         ("kill", signal.SIGKILL)])
def test_each_signal_of_the_handle_is_the_one_it_names(send, signum) -> None:
    handle = ProcessRunner().spawn(["sleep", "30"])
    try:
        wait_for_exec(handle.pid, "sleep")
        getattr(handle, send)()
        assert handle.wait(5) == -signum
    finally:
        finish(handle)


def test_an_exited_process_is_sent_no_signal(monkeypatch) -> None:
    handle = ProcessRunner().spawn(["true"])
    assert handle.wait(5) == 0
    monkeypatch.setattr(processes.os, "killpg", lambda *args: pytest.fail("signalled"))
    handle.interrupt()
    handle.terminate()
    handle.kill()
    handle.stdout.close()
    handle.stderr.close()


@needs_setpriv
def test_a_helper_run_goes_through_setpriv_with_the_death_signal_and_no_preexec_fn(
        monkeypatch) -> None:
    calls = spy_on(monkeypatch, "run")
    done = ProcessRunner(FixedPreload((LIB + "libc.so.6",))).run(
        [processes.SETPRIV, "--dump"], timeout=10)
    assert "parent death signal: kill" in done.stdout.lower()
    (argv, kwargs), = calls
    assert argv[:3] == [processes.SETPRIV, "--pdeathsig", "KILL"]
    assert "preexec_fn" not in kwargs and "env" not in kwargs  # and no preload for helpers
    assert kwargs["start_new_session"] is True


def test_a_helper_that_overruns_its_timeout_is_killed() -> None:
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        ProcessRunner().run(["sleep", "30"], timeout=0.2)
    assert time.monotonic() - started < 10


def test_ffmpeg_alone_gets_the_preload(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    script = tmp_path / "show.sh"
    script.write_text('#!/bin/sh\necho "preload=$LD_PRELOAD"\n')
    script.chmod(0o755)
    preload = (LIB + "libc.so.6", LIB + "libm.so.6")
    handle = ProcessRunner(FixedPreload(preload)).spawn([str(script)])
    assert handle.stdout.read().decode().strip() == f"preload={LIB}libc.so.6 {LIB}libm.so.6"
    finish(handle)
    plain = ProcessRunner().spawn([str(script)])
    assert plain.stdout.read().decode().strip() == "preload="
    finish(plain)


@needs_setpriv
def test_setpriv_runs_without_the_preload_and_env_sets_it_for_the_command_alone(
        tmp_path, monkeypatch) -> None:
    # In setpriv's environment the preload would make setpriv itself load the libraries.
    spawned = spy_on(monkeypatch, "Popen")
    preload = (LIB + "libc.so.6", LIB + "libm.so.6")
    finish(ProcessRunner(FixedPreload(preload)).spawn(["true"]))
    (argv, kwargs), = spawned
    assert "env" not in kwargs and "preexec_fn" not in kwargs
    assert argv == [processes.SETPRIV, "--pdeathsig", "KILL",
                    processes.ENV, "LD_PRELOAD=" + " ".join(preload), "true"]
