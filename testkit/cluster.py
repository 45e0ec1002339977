"""Cluster mode in tests: a private redis-server on a free loopback port, worker pools as process groups.

    with RedisServer(tmp_path) as redis, WorkerPoolProcess(config_path, slots=2):
        ...
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from testkit.procfs import live_processes
from testkit.servers import REPO_ROOT, free_port

START_DEADLINE_SECONDS = 15.0


def redis_available() -> bool:
    """True when Debian's redis-server is installed."""
    return shutil.which("redis-server") is not None


class RedisServer:
    """redis-server on 127.0.0.1, no persistence, in its own session; :meth:`restart` keeps the port."""

    def __init__(self, folder: str) -> None:
        self.folder, self.port = folder, free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of its database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.folder], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def restart(self) -> None:
        """Kill it (its data is lost, as after a crash without persistence) and start it again."""
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class WorkerPoolProcess:
    """``python -m recorder.worker`` in a process group of its own: one stand-in worker host."""

    def __init__(self, config_path: str, slots: int, maintenance_seconds: int = 2,
                 heartbeat_seconds: int = 30, grace_seconds: int = 60,
                 worker: str | None = None, log_level: str | None = None,
                 jobs_per_worker: int | None = 1) -> None:
        """``jobs_per_worker``: the worker's --jobs-per-worker (1: a process a slot, whatever the
        machine's cores; None: the worker's default, the slots shared among the cores)."""
        self.argv = [sys.executable, "-m", "recorder.worker", "--config", config_path,
                     "--slots", str(slots), "--maintenance-seconds", str(maintenance_seconds),
                     "--heartbeat-seconds", str(heartbeat_seconds),
                     "--heartbeat-grace-seconds", str(grace_seconds),
                     *(["--worker", worker] if worker else []),
                     *(["--log-level", log_level] if log_level else []),
                     *(["--jobs-per-worker", str(jobs_per_worker)] if jobs_per_worker else [])]
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()

    def start(self) -> WorkerPoolProcess:
        self.proc = subprocess.Popen(self.argv, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the group (RQ finishes its jobs' shutdown), then SIGKILL what is left."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def descendants(self) -> list[int]:
        """Every live process under the pool: its workers, their work horses (each in a group of
        its own), their ffmpeg."""
        children: dict[int, list[int]] = {}
        for pid, fields in live_processes():
            children.setdefault(int(fields[1]), []).append(pid)
        found, todo = [], [self.proc.pid]
        while todo:
            below = children.get(todo.pop(), [])
            found.extend(below)
            todo.extend(below)
        return found

    def kill_host(self) -> None:
        """SIGKILL the pool and everything under it at once, as when its host loses power."""
        for pid in [self.proc.pid, *self.descendants()]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def __enter__(self) -> WorkerPoolProcess:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def counted_sleep(seconds: float) -> int:
    """A test job (run by a worker pool): counts its attempts in Redis, sleeps ``seconds``."""
    from rq import get_current_job

    job = get_current_job()
    job.connection.incr(f"test:attempts:{job.id}")
    time.sleep(seconds)
    return os.getpid()
