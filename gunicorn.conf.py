"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py``.

Every worker re-reads config.json and the status file on each request, so any
number of workers answer alike. ``RTSP_PATROL_BIND``, ``RTSP_PATROL_WORKERS``
and ``RTSP_PATROL_THREADS`` override the address, workers and threads per worker.

Slow clients: a sync worker is held by one client that never finishes its
headers, so a handful of idle connections took the API down. gthread workers
wait for a request's first bytes outside their threads, and each worker accepts
only as many connections as it has threads, so a busy worker leaves new
connections to an idle one: up to workers x threads clients stuck in their
headers (64 by default) leave the API answering. Beyond that, or on an
untrusted network, put nginx in front (deploy/nginx.conf): it reads whole
requests before passing them on.
"""
import os

from app import access_settings
from app.auth import AccessSettingError
from app.bind import bind_address
from shared.log_lines import log_plain_lines

wsgi_app = "app:create_app()"
_BIND, _BIND_REASON = bind_address()
bind = _BIND
workers = int(os.environ.get("RTSP_PATROL_WORKERS", "4"))
worker_class = "gthread"
threads = int(os.environ.get("RTSP_PATROL_THREADS", "16"))
# A worker that has as many connections as threads stops accepting, so the
# kernel hands the next connection to a worker with a free thread.
worker_connections = threads
# No idle keep-alive connections: each would count against worker_connections.
keepalive = 0
# Lock waits are bounded at a few seconds, far below this.
timeout = 30
graceful_timeout = 10
accesslog = "-"
# gunicorn's own format plus the address a proxy forwarded ("-" without one): the
# peer (%(h)s) is nginx's address behind it.
access_log_format = ('%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" '
                     'forwarded=%({x-forwarded-for}i)s')
errorlog = "-"
loglevel = "info"
# gunicorn >= 25 opens a control socket at a per-user path shared by every
# instance; we do not use it, and two instances must not fight over it.
control_socket_disable = True


def on_starting(server) -> None:
    """Refuse to start, in one line, on unusable access settings (an empty token file, a
    token a header cannot carry, a bad RTSP_PATROL_PROXY_HOPS): every worker would fail
    to boot with a traceback of its own."""
    try:
        access_settings()
    except AccessSettingError as exc:
        server.log.error("API not started: %s", exc)
        raise SystemExit(1) from None


def post_fork(server, worker) -> None:
    """The API's own lines (a clip deleted, a token refused, ...) as the recorder's: plain, with
    time, level and logger, INFO and up (gunicorn sets up only its own two loggers)."""
    log_plain_lines()


def when_ready(server) -> None:
    """Say where the API listens and why (loopback unless a token or RTSP_PATROL_BIND)."""
    chosen = list(server.cfg.bind)
    reason = _BIND_REASON if chosen == [_BIND] else "set on the command line (-b)"
    server.log.info("API bind %s: %s", " ".join(chosen), reason)
