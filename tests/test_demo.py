"""``make run``: the demo keeps its config in its own ignored folder, and a signal stops everything.

Each test runs the real ``make run`` (the venv and system packages taken as
they are: ``-o deps -o venv``) in a copy of this checkout in tmp_path, with the
demo camera and the API on free loopback ports, then signals make or the demo
runner and waits, with a deadline, until every process make started is gone.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from testkit.servers import REPO_ROOT, children_of, free_port

pytestmark = pytest.mark.integration

READY_LINE = "run_demo: API on"
START_DEADLINE_SECONDS = 90.0
STOP_DEADLINE_SECONDS = 60.0
VENV = os.path.dirname(os.path.dirname(sys.executable))
COPY_IGNORES = shutil.ignore_patterns(".git", ".venv", ".demo", "output", ".patrol-state",
                                      "__pycache__", ".pytest_cache", "results", "*.lock")


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (tells a pid from its reuse); None once gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def descendants(pid: int) -> dict[int, str]:
    """Every live process below ``pid``, with its start time."""
    found: dict[int, str] = {}
    todo = children_of(pid)
    while todo:
        child = todo.pop()
        started = _start_time(child)
        if started is not None:
            found[child] = started
            todo.extend(children_of(child))
    return found


def still_running(processes: dict[int, str]) -> list[int]:
    return [pid for pid, started in processes.items() if _start_time(pid) == started]


class Demo:
    """``make run`` in a copy of the checkout, on free ports, output in a log file."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.copy = tmp_path / "checkout"
        shutil.copytree(REPO_ROOT, self.copy, ignore=COPY_IGNORES)
        self.camera_port, self.api_port = free_port(), free_port()
        self.runs = 0
        self.start()

    def start(self) -> None:
        """Run ``make run`` (again, once the last run is over), with a log of its own."""
        self.runs += 1
        self.log_path = self.tmp_path / f"make-run-{self.runs}.log"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RTSP_PATROL_", "GUNICORN")) and k != "PYTHONPATH"}
        env.update(RTSP_PATROL_BIND=f"127.0.0.1:{self.api_port}",
                   XDG_RUNTIME_DIR=str(self.tmp_path))
        with open(self.log_path, "wb") as log:
            self.make = subprocess.Popen(
                ["make", "--no-print-directory", "-o", "deps", "-o", "venv", "run",
                 f"VENV={VENV}", f"DEMO_ARGS=--camera-port {self.camera_port}"],
                cwd=self.copy, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT)
        self.processes: dict[int, str] = {}

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self) -> None:
        """Wait (bounded) until the runner says the API is up and the scheduler started."""
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while READY_LINE not in self.log():
            assert self.make.poll() is None, self.log()
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.2)  # a poll interval
        self.processes = descendants(self.make.pid)

    @property
    def runner(self) -> int:
        return children_of(self.make.pid)[0]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.api_port}{path}"

    def wait_all_gone(self) -> None:
        """Wait (bounded) until make and everything below it have exited."""
        deadline = time.monotonic() + STOP_DEADLINE_SECONDS
        while self.make.poll() is None or still_running(self.processes):
            assert time.monotonic() < deadline, (
                f"still running after {STOP_DEADLINE_SECONDS:.0f} s: "
                f"{self._describe(still_running(self.processes))}, make "
                f"{'exited' if self.make.poll() is not None else 'running'}\n{self.log()}")
            time.sleep(0.2)  # a poll interval

    def close(self) -> None:
        """Kill whatever a failed test left behind."""
        for pid in still_running(self.processes) + ([self.make.pid] if self.make.poll() is None else []):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.make.wait(timeout=10)

    @staticmethod
    def _describe(pids: list[int]) -> str:
        names = []
        for pid in pids:
            try:
                names.append(f"{pid} {Path(f'/proc/{pid}/cmdline').read_bytes()[:80]!r}")
            except OSError:
                names.append(str(pid))
        return ", ".join(names) or "nothing"


@pytest.fixture
def demo(tmp_path):
    started = Demo(tmp_path)
    try:
        yield started
    finally:
        started.close()


def _post_json(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as answer:
        return answer.status, json.load(answer)


def test_demo_folder_is_ignored_by_git():
    if not os.path.exists(os.path.join(REPO_ROOT, ".git")):
        pytest.skip("not a git checkout")
    for path in (".demo/config.json", ".demo/output/20250101_000000/x.mp4"):
        done = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO_ROOT, timeout=30)
        assert done.returncode == 0, f"{path} is not ignored by git"


