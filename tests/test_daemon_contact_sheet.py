"""A cycle's contact sheet is drawn off the recording loop: the loop reports the cycle and goes
on beating while the sheet is drawn (5,000 cameras took 6.5 s, more than the heartbeat's 5 s);
a stop waits for it (the daemon driven step by step, with the fake runner)."""
from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from recorder.contact_sheet_writer import SHEET_RETRY_DELAYS_SECONDS, ContactSheetWriter
from recorder.daemon import Daemon
from shared import settings
from shared.atomic import write_json_atomic
from shared.status_file import read_status
from testkit.fake_runner import FakeRunner
from tests import test_daemon_poll_cycles as poll_cycles
from tests.test_contact_sheet_writer import SlowSheets
from tests.test_daemon_poll_cycles import _begin_cycle, _end_cycle, _run_cycle

patrol = poll_cycles.patrol  # the fixture: one camera, refused, its runner and clock


def _cycle_with_its_sheet_held(patrol) -> tuple[SlowSheets, str]:
    """Run a cycle of ``patrol``'s daemon whose sheet is drawn by a held writer: the writer,
    and the cycle's folder."""
    daemon, runner, clock = patrol
    sheets = SlowSheets()
    daemon.launcher.sheets = ContactSheetWriter(sheets)
    _run_cycle(daemon, runner, clock)
    return sheets, daemon.last_cycle.dir


def test_the_loop_goes_on_while_the_cycles_sheet_is_drawn(patrol) -> None:
    daemon, runner, clock = patrol
    sheets, folder = _cycle_with_its_sheet_held(patrol)
    assert os.path.isfile(os.path.join(folder, "rtsp_report.json")) and sheets.written == []
    clock.now += 1.0
    daemon.step(clock.now, clock.wall())
    status = read_status(settings.status_path(daemon.config_path))
    assert status["heartbeat"] == clock.wall() and status["cycle"]["dir"] == daemon.last_cycle.name
    sheets.go.set()
    assert daemon.launcher.sheets.wait(30) and sheets.written == [folder]


def test_the_real_sheet_of_a_cycle_is_written_by_the_time_the_daemon_stopped(patrol) -> None:
    daemon, runner, clock = patrol
    _run_cycle(daemon, runner, clock)
    daemon.shutdown()
    assert os.path.isfile(os.path.join(daemon.last_cycle.dir, "contact_sheet.jpg"))


@pytest.mark.parametrize("patrol", [{"retention_max_cycles": 1}], indirect=True)
def test_retention_leaves_a_folder_whose_sheet_is_being_drawn_until_it_is(patrol) -> None:
    daemon, runner, clock = patrol
    sheets, first = _cycle_with_its_sheet_held(patrol)
    _begin_cycle(daemon, runner, clock)  # retention runs as the second cycle starts
    assert os.path.isdir(first) and daemon.cycle.dir != first
    sheets.go.set()
    assert daemon.launcher.sheets.wait(30) and sheets.written == [first]
    _end_cycle(daemon, runner, clock)
    assert daemon.launcher.sheets.wait(30)
    _begin_cycle(daemon, runner, clock)  # the third: now the first goes, and the second
    assert not os.path.exists(first) and not os.path.exists(daemon.last_cycle.dir)


def test_a_restarted_recorder_draws_the_sheet_its_killed_predecessor_did_not(patrol) -> None:
    daemon, runner, clock = patrol
    _run_cycle(daemon, runner, clock)
    folder = daemon.last_cycle.dir
    assert daemon.launcher.sheets.wait(30)
    os.unlink(os.path.join(folder, "contact_sheet.jpg"))  # as if killed before it was drawn
    # the camera's clip and picture, as a real ffmpeg would have left them
    report_path = os.path.join(folder, "rtsp_report.json")
    with open(report_path, encoding="utf-8") as handle:
        report = json.load(handle)
    report["tasks"][0]["output_file"] = f"./output/{daemon.last_cycle.name}/gate.mp4"
    write_json_atomic(report_path, report)
    Image.new("RGB", (320, 180), "white").save(os.path.join(folder, ".gate.mp4.jpg"))
    again = Daemon(daemon.config_path, runner=FakeRunner(), clock=clock,
                   free_space=lambda _path: None)
    again.recover()
    assert again.launcher.sheets.wait(30)
    with Image.open(os.path.join(folder, "contact_sheet.jpg")) as sheet:
        assert min(sheet.getpixel((80, 60))) > 230  # the camera's white picture
    again.launcher.sheets.close()


def test_a_camera_left_out_of_the_plan_gets_a_grey_tile_on_the_cycles_sheet(patrol) -> None:
    daemon, runner, clock = patrol
    with open(daemon.config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    config["streams"].append({"rtsp_url": "rtsp://127.0.0.1:5/long", "duration_seconds": 60,
                              "output_filename": "long.mp4", "name": "Long view"})
    write_json_atomic(daemon.config_path, config)  # its 60 s do not fit the 10 s window
    drawn: list[list] = []
    daemon.launcher.sheets = ContactSheetWriter(lambda _folder, tiles: drawn.append(tiles))
    _run_cycle(daemon, runner, clock)
    assert daemon.launcher.sheets.wait(30)
    with open(os.path.join(daemon.last_cycle.dir, "rtsp_report.json"), encoding="utf-8") as f:
        reason = json.load(f)["not_scheduled"][0]["reason"]
    [tiles] = drawn
    assert [(t.name, t.status, t.thumbnail, t.reason) for t in tiles] == [
        ("gate", "[5] 连接错误", None, "Connection refused"),
        ("Long view", "未调度", None, reason)]


def test_a_sheet_a_full_disk_kept_from_being_written_is_written_a_pause_later(patrol) -> None:
    from tests.test_contact_sheet_writer import FailingSheets
    daemon, runner, clock = patrol
    sheets = FailingSheets(failures=1)
    daemon.launcher.sheets = ContactSheetWriter(sheets)
    _run_cycle(daemon, runner, clock)  # its steps after the cycle may have begun the pause
    assert daemon.launcher.sheets.wait(30) and sheets.calls == 1
    clock.now += 1.0
    daemon.step(clock.now, clock.wall())  # ... else this one does: not drawn again yet
    assert daemon.launcher.sheets.wait(30) and sheets.calls == 1
    clock.now += SHEET_RETRY_DELAYS_SECONDS[0]
    daemon.step(clock.now, clock.wall())
    assert daemon.launcher.sheets.wait(30)
    assert sheets.written == [daemon.last_cycle.dir] and sheets.calls == 2
