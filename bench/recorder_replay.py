"""The recorder's own CPU per clip, checks on vs. off, by replaying one real clip's ffmpeg output.

One real 15 s clip of the test camera (720p 1 Mb/s, 1 s keyframes) is recorded
with the checks off and with them on: ffmpeg's stdout and stderr (with the time
of each read) and its files (the clip, the figures, the blur figures, the
thumbnail) are kept. Each is then replayed ``--repeat`` times through the real
Recording code with a fake runner (testkit/fake_runner.py): the pipes read in
the daemon's batches (READ_BATCH_SECONDS), a tick each TICK_SECONDS, the
verdict drawn from the same files. Only the recorder's calls are timed
(time.process_time), not the replay's writes and copies, so the figures are
deterministic up to the machine's noise; ``--profile`` adds a cProfile of the
timed calls, sorted by tottime. Run: python -m bench.recorder_replay.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import selectors
import shutil
import subprocess
import tempfile
import time

from recorder.pipe_watcher import PipeWatcher
from recorder.planner import PlannedTask
from recorder.picture_similarity import _reference_windows
from recorder.recording import Recording
from recorder.wakeup import READ_BATCH_SECONDS, TICK_SECONDS
from shared.global_settings import GlobalSettings
from testkit.cameras import CameraServer
from testkit.fake_runner import FakeRunner

DURATION = 15
PROBE_OUTPUT = json.dumps({"format": {"duration": "15.0"},
                           "streams": [{"codec_type": "video", "codec_name": "h264"}]})


def _recording(folder: str, enabled: bool, runner, watcher: PipeWatcher) -> Recording:
    settings = GlobalSettings.from_config({"read_timeout_seconds": 10,
                                           "quality": {"enabled": enabled}})
    return Recording(PlannedTask(0, 0, 0.0, DURATION), {
        "rtsp_url": "rtsp://127.0.0.1:1/hd1s/1", "output_filename": "s0.mp4",
        "duration_seconds": DURATION}, folder, "./output/bench", settings, runner, None,
        watcher, references_dir=os.path.join(folder, "references"))


def _files(task: Recording) -> dict[str, str]:
    """The files ffmpeg writes for ``task``, by role."""
    files = {"clip": task.work_path}
    if task.picture:
        files.update(thumbnail=task.picture.files.thumbnail,
                     figures=task.picture.files.figures, blur=task.picture.files.blur_figures)
    return files


def capture(url: str, enabled: bool, store: str) -> dict:
    """Record one real clip; its output events and files, kept under ``store``."""
    folder = tempfile.mkdtemp(prefix="replay-capture-")
    fake = FakeRunner()
    task = _recording(folder, enabled, fake, PipeWatcher())
    task.start(time.monotonic(), time.time())
    argv = [url if a == "rtsp://127.0.0.1:1/hd1s/1" else a for a in fake.processes[0].argv]
    fake.close()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    events, started = [], time.monotonic()
    selector = selectors.DefaultSelector()
    for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        selector.register(pipe, selectors.EVENT_READ, name)
    while selector.get_map():
        for key, _ in selector.select():
            data = os.read(key.fileobj.fileno(), 65536)
            if not data:
                selector.unregister(key.fileobj)
                continue
            events.append((round(time.monotonic() - started, 3), key.data,
                           data.decode("utf-8", "replace")))
    kept = {}
    for role, path in _files(task).items():
        if os.path.exists(path):
            kept[role] = os.path.join(store, f"{'on' if enabled else 'off'}.{role}")
            shutil.copy(path, kept[role])
    shutil.rmtree(folder, ignore_errors=True)
    return {"events": events, "returncode": proc.wait(), "files": kept}


# "--cold": this much memory walked before each batch (untimed), so that the recorder's
# calls find the CPU caches cold, as between the ffmpeg processes of a live cycle.
COLD_BYTES = 8 << 20
_COLD = {"on": False, "buffer": bytearray(0)}


def _chill() -> None:
    if _COLD["on"]:
        buffer = _COLD["buffer"]
        buffer[::64] = bytes(len(buffer) // 64)


def _deliver(watcher: PipeWatcher, process, stdout: str, stderr: str, timed) -> None:
    """Write a batch into the fake pipes (untimed) and let the recorder read it (timed)."""
    _chill()
    while stdout or stderr:
        process.write(stdout[:16384], stderr[:16384])
        stdout, stderr = stdout[16384:], stderr[16384:]
        timed("read pipes", watcher.wait, 0.0)


def replay_once(trace: dict, folder: str, timed) -> Recording:
    """One clip through the real Recording; ``timed(fn, *args)`` runs the recorder's calls."""
    runner = FakeRunner(stops_on=set(), run_returncode=0, run_stdout=PROBE_OUTPUT)
    watcher = PipeWatcher()
    task = timed("construct", _recording, folder, trace["enabled"], runner, watcher)
    base = 1000.0
    timed("start", task.start, base, 0.0)
    process = runner.processes[0]
    for role, path in _files(task).items():  # ffmpeg's work: untimed
        if role in trace["files"]:
            shutil.copy(trace["files"][role], path)
    events, index, clock = trace["events"], 0, 0.0
    while index < len(events):
        clock += READ_BATCH_SECONDS
        batch = {"stdout": "", "stderr": ""}
        while index < len(events) and events[index][0] <= clock:
            batch[events[index][1]] += events[index][2]
            index += 1
        _deliver(watcher, process, batch["stdout"], batch["stderr"], timed)
        timed("ticks", task.tick, base + clock, clock)
    process.exit(trace["returncode"])
    while not task.finished:
        _chill()
        clock += TICK_SECONDS
        timed("read pipes", watcher.wait, 0.0)
        timed("ticks", task.tick, base + clock, clock)
    return task


