"""The cycle's contact sheet: a grid of every camera's thumbnail, a grey tile for a failed one."""
from __future__ import annotations

import io
import subprocess

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
