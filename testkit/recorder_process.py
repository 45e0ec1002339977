"""Run the real recorder daemon (``python -m recorder``) for integration tests, and inspect ffmpeg."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import TypeVar

from shared.clip_names import is_contact_sheet_temp
from testkit.procfs import live_processes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def settled_names(folder: str | os.PathLike, timeout: float = 10.0) -> list[str]:
    """The names in a cycle folder, listed when no temp file of a contact sheet's page is in
    it: the recorder draws the sheet on a thread of its own after the cycle's end, and the
    atomic write's hidden temp file would pass for a work file left behind. One that stays
    ``timeout`` s is listed."""
    deadline = time.monotonic() + timeout
    while True:
        names = sorted(os.listdir(folder))
        writing = [name for name in names if is_contact_sheet_temp(name)]
        if not writing or time.monotonic() > deadline:
            return names
        time.sleep(0.05)


def ffmpeg_pids(marker: str) -> list[int]:
    """Live ffmpeg processes whose command line mentions ``marker`` (a test's own folder)."""
    found = []
    for pid, _fields in live_processes():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"ffmpeg") and any(marker.encode() in arg for arg in argv):
            found.append(pid)
    return found


def ffprobe(path: str) -> dict:
    """ffprobe's streams and format of a file (raises when it cannot read it)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "format=duration:stream=codec_type,codec_name,codec_tag_string",
                          "-of", "json", path], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


class RecorderProcess:
    """The daemon in its own session, logging to a temp file."""

    def __init__(self, config_path: str) -> None:
        self.config_path = config_path
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()

    def start(self) -> "RecorderProcess":
        env = {k: v for k, v in os.environ.items() if not k.startswith("RTSP_PATROL_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "recorder", "--config", self.config_path], cwd=REPO_ROOT,
            env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        return self

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the daemon and wait for it; SIGKILL when it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()

    def log(self) -> str:
        """Everything the daemon printed."""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def __enter__(self) -> "RecorderProcess":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
        self._log.close()
