"""Picture checks: the argv, the parsing of ffmpeg's figures, the verdicts, and real test cameras."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from recorder.ffmpeg_command import build_argv
from recorder.picture_quality import PictureLog, Recorded, judge
from recorder.pipe_watcher import PipeWatcher
from recorder.planner import PlannedTask
from recorder.processes import ProcessRunner
from recorder.recording import Recording
from shared import config as model
from shared.errors import ConfigError
from shared.global_settings import GlobalSettings
from shared.quality_settings import QualitySettings

URL = "rtsp://127.0.0.1:8554/cam1"
LIMITS = QualitySettings()
HEALTHY = Recorded(seconds=15.0, frames=375, size=480_000, announced_fps=25.0)


def test_checks_off_leave_the_argv_as_it_was_and_on_add_outputs_to_the_same_process() -> None:
    plain = build_argv(URL, "/o/.a.mp4.part", 15, io_timeout=15)
    assert "-skip_frame" not in plain and "-filter_complex" not in plain
    checked = build_argv(URL, "/o/.a.mp4.part", 15, io_timeout=15, thumbnail_file="/o/.a.jpg.tmp")
    # Keyframes only, decoded for the checks; the clip is still a stream copy.
    assert checked[checked.index("-skip_frame") + 1] == "nokey"
    assert checked.index("-skip_frame") < checked.index("-i")
    # The probe (which decodes with the same options) must not wait for 7 decoded
    # pictures or 20 frame durations: keyframes alone held the clip back 2 s.
    assert checked[checked.index("-max_ts_probe") + 1] == "1"
    assert checked[checked.index("-fpsprobesize") + 1] == "0"
    assert checked.count("-i") == 1 and "/o/.a.jpg.tmp" in checked
    graph = checked[checked.index("-filter_complex") + 1]
    assert graph.startswith("[0:v:0]select=eq(pict_type\\,I)[s0];[s0]scale=320:-2")
    assert "setpts=" in graph  # before the JPEG encoder
    assert checked[checked.index("/o/.a.mp4.part") - 1 - 2 * 0] == "15"  # -t of the clip


def _frames(*figures: dict) -> PictureLog:
    log = PictureLog()
    for index, frame in enumerate(figures):
        log.feed_line(f"[Parsed_metadata_6 @ 0x1] frame:{index}    pts:{index}   pts_time:{index}")
        for key, value in frame.items():
            log.feed_line(f"[Parsed_metadata_6 @ 0x1] lavfi.{key}={value}")
    return log


GOOD = {"signalstats.YAVG": 120, "signalstats.UAVG": 130, "signalstats.VAVG": 126, "blur": 4.0}


@pytest.mark.parametrize("frames,recorded,similarity,issues", [
    ([GOOD] * 5, HEALTHY, 0.9, []),
    ([{**GOOD, "signalstats.YAVG": 16, "black_start": 0, "blur": "-nan"}] + [GOOD | {
        "signalstats.YAVG": 16, "blur": "-nan"}] * 4, HEALTHY, 0.1, ["black"]),
    ([GOOD, GOOD, {**GOOD, "freezedetect.freeze_start": 0}, GOOD, GOOD], HEALTHY, None,
     ["frozen"]),
    ([{**GOOD, "blur": 12}] * 5, HEALTHY, None, ["blurred"]),
    # 12: the darkened real daylight scene (docs/QUALITY.md); 24 was 1 under dark_luma
    # once that came down from 40 to 25 for the dim IR night scene (34).
    ([{**GOOD, "signalstats.YAVG": 12}] * 5, HEALTHY, None, ["too_dark"]),
    ([{**GOOD, "signalstats.YAVG": 230}] * 5, HEALTHY, None, ["too_bright"]),
    ([{**GOOD, "signalstats.VAVG": 160}] * 5, HEALTHY, None, ["colour_cast"]),
    ([GOOD] * 5, Recorded(15.0, 30, 480_000, 2.0), None, ["low_fps"]),
    ([GOOD] * 5, Recorded(15.0, 150, 480_000, 25.0), None, ["low_fps"]),  # 10 of 25 announced
    ([GOOD] * 5, Recorded(15.0, 375, 30_000, 25.0), None, ["low_bitrate"]),
    ([GOOD] * 5, HEALTHY, 0.1, ["scene_changed"]),
])
def test_verdicts(frames, recorded, similarity, issues) -> None:
    quality = judge(_frames(*frames), recorded, LIMITS, similarity)
    assert quality["checked"] and quality["issues"] == issues
    for verdict in issues:
        assert set(quality["measures"][verdict]) == {"value", "threshold"}


def test_no_keyframe_seen_is_not_checked() -> None:
    assert judge(PictureLog(), HEALTHY, LIMITS) == {"checked": False, "issues": [],
                                                    "measures": {}}


@pytest.mark.parametrize("quality,field", [
    ({"enabled": 1}, "global_config.quality.enabled"),
    ({"blur_max": -1}, "global_config.quality.blur_max"),
    ({"black_ratio": 1.5}, "global_config.quality.black_ratio"),
    ({"bogus": 1}, "global_config.quality.bogus"),
    ([], "global_config.quality"),
])
def test_the_quality_object_is_validated(quality, field) -> None:
    with pytest.raises(ConfigError) as info:
        model.validate_global({"quality": quality})
    assert info.value.field == field


def test_disabled_checks_reach_the_settings() -> None:
    settings = GlobalSettings.from_config(model.validate_global({"quality": {"enabled": False,
                                                                             "blur_max": 9}}))
    assert settings.quality == QualitySettings(enabled=False, blur_max=9.0)
    assert GlobalSettings.from_config({}).quality == QualitySettings()


# --- real ffmpeg, real test cameras ----------------------------------------------------------

FAULTS = {"healthy": [], "black": ["black"], "still": ["frozen"], "blurred": ["blurred"],
          "dark": ["too_dark"], "bright": ["too_bright"], "cast": ["colour_cast"],
          "lowfps": ["low_fps"]}


def record_all(camera_server, folder: str, names: list[str], references: str,
               seconds: int = 4) -> dict[str, Recording]:
    """Record each picture camera at once with the recorder's own Recording; their tasks."""
    os.makedirs(folder, exist_ok=True)
    settings = GlobalSettings.from_config({"read_timeout_seconds": 10})
    watcher, tasks = PipeWatcher(), {}
    for index, name in enumerate(names):
        stream = {"rtsp_url": camera_server.url(f"picture/{name}"),
                  "output_filename": f"{name}.mp4", "duration_seconds": seconds}
        tasks[name] = Recording(PlannedTask(index, index, 0.0, seconds), stream, folder,
                                "./output/x", settings, ProcessRunner(), None, watcher,
                                references_dir=references)
        tasks[name].start(time.monotonic(), time.time())
    deadline = time.monotonic() + seconds + 30
    while not all(task.finished for task in tasks.values()):
        assert time.monotonic() < deadline
        watcher.dispatch(0.2)
        for task in tasks.values():
            task.tick(time.monotonic(), time.time())
    return tasks