def test_demo_keeps_its_own_config_and_stops_on_sigterm(demo):
    tracked = (demo.copy / "config.json").read_bytes()
    demo.wait_ready()
    added = {"rtsp_url": f"rtsp://127.0.0.1:{demo.camera_port}/cam1", "duration_seconds": 5,
             "output_filename": "added_by_api.mp4"}
    status, _ = _post_json(demo.url("/api/config/streams"), added)
    assert status in (200, 201)

    assert (demo.copy / "config.json").read_bytes() == tracked, "make run edited the tracked config"
    own = json.loads((demo.copy / ".demo" / "config.json").read_text(encoding="utf-8"))
    assert own["streams"][-1]["output_filename"] == "added_by_api.mp4"
    # The demo camera on its port, in the demo's copy of the example.
    assert own["streams"][0]["rtsp_url"] == (
        f"rtsp://127.0.0.1:{demo.camera_port}/picture/healthy")
    assert (demo.copy / ".demo" / ".patrol-state").is_dir()

    os.kill(demo.runner, signal.SIGTERM)
    demo.wait_all_gone()
    assert "run_demo: everything stopped" in demo.log()


def test_the_demo_names_the_console_and_on_a_second_run_the_scheduler_it_kept(demo):
    demo.wait_ready()
    first = demo.log()
    assert f"run_demo: console on http://127.0.0.1:{demo.api_port}/\n" in first
    assert "run_demo: started the scheduler: 调度器启动成功\n" in first
    os.kill(demo.runner, signal.SIGTERM)
    demo.wait_all_gone()

    demo.start()  # the scheduler was left running: the recorder resumes it, the API says 409
    demo.wait_ready()
    second = demo.log()
    assert "run_demo: the scheduler was already running (kept from the last run)\n" in second
    assert "调度器已经在运行中" not in second, second
    assert "run_demo: warning" not in second  # the camera's port is the config's
    os.kill(demo.runner, signal.SIGTERM)
    demo.wait_all_gone()


@pytest.mark.parametrize("target, signum", [
    ("make", signal.SIGINT),
    ("make", signal.SIGTERM),
    ("runner", signal.SIGINT),
], ids=["make-SIGINT", "make-SIGTERM", "runner-SIGINT"])
def test_a_signal_to_make_or_the_runner_stops_everything(demo, target, signum):
    demo.wait_ready()
    assert len(demo.processes) >= 5, demo.processes  # runner, camera, gunicorn + workers, recorder
    os.kill(demo.make.pid if target == "make" else demo.runner, signum)
    demo.wait_all_gone()
    assert "run_demo: everything stopped" in demo.log()


def test_the_development_targets_get_the_demos_config_not_the_tracked_one(tmp_path):
    """`make api` / `make recorder` (Makefile DEV_CONFIG) prepare .demo/config.json once."""
    demo_dir = tmp_path / "demo"
    argv = [sys.executable, os.path.join(REPO_ROOT, "scripts", "run_demo.py"),
            "--prepare-only", "--dir", str(demo_dir)]
    first = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    config = demo_dir / "config.json"
    assert first.stdout.splitlines()[-1] == str(config)
    example = json.loads(Path(REPO_ROOT, "config.json").read_text(encoding="utf-8"))
    assert json.loads(config.read_text(encoding="utf-8")) == example
    config.write_text('{"global_config": {}, "streams": []}', encoding="utf-8")
    subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(config.read_text(encoding="utf-8")) == {"global_config": {}, "streams": []}
    makefile = Path(REPO_ROOT, "Makefile").read_text(encoding="utf-8")
    assert "-m app --config $(DEV_CONFIG)" in makefile
    assert "-m recorder --config $(DEV_CONFIG)" in makefile


def test_a_demo_config_made_for_another_camera_port_is_warned_of_and_left_as_it_is(tmp_path):
    demo_dir = tmp_path / "demo"
    argv = [sys.executable, os.path.join(REPO_ROOT, "scripts", "run_demo.py"),
            "--prepare-only", "--dir", str(demo_dir), "--camera-port"]
    made = subprocess.run(argv + ["18554"], capture_output=True, text=True, timeout=60,
                          check=True)
    assert "warning" not in made.stderr
    config = demo_dir / "config.json"
    before = config.read_bytes()

    moved = subprocess.run(argv + ["18555"], capture_output=True, text=True, timeout=60,
                           check=True)
    assert moved.stdout.splitlines()[-1] == str(config)
    assert config.read_bytes() == before
    assert moved.stderr.startswith(
        f"run_demo: warning: the demo camera listens on port 18555, but {config} ")
    for stream in json.loads(before)["streams"]:
        assert f"run_demo:   {stream['output_filename']} {stream['rtsp_url']}\n" in moved.stderr
        assert stream["rtsp_url"].startswith("rtsp://127.0.0.1:18554/")
    assert 'make run DEMO_ARGS="--camera-port 18554"' in moved.stderr
    assert f"delete {config}" in moved.stderr
