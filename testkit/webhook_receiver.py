"""A webhook receiver for tests: a threaded HTTP server on 127.0.0.1 that records what it gets.

    with WebhookReceiver() as receiver:
        ...  # point a webhook (or an Apprise json:// URL) at receiver.url
        receiver.wait_for(3)           # the first three requests
        receiver.failing = 503         # answer 503 from now on (still recorded)
        receiver.hanging = True        # accept, read, never answer (until release() or stop())
        receiver.answer_delay = 0.5    # answer each request half a second late (a slow one)
        receiver.stop(); receiver.start()  # down (connection refused), then back on its port

Each request is kept as a :class:`Received` (method, path, headers, raw body, arrival
time on the monotonic clock); only requests answered 2xx count as ``delivered``. A request held by ``hanging``
is recorded on arrival with status ``UNANSWERED`` (see :meth:`wait_received`).
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from testkit.servers import free_port

# The status of a request held open by a hanging receiver (no answer was sent).
UNANSWERED = 0


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    arrived: float

    def json(self) -> dict:
        """The body, decoded."""
        return json.loads(self.body)


class WebhookReceiver:
    """Records every request; answers ``failing`` (an HTTP status) or 200, ``answer_delay``
    seconds late, or never while ``hanging``."""

    def __init__(self, port: int = 0) -> None:
        self.port = port or free_port()
        self.failing: int | None = None
        self.hanging = False
        self.answer_delay = 0.0
        self._released = threading.Event()  # ends every hang and delay (stop, release)
        self.received: list[Received] = []
        self._lock = threading.Condition()  # an RLock: delivered works inside it
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The receiver's base URL."""
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> WebhookReceiver:
        """Listen (again) on the same port."""
        receiver = self
        self._released.clear()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._record(self, body)

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: senders get connection refused until :meth:`start`."""
        self.release()  # a held handler would keep its client's connection open
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def release(self) -> None:
        """Let every held request end, and later ones not wait (until :meth:`start`): a
        hanging one closes its connection without an answer (the sender sees a failure),
        a delayed one is answered now."""
        self._released.set()

    def _record(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        hanging = self.hanging
        status = UNANSWERED if hanging else self.failing or 200
        with self._lock:
            self.received.append(Received(handler.command, handler.path, dict(handler.headers),
                                          body, status, time.monotonic()))
            self._lock.notify_all()
        if hanging:
            self._released.wait()
            return
        self._released.wait(self.answer_delay)
        handler.send_response(status)
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"ok")

    @property
    def delivered(self) -> list[Received]:
        """The requests answered 2xx, in arrival order."""
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Wait until ``count`` requests were answered 2xx; those requests.

        :raises AssertionError: not that many before ``timeout``.
        """
        return self._wait(count, lambda: self.delivered, "alerts", timeout)

    def wait_received(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Wait until ``count`` requests arrived, answered or not; those requests.

        :raises AssertionError: not that many before ``timeout``.
        """
        return self._wait(count, lambda: list(self.received), "requests", timeout)

    def _wait(self, count: int, requests: Callable[[], list[Received]], what: str,
              timeout: float) -> list[Received]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(requests()) >= count, timeout):
                raise AssertionError(f"receiver got {len(requests())} of {count} "
                                     f"{what} within {timeout}s")
            return requests()[:count]
