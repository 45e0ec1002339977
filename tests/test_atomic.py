"""shared/atomic.py: a failed write leaves the target as it was and no temp file behind."""
from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path

import pytest

from shared import atomic
from shared import config as model
from shared.config_file import edit_config, load_config
from shared.errors import WriteError
from tests.helpers import file_digest, valid_config


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    atomic.write_json_atomic(str(path), valid_config())
    return path


def _failing_replace(*args: object, **kwargs: object) -> None:
    raise OSError(28, "No space left on device")


def test_atomic_write_failure_leaves_target_and_no_temp(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config_file(tmp_path)
    digest = file_digest(path)
    monkeypatch.setattr(os, "replace", _failing_replace)
    with pytest.raises(WriteError):
        atomic.write_json_atomic(str(path), {"global_config": {}, "streams": []})
    monkeypatch.undo()
    assert file_digest(path) == digest
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_edit_config_write_failure_leaves_target_and_no_temp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config_file(tmp_path)
    digest = file_digest(path)
    monkeypatch.setattr(os, "replace", _failing_replace)
    with pytest.raises(WriteError):
        edit_config(str(path), lambda c: model.with_global_update(c, {"poll_cycles": 5}))
    monkeypatch.undo()
    assert file_digest(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "config.json.lock"]
    assert load_config(str(path))["global_config"]["poll_cycles"] == -1


def test_atomic_write_creates_new_file_without_leftovers(tmp_path: Path) -> None:
    target = tmp_path / "new.json"
    atomic.write_json_atomic(str(target), {"a": "中文", "n": math.pi})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": "中文", "n": math.pi}
    assert "中文" in target.read_text(encoding="utf-8")  # UTF-8, not \\u escapes
    assert [p.name for p in tmp_path.iterdir()] == ["new.json"]


def test_write_once_makes_the_file_whole_or_leaves_the_one_there(tmp_path: Path,
                                                                 monkeypatch) -> None:
    path = tmp_path / "secret"
    fsync = os.fsync
    seen = []

    def watching(fd: int) -> None:  # while its data is written, the name does not exist yet
        seen.append(path.exists())
        fsync(fd)

    monkeypatch.setattr(os, "fsync", watching)
    assert atomic.write_bytes_once(str(path), b"first", mode=0o600)
    assert seen[0] is False and path.read_bytes() == b"first"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert not atomic.write_bytes_once(str(path), b"second")
    assert path.read_bytes() == b"first" and os.listdir(tmp_path) == ["secret"]


def test_write_once_without_hard_links_replaces_only_when_asked(tmp_path: Path,
                                                                monkeypatch) -> None:
    def no_links(source: str, target: str) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "picture"
    with pytest.raises(PermissionError):  # the console secret: no silent fallback
        atomic.write_bytes_once(str(path), b"first")
    assert os.listdir(tmp_path) == []
    assert atomic.write_bytes_once(str(path), b"first", or_replace=True)
    assert not atomic.write_bytes_once(str(path), b"second", or_replace=True)
    assert path.read_bytes() == b"first" and os.listdir(tmp_path) == ["picture"]


def test_atomic_write_with_a_mode_sets_it_before_the_data_is_written(tmp_path: Path,
                                                                     monkeypatch) -> None:
    path = tmp_path / "copy.json"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o644)
    fsync = os.fsync
    modes = []

    def watching(fd: int) -> None:
        modes.append(os.fstat(fd).st_mode & 0o777)
        fsync(fd)

    monkeypatch.setattr(os, "fsync", watching)
    atomic.write_text_atomic(str(path), "secret", mode=0o600)
    assert modes[0] == 0o600  # the temp file, holding the data
    assert os.stat(path).st_mode & 0o777 == 0o600 and path.read_text() == "secret"
