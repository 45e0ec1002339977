"""The picture checks on real footage: each scene's verdict and measures against the thresholds.

A calibration, not a benchmark of speed, and not in CI (it needs Debian's
opencv-doc sample data, docs/QUALITY.md). Each scene is encoded to H.264 720p
at 1 Mb/s with 1 s and 4 s between keyframes, served by the test camera server
as /file/<scene> (real time, from the file's start for each client) and
recorded by the recorder's own Recording objects, all at once, twice: first
each camera's reference footage (its first good clip becomes the camera's
reference picture, as in the daemon), then the scene itself.

Scenes: real daylight footage (vtest.avi, tree.avi, photos given a slow sway
and sensor noise so they are not frozen), night variants *derived* from vtest
(no real night footage was at hand), and faults made from vtest.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

from bench.common import Row, print_table, save
from recorder.pipe_watcher import PipeWatcher
from recorder.planner import PlannedTask
from recorder.processes import ProcessRunner
from recorder.picture_similarity import keep_reference
from recorder.recording import Recording
from shared.global_settings import GlobalSettings
from testkit.cameras import CameraServer

DATA_DIRS = ("/usr/share/doc/opencv-doc/examples/data",
             "/tmp/ocv/x/usr/share/doc/opencv-doc/examples/data")
FOOTAGE_SECONDS = 18  # a 10 s clip, the 4 s keyframe wait and the RTSP start fit in it
CLIP_SECONDS = 10
KEYFRAME_SECONDS = (1, 4)
# A still photo made camera-like: 25 fps, a slow sway of a few pixels (wind on the
# mast) and temporal sensor noise, so that it is not a frozen picture.
SWAY = ("scale=1344:756:force_original_aspect_ratio=increase,"
        "crop=1280:720:x='(iw-ow)/2+24*sin(2*PI*t/9)':y='(ih-oh)/2+8*sin(2*PI*t/7)'")
SENSOR_NOISE = "noise=alls=4:allf=t"
# Night as a camera's night mode makes it (derived from daylight, not recorded at night):
# IR mode turns grey, its mean luma low, its contrast flat and its noise high;
# colour night mode is dim and noisy, under street lamps with their orange cast.
IR_NIGHT = "hue=s=0,eq=brightness=-0.22:contrast=0.55,noise=alls=14:allf=t"
IR_NIGHT_DIM = "hue=s=0,eq=brightness=-0.30:contrast=0.45,noise=alls=18:allf=t"
COLOUR_NIGHT = ("eq=brightness=-0.25:contrast=0.6:saturation=0.7,"
                "colorbalance=rm=0.12:gm=0.02:bm=-0.12,noise=alls=12:allf=t")


@dataclass(frozen=True)
class Footage:
    """A piece of source material: a file, where to start, and the filters that make the scene."""

    source: str
    start: float = 0.0
    filters: str = ""
    still: bool = False  # a photo: looped at 25 fps

    def key(self) -> str:
        """A file-name-safe identity, so that equal footage is encoded once."""
        text = f"{self.source}-{self.start:g}-{self.filters}-{self.still}"
        return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Scene:
    """A camera of the calibration: what it shows, its reference, the verdicts it should get."""

    name: str
    kind: str  # day (real), night (derived from real daylight), fault
    footage: Footage
    reference: Footage
    expected: frozenset[str] = frozenset()


def _photo(name: str, extra: str = "", sway: bool = True) -> Footage:
    chain = [SWAY if sway else "scale=1280:720,setsar=1", SENSOR_NOISE, extra]
    return Footage(f"{name}.jpg", filters=",".join(part for part in chain if part), still=True)


VTEST = Footage("vtest.avi", 5.0)
VTEST_LATER = Footage("vtest.avi", 50.0)  # the same view 45 s later: other people in it


def _vtest(filters: str) -> Footage:
    return Footage("vtest.avi", 5.0, filters)


def scenes() -> list[Scene]:
    """Every scene of the calibration."""
    day = [Scene("vtest_day", "day", VTEST, VTEST_LATER),
           Scene("tree_day", "day", Footage("tree.avi", 0.0), Footage("tree.avi", 11.0))]
    day += [Scene(f"{name}_day", "day", _photo(name), _photo(name))
            for name in ("building", "leuvenA", "home", "aero3", "orange")]
    day.append(Scene("building_static", "day", _photo("building", sway=False),
                     _photo("building", sway=False)))
    night = [Scene("vtest_ir_night", "night", _vtest(IR_NIGHT), VTEST_LATER),
             Scene("vtest_ir_night_dim", "night", _vtest(IR_NIGHT_DIM), VTEST_LATER),
             Scene("vtest_colour_night", "night", _vtest(COLOUR_NIGHT), VTEST_LATER),
             Scene("building_ir_night", "night", _photo("building", IR_NIGHT),
                   _photo("building"))]
    return day + night + _faults()


def _faults() -> list[Scene]:
    """Faults made from the real daylight vtest view, held against its reference."""
    made = {
        "black": ("drawbox=t=fill:c=black,noise=alls=3:allf=t", "black"),
        "frozen": ("loop=loop=-1:size=1:start=0", "frozen"),
        "blur_s2": ("gblur=sigma=2", ""),  # a slightly soft lens: should stay ok
        # Soft (signs no longer readable), but its edge width is only ~0.7 px over the
        # sharpest healthy scene's: left ok on purpose (docs/QUALITY.md).
        "blur_s4": ("gblur=sigma=4", ""),
        "blur_s6": ("gblur=sigma=6", "blurred"),
        "blur_s12": ("gblur=sigma=12", "blurred"),
        "too_dark": ("eq=brightness=-0.42:contrast=0.5", "too_dark"),
        "too_bright": ("eq=brightness=0.5:contrast=0.6", "too_bright"),
        "cast_magenta": ("colorbalance=rs=0.5:gs=-0.5:bs=0.5:rm=0.5:gm=-0.5:bm=0.5",
                         "colour_cast"),
        "cast_blue": ("colorbalance=rs=-0.4:bs=0.5:rm=-0.4:bm=0.5:rh=-0.3:bh=0.3",
                      "colour_cast"),
        "low_fps": ("fps=2", "low_fps"),
        "turned": ("crop=iw*0.5:ih*0.5:iw*0.5:0,scale=1280:720", "scene_changed"),
    }
    faults = [Scene(f"vtest_{name}", "fault", _vtest(chain), VTEST_LATER,
                    frozenset([verdict] if verdict else []))
              for name, (chain, verdict) in made.items()]
    faults.append(Scene("other_scene", "fault", _photo("leuvenB"), VTEST_LATER,
                        frozenset(["scene_changed"])))
    return faults


def encode(data: str, footage: Footage, keyframe_seconds: int, folder: str) -> str:
    """The footage as 720p H.264 MP4 at 1 Mb/s, no B-frames, a fixed keyframe interval (cached)."""
    path = os.path.join(folder, f"{footage.key()}-k{keyframe_seconds}.mp4")
    if os.path.exists(path):
        return path
    fps = 25 if footage.still else (10 if footage.source == "vtest.avi" else 15)
    source = os.path.join(data, footage.source)
    inputs = (["-loop", "1", "-framerate", str(fps), "-i", source] if footage.still
              else ["-ss", str(footage.start), "-i", source])
    # A photo's filters make its 720p picture (the sway crops to it); a video is scaled first.
    size = "" if footage.still else "scale=1280:720,setsar=1"
    chain = ",".join(part for part in (size, footage.filters, "format=yuv420p") if part)
    rate = "2" if "fps=2" in footage.filters else str(fps)
    gop = str(int(rate) * keyframe_seconds)
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-t", str(FOOTAGE_SECONDS),
                    "-vf", chain, "-r", rate, "-c:v", "libx264", "-preset", "veryfast",
                    "-bf", "0", "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
                    "-b:v", "1M", "-maxrate", "1M", "-bufsize", "2M", "-an", path + ".mp4"],
                   check=True)
    os.replace(path + ".mp4", path)
    return path


def record(urls: dict[str, str], folder: str, references: str) -> dict[str, Recording]:
    """Record every camera at once with the recorder's Recording objects; each one, finished."""
    settings = GlobalSettings.from_config({"read_timeout_seconds": 10})
    watcher, runner = PipeWatcher(), ProcessRunner()
    tasks = {name: Recording(PlannedTask(i, i, 0.0, CLIP_SECONDS), {
        "rtsp_url": url, "output_filename": f"{name}.mp4", "duration_seconds": CLIP_SECONDS},
        folder, "./output/bench", settings, runner, None, watcher, references_dir=references)
        for i, (name, url) in enumerate(urls.items())}
    for task in tasks.values():
        task.start(time.monotonic(), time.time())
    while not all(task.finished for task in tasks.values()):
        watcher.dispatch(0.05)
        for task in tasks.values():
            if not task.finished:
                task.tick(time.monotonic(), time.time())
    return tasks


