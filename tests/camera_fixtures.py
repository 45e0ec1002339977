"""Session-scoped pytest fixtures for the RTSP test cameras (testkit.cameras); load via pytest_plugins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.cameras import CameraServer, closing_port, hanging_port, refusing_port


@pytest.fixture(scope="session", name="camera_server")
def camera_server_fixture() -> Iterator[CameraServer]:
    """A running camera server shared by the whole test session."""
    with CameraServer() as server:
        yield server


@pytest.fixture(scope="session", name="hanging_port")
def hanging_port_fixture() -> Iterator[int]:
    """A port that accepts TCP connections and never answers."""
    with hanging_port() as port:
        yield port


@pytest.fixture(scope="session", name="closing_port")
def closing_port_fixture() -> Iterator[int]:
    """A port that accepts TCP connections and closes them at once, unanswered."""
    with closing_port() as port:
        yield port


@pytest.fixture(scope="session", name="refusing_port")
def refusing_port_fixture() -> Iterator[int]:
    """A port where nothing listens (connection refused)."""
    with refusing_port() as port:
        yield port
