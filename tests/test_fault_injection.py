"""Fault injection with real processes: kills, damaged files, a vanished output tree, flapping cameras.

Cases: gunicorn workers SIGKILLed during config writes; a lock left by a killed
process; the recorder SIGKILLed at random points of a cycle; the status and
control files deleted or damaged while recording; the output folder removed
while recording; a camera flapping between up and down; credentials in stream
URLs kept out of every file, log and listing.

Each case is bounded in time and waits on conditions with deadlines; the only
sleeps are the random injection points (seeded: FAULT_SEED, default below).
Results and run counts are in docs/RELIABILITY.md.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from recorder.ffmpeg_command import PART_SUFFIX
from shared import settings
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.clip_names import thumbnail_name
from shared.config import validate_config
from shared.config_file import load_config
from shared.control_file import load_control
from shared.errors import LockTimeout
from shared.locks import lock_path_for, locked
from shared.status_file import is_alive, read_status
from app import create_app
from testkit.cameras import CameraServer
from tests.helpers import valid_config
from testkit.recorder_process import (REPO_ROOT, RecorderProcess, ffmpeg_pids, ffprobe,
                                      settled_names, wait_for)
from testkit.servers import GunicornServer, children_of, free_port
from tests.test_recorder_e2e import Patrol

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("FAULT_SEED", "20251010"))


def _direct_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # 127.0.0.1 directly, whatever *_proxy says
    return session


# --- a gunicorn worker killed in the middle of config writes ----------------------------------

WRITERS = 4
# The scaled campaign (bench/campaign.py, docs/RELIABILITY.md) raises it through the environment.
WORKER_KILLS = int(os.environ.get("CAMPAIGN_WORKER_KILLS", "8"))
ANSWERED_WRITES = 20  # the kills go on until at least this many writes were answered 200
KILLING_SECONDS = 180  # for both, however slow the machine: a bound, not a measure


def _url_number(config: dict, writer: int) -> int:
    """The request number in writer ``writer``'s stream URL (``…/w<writer>n<number>``)."""
    return int(config["streams"][writer]["rtsp_url"].rsplit("n", 1)[1])


def _writers_config() -> dict:
    """One stream per writer, each URL numbered 0: every writer edits only its own stream."""
    streams = [{"rtsp_url": f"rtsp://127.0.0.1:8554/w{w}n0", "duration_seconds": 5,
                "output_filename": f"w{w}.mp4"} for w in range(WRITERS)]
    return {**valid_config(), "streams": streams}


