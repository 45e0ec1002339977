"""shared/regular_file.py: a planted name is refused before a byte is read, never waited on."""
from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from shared.regular_file import RefusedFile, open_regular_file


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_a_regular_file_is_opened_with_its_stat(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"12345")
    handle, info = open_regular_file(str(tmp_path / "a.jpg"), max_bytes=5)
    with handle:
        assert handle.read() == b"12345" and info.st_size == 5


def test_a_name_in_a_folder_descriptor(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"x")
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        handle, _ = open_regular_file("a.txt", dir_fd=folder)
    finally:
        os.close(folder)
    with handle:
        assert handle.read() == b"x"


def test_a_symlink_at_the_name_is_refused_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / "secret.json").write_bytes(b"passwords")
    (tmp_path / "a.jpg").symlink_to(tmp_path / "secret.json")
    before = open_fds()
    with pytest.raises(OSError) as refused:
        open_regular_file(str(tmp_path / "a.jpg"))
    assert refused.value.errno == errno.ELOOP and open_fds() == before
    handle, _ = open_regular_file(str(tmp_path / "a.jpg"), follow_symlinks=True)
    with handle:
        assert handle.read() == b"passwords"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "a.jpg"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            open_regular_file(str(fifo))
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=30)
    if reader.is_alive():  # blocked in open(): a writer lets it go, then the test fails
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=30)
        pytest.fail("opening a FIFO waited for a writer")
    assert isinstance(outcome[0], RefusedFile) and outcome[0].errno == errno.EINVAL


@pytest.mark.parametrize("follow_symlinks", [False, True])
def test_a_folder_is_refused(tmp_path: Path, follow_symlinks: bool) -> None:
    (tmp_path / "a.jpg").mkdir()
    before = open_fds()
    with pytest.raises(RefusedFile, match="not a regular file"):
        open_regular_file(str(tmp_path / "a.jpg"), follow_symlinks=follow_symlinks)
    assert open_fds() == before


def test_a_file_over_the_bound_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"123456")
    before = open_fds()
    with pytest.raises(RefusedFile, match="larger than 5 bytes"):
        open_regular_file(str(tmp_path / "a.jpg"), max_bytes=5)
    assert open_fds() == before


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_regular_file(str(tmp_path / "a.jpg"))
