"""The status file in a big cycle: the daemon's CPU spent publishing it vs. the rest.

The daemon publishes its status (every task's record) about once a second, and in cluster
mode a copy into Redis as well (here: the same text built again, no Redis). One cycle of N
streams × 15 s on a virtual clock with fake ffmpeg, as bench/history_in_daemon.py; the CPU
inside ``StatusPublisher.publish`` (the snapshot, its JSON, the atomic write) is summed and
compared with the rest of the daemon's own CPU in the cycle.

Then the API's side of the same status file (the cycle's last, every task finished), timed
in-process as one API worker pays it once per status version: parsed only (what
``/api/scheduler/status``, ``/cycle``, the console's pages and the clip rule need since the
task records are encoded only when an answer carries them) vs. parsed and its task records
read back and encoded (what ``/api/tasks…`` pays, and every version paid before).
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time

from bench.common import Row, print_table, save
from bench.history_in_daemon import _config, drive_cycle
from recorder.daemon import Daemon
from shared.cluster_status import mirrored
from testkit.fake_runner import FakeRunner


def api_read(path: str, repeat: int = 5) -> tuple[float, float]:
    """CPU seconds of the API's read of the status file at ``path``, the least of ``repeat``:
    parsed only, and parsed with its task records encoded."""
    from app.scheduler import _parse_status
    parse, encode = [], []
    for _ in range(repeat):
        before = time.process_time()
        _, tasks = _parse_status(path)
        middle = time.process_time()
        tasks.text
        parse.append(middle - before)
        encode.append(time.process_time() - before)
    return min(parse), min(encode)


def one_cycle(streams: int, slots: int, mirror: bool,
              api: list | None = None) -> tuple[float, float, int, int]:
    """CPU seconds of the daemon for one cycle and of its status publishing in it, the number
    of publishes and the last status's size in bytes; the API's read of the cycle's last status
    appended to ``api`` (:func:`api_read`)."""
    folder = tempfile.mkdtemp(prefix="bench-daemon-status-")
    runner = FakeRunner(work_file=b"x", run_returncode=0)
    spent, count, size = [0.0], [0], [0]
    try:
        daemon = Daemon(_config(folder, streams, slots), runner=runner,
                        free_space=lambda _path: None)
        publish = daemon.publisher.publish
        if mirror:  # cluster mode's copy for Redis, without Redis
            daemon.publisher.mirror = lambda status, encode: size.__setitem__(
                0, len(mirrored(status, encode)))

        def timed(*args, **named):
            before = time.thread_time()
            try:
                return publish(*args, **named)
            finally:
                spent[0] += time.thread_time() - before
                count[0] += 1
        daemon.publisher.publish = timed
        total = drive_cycle(daemon, runner)
        if api is not None:
            api.append(api_read(daemon.publisher.path))
        daemon.shutdown()
        return total, spent[0], count[0], size[0]
    finally:
        runner.close()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--slots", type=int, default=512)
    parser.add_argument("--mirror", action="store_true", help="cluster mode's copy too")
    parser.add_argument("--quick", action="store_true", help="200 streams")
    args = parser.parse_args(argv)
    rows, runs = [], {}
    for streams in ([200] if args.quick else args.streams):
        api: list = []
        total, status, count, size = one_cycle(streams, args.slots, args.mirror, api)
        (parse, encode), = api
        runs[streams] = {"total": total, "status": status, "publishes": count, "bytes": size,
                         "api_parse": parse, "api_parse_and_encode": encode}
        rows.append(Row(f"{streams:,}-task status: the API's read of a version, parsed only "
                        f"(status endpoints, clips) vs. with its tasks encoded (/api/tasks; "
                        f"every version before)", parse, encode, "s", "(informative)", True))
        rows.append(Row(f"{streams:,}-task cycle ({args.slots} slots, fake ffmpeg"
                        f"{', with the Redis copy' if args.mirror else ''}): status publishing "
                        f"({count} times, {status / count * 1000:.1f} ms each) vs. the rest of "
                        f"the daemon's CPU", status, total - status, "s", "(informative)", True))
    print_table(rows)
    save("status_in_daemon", rows, {"runs": runs})
    return rows


if __name__ == "__main__":
    main()