def set_references(tasks: dict[str, Recording]) -> None:
    """The latest thumbnail as the reference of a camera that has none (what an operator's
    ``POST /api/cameras/<id>/reference`` does): its first clip was not judged good."""
    for task in tasks.values():
        if task.picture and os.path.exists(task.picture.path) and task.picture.reference:
            keep_reference(task.picture.path, task.picture.reference)


def calibrate(data: str, folder: str, keyframe_seconds: int, chosen: list[Scene]) -> dict:
    """Reference round, then scene round, for one keyframe interval; quality per scene."""
    files = {}
    for scene in chosen:
        files[f"{scene.name}-ref"] = encode(data, scene.reference, keyframe_seconds, folder)
        files[scene.name] = encode(data, scene.footage, keyframe_seconds, folder)
    references = os.path.join(folder, f"references-k{keyframe_seconds}")
    clips = tempfile.mkdtemp(dir=folder)
    with CameraServer(files=files) as camera:
        first = record({s.name: camera.url(f"file/{s.name}-ref") for s in chosen}, clips,
                       references)
        set_references(first)
        second = record({s.name: camera.url(f"file/{s.name}") for s in chosen}, clips,
                        references)
    shutil.rmtree(clips, ignore_errors=True)
    return {name: {"reference": first[name].quality, "scene": second[name].quality}
            for name in second}


