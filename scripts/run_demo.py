"""``make run``: the demo camera, the API and the recorder together, until Ctrl-C.

The demo keeps everything in its own folder, ``.demo/`` (ignored by git):
``.demo/config.json`` is copied from the example config.json on the first run
(cameras added through the API stay there, the tracked file is never edited),
clips go to ``.demo/output``, state to ``.demo/.patrol-state``. The example
records rtsp://127.0.0.1:8554/picture/healthy and /picture/healthy_h265, the
healthy picture (H.264 and H.265) of the demo camera
(testkit/cameras/rtsp_camera_server.py, the same server the tests use).
Once the recorder's heartbeat shows, the scheduler is started through the API (one
left running by the last run is running already: the recorder resumed it), and
the console's and the API's addresses are printed. A demo config made for another
``--camera-port`` keeps its cameras' ports: the runner warns of those.

Stopping: SIGINT or SIGTERM to this runner, or to the ``make`` that started it,
stops every child (each runs in its own session, so the terminal's Ctrl-C
reaches only make and us). make passes SIGTERM on but not SIGINT: it waits for
us instead, having reset its own handler, and that reset is what we watch for.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# app.bind, app.auth: the same rules as the API it starts; scripts.demo_config, shared.
sys.path.insert(0, ROOT)

from app.auth import settings_from_environment  # noqa: E402
from app.bind import bind_address  # noqa: E402
from scripts.demo_config import (  # noqa: E402
    EXAMPLE_CAMERA_PORT, camera_port_warning, prepare_demo_dir)

CAMERA_SERVER = os.path.join(ROOT, "testkit", "cameras", "rtsp_camera_server.py")
RECORDER_START_SECONDS = 30.0
STOP_GRACE_SECONDS = 30.0
POLL_SECONDS = 0.3
# The signals that end make (and us); make forwards only SIGTERM to its children.
TERMINATING = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1


def api_url() -> str:
    """Where to reach the API the demo starts (gunicorn.conf.py binds by the same rule)."""
    address, _ = bind_address()
    host, _, port = address.rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def call_api(base_url: str, method: str, path: str) -> tuple[int, dict]:
    """One API call with the configured token, if any; the status and JSON answer (errors too)."""
    request = urllib.request.Request(base_url + path, method=method)
    token = settings_from_environment()["API_TOKEN"]
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=2) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def start_scheduler(base_url: str) -> str:
    """Start the scheduler through the API; what to tell about it."""
    status, answer = call_api(base_url, "POST", "/api/scheduler/start")
    if status == 409:
        # The desired state lives in the state folder: a scheduler left running by the
        # last run is resumed by the recorder, and the API refuses a second start.
        return "the scheduler was already running (kept from the last run)"
    if status != 200:
        return f"the scheduler did not start: {status} {answer.get('message')}"
    return f"started the scheduler: {answer.get('message')}"


def _status_masks(pid: int) -> dict[str, int]:
    """The signal masks of process ``pid`` (SigCgt, SigBlk, …) from /proc/<pid>/status."""
    masks = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("SigPnd", "SigBlk", "SigIgn", "SigCgt"):
                masks[key] = int(value.strip(), 16)
    return masks


def _recorder_alive(base_url: str) -> bool:
    return bool(call_api(base_url, "GET", "/api/scheduler/status")[1]["recorder_alive"])


def _caught_signals(pid: int) -> set[int]:
    """The signals process ``pid`` has a handler for and does not block."""
    masks = _status_masks(pid)
    mask = masks["SigCgt"] & ~masks["SigBlk"]
    return {number for number in range(1, 65) if mask >> (number - 1) & 1}


class ParentWatch:
    """Tells when our parent, make, got a terminating signal it does not pass on.

    GNU make, on SIGINT or SIGHUP, resets its handler to the default, blocks the
    signal and waits for its children before dying by it: the signal leaves
    the set of signals it catches. Only a parent named make is watched so (a
    shell may switch its handlers while it waits); a parent that exits is
    noticed whatever it is.
    """

    def __init__(self) -> None:
        self.parent = os.getppid()
        self.watched: set[int] = set()
        try:
            with open(f"/proc/{self.parent}/comm", encoding="utf-8") as handle:
                if handle.read().strip() in ("make", "gmake"):
                    self.watched = _caught_signals(self.parent) & set(TERMINATING)
        except OSError:
            pass

    def signalled(self) -> str | None:
        """The reason to stop, or None."""
        if os.getppid() != self.parent:
            return "parent exited"
        try:
            lost = self.watched - _caught_signals(self.parent) if self.watched else set()
        except OSError:
            return "parent exited"
        return f"make got {signal.Signals(min(lost)).name}" if lost else None


_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    # Runs in the child before exec: if this runner dies without stopping it
    # (SIGKILL), the kernel sends it SIGTERM.
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def start_children(config_path: str, camera_port: int) -> list[subprocess.Popen]:
    """The demo camera, the API and the recorder, each in its own session."""
    env = dict(os.environ, RTSP_PATROL_CONFIG=config_path,
               RTSP_PATROL_WORKERS=os.environ.get("RTSP_PATROL_WORKERS", "2"))
    argvs = (["/usr/bin/python3", CAMERA_SERVER, "--port", str(camera_port)],  # needs the system's gi
             [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
             [sys.executable, "-m", "recorder", "--config", config_path])
    return [subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True,
                             preexec_fn=_die_with_parent) for argv in argvs]


def stop_children(children: list[subprocess.Popen]) -> None:
    """SIGTERM each child's process group (recorder first), wait a bounded time, then SIGKILL."""
    for child in reversed(children):
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in reversed(children):
        try:
            child.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(child.pid, signal.SIGKILL)  # stragglers of the group, if any
        except (ProcessLookupError, PermissionError):
            pass
        child.wait()


