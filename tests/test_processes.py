"""Spawning ffmpeg: its own session, below the daemon's priority, gone when killed."""
from __future__ import annotations

import os
import time

from recorder.processes import RECORDING_NICENESS, ProcessRunner


def proc_stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (field 3 is index 0)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return handle.read().rsplit(")", 1)[1].split()


def test_a_recording_runs_in_its_own_session_below_the_daemons_priority() -> None:
    runner = ProcessRunner()
    proc = runner.spawn(["sleep", "30"])
    try:
        deadline = time.monotonic() + 5
        while open(f"/proc/{proc.pid}/comm", encoding="ascii").read().strip() != "sleep":
            assert time.monotonic() < deadline, "sleep was never exec'd"
            time.sleep(0.01)
        fields = proc_stat(proc.pid)
        nice = int(fields[16])  # field 19 of proc(5)
        expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + RECORDING_NICENESS)
        assert nice == expected
        if os.path.exists(f"/proc/{proc.pid}/autogroup"):  # its own autogroup, niced too
            with open(f"/proc/{proc.pid}/autogroup", encoding="ascii") as handle:
                assert handle.read().split()[-1] == str(expected)
        assert int(fields[3]) == proc.pid != os.getsid(0)  # field 6: session id
    finally:
        runner.kill(proc)
        proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -9
