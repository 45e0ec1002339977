"""Real RTSP test cameras (gst-rtsp-server subprocess) and misbehaving TCP endpoints for tests."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

from testkit.servers import free_port

# The server needs PyGObject + GStreamer from apt, which only the system interpreter has.
SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_camera_server.py")
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
HOST = "127.0.0.1"


class CameraServer:
    """Runs rtsp_camera_server.py in its own process group and exposes its URLs."""

    def __init__(self, port: int = 0, mount_count: int = 0, python: str = SYSTEM_PYTHON,
                 files: dict[str, str] | None = None) -> None:
        """Remember options; nothing is started until start(). ``files``: /file/NAME -> MP4 path."""
        self._requested_port = port
        self._mount_count = mount_count
        self._files = dict(files or {})
        self._python = python
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._port: int | None = None
        self.returncode: int | None = None  # exit status after stop(); 0 = clean SIGTERM exit

    @property
    def port(self) -> int:
        """The port the server actually listens on."""
        if self._port is None:
            raise RuntimeError("CameraServer is not started")
        return self._port

    def url(self, mount: str) -> str:
        """RTSP URL for a mount such as "cam1" or "/cam1"."""
        return f"rtsp://{HOST}:{self.port}/{mount.lstrip('/')}"

    def start(self) -> CameraServer:
        """Spawn the server and block until it prints READY <port> (or fail loudly)."""
        if self._proc is not None:
            raise RuntimeError("CameraServer already started")
        # stderr goes to a file, not a pipe: GStreamer warnings must never block the server.
        self._stderr = tempfile.TemporaryFile()
        cmd = [self._python, str(SERVER_SCRIPT), "--host", HOST, "--port", str(self._requested_port)]
        if self._mount_count:
            cmd += ["--mount-count", str(self._mount_count)]
        for name, path in self._files.items():
            cmd += ["--file", f"{name}={path}"]
        self.returncode = None
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,  # own group, so stop() can kill any children too
        )
        try:
            self._port = self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> int:
        """Read stdout until the READY line, the process dies, or the deadline passes."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + START_TIMEOUT_S
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f"camera server not READY after {START_TIMEOUT_S:.0f}s{self._stderr_tail()}")
                if not sel.select(remaining):
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:  # EOF: the server exited before announcing itself
                    rc = self._proc.wait(timeout=STOP_TIMEOUT_S)
                    raise RuntimeError(f"camera server exited with {rc} before READY{self._stderr_tail()}")
                buf += chunk
                for line in buf.split(b"\n")[:-1]:
                    if line.startswith(b"READY "):
                        return int(line.split()[1])

    def _stderr_tail(self) -> str:
        """Last part of the server's stderr, for error messages."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")[-4000:]
        return f"; stderr:\n{text}" if text.strip() else "; stderr empty"

    def stop(self) -> None:
        """SIGTERM the server, wait a bounded time, then SIGKILL its whole group."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    pass
            # Kill the group even after a clean exit, in case anything was left behind.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            self.returncode = proc.wait(timeout=STOP_TIMEOUT_S)
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._port = None

    def __enter__(self) -> CameraServer:
        """Start on entering the with-block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop on leaving the with-block."""
        self.stop()


@contextlib.contextmanager
def _accepting_port(hold: bool, name: str) -> Iterator[int]:
    """Yield a 127.0.0.1 port that accepts TCP connections and never says anything: it holds
    each one open (``hold``) or closes it at once."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((HOST, 0))
    listener.listen(64)
    # A socketpair wakes the accept loop on exit; closing a socket another thread
    # is blocked on does not reliably interrupt it.
    wake_r, wake_w = socket.socketpair()
    accepted: list[socket.socket] = []

    def serve() -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(listener, selectors.EVENT_READ)
            sel.register(wake_r, selectors.EVENT_READ)
            while True:
                for key, _ in sel.select():
                    if key.fileobj is wake_r:
                        return
                    conn, _addr = listener.accept()
                    if hold:
                        accepted.append(conn)  # held open, never read or written
                    else:
                        conn.close()

    thread = threading.Thread(target=serve, name=name, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        wake_w.send(b"x")
        thread.join(timeout=STOP_TIMEOUT_S)
        for sock in [*accepted, listener, wake_r, wake_w]:
            sock.close()


def hanging_port() -> contextlib.AbstractContextManager[int]:
    """A 127.0.0.1 port that accepts TCP connections and never says anything."""
    return _accepting_port(True, "hanging-port")


def closing_port() -> contextlib.AbstractContextManager[int]:
    """A 127.0.0.1 port that accepts TCP connections and closes them at once, unanswered."""
    return _accepting_port(False, "closing-port")


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """Yield a 127.0.0.1 port with no listener, so connects get ECONNREFUSED."""
    yield free_port(HOST)  # this xdist worker's own, so no other worker's server takes it


__all__ = ["CameraServer", "closing_port", "hanging_port", "refusing_port", "SERVER_SCRIPT",
           "SYSTEM_PYTHON"]
