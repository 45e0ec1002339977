"""Where to compare a clip's picture with its camera's reference: in ffmpeg, or in the recorder.

Issue 13 suggested ffmpeg's ``ssim`` filter against the reference picture as a second input;
the recorder compares the thumbnail with the reference itself (recorder/picture_similarity.py,
SSIM of 64 x 48 grey pictures). Measured here, on one clip of the test camera (``/hd1s``, 720p
1 Mb/s, a keyframe a second) recorded once to a file: the CPU of the recording's own ffmpeg
command (recorder/ffmpeg_command.py, the picture checks on; the file for the RTSP input) as it
is and with an SSIM branch against the reference (the two thumbnail keyframes made 64 x 48 grey,
as the recorder compares them), the reference read by a second input (``-i``) or by a ``movie``
source in the graph; and the recorder's own comparison of the same thumbnail with the same
reference (its reference decoded once, as in a daemon's steady state).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time

from bench.common import Row, print_table, save
from recorder.ffmpeg_command import CheckFiles, build_argv
from recorder.picture_similarity import similarity
from testkit.cameras import CameraServer

CLIP_SECONDS = 15
# The RTSP input's options that a file input has not.
RTSP_ONLY = ("-rtsp_flags", "-rtsp_transport", "-timeout")
VARIANTS = ("as it is", "ssim, reference as a second input", "ssim, reference by a movie source")


def record_source(folder: str) -> str:
    """A clip of the test camera a second longer than the clips, stream-copied to a file."""
    source = os.path.join(folder, "source.mkv")
    with CameraServer(mount_count=1) as camera:
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
                        "-i", camera.url("hd1s/1"), "-t", str(CLIP_SECONDS + 1), "-c", "copy",
                        "-y", source], check=True)
    return source


def command(source: str, folder: str, variant: str, reference: str) -> list[str]:
    """The recorder's command for ``source``, with the SSIM branch of ``variant``."""
    checks = CheckFiles(os.path.join(folder, "thumb.jpg"), os.path.join(folder, "figures"),
                        os.path.join(folder, "blur"), 2.0)
    argv = build_argv("\0source", os.path.join(folder, "clip.mp4"), CLIP_SECONDS,
                      io_timeout=10, checks=checks)
    for option in RTSP_ONLY:
        if option in argv:
            at = argv.index(option)
            del argv[at:at + 2]
    argv[argv.index("\0source")] = source
    if variant == VARIANTS[0]:
        return argv
    if variant == VARIANTS[1]:
        argv[argv.index(source) + 1:argv.index(source) + 1] = ["-i", reference]
        reference_chain = "[1:v]scale=64:48,format=gray[r0]"
    else:
        reference_chain = f"movie={reference},scale=64:48,format=gray[r0]"
    graph = argv.index("-filter_complex") + 1
    at = next(i for i in range(1, len(argv)) if argv[i - 1] == "-map" and argv[i][0] == "[")
    thumbnails = argv[at]  # the graph's output, the JPEG's
    # the thumbnail's chain feeds the JPEG and, split, the SSIM against the reference
    argv[graph] += (f";{thumbnails}split[jpeg][t0];[t0]scale=64:48,format=gray[t1];"
                    f"{reference_chain};[t1][r0]ssim[t2];[t2]metadata=print:direct=1:"
                    f"file={os.path.join(folder, 'ssim')}:key=lavfi.ssim.All[t3]")
    argv[at] = "[jpeg]"
    output = argv.index("-nostdin")
    argv[output:output] = ["-map", "[t3]", "-f", "null", "-"]
    return argv


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(source: str, folder: str, reference: str, runs: int) -> dict[str, float]:
    """ms of ffmpeg CPU a clip for each variant, run in turns."""
    totals = dict.fromkeys(VARIANTS, 0.0)
    for run in range(runs):
        for variant in VARIANTS[run % len(VARIANTS):] + VARIANTS[:run % len(VARIANTS)]:
            argv = command(source, folder, variant, reference)
            before = children_cpu()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            totals[variant] += children_cpu() - before
    return {variant: 1000 * total / runs for variant, total in totals.items()}


def recorder_ms(thumbnail: str, reference: str, repeat: int = 300) -> float:
    """ms of this process's CPU for the recorder's comparison, its reference decoded once."""
    similarity(thumbnail, reference)
    start = time.process_time()
    for _ in range(repeat):
        similarity(thumbnail, reference)
    return 1000 * (time.process_time() - start) / repeat


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the benchmark; the rows of the result table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 runs of each")
    parser.add_argument("--runs", type=int, default=30, help="runs of each command (default 30)")
    args = parser.parse_args(argv)
    runs = 5 if args.quick else args.runs
    folder = tempfile.mkdtemp(prefix="bench-reference-")
    try:
        source = record_source(folder)
        subprocess.run(command(source, folder, VARIANTS[0], ""), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        reference = os.path.join(folder, "reference.jpg")
        os.replace(os.path.join(folder, "thumb.jpg"), reference)
        ffmpeg = measure(source, folder, reference, runs)
        with open(os.path.join(folder, "ssim"), encoding="utf-8") as figures:
            assert "lavfi.ssim.All=" in figures.read()  # the branch did compare
        ours = recorder_ms(os.path.join(folder, "thumb.jpg"), reference)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    base = ffmpeg[VARIANTS[0]]
    rows = [Row(f"reference SSIM in ffmpeg ({variant}): ffmpeg CPU a {CLIP_SECONDS} s clip, "
                f"vs. the command as it is ({runs} runs each)", ffmpeg[variant], base, "ms CPU",
                "(informative)", True) for variant in VARIANTS[1:]]
    rows.append(Row("reference SSIM in the recorder (recorder/picture_similarity.py): its CPU "
                    "a clip, vs. the least extra ffmpeg CPU of the two above",
                    ours, min(ffmpeg[v] for v in VARIANTS[1:]) - base, "ms CPU",
                    "(informative)", True))
    save("reference_in_ffmpeg", rows, {"runs": runs, "ffmpeg_ms": ffmpeg, "recorder_ms": ours})
    return rows


if __name__ == "__main__":
    print_table(main())
