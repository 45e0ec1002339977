"""The cycle's contact sheet: every camera's thumbnail in a grid, its name, status and picture
verdict under it; a grey tile with the reason for a camera that gave no picture (one left out
of the plan, 未调度, too, after the cameras that ran). A cycle of
more than CONTACT_SHEET_PAGE_TILES cameras gets several pages (``contact_sheet_2.jpg``…): one
picture of 5,000 tiles took 6.5 s of CPU and 560 MB of memory, and no browser shows it well."""
from __future__ import annotations

import io
import logging
import math
import os
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from recorder.reports import NOT_SCHEDULED, report_rows
from shared import task_record
from shared.atomic import remove_temp_files_in, write_bytes_atomic
from shared.camera_roster import camera_id, stream_of_record
from shared.clip_names import (CONTACT_SHEET_PAGE_TILES, contact_sheet_name,
                               contact_sheet_page, thumbnail_name)
from shared.errors import WriteError
from shared.task_record import quality_text, short_error

log = logging.getLogger(__name__)

# Half the thumbnail's size: JPEG decodes straight to it (draft mode), which
# keeps 500 cameras well under half a second of CPU (bench/contact_sheet.py).
PICTURE = (160, 120)
LINE = 14
LABEL_LINES = 3
TILE = (PICTURE[0], PICTURE[1] + LABEL_LINES * LINE + 4)
BACKGROUND, GREY, TEXT = (24, 24, 24), (96, 96, 96), (230, 230, 230)
OK_COLOUR, ISSUE_COLOUR = (120, 220, 120), (255, 110, 90)
# Pillow's own font draws Latin; a font with CJK glyphs draws the status names and
# reasons (Debian's fonts-droid-fallback has no Latin, hence the two): without one,
# Chinese shows as boxes.
CJK_FONT_FILES = ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
              "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
              "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


@dataclass(frozen=True)
class Tile:
    """One camera of the sheet."""

    name: str
    status: str                  # "[4] 已完成"
    verdict: str                 # "ok", "black+blurred", "" when not checked
    thumbnail: str | None        # the JPEG, None when the camera gave no picture
    reason: str = ""             # why not (the task's error message)


@lru_cache(maxsize=1)
def _fonts() -> tuple[ImageFont.FreeTypeFont, ImageFont.FreeTypeFont]:
    """(Latin font, CJK font)."""
    latin = ImageFont.load_default(LINE - 2)
    for path in CJK_FONT_FILES:
        try:
            return latin, ImageFont.truetype(path, LINE - 2)
        except OSError:
            continue
    return latin, latin


def _text(draw: ImageDraw.ImageDraw, left: int, top: int, text: str,
          fill: tuple | int) -> None:
    """``text`` on one line, cut at the tile's edge; each run of characters in its font."""
    latin, cjk = _fonts()
    right, x, start = left + PICTURE[0] - 2, left, 0
    while start < len(text) and x < right:
        ascii_run = text[start].isascii()
        end = start + 1
        while end < len(text) and text[end].isascii() == ascii_run:
            end += 1
        font = latin if ascii_run else cjk
        run = text[start:end]
        while run and x + font.getlength(run) > right:
            run = run[:-1]
        draw.text((x, top), run, fill=fill, font=font)
        x, start = x + font.getlength(run), end


def _picture(path: str | None) -> Image.Image | None:
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            image.draft("RGB", PICTURE)  # decoded at 1/2, 1/4… of its size: most of the saving
            picture = image.convert("RGB")
    except (OSError, ValueError):
        return None
    picture.thumbnail(PICTURE)
    return picture


# A line's glyphs reach below its LINE px (descenders, brackets): a label's mask is taller.
LABEL_HEIGHT = LINE + 4


@lru_cache(maxsize=256)
def _label(text: str) -> Image.Image:
    """The mask of a label line, drawn once: the status and verdict lines repeat from camera
    to camera (drawing text is most of a sheet's CPU). Its colour is pasted through it."""
    label = Image.new("L", (PICTURE[0], LABEL_HEIGHT), 0)
    _text(ImageDraw.Draw(label), 2, 0, text, 255)
    return label


def _paste_label(sheet: Image.Image, left: int, top: int, text: str, fill: tuple) -> None:
    """Label line ``text`` in ``fill`` at ``(left, top)``, as :func:`_text` would draw it."""
    sheet.paste(fill, (left, top, left + PICTURE[0], top + LABEL_HEIGHT), _label(text))