def _shown(measure: dict) -> str:
    value, threshold = measure.get("value"), measure.get("threshold")
    return f"{value:g}" if threshold is None else f"{value:g} ({threshold:g})"


COLUMNS = ("black", "frozen", "blurred", "too_dark", "too_bright", "colour_cast", "low_fps", "low_bitrate",
           "scene_changed")


def print_scenes(chosen: list[Scene], keyframe_seconds: int, results: dict) -> list[Row]:
    """The scene x measure table (value, threshold in brackets) and one row per scene."""
    print(f"\n| scene ({keyframe_seconds} s keyframes) | kind | verdict | expected | "
          + " | ".join(COLUMNS) + " |")
    print("|---" * (4 + len(COLUMNS)) + "|")
    rows = []
    for scene in chosen:
        quality = results[scene.name]["scene"]
        issues = quality.get("issues", [])
        measures = quality.get("measures", {})
        got = "+".join(issues) or ("ok" if quality.get("checked") else "unchecked")
        want = "+".join(sorted(scene.expected)) or "ok"
        cells = [_shown(measures[c]) if c in measures else "-" for c in COLUMNS]
        print(f"| {scene.name} | {scene.kind} | {got} | {want} | " + " | ".join(cells) + " |")
        met = quality.get("checked", False) and set(issues) == set(scene.expected)
        rows.append(Row(f"picture verdict on real footage, {scene.name}, {keyframe_seconds} s "
                        f"keyframes: {got}", 1.0 if met else 0.0, None, "", f"= {want}", met))
    return rows


def find_data(given: str | None) -> str:
    """The opencv-doc sample data folder. :raises SystemExit: when it is not there."""
    for folder in ([given] if given else DATA_DIRS):
        if folder and os.path.exists(os.path.join(folder, "vtest.avi")):
            return folder
    raise SystemExit("opencv-doc's sample data not found: apt-get download opencv-doc && "
                     "dpkg -x opencv-doc_*.deb /tmp/ocv/x (or pass --data)")


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the calibration; the rows of the result table (met: the expected verdict)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 s keyframes only")
    parser.add_argument("--data", help="opencv-doc's examples/data folder")
    parser.add_argument("--scenes", nargs="*", help="only these scene names")
    parser.add_argument("--keep", help="encode into (and reuse) this folder")
    args = parser.parse_args(argv)
    data = find_data(args.data)
    chosen = [s for s in scenes() if not args.scenes or s.name in args.scenes]
    folder = args.keep or tempfile.mkdtemp(prefix="bench-quality-scenes-")
    os.makedirs(folder, exist_ok=True)
    rows, raw = [], {}
    try:
        for keyframe_seconds in KEYFRAME_SECONDS[:1] if args.quick else KEYFRAME_SECONDS:
            results = calibrate(data, folder, keyframe_seconds, chosen)
            raw[f"{keyframe_seconds}s"] = results
            rows += print_scenes(chosen, keyframe_seconds, results)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print_table(rows)
    save("quality_scenes", rows, {"data": data, "clip_seconds": CLIP_SECONDS, "raw": raw})
    return rows


if __name__ == "__main__":
    main()
