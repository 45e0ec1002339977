"""``python -m recorder [--config FILE]``: run the patrol recorder in the foreground."""
from __future__ import annotations

import argparse
import logging
import signal
import sys

from recorder.daemon import Daemon
from recorder.ffmpeg_preload import LibraryPreload, find_preload
from recorder.history_import import import_history
from recorder.processes import ProcessRunner
from recorder.stop_signal import StopSignal
from shared.clock import SYSTEM_CLOCK
from shared import settings
from shared.errors import ConfigError, LockTimeout
from shared.log_lines import LEVELS, log_plain_lines


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, set up logging and signals, run until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m recorder", description=__doc__)
    parser.add_argument("--config", help=f"config file (default ${settings.CONFIG_ENV} or ./config.json)")
    parser.add_argument("--log-level", default="INFO", choices=LEVELS)
    parser.add_argument("--ffmpeg-preload", default="auto", choices=("auto", "off"),
                        help="auto: load a few of ffmpeg's libraries first when that keeps "
                             "every symbol binding (cheaper start-ups; checked at start)")
    parser.add_argument("--import-history", action="store_true",
                        help="import the cycle reports in the output folder into the camera "
                             "history (cycles already there are skipped), then exit")
    args = parser.parse_args(argv)
    log_plain_lines(args.log_level)
    if args.import_history:
        return _import_history(settings.config_path(args.config))
    stop = StopSignal()

    def request_stop(signum: int, _frame) -> None:
        logging.getLogger("recorder").info("received %s, stopping", signal.Signals(signum).name)
        stop.set()  # only a write to the self-pipe the loop waits on

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    libraries = find_preload() if args.ffmpeg_preload == "auto" else ()
    runner = ProcessRunner(LibraryPreload(libraries) if libraries else None)
    daemon = Daemon(settings.config_path(args.config), runner=runner)
    logging.getLogger("recorder").info("recorder starting with %s", daemon.config_path)
    try:
        daemon.run(stop)
    except LockTimeout:
        logging.getLogger("recorder").error(
            "another recorder is already running with %s (its status file is locked); exiting",
            daemon.config_path)
        return 1
    return 0


def _import_history(config_path: str) -> int:
    try:
        counts = import_history(config_path, SYSTEM_CLOCK.wall())
    except ConfigError as exc:
        logging.getLogger("recorder").error("cannot import the history: %s", exc.message)
        return 1
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
