"""Picture checks: the argv, the parsing of ffmpeg's figures, the verdicts, and real test cameras."""
from __future__ import annotations

import json
import math
import os
import subprocess
import time

import pytest

from recorder.ffmpeg_command import CheckFiles, build_argv, sample_expression
from recorder.picture_quality import PictureLog, Recorded, judge, with_similarity
from recorder.pipe_watcher import PipeWatcher
from recorder.planner import PlannedTask
from recorder.processes import ProcessRunner
from recorder.recording import Recording
from shared import config as model
from shared.errors import ConfigError
from shared.global_settings import GlobalSettings
from shared.quality_settings import QualitySettings
from testkit.servers import REPO_ROOT

URL = "rtsp://127.0.0.1:8554/cam1"
LIMITS = QualitySettings()
HEALTHY = Recorded(seconds=15.0, frames=375, size=480_000, announced_fps=25.0)


def test_checks_off_leave_the_argv_as_it_was_and_on_add_outputs_to_the_same_process() -> None:
    plain = build_argv(URL, "/o/.a.mp4.part", 15, io_timeout=15)
    assert "-skip_frame" not in plain and "-filter_complex" not in plain
    checked = build_argv(URL, "/o/.a.mp4.part", 15, io_timeout=15,
                         checks=CheckFiles("/o/.a.jpg.tmp", "/o/.a.fig.tmp", "/o/.a.blur.tmp"))
    # Keyframes only, decoded for the checks; the clip is still a stream copy.
    assert checked[checked.index("-skip_frame") + 1] == "nokey"
    assert checked.index("-skip_frame") < checked.index("-i")
    # The probe (which decodes with the same options) must not wait for 7 decoded
    # pictures or 20 frame durations: keyframes alone held the clip back 2 s.
    assert checked[checked.index("-max_ts_probe") + 1] == "1"
    assert checked[checked.index("-fpsprobesize") + 1] == "0"
    assert checked.count("-i") == 1 and "/o/.a.jpg.tmp" in checked
    graph = checked[checked.index("-filter_complex") + 1]
    assert graph.startswith("[0:v:0]select=eq(pict_type\\,I)[s0];[s0]trim=duration=15[s1];"
                            "[s1]scale=320:-2")
    assert "setpts=" in graph  # before the JPEG encoder
    assert "metadata=print:direct=1:file=/o/.a.fig.tmp" in graph
    # blurdetect and the JPEG see two of the keyframes only; the chain has one output.
    assert graph.index("file=/o/.a.fig.tmp") < graph.index("start_t\\,7.5") < graph.index("blurdetect")
    assert "metadata=print:direct=1:file=/o/.a.blur.tmp:key=lavfi.blur" in graph
    assert "split" not in graph and checked.count("-map") == 3  # clip video, its audio, JPEG
    assert checked[checked.index("/o/.a.mp4.part") - 1 - 2 * 0] == "15"  # -t of the clip


def _frames(*figures: dict) -> PictureLog:
    lines = []
    for index, frame in enumerate(figures):
        lines.append(f"frame:{index}    pts:{index}   pts_time:{index}")
        lines += [f"lavfi.{key}={value}" for key, value in frame.items()]
    return PictureLog.parse("\n".join(lines) + "\n")


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
    # Keyframes as far apart as freezedetect's length, each unlike the one before:
    # reported as a freeze begun at the last one and ended at once, which it is not.
    ([GOOD] + [{**GOOD, "freezedetect.freeze_start": n, "freezedetect.freeze_end": n + 1}
               for n in range(4)], HEALTHY, None, []),
])
def test_verdicts(frames, recorded, similarity, issues) -> None:
    quality = with_similarity(judge(_frames(*frames), recorded, LIMITS), similarity, LIMITS)
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
    return record_urls({name: camera_server.url(f"picture/{name}") for name in names}, folder,
                       references, seconds)


def record_urls(urls: dict[str, str], folder: str, references: str,
                seconds: int = 4) -> dict[str, Recording]:
    """Record each name's URL at once with the recorder's own Recording; their tasks."""
    os.makedirs(folder, exist_ok=True)
    settings = GlobalSettings.from_config({"read_timeout_seconds": 10})
    watcher, tasks = PipeWatcher(), {}
    for index, (name, url) in enumerate(urls.items()):
        stream = {"rtsp_url": url, "output_filename": f"{name}.mp4", "duration_seconds": seconds}
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
    assert table == FAULTS, {n: tasks[n].as_dict()["quality"]["measures"] for n in tasks
                             if table[n] != FAULTS[n]}  # the measures of the ones missed
    for name, task in tasks.items():
        assert os.path.getsize(tmp_path / "c1" / f".{name}.mp4.jpg") > 0  # the thumbnail
    # Only pictures without a fault become references.
    assert "healthy.jpg" in os.listdir(tmp_path / "refs")
    assert not {"black.jpg", "dark.jpg", "cast.jpg"} & set(os.listdir(tmp_path / "refs"))


