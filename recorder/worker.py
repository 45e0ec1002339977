"""A cluster worker host: ``python -m recorder.worker --config FILE --slots N`` runs RQ's worker pool.

Each slot is one RQ worker (recorder/cluster/worker_classes.py: ``--worker inline``, the
default, or ``forking``); each job is one task, recorded by recorder/cluster/task_job.py with
the same Recording (ffmpeg, watchdogs, classification) as single-box mode.
"""
from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
from datetime import datetime, timezone

from shared.cluster_config import cluster_settings
from shared.config_file import load_config
from shared.counts import counted
from shared.errors import PatrolError
from shared.log_lines import LEVELS, log_plain_lines

WORKER_KINDS = ("inline", "forking")  # recorder/cluster/worker_classes.py; the first is the default


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
    parser.add_argument("--worker", default=WORKER_KINDS[0], choices=WORKER_KINDS,
                        help="inline: each slot runs its jobs itself, a heartbeat thread beating "
                             "for them (cheaper); forking: RQ's work horse forked per job")
    parser.add_argument("--jobs-per-worker", type=int, default=None,
                        help="inline only: how many of the slots' tasks one worker process "
                             "records at once with one loop (fewer processes, less CPU; "
                             "default: the slots shared among the CPU cores); 1: a process a "
                             "slot")
    parser.add_argument("--progress-seconds", type=_progress_seconds, default=None,
                        help="how often a recording's live record (progress, bytes) goes to "
                             "Redis once its media flows (default 5; each wake-up costs CPU)")
    parser.add_argument("--ffmpeg-preload", default="auto", choices=("auto", "off"),
                        help="load ffmpeg's costliest libraries first, as the recorder does")
    parser.add_argument("--log-level", default="INFO", choices=LEVELS,
                        help="as the recorder's; WARNING drops the lines of each job (RQ's "
                             "and the recording's) and keeps its problems")
    args = parser.parse_args(argv)
    if args.slots < 1:
        parser.error("--slots must be 1 or more")
    if args.jobs_per_worker is not None and (
            args.jobs_per_worker < 1 or (args.jobs_per_worker > 1 and args.worker != "inline")):
        parser.error("--jobs-per-worker must be 1 or more, and more than 1 only with "
                     "--worker inline")
    return args


def jobs_per_worker(args: argparse.Namespace, cores: int | None = None) -> int:
    """How many tasks one worker process records at once: as asked, else the slots shared among
    the CPU cores (one loop a core, as the single-box recorder's one loop); never more than the
    slots, and 1 for RQ's forking worker."""
    if args.worker != "inline":
        return 1
    if args.jobs_per_worker is not None:
        return min(args.jobs_per_worker, args.slots)
    cores = cores or len(os.sched_getaffinity(0)) or 1
    return -(-args.slots // cores)


def worker_processes(args: argparse.Namespace) -> int:
    """How many worker processes share the host's slots (:func:`jobs_per_worker` each, the last
    one fewer when they do not divide)."""
    return -(-args.slots // jobs_per_worker(args))


def allow_descriptors() -> None:
    """Raise this process's soft limit of open files to its hard one: each recording holds ~5
    (its pipes, their selectors, its pidfd), a process of many recordings more than the usual
    soft 1,024 (ffmpeg failing to start would be blamed on the camera)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            logging.warning("open files limit stays %d: %s", soft, exc)


def _progress_seconds(text: str) -> float:
    """--progress-seconds: a number of seconds from 1 to 60."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 1.0 <= seconds <= 60.0:  # nan too
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 1 to 60")
    return seconds


def worker_class(args: argparse.Namespace) -> type:
    """The RQ worker class ``args`` ask for, with their heartbeats, grace and maintenance."""
    from recorder.cluster.worker_classes import WorkerTimers
    from recorder.cluster.worker_classes import worker_class as make  # the extra [cluster]

    return make(args.worker, WorkerTimers(args.maintenance_seconds, args.heartbeat_seconds,
                                          args.heartbeat_grace_seconds),
                jobs_per_worker(args))


def prepare_before_fork(args: argparse.Namespace) -> None:
    """What every worker needs, done once in the pool before it forks them (and a forking worker
    its horses): the job's modules imported, the ffmpeg preload found, the options set."""
    from rq.utils import utcformat, utcparse

    from recorder.cluster import task_job
    from recorder.ffmpeg_preload import LibraryPreload, find_preload

    libraries = find_preload() if args.ffmpeg_preload == "auto" else ()
    task_job.PRELOAD = LibraryPreload(libraries) if libraries else None
    if args.progress_seconds is not None:
        task_job.PROGRESS_SECONDS = args.progress_seconds
    # Python sets strptime up at its first call (~1.7 ms of CPU), which RQ makes reading a job's
    # dates: made here, it is shared by the workers instead of paid in each one's first job.
    utcparse(utcformat(datetime(2000, 1, 1, tzinfo=timezone.utc)))


def main(argv: list[str] | None = None) -> int:
    """Run the pool until SIGTERM/SIGINT; 2 when the config has no cluster section."""
    args = parse_args(argv)
    log_plain_lines(args.log_level)
    try:
        cluster = cluster_settings(load_config(args.config))
    except PatrolError as exc:
        logging.error("cannot read %s: %s", args.config, exc)
        return 2
    if cluster is None:
        logging.error("%s has no \"cluster\" section: nothing to work for", args.config)
        return 2
    from recorder.cluster.link import connect
    from recorder.cluster.pool import PromptWorkerPool  # the extra [cluster]: imported only here

    prepare_before_fork(args)
    allow_descriptors()
    processes = worker_processes(args)
    logging.info("worker pool: %s, %s recording up to %d each", counted(args.slots, "slot"),
                 counted(processes, "worker process", "worker processes"),
                 jobs_per_worker(args))
    pool = PromptWorkerPool([cluster.queue], connection=connect(cluster), num_workers=processes,
                            worker_class=worker_class(args), slots=args.slots)
    pool.start(burst=False, logging_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