def wait_until(condition: Callable[[], bool], timeout: float, stop: Callable[[], str | None]) -> bool:
    """Poll ``condition`` until true (True), ``timeout`` passes or ``stop`` gives a reason (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop():
        try:
            if condition():
                return True
        except (OSError, ValueError):
            pass  # not up yet
        time.sleep(POLL_SECONDS)
    return False


def _stop_reason(requested: list[str], watch: ParentWatch,
                 children: list[subprocess.Popen]) -> Callable[[], str | None]:
    def reason() -> str | None:
        if requested:
            return requested[0]
        if any(child.poll() is not None for child in children):
            return "a child exited"
        return watch.signalled()
    return reason


def run(demo_dir: str, camera_port: int) -> str:
    """Start everything, start the scheduler, run until told to stop; the reason."""
    requested: list[str] = []
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda signum, _: requested.append(signal.Signals(signum).name))
    watch = ParentWatch()
    config_path = prepare_demo_dir(demo_dir, camera_port)
    warning = camera_port_warning(config_path, camera_port)
    base_url = api_url()
    children = start_children(config_path, camera_port)
    stop = _stop_reason(requested, watch, children)
    try:
        if wait_until(lambda: _recorder_alive(base_url), RECORDER_START_SECONDS, stop):
            print(f"run_demo: {start_scheduler(base_url)}", flush=True)
            print(f"run_demo: console on {base_url}/", flush=True)
            print(f"run_demo: API on {base_url}/api/tasks, clips in "
                  f"{os.path.join(demo_dir, 'output')}; Ctrl-C stops", flush=True)
        elif not stop():
            print(f"run_demo: no recorder heartbeat within {RECORDER_START_SECONDS:.0f} s "
                  "(see the log above); Ctrl-C stops", flush=True)
        if warning and not stop():  # last, where the eye is after the children's logs
            print(warning, end="", file=sys.stderr, flush=True)
        while not stop():
            time.sleep(POLL_SECONDS)
        return stop() or "stopped"
    finally:
        print(f"run_demo: stopping ({stop()})", flush=True)
        stop_children(children)
        print("run_demo: everything stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the demo."""
    parser = argparse.ArgumentParser(prog="run_demo.py", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=os.path.join(ROOT, ".demo"),
                        help="the demo's folder (config, output, state); default ./.demo")
    parser.add_argument("--camera-port", type=int, default=EXAMPLE_CAMERA_PORT,
                        help="port of the demo camera (and of the cameras in a new demo config)")
    parser.add_argument("--prepare-only", action="store_true",
                        help="only create the demo's folder and config (make api, make recorder)")
    args = parser.parse_args(argv)
    if args.prepare_only:
        config_path = prepare_demo_dir(os.path.abspath(args.dir), args.camera_port)
        print(camera_port_warning(config_path, args.camera_port) or "", end="", file=sys.stderr,
              flush=True)
        print(config_path)
        return 0
    run(os.path.abspath(args.dir), args.camera_port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