@pytest.mark.integration
def test_each_picture_fault_is_detected_and_the_healthy_camera_is_ok(
        tmp_path, camera_server) -> None:
    tasks = record_all(camera_server, str(tmp_path / "c1"), list(FAULTS), str(tmp_path / "refs"))
    table = {name: task.as_dict()["quality"]["issues"] for name, task in tasks.items()}
    print(table)
    assert table == FAULTS, {n: tasks[n].as_dict()["quality"]["measures"] for n in tasks}
    for name, task in tasks.items():
        assert os.path.getsize(tmp_path / "c1" / f".{name}.mp4.jpg") > 0  # the thumbnail
    # Only pictures without a fault become references.
    assert "healthy.jpg" in os.listdir(tmp_path / "refs")
    assert not {"black.jpg", "dark.jpg", "cast.jpg"} & set(os.listdir(tmp_path / "refs"))


@pytest.mark.integration
def test_a_camera_turned_between_cycles_is_scene_changed_and_the_healthy_one_never_alarms(
        tmp_path, camera_server) -> None:
    refs = str(tmp_path / "refs")
    seen = []
    for cycle in range(3):
        tasks = record_all(camera_server, str(tmp_path / f"c{cycle}"), ["moved", "healthy"], refs,
                           seconds=3)
        seen.append({name: task.as_dict()["quality"]["issues"] for name, task in tasks.items()})
    # The first view became the reference; the next client sees it turned round.
    assert [s["healthy"] for s in seen] == [[], [], []]
    assert seen[1]["moved"] == ["scene_changed"], seen


@pytest.mark.integration
def test_the_healthy_camera_is_ok_in_20_cycles_out_of_20(tmp_path, camera_server) -> None:
    # No false alarm, the reference comparison included (the first cycle's picture
    # becomes the reference, the 19 others are held against it).
    refs = str(tmp_path / "refs")
    seen = []
    for cycle in range(20):
        task = record_all(camera_server, str(tmp_path / f"c{cycle}"), ["healthy"], refs,
                          seconds=2)["healthy"]
        quality = task.as_dict()["quality"]
        seen.append((quality["checked"], quality["issues"]))
        os.unlink(task.final_path)
    assert seen == [(True, [])] * 20, seen


@pytest.mark.integration
def test_a_camera_joined_between_keyframes_4_s_apart_is_recorded_with_the_checks(
        tmp_path, camera_server) -> None:
    # The probe decoding keyframes only gave up after 2 s without one ("unspecified
    # size": no clip at all) where the plain probe waited for it.
    url = camera_server.url("picture/gop4")
    viewer = subprocess.Popen(["ffmpeg", "-v", "quiet", "-rtsp_transport", "tcp", "-i", url,
                               "-c", "copy", "-f", "null", "-"], stdin=subprocess.DEVNULL)
    try:
        seen = []
        for cycle in range(3):  # a second and more after the viewer: mid-GOP
            time.sleep(1.3)  # noqa: joining at a later point of the GOP is the point
            settings = GlobalSettings.from_config({"read_timeout_seconds": 10})
            watcher = PipeWatcher()
            # Longer than the GOP: a shorter clip can end before its first keyframe,
            # with or without the checks (README "Picture checks").
            task = Recording(PlannedTask(0, 0, 0.0, 6), {
                "rtsp_url": url, "output_filename": f"gop{cycle}.mp4", "duration_seconds": 6},
                str(tmp_path), "./output/x", settings, ProcessRunner(), None, watcher)
            task.start(time.monotonic(), time.time())
            deadline = time.monotonic() + 30
            while not task.finished:
                assert time.monotonic() < deadline
                watcher.dispatch(0.2)
                task.tick(time.monotonic(), time.time())
            seen.append((task.status, task.quality["checked"]))
    finally:
        viewer.kill()
        viewer.wait()
    assert seen == [(4, True)] * 3, seen