def measure(trace: dict, repeat: int, profile: cProfile.Profile | None,
            reference: str = "kept") -> tuple[dict, dict]:
    """Mean recorder CPU per clip (ms) over ``repeat`` replays, in all and by piece (the
    verdict's tick is "finish"); the last verdict's record. ``reference``: "kept" (the
    camera's reference taken and decoded already: a daemon's steady state), "none" (each
    clip is its camera's first: it becomes the reference), "new" (the reference on disk,
    not decoded yet: a camera's second clip, or the first after a restart)."""
    spent: dict[str, float] = {}

    def timed(piece, fn, *args):
        if profile:
            profile.enable()
        begin = time.process_time()
        try:
            return fn(*args)
        finally:
            took = time.process_time() - begin
            if piece == "ticks" and getattr(fn, "__self__", None) and fn.__self__.finished:
                piece = "finish"
            spent[piece] = spent.get(piece, 0.0) + took
            if profile:
                profile.disable()

    folder = tempfile.mkdtemp(prefix="replay-")
    try:
        for _ in range(repeat):
            if reference == "none":
                shutil.rmtree(os.path.join(folder, "references"), ignore_errors=True)
            elif reference == "new":
                _reference_windows.cache_clear()
            task = replay_once(trace, folder, timed)
            record = task.as_dict()
            for name in os.listdir(folder):
                path = os.path.join(folder, name)
                if not os.path.isdir(path):
                    os.unlink(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    pieces = {piece: value / repeat * 1000 for piece, value in spent.items()}
    return {"total": sum(pieces.values()), **pieces}, record


def load_traces(store: str) -> dict:
    """The captured clips (recorded once, then reused from ``store``)."""
    index = os.path.join(store, "traces.json")
    if not os.path.exists(index):
        os.makedirs(store, exist_ok=True)
        with CameraServer(mount_count=1) as camera:
            traces = {side: {**capture(camera.url("hd1s/1"), enabled, store), "enabled": enabled}
                      for side, enabled in (("off", False), ("on", True))}
        with open(index, "w", encoding="utf-8") as handle:
            json.dump(traces, handle)
    with open(index, encoding="utf-8") as handle:
        return json.load(handle)


def main(argv: list[str] | None = None) -> dict:
    """Replay both captured clips; print the per-clip CPU, output sizes and profiles."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", default="/tmp/recorder-replay",
                        help="where the captured clips are kept (delete it to record anew)")
    parser.add_argument("--repeat", type=int, default=500)
    parser.add_argument("--profile", action="store_true", help="cProfile the timed calls")
    parser.add_argument("--rounds", type=int, default=3, help="off/on rounds")
    parser.add_argument("--reference", choices=("kept", "none", "new"), default="kept",
                        help="the camera's reference picture: taken and decoded already "
                             "(default), none yet, on disk but not decoded yet")
    parser.add_argument("--cold", action="store_true",
                        help="walk %d MB before each batch: the CPU caches cold" % (COLD_BYTES >> 20))
    args = parser.parse_args(argv)
    if args.cold:
        _COLD.update(on=True, buffer=bytearray(COLD_BYTES))
    traces = load_traces(args.store)
    result = {}
    for side, trace in traces.items():
        err = "".join(e[2] for e in trace["events"] if e[1] == "stderr")
        out = "".join(e[2] for e in trace["events"] if e[1] == "stdout")
        print(f"{side}: stderr {err.count(chr(10))} lines {len(err)} bytes, stdout "
              f"{out.count(chr(10))} lines {len(out)} bytes, {len(trace['events'])} reads, "
              f"exit {trace['returncode']}, files {sorted(trace['files'])}")
    figures: dict[str, list[dict]] = {"off": [], "on": []}
    for _ in range(args.rounds):
        for side in ("off", "on"):
            spent, record = measure(traces[side], args.repeat, None, args.reference)
            figures[side].append(spent)
            result[side] = record
    for side in ("off", "on"):
        print(f"{side}: status {result[side]['status']} quality {result[side].get('quality')}")
    print("piece               off (ms/clip)  on (ms/clip)  on - off   (the least of the rounds)")
    for piece in figures["on"][0]:
        off = min(f.get(piece, 0.0) for f in figures["off"])
        on = min(f[piece] for f in figures["on"])
        print(f"{piece:<20}{off:>13.3f}{on:>14.3f}{on - off:>10.3f}")
    if args.profile:
        for side in ("off", "on"):
            profile = cProfile.Profile()
            measure(traces[side], args.repeat, profile)
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(25)
            print(f"--- {side} ---\n{text.getvalue()}")
    return figures


if __name__ == "__main__":
    main()