def _draw_tile(sheet: Image.Image, draw: ImageDraw.ImageDraw, tile: Tile, left: int,
               top: int) -> None:
    picture = _picture(tile.thumbnail)
    if picture is None:
        draw.rectangle((left, top, left + PICTURE[0] - 1, top + PICTURE[1] - 1), fill=GREY)
        for row, start in enumerate(range(0, min(len(tile.reason), 5 * 12), 12)):
            _text(draw, left + 4, top + 4 + row * LINE, tile.reason[start:start + 12], TEXT)
    else:
        sheet.paste(picture, (left + (PICTURE[0] - picture.width) // 2,
                              top + (PICTURE[1] - picture.height) // 2))
    colour = OK_COLOUR if tile.verdict == "ok" else ISSUE_COLOUR
    below = top + PICTURE[1] + 2
    _text(draw, left + 2, below, tile.name, TEXT)
    _paste_label(sheet, left, below + LINE, tile.status, TEXT)
    _paste_label(sheet, left, below + 2 * LINE, tile.verdict, colour)


def render(tiles: list[Tile]) -> bytes:
    """The sheet as JPEG bytes: a near-square grid, in the order given."""
    columns = max(1, math.ceil(math.sqrt(len(tiles))))
    rows = max(1, math.ceil(len(tiles) / columns))
    sheet = Image.new("RGB", (columns * TILE[0], rows * TILE[1]), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for index, tile in enumerate(tiles):
        _draw_tile(sheet, draw, tile, (index % columns) * TILE[0], (index // columns) * TILE[1])
    buffer = io.BytesIO()
    sheet.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def write_contact_sheet(cycle_dir: str, tiles: list[Tile],
                        per_page: int = CONTACT_SHEET_PAGE_TILES) -> bool:
    """Write the contact sheet into the cycle folder, ``per_page`` tiles a page, each page
    whole or not at all (a failure is logged, never raised). False when a page could not be
    written into the folder (a full disk, say: worth another try); True when the sheet is
    written, or the folder is gone."""
    pages = [tiles[start:start + per_page] for start in range(0, len(tiles), per_page)]
    for page, page_tiles in enumerate(pages, start=1):
        if not os.path.isdir(cycle_dir):  # deleted meanwhile (by the API): nothing to draw for
            log.info("contact sheet of %s not written: the folder is gone", cycle_dir)
            return True
        try:
            write_bytes_atomic(os.path.join(cycle_dir, contact_sheet_name(page)),
                               render(page_tiles))
        except (WriteError, OSError) as exc:
            if not os.path.isdir(cycle_dir):  # deleted while the page was drawn
                log.info("contact sheet of %s not written: the folder is gone", cycle_dir)
                return True
            log.error("contact sheet of %s not written (page %d of %d): %s", cycle_dir,
                      page, len(pages), exc)
            return False
    _remove_pages_after(cycle_dir, len(pages))
    return True


def _remove_pages_after(cycle_dir: str, last: int) -> None:
    """Remove the pages a sheet written before into this folder had beyond ``last``."""
    page = last + 1
    while True:
        try:
            os.unlink(os.path.join(cycle_dir, contact_sheet_name(page)))
        except FileNotFoundError:
            return
        except OSError as exc:
            log.error("contact sheet of %s: an old page %d not removed: %s", cycle_dir, page, exc)
            return
        page += 1


def tile_of(record: dict, stream: dict, thumbnail: str | None) -> Tile:
    """The tile of a task: its record (shared/task_record.py), its stream, its thumbnail's path."""
    return Tile(name=_camera_name(stream), status=f"[{record['status']}] {record['status_name']}",
                verdict=quality_text(record.get("quality")), thumbnail=thumbnail,
                reason=short_error(record["error_message"], record["rtsp_url"])
                or record["status_name"])


def unscheduled_tile(entry: dict, stream: dict | None) -> Tile:
    """The grey tile of a stream the cycle left out of its plan: a report's ``not_scheduled``
    entry (its reason), its stream (None: not in the config now, named by its index)."""
    name = _camera_name(stream) if stream else f"#{entry['stream_index']}"
    return Tile(name=name, status=NOT_SCHEDULED, verdict="", thumbnail=None,
                reason=entry["reason"])


def _camera_name(stream: dict) -> str:
    return stream.get("name") or camera_id(stream["output_filename"])


def sweep_sheet_temp_files(cycle_dir: str) -> None:
    """Remove the temp files of pages whose writing a kill cut off; only while nothing writes
    the sheet."""
    removed = remove_temp_files_in(cycle_dir, lambda name: contact_sheet_page(name) is not None)
    if removed:
        log.info("contact sheet: removed %s, left in %s by a kill", ", ".join(removed), cycle_dir)


def sheet_is_whole(cycle_dir: str, cameras: int, per_page: int = CONTACT_SHEET_PAGE_TILES) -> bool:
    """True when every page a sheet of ``cameras`` tiles has is in ``cycle_dir``."""
    pages = -(-cameras // per_page)
    return all(os.path.isfile(os.path.join(cycle_dir, contact_sheet_name(page)))
               for page in range(1, pages + 1))


def report_sheet_tiles(cycle_dir: str, report: dict, streams: list[dict], checks_on: bool,
                       whole_too: bool = False,
                       per_page: int = CONTACT_SHEET_PAGE_TILES) -> list[Tile]:
    """The tiles of a cycle known by its ``report`` (a restarted recorder's, a cluster
    takeover's: its tasks, then its streams left out of the plan), for a sheet missing or
    short of pages (``whole_too``: whatever is there).

    None when the sheet is whole, or when the cycle ran with the picture checks off: no
    camera left a thumbnail nor a checked picture though some kept a clip (none kept one:
    as the checks are now, ``checks_on``). Each task's camera is named by its stream in
    ``streams`` (found by its clip or URL), else by its clip's name; a row a hand edit broke
    is left out.
    """
    records = [task_record.from_stored(r) for r in report_rows(report, "tasks")
               if isinstance(r, dict) and "status" in r]
    left_out = [entry for entry in report_rows(report, "not_scheduled") if isinstance(entry, dict)
                and type(entry.get("stream_index")) is int and isinstance(entry.get("reason"), str)]
    if not whole_too and sheet_is_whole(cycle_dir, len(records) + len(left_out), per_page):
        return []
    tiles = []
    for record in records:
        clip = os.path.basename(record["output_file"] or "")
        stream = stream_of_record(record, streams) or {
            "output_filename": clip or f"#{record['stream_index']}"}
        thumbnail = os.path.join(cycle_dir, thumbnail_name(clip)) if clip else None
        tiles.append(tile_of(record, stream,
                             thumbnail if thumbnail and os.path.isfile(thumbnail) else None))
    checked = any(tile.thumbnail for tile in tiles) or any(
        record["quality"].get("checked") is True for record in records)
    kept = any(record["output_file"] for record in records)
    if not (checked or (checks_on and not kept)):
        return []
    return tiles + [unscheduled_tile(entry, stream_of_record(entry, streams))
                    for entry in left_out]
