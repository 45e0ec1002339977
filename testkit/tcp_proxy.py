"""A TCP proxy on 127.0.0.1 that a test can cut and heal: one host's network to Redis, alone."""
from __future__ import annotations

import selectors
import socket
import threading


class TcpProxy:
    """Forwards each connection to ``target`` (host, port) while healed; :meth:`cut` closes
    those open and refuses the next ones (accepted and closed at once) until :meth:`heal`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._cut = False
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopping = True
        self._thread.join(5)
        self._close_all()
        self._listener.close()

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            self._close_all()

    def heal(self) -> None:
        with self._lock:
            self._cut = False

    def _close_all(self) -> None:
        for sock in list(self._pairs):
            self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        other = self._pairs.pop(sock, None)
        for each in (sock, other):
            if each is None:
                continue
            self._pairs.pop(each, None)
            try:
                self._selector.unregister(each)
            except (KeyError, ValueError):
                pass
            each.close()

    def _run(self) -> None:
        while not self._stopping:
            for key, _ in self._selector.select(0.05):
                with self._lock:
                    if key.fileobj is self._listener:
                        self._accept()
                    elif key.fileobj in self._pairs:
                        self._forward(key.fileobj)

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        if self._cut:
            client.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)  # blocking, as the accepted side: sendall never times out
        self._pairs[client], self._pairs[upstream] = upstream, client
        for sock in (client, upstream):
            self._selector.register(sock, selectors.EVENT_READ)

    def _forward(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
            if data:
                self._pairs[sock].sendall(data)
                return
        except OSError:
            pass
        self._drop(sock)
