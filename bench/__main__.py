"""``python -m bench [--quick] [NAME ...]``: run the benchmarks and print one table.

Names: recorder_overhead, ffmpeg_startup, ffmpeg_options, verdicts, api_tree, tasks_rps,
planner, alert_latency, camera_history, campaign, console, history_writes, history_in_daemon,
status_in_daemon, contact_sheet, picture_checks, cluster_engine, cluster_media, cluster_sim
(default: all; the cluster ones need the [cluster] extra and Debian's redis-server); and by name only,
quality_scenes (the picture checks' calibration on real footage: it needs Debian's
opencv-doc sample data, docs/QUALITY.md) and reference_in_ffmpeg (the reference comparison in
ffmpeg instead of the recorder, a design not taken: docs/PERFORMANCE.md).
Raw figures land in bench/results/<name>.json; docs/PERFORMANCE.md explains them.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from bench.common import machine, print_table

ALL = ("recorder_overhead", "ffmpeg_startup", "ffmpeg_options", "verdicts", "api_tree",
       "tasks_rps", "planner", "alert_latency", "camera_history", "campaign", "console",
       "history_writes", "history_in_daemon", "status_in_daemon", "contact_sheet",
       "picture_checks", "cluster_engine", "cluster_media", "cluster_sim")
# Run only when named: not measures of this code's speed (the first's footage is not in the
# repo; the second weighs a design not taken).
BY_NAME_ONLY = ("quality_scenes", "reference_in_ffmpeg")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; exit 1 when a target was missed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="each benchmark in under a minute")
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(ALL + BY_NAME_ONLY))
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(ALL + BY_NAME_ONLY))
    if unknown:
        parser.error(f"unknown benchmark: {', '.join(unknown)}")
    rows = []
    for name in args.names or ALL:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        rows += module.main(["--quick"] if args.quick else [])
    print(f"\n== all ({machine()})")
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