def test_sigkill_of_workers_during_config_writes_keeps_config_valid(tmp_path: Path) -> None:
    """Writers edit their own stream while workers die: every answered write stays on disk."""
    config_path = tmp_path / "config.json"
    write_json_atomic(str(config_path), _writers_config())
    attempted: list[set[int]] = [{0} for _ in range(WRITERS)]
    acknowledged = [0] * WRITERS  # the number of each writer's last write answered 200
    answered: list[int] = []
    errors: list[str] = []
    stop = threading.Event()
    rng = random.Random(SEED)

    with GunicornServer(str(config_path), workers=3) as server:
        server.wait_for_workers()

        def write(writer: int) -> None:
            session = _direct_session()
            n = 0
            while not stop.is_set():
                n += 1  # each request sends a URL no earlier request of this writer sent
                attempted[writer].add(n)
                try:
                    response = session.put(server.url(f"/api/config/streams/{writer}"), json={
                        "rtsp_url": f"rtsp://127.0.0.1:8554/w{writer}n{n}"}, timeout=10)
                except requests.Timeout:
                    errors.append("timeout")  # a hang: must never happen
                    continue
                except requests.RequestException:
                    errors.append("cut off")  # its worker was killed mid-request
                    session = _direct_session()
                    continue
                answered.append(response.status_code)
                if response.status_code == 200:
                    acknowledged[writer] = n

        threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
        for thread in threads:
            thread.start()
        killed = []
        deadline = time.monotonic() + KILLING_SECONDS
        try:
            # Kills and writes go on until both counts are in, however much of the writing a
            # slow machine fits between two kills; a kill waits for a write answered since the
            # last one, so the kills never keep every worker from answering.
            answered_at_kill = -1
            while len(killed) < WORKER_KILLS or answered.count(200) < ANSWERED_WRITES:
                assert time.monotonic() < deadline, \
                    f"{len(killed)} kills, {answered.count(200)} writes answered 200"
                time.sleep(rng.uniform(0.05, 0.4))  # a random point of the write loop
                pids = server.worker_pids()
                if pids and answered.count(200) > answered_at_kill:
                    answered_at_kill = answered.count(200)
                    victim = rng.choice(pids)
                    os.kill(victim, signal.SIGKILL)
                    killed.append(victim)
                # The file is read in between kills too: never half-written, never invalid,
                # and no write answered 200 before the read is missing from it.
                acked = list(acknowledged)
                on_disk = validate_config(json.loads(config_path.read_text(encoding="utf-8")))
                assert all(_url_number(on_disk, w) >= acked[w] for w in range(WRITERS)), acked
            before = answered.count(200)
            wait_for(lambda: answered.count(200) >= before + 2 * WRITERS, 10,
                     "writes after the last kill")
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        # gunicorn replaces every killed worker, and the server answers as before.
        pids = wait_for(lambda: (p := server.worker_pids()) and len(p) == 3
                        and not set(p) & set(killed) and p, 20, "replacement workers")
        session = _direct_session()
        answer = session.get(server.url("/api/config/streams"), timeout=10)
        assert answer.status_code == 200
        last = session.put(server.url("/api/config/global"),
                           json={"cycle_interval_seconds": 7}, timeout=10)
        assert last.status_code == 200, last.text
        log = server.log()

    assert len(killed) >= WORKER_KILLS and len(set(pids)) == 3
    assert answered.count(200) >= ANSWERED_WRITES and set(answered) <= {200, 503}, set(answered)
    assert "Traceback" not in log and "timeout" not in errors
    config = load_config(str(config_path))  # valid JSON that passes every rule
    assert config["global_config"]["cycle_interval_seconds"] == 7
    # Each writer's stream holds its last write answered 200, or a later one whose
    # answer a kill cut off (the write may have landed): nothing acknowledged is lost.
    for writer in range(WRITERS):
        number = _url_number(config, writer)
        assert number >= acknowledged[writer] and number in attempted[writer], writer
    assert [s["rtsp_url"] for s in answer.json()["streams"]] == \
        [s["rtsp_url"] for s in config["streams"]]
    print(f"\n{len(killed)} workers killed; {len(answered)} answers "
          f"({answered.count(200)} ok, {answered.count(503)} busy), {len(errors)} cut off; "
          f"{log.count('of a writer that died')} sweeps of a killed writer's temp file")
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
    assert leftovers == [], "temp files of killed writers left behind"


# --- a lock file left behind by a dead process -------------------------------------------------

_HOLD_LOCK = """
import sys, time
from shared.locks import locked
with locked(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_lock_of_a_killed_process_does_not_block_the_next_write(tmp_path: Path) -> None:
    config_path = tmp_path / "config.json"
    write_json_atomic(str(config_path), valid_config())
    (tmp_path / "output").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(config_path)], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockTimeout):  # really held
            with locked(str(config_path), timeout=0.2):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert os.path.exists(lock_path_for(str(config_path)))  # the file stays; the lock died

    client = create_app({"CONFIG_PATH": str(config_path)}).test_client()
    started = time.monotonic()
    response = client.put("/api/config/global", json={"max_concurrent_streams": 5})
    waited = time.monotonic() - started
    assert response.status_code == 200, response.get_json()
    assert waited < 1.0  # no wait for the dead holder (the timeout is 5 s)
    assert load_config(str(config_path))["global_config"]["max_concurrent_streams"] == 5


# --- the recorder killed at random points of a cycle -------------------------------------------

def recorder_config(streams: list[dict], **global_overrides) -> dict:
    """Short cycles: 2 s clips in a 3 s window, the next cycle at once, forever."""
    config = {"global_config": {
        "total_poll_duration_seconds": 3, "max_concurrent_streams": 4,
        "output_directory": "./output", "report_filename": "rtsp_report.json",
        "connection_timeout_seconds": 3, "read_timeout_seconds": 3, "poll_cycles": -1,
        "cycle_interval_seconds": 0}, "streams": streams}
    config["global_config"].update(global_overrides)
    return config


def desire_running(config_path: Path) -> None:
    """The control file as the API leaves it after a start: the scheduler should run."""
    control = settings.control_path(str(config_path))
    os.makedirs(os.path.dirname(control), exist_ok=True)
    write_json_atomic(control, {"version": 1, "scheduler_running": True, "start_generation": 1,
                                "reload_generation": 0, "changed_at": ""})


def status_of(config_path: Path) -> dict:
    return read_status(settings.status_path(str(config_path)))


def beating(config_path: Path, recorder: RecorderProcess) -> dict | None:
    """The status when it is this recorder's, fresh; else None."""
    status = status_of(config_path)
    return status if is_alive(status) and status["pid"] == recorder.proc.pid else None


