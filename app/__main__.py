"""Development server: ``python -m app [OUTPUT_DIR] [PORT] [--config FILE]``."""
from __future__ import annotations

import argparse
import logging

from app import create_app
from app.bind import DEFAULT_PORT, LOOPBACK, default_host
from shared import settings
from shared.log_lines import log_plain_lines


def main(argv: list[str] | None = None) -> None:
    """Parse the seed's arguments and serve (loopback unless a token is set; gunicorn in production)."""
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    # No default here: without the argument the config's output_directory (./output
    # unless changed) is served, resolved like the recorder does, so both see one folder.
    parser.add_argument("output_dir", nargs="?", default=None,
                        help="the recorder's output folder (default: the config's "
                             "output_directory, ./output)")
    parser.add_argument("port", nargs="?", type=int, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--config", help=f"config file (default ${settings.CONFIG_ENV} or ./config.json)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1, or 0.0.0.0 "
                                       "when an API token is configured)")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error("PORT must be between 1 and 65535")
    log_plain_lines()
    overrides = {"CONFIG_PATH": settings.config_path(args.config)}
    if args.output_dir:
        overrides["OUTPUT_DIR"] = args.output_dir
    app = create_app(overrides)
    host, reason = (args.host, "set by --host") if args.host else default_host()
    if not args.host and host == LOOPBACK:
        reason += "; --host 0.0.0.0 listens on every address"
    logging.getLogger("app").info("API bind %s:%d: %s", host, args.port, reason)
    app.run(host=host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