@pytest.mark.integration
def test_the_example_configs_cameras_show_a_healthy_picture(tmp_path, camera_server) -> None:
    # make run records the example config.json on this camera server: a new user should see
    # ok verdicts there, not the black picture of the /cam1 ball.
    with open(os.path.join(REPO_ROOT, "config.json"), encoding="utf-8") as handle:
        streams = json.load(handle)["streams"]
    urls = {os.path.splitext(s["output_filename"])[0]: s["rtsp_url"].replace(
        "rtsp://127.0.0.1:8554/", camera_server.url("")) for s in streams}
    assert all(url.startswith(camera_server.url("")) for url in urls.values()), urls
    tasks = record_urls(urls, str(tmp_path / "c1"), str(tmp_path / "refs"))
    quality = {name: task.as_dict()["quality"] for name, task in tasks.items()}
    assert {name: (q["checked"], q["issues"]) for name, q in quality.items()} == {
        name: (True, []) for name in urls}, quality
    assert sorted(os.listdir(tmp_path / "refs")) == sorted(f"{name}.jpg" for name in urls)


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


DATA = os.path.join(os.path.dirname(__file__), "data")


def _captured(name: str) -> str:
    with open(os.path.join(DATA, name), encoding="utf-8") as handle:
        return handle.read()


def test_the_figures_of_a_real_ffmpeg_are_parsed_keeping_only_the_keys_the_verdicts_use() -> None:
    # ffmpeg 5.1's metadata=print file of the test camera's 720p stream (keyframe a second).
    log = PictureLog.parse(_captured("picture_figures_live.txt"))
    assert len(log.frames) == 16 and not log.went_back()
    assert log.frames[0] == {"pts_time": 0.96, "signalstats.YAVG": 122.8,
                             "signalstats.UAVG": 139.633, "signalstats.VAVG": 125.638,
                             "blur": 4.845521}
    assert judge(log, HEALTHY, LIMITS)["issues"] == []


def test_black_and_freeze_events_of_a_real_ffmpeg_are_read() -> None:
    # 3 s black, then a picture still from 4 s to 9 s (lavfi sources through the checks' filters).
    log = PictureLog.parse(_captured("picture_figures_black_then_frozen.txt"))
    assert len(log.frames) == 10
    assert log.frames[0]["black_start"] == 0 and log.frames[3]["black_end"] == 3
    assert math.isnan(log.frames[0]["blur"])
    assert log.frames[2]["freezedetect.freeze_start"] == 0
    assert log.frames[3]["freezedetect.freeze_end"] == 3
    assert log.frames[6]["freezedetect.freeze_start"] == 4
    quality = judge(log, Recorded(10.0, 250, 200_000, 25.0), LIMITS)
    assert quality["measures"]["black"]["value"] == 0.3
    assert quality["issues"] == ["frozen"]  # frozen from 0 to 3 and from 4 to 9 of 9 s


def test_a_line_cut_short_by_a_read_while_ffmpeg_writes_is_left_for_later() -> None:
    text = _captured("picture_figures_live.txt")
    assert len(PictureLog.parse(text[:text.index("frame:2")] + "frame:2    pts:1764").frames) == 2


@pytest.mark.parametrize("sample_seconds,duration,looked_at", [
    (0.0, None, [0, 1, 2, 3, 4, 5]),
    (2.0, None, [0, 2, 4]),  # keyframes a second apart: every other one
    (0.5, None, [0, 1, 2, 3, 4, 5]),
    # The first keyframe at the clip's length passes (it ends the checks, and ffmpeg with
    # them, at the clip's end, not at the next one looked at); the graph's trim drops it.
    (2.0, 3, [0, 2, 3, 4, 5]),
])
def test_keyframes_are_sampled_once_per_sample_seconds(tmp_path, sample_seconds, duration,
                                                       looked_at) -> None:
    # ffmpeg's own select, on the keyframes (1 s apart) of a real H.264 file.
    clip = str(tmp_path / "k.mp4")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=s=160x120:r=25:d=6", "-c:v", "libx264", "-g", "25",
                    "-sc_threshold", "0", clip], check=True)
    result = subprocess.run([
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-skip_frame", "nokey", "-i", clip,
        "-vf", f"select='{sample_expression(sample_seconds, duration)}',signalstats,"
        "metadata=print:file=-",
        "-f", "null", "-"], capture_output=True, text=True, check=True)
    assert [frame["pts_time"] for frame in PictureLog.parse(result.stdout).frames] == looked_at