def clips_and_work_files(output: Path) -> tuple[list[Path], list[Path]]:
    return (sorted(output.glob("*/*.mp4")),
            sorted(p for p in output.glob("*/.*") if p.name.endswith(PART_SUFFIX)))


KILL_TRIALS = 10


def test_sigkill_of_the_recorder_at_random_points_leaves_nothing_broken(
        tmp_path: Path, camera_server) -> None:
    rng = random.Random(SEED)
    streams = [{"rtsp_url": camera_server.url(mount), "duration_seconds": 2,
                "output_filename": f"{mount}.mp4"} for mount in ("cam1", "cam2")]
    config_path = tmp_path / "config.json"
    write_json_atomic(str(config_path), recorder_config(streams))
    desire_running(config_path)
    output = tmp_path / "output"
    probed: set[Path] = set()
    delays = []
    recorders = [RecorderProcess(str(config_path)).start()]
    try:
        for trial in range(KILL_TRIALS):
            recorder = recorders[-1]
            status = wait_for(lambda: (s := beating(config_path, recorder)) and s["cycle"]["running"]
                              and s, 20, f"trial {trial}: a running cycle")
            delay = rng.uniform(0.0, 3.5)  # the injection point: anywhere in a ~2.5 s cycle and after
            delays.append(round(delay, 2))
            time.sleep(delay)
            recorder.stop(signal.SIGKILL)
            assert recorder.proc.returncode == -signal.SIGKILL
            wait_for(lambda: not ffmpeg_pids(str(tmp_path)), 5, f"trial {trial}: ffmpeg to die")
            folders_at_kill = {p.name for p in output.iterdir()}

            clips, _ = clips_and_work_files(output)
            for clip in set(clips) - probed:  # published clips are playable at any moment
                assert float(ffprobe(str(clip))["format"]["duration"]) > 0, clip
                probed.add(clip)

            restarted = RecorderProcess(str(config_path)).start()
            recorders.append(restarted)
            status = wait_for(lambda: (s := beating(config_path, restarted))
                              and s["cycle"]["dir"] not in folders_at_kill and s["cycle"]["running"]
                              and s, 20, f"trial {trial}: the next start to run a new cycle")
            assert status["scheduler_running"]
            # Recovery ran before the first beat: no work file outside the running cycle.
            _, work_files = clips_and_work_files(output)
            assert [p for p in work_files if p.parent.name != status["cycle"]["dir"]] == []
            clips, _ = clips_and_work_files(output)
            for clip in set(clips) - probed:  # clips recovered from work files too
                assert float(ffprobe(str(clip))["format"]["duration"]) > 0, clip
                probed.add(clip)
    finally:
        for recorder in recorders:
            recorder.stop()
    log = "\n".join(recorder.log() for recorder in recorders)
    assert "Traceback" not in log, log[-3000:]
    assert not ffmpeg_pids(str(tmp_path))
    # Every cycle, interrupted or not, ended with its reports and without work files.
    folders = sorted(p for p in output.iterdir() if p.is_dir())
    assert len(folders) > KILL_TRIALS
    assert [p.name for p in folders if not (p / "rtsp_report.json").exists()] == []
    assert clips_and_work_files(output)[1] == []
    interrupted = [json.loads((p / "rtsp_report.json").read_text(encoding="utf-8"))["summary"]
                   ["interrupted"] for p in folders]
    assert interrupted.count("录制守护进程意外退出") >= KILL_TRIALS - 2, interrupted
    print(f"\n{KILL_TRIALS} kills at {delays} s into a cycle; {len(probed)} clips, all playable; "
          f"{log.count('recovered interrupted cycle')} interrupted cycles recovered")
    assert len(probed) >= KILL_TRIALS


