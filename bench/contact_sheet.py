"""The cycle's contact sheet for 500 cameras: CPU seconds to compose it (target <= 0.5 s).

500 thumbnails of 320x240 (the size the recorder writes), every tenth camera
failed (a grey tile with its reason). Baseline, same run: only decoding the 500
thumbnails at full size, what any composition does at least without JPEG's
draft mode.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

from PIL import Image

from bench.common import Row, print_table, save
from recorder.contact_sheet import Tile, render

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


def tiles(pictures: list[str]) -> list[Tile]:
    """500 cameras, every tenth one failed."""
    return [Tile(f"camera-{i:03d}", "[4] 已完成", "ok", pictures[i % len(pictures)])
            if i % 10 else Tile(f"camera-{i:03d}", "[2] 连接错误", "", None, "连接被拒绝 (RTSP 端口无响应)")
            for i in range(CAMERAS)]


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
    args = parser.parse_args(argv)
    runs = 3 if args.quick else 7
    with tempfile.TemporaryDirectory() as folder:
        sheet_tiles = tiles(thumbnails(folder))
        render(sheet_tiles)  # the font loaded once, as in the recorder after its first cycle
        ours = cpu_seconds(lambda: render(sheet_tiles), runs)
        base = cpu_seconds(lambda: decode_all(sheet_tiles), runs)
        size = len(render(sheet_tiles))
    rows = [Row(f"contact sheet of {CAMERAS} cameras ({size // 1024} KB JPEG), CPU, median of "
                f"{runs}, vs. decoding the {CAMERAS} thumbnails", ours, base, "s",
                f"<= {TARGET_SECONDS} s", ours <= TARGET_SECONDS)]
    print_table(rows)
    save("contact_sheet", rows, {"cameras": CAMERAS, "runs": runs})
    return rows


if __name__ == "__main__":
    main()
