"""Which ffmpeg options cost CPU: N concurrent recordings per variant, CPU relative to the floor.

Each variant removes or changes one thing from our command line (see
recorder/ffmpeg_command.py); the floor is the plain ``-c copy`` command.
Variants run in turns, several rounds, so drift in machine load spreads evenly.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile

from bench.common import Row, print_table, save
from recorder.ffmpeg_command import build_argv
from testkit.cameras import CameraServer


def _ours(url: str, out: str, duration: int) -> list[str]:
    return build_argv(url, out, duration, io_timeout=12)


def _drop(argv: list[str], option: str, with_value: bool = True) -> list[str]:
    if option not in argv:
        return argv
    i = argv.index(option)
    return argv[:i] + argv[i + (2 if with_value else 1):]


def _set(argv: list[str], option: str, value: str) -> list[str]:
    argv = list(argv)
    argv[argv.index(option) + 1] = value
    return argv


VARIANTS = {
    "floor (plain -c copy)": lambda u, o, d: [
        "ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", u, "-t",
        str(d), "-c", "copy", "-y", o + ".mp4"],
    "ours": _ours,
    "ours, no -progress": lambda u, o, d: _drop(_ours(u, o, d), "-progress"),
    "ours, -stats_period 1": lambda u, o, d: _set(_ours(u, o, d), "-stats_period", "1"),
    "ours, no flush_packets": lambda u, o, d: _drop(_ours(u, o, d), "-flush_packets"),
    "ours, no fragmenting": lambda u, o, d: _drop(_ours(u, o, d), "-movflags"),
    "ours, -loglevel error": lambda u, o, d: _set(_ours(u, o, d), "-loglevel", "error"),
    "ours, default probing": lambda u, o, d: _drop(_drop(_ours(u, o, d), "-probesize"),
                                                   "-analyzeduration"),
}


def cpu_of(argvs: list[list[str]]) -> float:
    """CPU seconds of running all ``argvs`` at once."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = [subprocess.Popen(a, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for a in argvs]
    for proc in procs:
        proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="8 streams, 4 s, 2 rounds")
    args = parser.parse_args(argv)
    streams, duration, rounds = (8, 4, 2) if args.quick else (32, 8, 3)
    totals = {name: 0.0 for name in VARIANTS}
    with CameraServer(mount_count=streams) as camera:
        urls = [camera.url(f"bench{i + 1}") for i in range(streams)]
        folder = tempfile.mkdtemp(prefix="bench-ffmpeg-")
        try:
            for _ in range(rounds):
                for name, build in VARIANTS.items():
                    argvs = [build(u, os.path.join(folder, f"v{i}.mp4"), duration)
                             for i, u in enumerate(urls)]
                    totals[name] += cpu_of(argvs)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    floor = totals["floor (plain -c copy)"]
    rows = [Row(name, cpu, floor, "s", "lower is better", True) for name, cpu in totals.items()]
    print_table(rows)
    save("ffmpeg_options", rows, {"streams": streams, "duration": duration, "rounds": rounds})
    return rows


if __name__ == "__main__":
    main()
