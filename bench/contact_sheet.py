"""The cycle's contact sheet for 500 cameras: CPU seconds to compose it (target <= 0.5 s).

500 thumbnails of 320x240 (the size the recorder writes), every tenth camera
failed (a grey tile with its reason). Baseline, same run: only decoding the 500
thumbnails at full size, what any composition does at least without JPEG's
draft mode.

And a big cycle (``--big``, 5,000 cameras by default): the sheet written as the recorder does,
in pages of CONTACT_SHEET_PAGE_TILES, against the same cameras in one picture, each in a
process of its own: CPU seconds and the process's peak memory (its own maximum resident set,
less the forked process's at the start).
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import subprocess
import tempfile
import time

from PIL import Image

from bench.common import Row, print_table, save
from recorder.contact_sheet import Tile, render, write_contact_sheet

CAMERAS = 500
TARGET_SECONDS = 0.5
PATTERNS = ("testsrc", "smptebars", "mandelbrot", "rgbtestsrc", "testsrc2")


def thumbnails(folder: str) -> list[str]:
    """One 320x240 JPEG per test pattern, made by ffmpeg as the recorder's are (mjpeg, q 5)."""
    paths = []
    for name in PATTERNS:
        path = os.path.join(folder, f"{name}.jpg")
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"{name}=size=320x240",
                        "-frames:v", "1", "-c:v", "mjpeg", "-q:v", "5", "-y", path],
                       check=True, stdin=subprocess.DEVNULL)
        paths.append(path)
    return paths


def tiles(pictures: list[str], cameras: int = CAMERAS) -> list[Tile]:
    """``cameras`` cameras, every tenth one failed."""
    return [Tile(f"camera-{i:03d}", "[4] 已完成", "ok", pictures[i % len(pictures)])
            if i % 10 else Tile(f"camera-{i:03d}", "[2] 连接错误", "", None, "连接被拒绝 (RTSP 端口无响应)")
            for i in range(cameras)]


def _write_measured(folder: str, sheet_tiles: list[Tile], per_page: int | None,
                    answer) -> None:
    """In a process of its own: write the sheet, send back (CPU s, peak memory MB, files)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.process_time()
    if per_page is None:
        write_contact_sheet(folder, sheet_tiles)
    else:
        write_contact_sheet(folder, sheet_tiles, per_page=per_page)
    cpu = time.process_time() - start
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
    answer.send((cpu, peak, len([n for n in os.listdir(folder) if n.startswith("contact")])))


def big_sheet(pictures: list[str], cameras: int, per_page: int | None) -> tuple[float, float, int]:
    """(CPU s, peak memory MB, pages) of writing a ``cameras`` sheet in a fresh process."""
    context = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory() as folder:
        mine, theirs = context.Pipe()
        child = context.Process(target=_write_measured,
                                args=(folder, tiles(pictures, cameras), per_page, theirs))
        child.start()
        theirs.close()  # a child that dies leaves recv() an EOF, not a wait for ever
        result = mine.recv()
        child.join()
    return result


def cpu_seconds(action, runs: int) -> float:
    """The median process CPU time of ``action``."""
    times = []
    for _ in range(runs):
        start = time.process_time()
        action()
        times.append(time.process_time() - start)
    return sorted(times)[len(times) // 2]


def decode_all(sheet_tiles: list[Tile]) -> None:
    for tile in sheet_tiles:
        if tile.thumbnail:
            with Image.open(tile.thumbnail) as image:
                image.load()


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the contact-sheet benchmark; the rows of the result table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 timed runs instead of 7")
    parser.add_argument("--big", type=int, default=5000, metavar="CAMERAS",
                        help="the big cycle's cameras (0: not measured)")
    args = parser.parse_args(argv)
    runs = 3 if args.quick else 7
    with tempfile.TemporaryDirectory() as folder:
        sheet_tiles = tiles(thumbnails(folder))
        render(sheet_tiles)  # the font loaded once, as in the recorder after its first cycle
        ours = cpu_seconds(lambda: render(sheet_tiles), runs)
        base = cpu_seconds(lambda: decode_all(sheet_tiles), runs)
        size = len(render(sheet_tiles))
        rows = [Row(f"contact sheet of {CAMERAS} cameras ({size // 1024} KB JPEG), CPU, median "
                    f"of {runs}, vs. decoding the {CAMERAS} thumbnails", ours, base, "s",
                    f"<= {TARGET_SECONDS} s", ours <= TARGET_SECONDS)]
        if args.big:
            paged = big_sheet(thumbnails(folder), args.big, None)
            whole = big_sheet(thumbnails(folder), args.big, args.big)
            rows += [Row(f"{args.big} cameras in {paged[2]} pages vs. one picture: CPU", paged[0],
                         whole[0], "s", "(informative)", True),
                     Row(f"{args.big} cameras in {paged[2]} pages vs. one picture: peak memory",
                         paged[1], whole[1], "MB", "<= 100 MB", paged[1] <= 100)]
    print_table(rows)
    save("contact_sheet", rows, {"cameras": CAMERAS, "runs": runs})
    return rows


if __name__ == "__main__":
    main()
