"""A second RTSP server that is not ours: VLC's, which speaks RTP over UDP only (461 to TCP)."""
from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from testkit.servers import free_port

HOST = "127.0.0.1"
START_TIMEOUT_S = 20.0
# VLC refuses to run as root; this user exists on every Debian machine.
VLC_USER = "nobody"


def vlc_available() -> bool:
    """True when Debian's vlc-bin (cvlc) and setpriv are installed."""
    return bool(shutil.which("cvlc") and shutil.which("setpriv"))


class VlcCamera:
    """``cvlc`` looping a short H.264 clip out of its own RTSP server, run as ``nobody``."""

    def __init__(self, mount: str = "cam") -> None:
        self.mount = mount
        self.port = 0
        self._dir: tempfile.TemporaryDirectory | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The camera's RTSP URL."""
        return f"rtsp://{HOST}:{self.port}/{self.mount}"

    def start(self) -> VlcCamera:
        """Make the source clip, start VLC and wait until its RTSP port answers."""
        self._dir = tempfile.TemporaryDirectory(prefix="vlc-camera-")
        folder = Path(self._dir.name)
        folder.chmod(0o755)  # VLC runs as another user
        source = folder / "source.ts"
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                        "testsrc=size=320x240:rate=25", "-t", "10", "-c:v", "libx264", "-g", "25",
                        "-pix_fmt", "yuv420p", "-y", str(source)], check=True,
                       stdin=subprocess.DEVNULL)
        source.chmod(0o644)
        self.port = free_port(HOST)
        user = pwd.getpwnam(VLC_USER)
        self._proc = subprocess.Popen(
            ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
             "env", f"HOME={folder}", "cvlc", "-q", "--no-audio", str(source), "--loop",
             "--sout", f"#rtp{{sdp=rtsp://{HOST}:{self.port}/{self.mount}}}", "--sout-keep"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self._wait_listening()
        return self

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"VLC exited with {self._proc.returncode} before listening")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.5):
                return
            time.sleep(0.1)  # polling a port that is not open yet: nothing to wait on
        self.stop()
        raise RuntimeError(f"VLC did not listen on {HOST}:{self.port} within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        """Stop VLC (its whole process group) and remove the source clip."""
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> VlcCamera:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
