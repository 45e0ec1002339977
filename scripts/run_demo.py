"""``make run``: the demo camera, the API and the recorder together, until Ctrl-C.

The default config.json records rtsp://127.0.0.1:8554/cam1 and /h265, which
the demo camera (testkit/cameras/rtsp_camera_server.py, the same server the tests
use) serves. Once the recorder's heartbeat shows, the scheduler is started
through the API, so clips appear under ./output within a minute.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAMERA = [
    "/usr/bin/python3", os.path.join(ROOT, "testkit", "cameras", "rtsp_camera_server.py"),
    "--port", "8554"]
API = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
RECORDER = [sys.executable, "-m", "recorder"]
API_URL = "http://127.0.0.1:8080"


def _call(method: str, path: str) -> dict:
    request = urllib.request.Request(API_URL + path, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=2) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        return json.load(exc)


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def main() -> int:
    """Start everything, start the scheduler, wait for Ctrl-C, stop everything."""
    env = dict(os.environ, RTSP_PATROL_BIND="0.0.0.0:8080", RTSP_PATROL_WORKERS="2")
    children = [subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True)
                for argv in (CAMERA, API, RECORDER)]
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        if _wait(lambda: _call("GET", "/api/scheduler/status")["recorder_alive"], 30):
            print("run_demo: starting the scheduler:",
                  _call("POST", "/api/scheduler/start").get("message"), flush=True)
            print(f"run_demo: API on {API_URL}/api/tasks, clips in ./output; Ctrl-C stops",
                  flush=True)
        while not stop and all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        for child in reversed(children):
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in reversed(children):
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
