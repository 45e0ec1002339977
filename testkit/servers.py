"""Run the real API under gunicorn for integration tests (no pytest needed).

    with GunicornServer(config_path, workers=4) as server:
        requests.get(server.url("/api/config"), timeout=5)

The server runs ``<this python> -m gunicorn -c gunicorn.conf.py`` from the repo
root in its own session, bound to a free port on 127.0.0.1, with the config
file given by ``RTSP_PATROL_CONFIG``. ``sys.executable`` is used so it runs
under whatever venv runs the tests.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from testkit.procfs import live_processes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_DEADLINE_SECONDS = 30.0
STOP_WAIT_SECONDS = 15.0
POLL_TIMEOUT_SECONDS = 1.0
# Inherited settings that would point the server somewhere else than the test asked.
_SCRUBBED_ENV = ("RTSP_PATROL_STATE_DIR", "RTSP_PATROL_OUTPUT_DIR", "GUNICORN_CMD_ARGS",
                 "RTSP_PATROL_API_TOKEN", "RTSP_PATROL_API_TOKEN_FILE",
                 "RTSP_PATROL_API_PROTECT_READS")
# Talk to 127.0.0.1 directly, whatever *_proxy variables the environment has.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


_PORTS_FROM = 10000  # worker port blocks start here and end below the kernel's ephemeral range
_PORTS_PER_WORKER = 2000


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as ranges:
            return int(ranges.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _worker_ports() -> range:
    """This process's block of ports: one per pytest-xdist worker (gw0, gw1, …; the first
    without xdist), below the ephemeral range, so that no two workers pick the same one and
    no port the kernel hands out (bind to 0) is picked."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) + 1 if worker[2:].isdigit() else 0
    blocks = max(1, (_ephemeral_low() - _PORTS_FROM) // _PORTS_PER_WORKER)
    start = _PORTS_FROM + index % blocks * _PORTS_PER_WORKER
    return range(start, start + _PORTS_PER_WORKER)


_next_port = random.randrange(_PORTS_PER_WORKER)  # another run's same worker starts elsewhere


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now, from this xdist worker's own block (see
    :func:`_worker_ports`): racy only with what else runs on the machine. Each call takes
    the next port of the block, checked free with a bind. :raises OSError: none free."""
    global _next_port
    ports = _worker_ports()
    for _ in range(len(ports)):
        port = ports[_next_port % len(ports)]
        _next_port += 1
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {ports.start}-{ports.stop - 1} on {host}")


def children_of(pid: int) -> list[int]:
    """The live child processes of ``pid``, read from /proc."""
    return sorted(child for child, fields in live_processes()
                  if len(fields) > 1 and int(fields[1]) == pid)


class _PortTaken(Exception):
    """gunicorn could not bind the port picked for it."""


class GunicornServer:
    """The API under gunicorn with ``workers`` workers, as a context manager."""

    def __init__(self, config_path: str, workers: int = 4, env: dict | None = None) -> None:
        self.config_path = os.path.abspath(config_path)
        self.workers = workers
        self.extra_env = dict(env or {})
        self.host = "127.0.0.1"
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._log = None
        self._log_path = ""
        self._stopped_log = ""
        self._runtime_dir = ""

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> "GunicornServer":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        """Start gunicorn and wait until it answers. :raises RuntimeError: with the server's log."""
        for attempt in range(3):
            try:
                self._start_once()
                return
            except _PortTaken:
                if attempt == 2:
                    raise RuntimeError(
                        f"no free port after 3 tries:\n{self._stopped_log}") from None

    def _start_once(self) -> None:
        self.port = free_port(self.host)
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env.update(self.extra_env)
        # gunicorn >= 25.1 opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl, else
        # ~/.gunicorn/gunicorn.ctl: one path shared by every instance of the user. Give
        # each test server its own folder so parallel servers never steal each other's.
        self._runtime_dir = tempfile.mkdtemp(prefix="gunicorn-run-")
        env["XDG_RUNTIME_DIR"] = self._runtime_dir
        env.update(RTSP_PATROL_CONFIG=self.config_path,
                   RTSP_PATROL_BIND=f"{self.host}:{self.port}",
                   RTSP_PATROL_WORKERS=str(self.workers),
                   PYTHONUNBUFFERED="1")
        # Append mode: the child shares this file's offset, so it must never depend on it.
        fd, self._log_path = tempfile.mkstemp(prefix="gunicorn-", suffix=".log")
        os.close(fd)
        self._log = open(self._log_path, "ab")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
                cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
            self._wait_until_ready()
        except _PortTaken:
            self.stop(graceful=False)  # still retrying its bind: nothing to shut down gently
            raise
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while True:
            if "Connection in use" in self.log():
                # Someone took the port between free_port() and gunicorn's bind.
                raise _PortTaken()
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with code {self.process.returncode} "
                                   f"before answering:\n{self.log()}")
            # Only our own master's socket counts: another server could hold the port.
            if self._owns_listener() and self._answers():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer on {self.url('/api/config')} within "
                                   f"{START_DEADLINE_SECONDS:.0f} s:\n{self.log()}")
            time.sleep(0.05)  # a poll interval, not a wait for readiness

    def _answers(self) -> bool:
        try:
            with _DIRECT.open(self.url("/api/config"), timeout=POLL_TIMEOUT_SECONDS):
                return True
        except urllib.error.HTTPError:
            return True  # an error status (e.g. 503 for a broken config) is still an answer
        except (OSError, ValueError):
            return False

    def _owns_listener(self) -> bool:
        """Whether the master holds the listening socket of 127.0.0.1:<port> (/proc/net/tcp)."""
        wanted = "0100007F:%04X" % self.port
        inodes = set()
        try:
            with open("/proc/net/tcp", encoding="ascii") as handle:
                for line in handle.readlines()[1:]:
                    fields = line.split()
                    if len(fields) > 9 and fields[1] == wanted and fields[3] == "0A":
                        inodes.add(f"socket:[{fields[9]}]")
            fds = os.listdir(f"/proc/{self.process.pid}/fd")
        except OSError:
            return False
        for fd in fds:
            try:
                if os.readlink(f"/proc/{self.process.pid}/fd/{fd}") in inodes:
                    return True
            except OSError:
                continue
        return False

    def stop(self, graceful: bool = True) -> None:
        """SIGTERM the master, wait a bounded time, then SIGKILL the whole process group."""
        process, self.process = self.process, None
        if process is not None:
            if graceful and process.poll() is None:
                try:
                    os.kill(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    process.wait(timeout=STOP_WAIT_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
            # The session made the master a group leader: pgid == its pid. Kill stragglers.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self._log is not None:
            self._stopped_log = self.log()
            self._log.close()
            self._log = None
            try:
                os.unlink(self._log_path)
            except OSError:
                pass
        if self._runtime_dir:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
            self._runtime_dir = ""

    # -- helpers -----------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The master's pid while running."""
        return self.process.pid if self.process else None

    def url(self, path: str = "/") -> str:
        """``http://127.0.0.1:<port><path>``."""
        return f"http://{self.host}:{self.port}{path if path.startswith('/') else '/' + path}"

    def worker_pids(self) -> list[int]:
        """The master's live children (the workers), from /proc."""
        return children_of(self.process.pid) if self.process else []

    def wait_for_workers(self, timeout: float = 15.0) -> list[int]:
        """Wait (bounded) until all ``workers`` workers exist; return their pids.

        :raises RuntimeError: with the log, when they did not all appear in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids()
            if len(pids) >= self.workers:
                return pids
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(pids)} of {self.workers} workers after "
                                   f"{timeout:.0f} s:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        """Everything gunicorn wrote so far (access and error log)."""
        if self._log is None:
            return self._stopped_log
        try:
            with open(self._log_path, "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(log unreadable: {exc})"
