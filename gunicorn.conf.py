"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py``.

Every worker re-reads config.json and the status file on each request, so any
number of workers answer alike. Override with GUNICORN_* style env vars or -b/-w.
"""
import os

wsgi_app = "app:create_app()"
bind = os.environ.get("RTSP_PATROL_BIND", "0.0.0.0:8080")
workers = int(os.environ.get("RTSP_PATROL_WORKERS", "4"))
# Lock waits are bounded at a few seconds, far below this.
timeout = 30
graceful_timeout = 10
accesslog = "-"
errorlog = "-"
loglevel = "info"
# gunicorn >= 25 opens a control socket at a per-user path shared by every
# instance; we do not use it, and two instances must not fight over it.
control_socket_disable = True
