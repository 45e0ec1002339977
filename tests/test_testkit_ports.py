"""testkit.servers.free_port under pytest-xdist: each worker picks from its own block."""
from __future__ import annotations

import socket

import pytest

from testkit import servers


def _ephemeral_low() -> int:
    with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as ranges:
        return int(ranges.read().split()[0])


def test_two_xdist_workers_never_pick_the_same_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run in 4 processes: a port picked by bind-to-0 in one could be picked by another
    before either bound it. Each worker now picks from a block of its own, below the ports the
    kernel hands out."""
    picked = {}
    for worker in ("gw0", "gw1", "gw2", "gw3"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        picked[worker] = {servers.free_port() for _ in range(20)}
    for worker, ports in picked.items():
        assert len(ports) == 20 and max(ports) < _ephemeral_low()
        others = set().union(*(p for w, p in picked.items() if w != worker))
        assert not ports & others


def test_a_port_in_use_is_not_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    port = servers.free_port()
    monkeypatch.setattr(servers, "_next_port", servers._next_port - 1)  # it would come next
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert servers.free_port() != port
