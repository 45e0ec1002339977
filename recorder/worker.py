"""A cluster worker host: ``python -m recorder.worker --config FILE --slots N`` runs RQ's worker pool.

Each slot is one RQ worker; each job is one task, recorded by recorder/cluster/task_job.py
with the same Recording (ffmpeg, watchdogs, classification) as single-box mode.
"""
from __future__ import annotations

import argparse
import logging
import sys

from shared.cluster_config import cluster_settings
from shared.config_file import load_config
from shared.errors import PatrolError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The worker's command line."""
    parser = argparse.ArgumentParser(prog="rtsp-patrol-worker", description=__doc__)
    parser.add_argument("--config", required=True, help="the shared config.json")
    parser.add_argument("--slots", type=int, default=4, help="tasks this host records at once")
    parser.add_argument("--maintenance-seconds", type=int, default=30,
                        help="how often a worker looks for jobs of dead workers to retry")
    parser.add_argument("--heartbeat-seconds", type=int, default=30,
                        help="how often a busy worker says it is alive")
    parser.add_argument("--heartbeat-grace-seconds", type=int, default=60,
                        help="a job is abandoned (and retried) this long after its last heartbeat")
    parser.add_argument("--ffmpeg-preload", default="auto", choices=("auto", "off"),
                        help="load ffmpeg's costliest libraries first, as the recorder does")
    return parser.parse_args(argv)


def worker_class(args: argparse.Namespace) -> type:
    """RQ's forking worker with the heartbeats, grace and maintenance of ``args``."""
    from rq.worker import Worker  # the extra [cluster]: imported only here

    class PatrolWorker(Worker):
        """RQ's forking worker, its heartbeats, their grace and its maintenance as configured."""

        def __init__(self, *positional, **named) -> None:
            named.setdefault("maintenance_interval", args.maintenance_seconds)
            named.setdefault("job_monitoring_interval", args.heartbeat_seconds)
            # An idle worker blocks on the queue for worker_ttl - 15 s and only then does its
            # maintenance: without this a dead host's job waited 405 s for its retry.
            named.setdefault("worker_ttl", args.maintenance_seconds + 15)
            super().__init__(*positional, **named)

        def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
            # RQ adds a fixed 60 s: a host that died is noticed only that late.
            beat = min(job.timeout - working_time, self.job_monitoring_interval) \
                if job.timeout and job.timeout > 0 else self.job_monitoring_interval
            return int(beat) + args.heartbeat_grace_seconds

    return PatrolWorker


def main(argv: list[str] | None = None) -> int:
    """Run the pool until SIGTERM/SIGINT; 2 when the config has no cluster section."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cluster = cluster_settings(load_config(args.config))
    except PatrolError as exc:
        logging.error("cannot read %s: %s", args.config, exc)
        return 2
    if cluster is None:
        logging.error("%s has no \"cluster\" section: nothing to work for", args.config)
        return 2
    from rq.worker_pool import WorkerPool  # the extra [cluster]: imported only here

    # Imported once here: each forked work horse would otherwise import the recording code again.
    from recorder.cluster import task_job
    from recorder.cluster.link import connect
    from recorder.ffmpeg_preload import LibraryPreload, find_preload

    libraries = find_preload() if args.ffmpeg_preload == "auto" else ()
    task_job.PRELOAD = LibraryPreload(libraries) if libraries else None
    pool = WorkerPool([cluster.queue], connection=connect(cluster), num_workers=args.slots,
                      worker_class=worker_class(args))
    pool.start(burst=False, logging_level="INFO")
    return 0


if __name__ == "__main__":
    sys.exit(main())