def test_blur_and_the_thumbnail_see_the_first_and_the_middle_keyframe_and_the_chain_ends_in_time(
        tmp_path) -> None:
    # The checks' graph on a real H.264 file (an I frame a second) fed for 12 s of a 9 s clip:
    # every keyframe is looked at (sample_seconds 0), blurdetect and the JPEG see the
    # thumbnail's few, and the chain ends at the first keyframe past the clip's length.
    clip, thumbnail = str(tmp_path / "k.mp4"), tmp_path / ".a.jpg.tmp"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=s=320x180:r=25:d=12", "-c:v", "libx264", "-g", "25",
                    "-sc_threshold", "0", clip], check=True)
    files = CheckFiles(str(thumbnail), str(tmp_path / ".a.fig.tmp"), str(tmp_path / ".a.blur.tmp"))
    argv = build_argv(URL, str(tmp_path / ".a.mp4.part"), 9, io_timeout=5, checks=files)
    graph = argv[argv.index("-filter_complex") + 1]
    result = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-skip_frame", "nokey",
                             "-i", clip, "-filter_complex", graph, "-map", "[s10]", "-f", "image2",
                             "-update", "1", "-c:v", "mjpeg", "-fps_mode", "passthrough",
                             "-progress", "pipe:1", str(thumbnail)],
                            capture_output=True, text=True, check=True)
    figures = PictureLog.parse((tmp_path / ".a.fig.tmp").read_text())
    blur = PictureLog.parse((tmp_path / ".a.blur.tmp").read_text())
    # Every keyframe of the clip looked at; the one at 9 s ended the chain.
    assert [frame["pts_time"] for frame in figures.frames] == list(range(9))
    assert [frame["pts_time"] for frame in blur.frames] == [0, 5]  # 5: the first from 4.5 s
    assert "frame=2\n" in result.stdout and thumbnail.stat().st_size > 0
    merged = figures.with_blur(blur)
    assert [("blur" in frame) for frame in merged.frames] == [
        True, False, False, False, False, True, False, False, False]


def test_a_figures_path_with_the_filter_graphs_special_characters_is_written_to(tmp_path) -> None:
    # The path sits inside the filter graph (metadata's file option): escaped twice.
    figures = tmp_path / "cam, 1 [it's]; a:b=c.mp4.fig.tmp"
    blur = tmp_path / "cam, 1 [it's]; a:b=c.mp4.blur.tmp"
    argv = build_argv(URL, str(tmp_path / ".a.mp4.part"), 2, io_timeout=5,
                      checks=CheckFiles(str(tmp_path / ".a.jpg.tmp"), str(figures), str(blur)))
    graph = argv[argv.index("-filter_complex") + 1]
    # The checks' graph on a stand-in input 0 (its keyframes: an I frame a second).
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=s=320x180:r=5:d=3", "-filter_complex", graph,
                    "-map", "[s10]", "-f", "null", "-"],
                   check=True, capture_output=True)
    assert figures.exists() and figures.read_text().startswith("frame:0")
    assert blur.read_text().startswith("frame:0")


def test_a_cameras_reference_is_decoded_once_and_again_when_its_file_changes(
        tmp_path, monkeypatch) -> None:
    from PIL import Image

    from recorder.picture_similarity import similarity
    thumbnail, reference, other = (str(tmp_path / name) for name in ("t.jpg", "r.jpg", "o.jpg"))
    Image.linear_gradient("L").resize((320, 180)).save(thumbnail)
    Image.linear_gradient("L").resize((320, 180)).save(reference)
    Image.radial_gradient("L").resize((320, 180)).save(other)
    opened: list[str] = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda path, *a, **k: opened.append(path) or real_open(
        path, *a, **k))
    first, second = similarity(thumbnail, reference), similarity(thumbnail, reference)

    def references_decoded() -> int:  # the reference is decoded from the bytes read
        return len([path for path in opened if path != thumbnail])

    assert first == second > 0.99 and references_decoded() == 1 and opened.count(thumbnail) == 2
    os.replace(other, reference)  # an operator set another reference
    assert similarity(thumbnail, reference) < 0.9 and references_decoded() == 2


