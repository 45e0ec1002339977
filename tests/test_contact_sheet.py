"""The cycle's contact sheet: a grid of every camera's thumbnail, a grey tile for a failed one."""
from __future__ import annotations

import io
import os
import subprocess

import pytest
from PIL import Image

from recorder.contact_sheet import PICTURE, TILE, Tile, render, tile_of, write_contact_sheet
from shared import task_record
from shared import task_status as st


def _thumbnail(path) -> str:
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=white:size=320x240",
                    "-frames:v", "1", "-c:v", "mjpeg", "-y", str(path)], check=True,
                   stdin=subprocess.DEVNULL)
    return str(path)


def _record(status: int, message: str = "", quality: dict | None = None) -> dict:
    return task_record.build(
        task_id=0, stream_index=0, rtsp_url="rtsp://127.0.0.1/c", output_file=None,
        duration_seconds=5, status=status, start_wall=None, end_wall=None, progress=0.0,
        bytes_received=0, frames_received=0, error_message=message, quality=quality)


def test_a_sheet_has_a_tile_per_camera_the_failed_ones_grey(tmp_path) -> None:
    white = _thumbnail(tmp_path / ".gate.mp4.jpg")
    ok = {"checked": True, "issues": [], "measures": {}}
    tiles = [tile_of(_record(st.COMPLETED, quality=ok), {"output_filename": "gate.mp4"}, white),
             tile_of(_record(st.CONNECTION_ERROR, "Connection refused"),
                     {"output_filename": "door.mp4", "name": "Front door"}, None),
             tile_of(_record(st.COMPLETED, quality=ok), {"output_filename": "yard.mp4"}, white)]
    assert tiles[0] == Tile("gate", "[4] 已完成", "ok", white, "已完成")
    assert (tiles[1].name, tiles[1].reason) == ("Front door", "Connection refused")
    write_contact_sheet(str(tmp_path), tiles)
    with Image.open(tmp_path / "contact_sheet.jpg") as sheet:
        assert sheet.size == (2 * TILE[0], 2 * TILE[1])  # a near-square grid
        middle = (PICTURE[0] // 2, PICTURE[1] // 2)
        assert min(sheet.getpixel(middle)) > 230  # the white thumbnail
        grey = sheet.getpixel((TILE[0] + PICTURE[0] - 5, PICTURE[1] - 5))
        assert all(80 < channel < 110 for channel in grey), grey  # the failed camera


def test_an_unreadable_thumbnail_is_a_grey_tile_not_a_failure(tmp_path) -> None:
    broken = tmp_path / ".gate.mp4.jpg"
    broken.write_bytes(b"not a jpeg")
    data = render([Tile("gate", "[4] 已完成", "", str(broken))])
    with Image.open(io.BytesIO(data)) as sheet:
        assert sheet.size == TILE


def test_a_big_cycle_gets_pages_and_a_sheet_written_again_loses_its_extra_pages(tmp_path) -> None:
    white = _thumbnail(tmp_path / ".gate.mp4.jpg")
    tiles = [Tile(f"cam{i}", "[4] 已完成", "ok", white) for i in range(5)]
    write_contact_sheet(str(tmp_path), tiles, per_page=2)
    sizes = {}
    for name in ("contact_sheet.jpg", "contact_sheet_2.jpg", "contact_sheet_3.jpg"):
        with Image.open(tmp_path / name) as sheet:
            sizes[name] = sheet.size
    assert sizes == {"contact_sheet.jpg": (2 * TILE[0], TILE[1]),  # 2 tiles side by side
                     "contact_sheet_2.jpg": (2 * TILE[0], TILE[1]),
                     "contact_sheet_3.jpg": TILE}  # the fifth camera alone
    write_contact_sheet(str(tmp_path), tiles[:3], per_page=2)
    assert sorted(p.name for p in tmp_path.glob("contact_sheet*")) == [
        "contact_sheet.jpg", "contact_sheet_2.jpg"]


def test_the_page_names_are_one_to_one_with_their_numbers() -> None:
    from shared.clip_names import contact_sheet_name, contact_sheet_page
    assert [contact_sheet_name(p) for p in (1, 2, 11)] == [
        "contact_sheet.jpg", "contact_sheet_2.jpg", "contact_sheet_11.jpg"]
    assert all(contact_sheet_page(contact_sheet_name(p)) == p for p in range(1, 1200))
    for name in ("contact_sheet_1.jpg", "contact_sheet_02.jpg", "contact_sheet_.jpg",
                 "contact_sheet_x.jpg", "contact_sheet_2.jpeg", "contact_sheet_١٢.jpg",
                 "contact_sheet_1234567.jpg", "contact_sheet_-2.jpg", ".contact_sheet.jpg"):
        assert contact_sheet_page(name) is None, name


def test_a_label_drawn_once_looks_as_one_drawn_in_place_descenders_and_all() -> None:
    from PIL import ImageDraw

    from recorder.contact_sheet import BACKGROUND, ISSUE_COLOUR, LINE, TEXT, _paste_label, _text
    for text, colour in (("[4] 已完成", TEXT), ("black+low_fps", ISSUE_COLOUR)):
        drawn = Image.new("RGB", (PICTURE[0], 4 * LINE), BACKGROUND)
        pasted = drawn.copy()
        _text(ImageDraw.Draw(drawn), 2, LINE, text, colour)
        _paste_label(pasted, 0, LINE, text, colour)
        assert pasted.tobytes() == drawn.tobytes()
        inked = [y for y in range(4 * LINE)
                 if any(drawn.getpixel((x, y)) != BACKGROUND for x in range(PICTURE[0]))]
        assert inked and max(inked) >= 2 * LINE  # the glyphs reach below their line


def _report_task(index: int, clip: str | None, status: int = st.COMPLETED) -> dict:
    record = _record(status, "" if status == st.COMPLETED else "Connection refused")
    return {**record, "stream_index": index, "rtsp_url": f"rtsp://127.0.0.1:5/cam{index}",
            "output_file": f"./output/c/{clip}" if clip else None}


def test_a_cycle_known_by_its_report_gets_the_tiles_its_sheet_lacks(tmp_path) -> None:
    from recorder.contact_sheet import report_sheet_tiles
    _thumbnail(tmp_path / ".cam0.mp4.jpg")
    streams = [{"rtsp_url": "rtsp://127.0.0.1:5/cam0", "output_filename": "cam0.mp4",
                "name": "Gate"},
               {"rtsp_url": "rtsp://127.0.0.1:5/cam1", "output_filename": "cam1.mp4"}]
    tasks = [_report_task(0, "cam0.mp4"), _report_task(1, None, st.CONNECTION_ERROR),
             _report_task(2, "old.mp4"), "damaged", {"no": "status"},
             {**_report_task(3, None), "output_file": 5, "rtsp_url": ["x"], "quality": "x"}]
    tiles = report_sheet_tiles(str(tmp_path), {"tasks": tasks}, streams, checks_on=True)
    # named by the config's stream (by clip, else URL), else by the clip; a broken row's
    # values are typed again, a row without a status is left out
    assert [(t.name, t.thumbnail is not None) for t in tiles] == [
        ("Gate", True), ("cam1", False), ("old", False), ("#3", False)]
    write_contact_sheet(str(tmp_path), tiles, per_page=2)
    assert report_sheet_tiles(str(tmp_path), {"tasks": tasks}, streams, True,
                              per_page=2) == []  # whole
    assert len(report_sheet_tiles(str(tmp_path), {"tasks": tasks}, streams, True, whole_too=True,
                                  per_page=2)) == 4  # a takeover's final report: drawn again
    (tmp_path / "contact_sheet_2.jpg").unlink()
    assert len(report_sheet_tiles(str(tmp_path), {"tasks": tasks}, streams, True, per_page=2)) == 4
    (tmp_path / ".cam0.mp4.jpg").unlink()
    # clips kept, but no picture and none checked: the cycle ran with the checks off, so no
    # sheet, as it had none, whatever the checks are now
    assert report_sheet_tiles(str(tmp_path), {"tasks": tasks}, streams, True, per_page=2) == []
    checked = [{**tasks[0], "quality": {"checked": True, "issues": [], "measures": {}}},
               *tasks[1:]]  # a picture checked (its thumbnail gone since): they were on
    assert len(report_sheet_tiles(str(tmp_path), {"tasks": checked}, streams, False,
                                  per_page=2)) == 4
    # no camera kept a clip: the report cannot tell, so as the checks are now (grey tiles,
    # as a cycle's own sheet has them)
    failed, elsewhere = [_report_task(1, None, st.CONNECTION_ERROR)], str(tmp_path / "other")
    assert len(report_sheet_tiles(elsewhere, {"tasks": failed}, streams, True)) == 1
    assert report_sheet_tiles(elsewhere, {"tasks": failed}, streams, False) == []


def test_cameras_left_out_of_the_plan_get_grey_tiles_after_the_others(tmp_path) -> None:
    from recorder.contact_sheet import report_sheet_tiles
    streams = [{"rtsp_url": "rtsp://127.0.0.1:5/cam0", "output_filename": "cam0.mp4"},
               {"rtsp_url": "rtsp://127.0.0.1:5/cam1", "output_filename": "cam1.mp4",
                "name": "Back yard"}]
    late = "超出时间窗口"
    report = {"tasks": [_report_task(0, None, st.CONNECTION_ERROR)],
              "not_scheduled": [{"stream_index": 1, "rtsp_url": "rtsp://127.0.0.1:5/cam1",
                                 "duration_seconds": 5, "reason": late},
                                {"stream_index": 7, "rtsp_url": "rtsp://127.0.0.1:5/gone",
                                 "duration_seconds": 5, "reason": late},
                                {"stream_index": "x"}, "damaged"]}
    tiles = report_sheet_tiles(str(tmp_path), report, streams, checks_on=True)
    assert tiles[1:] == [Tile("Back yard", "未调度", "", None, late),
                         Tile("#7", "未调度", "", None, late)]
    write_contact_sheet(str(tmp_path), tiles, per_page=2)
    # they count among the sheet's cameras: a sheet of their page missing is drawn again
    assert report_sheet_tiles(str(tmp_path), report, streams, True, per_page=2) == []
    (tmp_path / "contact_sheet_2.jpg").unlink()
    assert len(report_sheet_tiles(str(tmp_path), report, streams, True, per_page=2)) == 3
    assert report_sheet_tiles(str(tmp_path), "damaged", streams, True) == []


def test_the_sweep_takes_only_the_temp_files_of_pages(tmp_path) -> None:
    from recorder.contact_sheet import sweep_sheet_temp_files
    from shared.atomic import write_bytes_atomic
    cut_off = tmp_path / ".contact_sheet_2.jpg.k3x9_a.tmp"  # a page a kill cut off
    cut_off.write_bytes(b"half")
    kept = [".contact_sheet.jpg.lock", ".contact_sheet_lobby.mp4.jpg.tmp",  # a camera's work
            ".contact_sheet_lobby.mp4.fig.tmp", ".contact_sheet_02.jpg.ab.tmp"]  # files
    for name in kept:
        (tmp_path / name).write_bytes(b"")
    sweep_sheet_temp_files(str(tmp_path))
    assert not cut_off.exists() and all((tmp_path / name).exists() for name in kept)
    # the names shared/atomic.py really gives a page's temp file are the ones swept
    from shared.clip_names import is_contact_sheet_temp
    seen = []
    real_replace = os.replace
    os.replace = lambda src, dst: (seen.append(os.path.basename(src)), real_replace(src, dst))
    try:
        write_bytes_atomic(str(tmp_path / "contact_sheet_3.jpg"), b"x")
    finally:
        os.replace = real_replace
    assert len(seen) == 1 and is_contact_sheet_temp(seen[0])


def test_a_temp_file_the_sweep_cannot_remove_is_logged(tmp_path, monkeypatch, caplog) -> None:
    from recorder.contact_sheet import sweep_sheet_temp_files
    stuck = tmp_path / ".contact_sheet.jpg.q7w.tmp"
    stuck.write_bytes(b"half")

    def refused(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "unlink", refused)
    with caplog.at_level("ERROR"):
        sweep_sheet_temp_files(str(tmp_path))
    assert stuck.exists()
    assert any(stuck.name in r.getMessage() and "Permission denied" in r.getMessage()
               for r in caplog.records), caplog.text


def test_a_grey_tile_gives_the_reason_without_the_url_before_it() -> None:
    url = "rtsp://admin:***@127.0.0.1:8554/nope"
    said = {f"{url}: Server returned 404 Not Found": "Server returned 404 Not Found",
            "[rtsp @ 0x5581c0a3e2c0] method DESCRIBE failed: 404 Not Found":
                "method DESCRIBE failed: 404 Not Found",
            "Connection refused": "Connection refused", "": "连接错误"}
    for message, reason in said.items():
        record = {**_record(st.CONNECTION_ERROR, message), "rtsp_url": url}
        assert tile_of(record, {"output_filename": "nope.mp4"}, None).reason == reason, message


def test_only_the_cameras_own_url_is_taken_off_a_reason() -> None:
    from shared.task_record import short_error
    assert short_error("rtsp://cam/10: Connection refused", "rtsp://cam/1") == \
        "rtsp://cam/10: Connection refused"


@pytest.mark.parametrize("message, reason", [
    ("[in#0/rtsp @ 0x55d1c0a3e2c0] rtsp://cam/1: Connection refused", "Connection refused"),
    ("[rtsp @ 0x55d1c0a3e2c0] rtsp://cam/1: Connection refused", "Connection refused"),
    ("媒体流提前结束: 仅录制 3.0秒 / 10秒 (rtsp://cam/1: Connection timed out)",
     "媒体流提前结束: 仅录制 3.0秒 / 10秒 (Connection timed out)"),
    ("媒体流提前结束: 仅录制 3.0秒 / 10秒 ([in#0 @ 0x5581] rtsp://cam/1: End of file)",
     "媒体流提前结束: 仅录制 3.0秒 / 10秒 (End of file)"),
    ("媒体流提前结束: 仅录制 3.0秒 / 10秒 (rtsp://cam/10: End of file)",
     "媒体流提前结束: 仅录制 3.0秒 / 10秒 (rtsp://cam/10: End of file)"),
])
def test_a_reason_loses_ffmpegs_prefix_and_the_cameras_url_where_ffmpeg_put_them(
        message: str, reason: str) -> None:
    from shared.task_record import short_error
    assert short_error(message, "rtsp://cam/1") == reason


def test_a_folder_deleted_while_its_sheet_is_drawn_is_no_error(tmp_path, monkeypatch,
                                                               caplog) -> None:
    # The API deletes a cycle right after it ends, while its sheet is drawn: the write then
    # fails (no such folder), which is no fault of the recorder's to log as an ERROR.
    import shutil

    from recorder import contact_sheet
    cycle = tmp_path / "20251010_163000"
    cycle.mkdir()
    drawn = contact_sheet.render

    def render_then_delete(tiles):
        picture = drawn(tiles)
        shutil.rmtree(cycle)
        return picture

    monkeypatch.setattr(contact_sheet, "render", render_then_delete)
    with caplog.at_level("INFO"):
        written = write_contact_sheet(str(cycle), [tile_of(
            _record(st.CONNECTION_ERROR, "refused"), {"output_filename": "cam1.mp4"}, None)])
    assert written  # nothing left to draw it for: not tried again
    assert not cycle.exists()
    assert [r.levelname for r in caplog.records] == ["INFO"], caplog.text
    assert "the folder is gone" in caplog.text


def test_a_sheet_that_could_not_be_written_says_so(tmp_path, monkeypatch, caplog) -> None:
    # A full disk: the page's write fails, the folder is still there; the writer tries again.
    from recorder import contact_sheet
    from shared.errors import WriteError

    def disk_full(path, data):
        raise WriteError(f"写入失败 {path}: No space left on device")

    monkeypatch.setattr(contact_sheet, "write_bytes_atomic", disk_full)
    tiles = [tile_of(_record(st.CONNECTION_ERROR, "refused"), {"output_filename": "c.mp4"}, None)]
    with caplog.at_level("ERROR"):
        assert write_contact_sheet(str(tmp_path), tiles) is False
    assert "No space left on device" in caplog.text
    monkeypatch.undo()
    assert write_contact_sheet(str(tmp_path), tiles) is True
    assert (tmp_path / "contact_sheet.jpg").is_file()