# --- the status or control file deleted or damaged while the recorder runs -------------------

STATUS_SHAPES = {"/api/scheduler/status": ("is_running", bool), "/api/tasks": ("tasks", list),
                 "/api/tasks/status": ("tasks", list), "/api/scheduler/cycle": ("active_tasks", list)}


def _answers_sanely(patrol: Patrol) -> bool:
    """Every status endpoint answers 200 with its documented shape; True when it showed the defaults."""
    defaults = True
    for path, (key, kind) in STATUS_SHAPES.items():
        response = requests.get(patrol.api.url(path), timeout=10)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        assert isinstance(body[key], kind) and isinstance(body["recorder_alive"], bool), body
        defaults = defaults and body["recorder_alive"] is False
    return defaults


def _stays_running(patrol: Patrol, seconds: float) -> None:
    """For ``seconds``: the recorder lives, the scheduler runs, no task was cancelled."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert patrol.recorder.proc.poll() is None, patrol.recorder.log()[-3000:]
        status = patrol.get("/api/scheduler/status")
        assert status["is_running"] and status["recorder_alive"], status
        assert status["cancelled_tasks"] == 0, patrol.get("/api/tasks")
        time.sleep(0.1)  # a poll interval


def test_status_and_control_files_deleted_or_damaged_while_recording(tmp_path: Path,
                                                                    camera_server) -> None:
    streams = [{"rtsp_url": camera_server.url("cam1"), "duration_seconds": 2,
                "output_filename": "cam1.mp4"}]
    config = recorder_config(streams, cycle_interval_seconds=1)
    with Patrol(tmp_path, config) as patrol:
        status_path = Path(settings.status_path(patrol.config_path))
        control_path = Path(settings.control_path(patrol.config_path))
        assert patrol.post("/api/scheduler/start").status_code == 200
        wait_for(lambda: patrol.get("/api/scheduler/cycle")["current_cycle"] >= 1, 20, "a cycle")
        faults = defaults_seen = 0

        # The status file: gone, then garbage. The API answers with defaults meanwhile,
        # and the recorder writes it again at its next beat.
        for damage in ("delete", "garbage", "delete", "garbage"):
            if damage == "delete":
                status_path.unlink()
            else:
                status_path.write_bytes(os.urandom(300) + b"\x00{")
            faults += 1
            defaults_seen += _answers_sanely(patrol)  # usually before the recorder's next beat
            wait_for(lambda: is_alive(read_status(str(status_path))), 3, "the status file again")
            _stays_running(patrol, 0.5)

        # The control file: the recorder keeps the state it last read and writes it back.
        for damage in ("garbage", "delete", "garbage"):
            if damage == "delete":
                control_path.unlink()
            else:
                control_path.write_bytes(b"\x00\xffnot json" + os.urandom(100))
            faults += 1
            _answers_sanely(patrol)
            restored = wait_for(lambda: load_control(str(control_path)), 3,
                                "the control file restored")
            assert restored["scheduler_running"] is True and restored["start_generation"] == 1
            _stays_running(patrol, 1.0)

        # Start and stop still work after all that.
        assert patrol.post("/api/scheduler/stop").status_code == 200
        wait_for(lambda: not patrol.get("/api/scheduler/status")["is_running"], 10, "stopped")
        assert patrol.post("/api/scheduler/start").status_code == 200
        wait_for(lambda: patrol.get("/api/scheduler/status")["is_running"], 10, "running again")
        recorder_log, api_log = patrol.recorder.log(), patrol.api.log()

    assert faults == 7 and defaults_seen >= 1
    print(f"\n{faults} damaged files; the API answered from defaults {defaults_seen} times")
    assert "Traceback" not in recorder_log and "Traceback" not in api_log
    assert recorder_log.count("control file") >= 3, recorder_log[-3000:]



# --- the output folder removed while recording ------------------------------------------------

def test_output_folder_removed_while_recording(tmp_path: Path, camera_server) -> None:
    streams = [{"rtsp_url": camera_server.url(mount), "duration_seconds": 4,
                "output_filename": f"{mount}.mp4"} for mount in ("cam1", "cam2")]
    config = recorder_config(streams, total_poll_duration_seconds=5, cycle_interval_seconds=1)
    with Patrol(tmp_path, config) as patrol:
        status_path = settings.status_path(patrol.config_path)
        assert patrol.post("/api/scheduler/start").status_code == 200
        recording = wait_for(lambda: (s := read_status(status_path)) and len(s["tasks"]) == 2
                             and all(t["status"] == st.RECORDING and t["progress"] >= 1
                                     for t in s["tasks"]) and s, 20, "both recording")
        hurt = recording["cycle"]["dir"]
        shutil.rmtree(patrol.output())
        # The hurt cycle's verdicts, read from one status snapshot before the next cycle.
        ended = wait_for(lambda: (s := read_status(status_path))["cycle"]["dir"] == hurt
                         and not s["cycle"]["running"] and s, 20, "the hurt cycle's end")
        assert patrol.recorder.proc.poll() is None
        # The next cycle recreates the folder and records again.
        wait_for(lambda: (s := read_status(status_path))["cycle"]["dir"] not in ("", hurt)
                 and s["tasks"] and all(t["status"] == st.COMPLETED for t in s["tasks"]),
                 20, "a complete cycle after the removal")
        status = patrol.get("/api/scheduler/status")
        log = patrol.recorder.log()

    tasks = ended["tasks"]
    assert {t["status"] for t in tasks} <= {st.RECORDING_ERROR}, tasks
    assert all(t["error_message"] for t in tasks), tasks
    assert f"第 {ended['current_cycle']} 轮 ({hurt}) 报告写入失败" in ended["message"], ended["message"]
    assert status["status_message"] == "", status  # cleared by the next cycle's report
    assert not (patrol.output() / hurt).exists()
    for clip in patrol.output().glob("*/*.mp4"):
        assert float(ffprobe(str(clip))["format"]["duration"]) > 1
    assert "Traceback" not in log
    print(f"\nhurt cycle: {[(t['status'], t['error_message']) for t in tasks]}; "
          f"status message: {ended['message']}")


# --- a camera that flaps between up and down across cycles -------------------------------------

FLAP_CYCLES = 6


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_flapping_camera_alternates_statuses_without_leaks(tmp_path: Path, camera_server) -> None:
    flapping = CameraServer(port=free_port()).start()  # same port across restarts
    streams = [{"rtsp_url": flapping.url("cam1"), "duration_seconds": 2, "output_filename": "flap.mp4"},
               {"rtsp_url": camera_server.url("cam2"), "duration_seconds": 2,
                "output_filename": "steady.mp4"}]
    config_path = tmp_path / "config.json"
    # 2 s between cycles: time to switch the camera once a cycle has ended.
    write_json_atomic(str(config_path), recorder_config(streams, cycle_interval_seconds=2,
                                                        connection_timeout_seconds=5))
    desire_running(config_path)
    recorder = RecorderProcess(str(config_path)).start()
    seen: list[tuple[bool, int, int]] = []
    fds: list[int] = []
    try:
        up, done = True, set()
        for number in range(1, FLAP_CYCLES + 1):
            status = wait_for(lambda: (s := beating(config_path, recorder))
                              and s["current_cycle"] == number and not s["cycle"]["running"]
                              and len(s["tasks"]) == 2 and s, 20, f"cycle {number} to end")
            by_stream = {t["stream_index"]: t["status"] for t in status["tasks"]}
            seen.append((up, by_stream[0], by_stream[1]))
            done.add(status["cycle"]["dir"])
            # Between cycles: no ffmpeg, no child of the recorder, fds back to their level.
            assert not ffmpeg_pids(str(tmp_path)) and children_of(recorder.proc.pid) == []
            fds.append(_open_fds(recorder.proc.pid))
            if up:
                flapping.stop()
            else:
                flapping.start()
            up = not up
    finally:
        recorder.stop()
        flapping.stop()
    log = recorder.log()

    expected = [(up, st.COMPLETED if up else st.CONNECTION_ERROR, st.COMPLETED)
                for up in [True, False] * (FLAP_CYCLES // 2)]
    assert seen == expected, log[-3000:]
    assert max(fds[1:]) <= fds[1] + 2, fds  # no descriptor leaks cycle after cycle
    assert "Traceback" not in log
    output = tmp_path / "output"
    for name in done:
        # Only the clip's thumbnail is hidden (README "Picture checks"): no work file is left.
        files = set(settled_names(output / name))
        files -= {thumbnail_name(clip) for clip in ("steady.mp4", "flap.mp4")}
        assert "steady.mp4" in files and not [n for n in files if n.startswith(".")], files
    flap_clips = sorted(p.parent.name for p in output.glob("*/flap.mp4"))
    assert len(flap_clips) == FLAP_CYCLES // 2
    print(f"\n{FLAP_CYCLES} cycles (camera up, flap status, steady status): {seen}; open fds {fds}")


# --- credentials never written anywhere but config.json --------------------------------------

SECRET = "secret"


def test_credentials_of_stream_urls_appear_in_no_file_log_or_listing(
        tmp_path: Path, camera_server, refusing_port) -> None:
    # The test camera asks for no password, so the credentialed URL records for real.
    streams = [
        {"rtsp_url": f"rtsp://user:{SECRET}@127.0.0.1:{camera_server.port}/cam1",
         "duration_seconds": 2, "output_filename": "cam1.mp4"},
        {"rtsp_url": f"rtsp://admin:{SECRET}@127.0.0.1:{refusing_port}/cam",
         "duration_seconds": 2, "output_filename": "refused.mp4"},
        {"rtsp_url": f"rtsp://{SECRET}@127.0.0.1:{camera_server.port}/nosuch",
         "duration_seconds": 2, "output_filename": "missing.mp4"},
    ]
    config = recorder_config(streams, poll_cycles=1)
    with Patrol(tmp_path, config) as patrol:
        # One more credentialed stream through the API (its body must not reach a log).
        added = requests.post(patrol.api.url("/api/config/streams"), timeout=10, json={
            "rtsp_url": f"rtsp://op:{SECRET}@127.0.0.1:{camera_server.port}/cam2",
            "duration_seconds": 2, "output_filename": "cam2.mp4"})
        assert added.status_code == 200
        assert patrol.post("/api/scheduler/start").status_code == 200
        wait_for(lambda: patrol.get("/api/scheduler/status")["end_time"], 30, "the cycle to end")
        listings = {path: requests.get(patrol.api.url(path), timeout=10).text
                    for path in ("/api/tasks", "/api/tasks/status", "/api/scheduler/status",
                                 "/api/scheduler/cycle", "/api/timestamps", "/api/videos")}
        tasks = patrol.tasks_by_stream()
        recorder_log, api_log = patrol.recorder.log(), patrol.api.log()

    assert {i: t["status"] for i, t in tasks.items()} == {
        0: st.COMPLETED, 1: st.CONNECTION_ERROR, 2: st.STREAM_UNAVAILABLE, 3: st.COMPLETED}
    assert all(re.match(r"rtsp://(\w+:)?\*\*\*@", t["rtsp_url"]) for t in tasks.values())
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "config.json"]
    names = {p.name for p in written}
    assert {"cam1.mp4", "cam2.mp4", "rtsp_report.json", "report.txt", "streams.csv",
            "status.json", "control.json"} <= names, names
    found = [str(p) for p in written if SECRET.encode() in p.read_bytes()]
    found += [f"GET {path}" for path, text in listings.items() if SECRET in text]
    found += [name for name, text in (("recorder log", recorder_log), ("gunicorn log", api_log))
              if SECRET in text]
    assert found == [], found
    assert SECRET in (tmp_path / "config.json").read_text(encoding="utf-8")  # kept where it belongs
    assert len(re.findall(r"rtsp://(?:\w+:)?\*\*\*@", recorder_log)) >= 4
    assert "GET /api/tasks" in api_log
    print(f"\n{len(written)} files, {len(listings)} listings, 2 logs "
          f"({len(recorder_log) + len(api_log)} chars): no '{SECRET}'")