def test_a_symlink_at_a_references_name_is_never_read_nor_written_through(
        tmp_path, caplog) -> None:
    # A symlink planted at references/<camera>.jpg pointed the recorder at any file; it is
    # no reference: compared with nothing (logged), and not replaced by a new one.
    from PIL import Image

    from recorder.picture_similarity import keep_reference, reference_similarity, similarity
    thumbnail, target = tmp_path / "t.jpg", tmp_path / "elsewhere.jpg"
    Image.linear_gradient("L").resize((320, 180)).save(thumbnail)
    Image.linear_gradient("L").resize((320, 180)).save(target)
    before = target.read_bytes()
    references = tmp_path / "refs"
    references.mkdir()
    for name, points_to in (("cam.jpg", target), ("dangling.jpg", tmp_path / "none.jpg")):
        (references / name).symlink_to(points_to)
        with pytest.raises(OSError):
            similarity(str(thumbnail), str(references / name))
        assert reference_similarity(str(thumbnail), str(references / name)) is None
        keep_reference(str(thumbnail), str(references / name))
        assert (references / name).is_symlink()
    assert "cannot compare" in caplog.text and target.read_bytes() == before
    assert not (tmp_path / "none.jpg").exists()


def test_a_reference_in_a_symlinked_references_folder_is_read(tmp_path) -> None:
    # README: a cluster's recorders share one references folder through a symlink.
    from PIL import Image

    from recorder.picture_similarity import reference_similarity
    shared_folder, references = tmp_path / "mount" / "references", tmp_path / "refs"
    shared_folder.mkdir(parents=True)
    references.symlink_to(shared_folder, target_is_directory=True)
    thumbnail = tmp_path / "t.jpg"
    Image.linear_gradient("L").resize((320, 180)).save(thumbnail)
    Image.linear_gradient("L").resize((320, 180)).save(shared_folder / "cam.jpg")
    assert reference_similarity(str(thumbnail), str(references / "cam.jpg")) > 0.99


def test_a_reference_an_operator_sets_while_the_recorder_takes_one_stays(
        tmp_path, monkeypatch) -> None:
    # The camera had none; the recorder looked, then the API's POST .../reference wrote the
    # operator's before the recorder's copy landed: the operator's stays (it was answered 200).
    from recorder.picture_similarity import keep_reference
    thumbnail, reference = tmp_path / "t.jpg", tmp_path / "refs" / "cam.jpg"
    thumbnail.write_bytes(b"RECORDER-FIRST-HEALTHY")
    makedirs = os.makedirs

    def operator_meanwhile(path, *args, **named) -> None:
        makedirs(path, *args, **named)
        reference.write_bytes(b"OPERATOR-CHOSE-THIS")

    monkeypatch.setattr(os, "makedirs", operator_meanwhile)
    keep_reference(str(thumbnail), str(reference))
    assert reference.read_bytes() == b"OPERATOR-CHOSE-THIS"
    assert os.listdir(reference.parent) == ["cam.jpg"]
    monkeypatch.setattr(os, "makedirs", makedirs)
    fresh = tmp_path / "refs" / "other.jpg"
    keep_reference(str(thumbnail), str(fresh))  # with none, the thumbnail becomes it
    assert fresh.read_bytes() == b"RECORDER-FIRST-HEALTHY"


@pytest.mark.parametrize("camera", ["a" * 241, "é" * 120])
def test_the_recorder_keeps_a_reference_for_the_longest_camera_id(tmp_path, caplog,
                                                                   camera: str) -> None:
    # The id of a 245-byte output_filename: <id>.jpg fits, its temp file must too (it warned
    # "File name too long" on every clip, and the camera never had a reference).
    from recorder.picture_similarity import keep_reference
    thumbnail, reference = tmp_path / "t.jpg", tmp_path / "refs" / f"{camera}.jpg"
    thumbnail.write_bytes(b"FIRST")
    keep_reference(str(thumbnail), str(reference))
    assert reference.read_bytes() == b"FIRST"
    assert os.listdir(reference.parent) == [reference.name]
    assert "cannot keep reference" not in caplog.text
