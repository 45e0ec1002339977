"""shared/atomic.py: a failed write leaves the target as it was and no temp file behind."""
from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path

import pytest

from shared import atomic
from shared import config_edits
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
        edit_config(str(path), lambda c: config_edits.with_global_update(c, {"poll_cycles": 5}))
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


# A camera id of 241 bytes (output_filename "a" * 241 + ".mp4", the 245 bytes the rule allows)
# or 240 ("é" * 120 + ".mp4"): its reference picture's name is near the 255-byte limit, and a
# temp name made of it with mkstemp's random part and ".tmp" would pass it.
LONG_NAMES = ["a" * 241 + ".jpg", "é" * 120 + ".jpg", "b" * 255, "é" * 127 + "x",
              "c" * 237 + ".jpg", "." + "d" * 254]


@pytest.mark.parametrize("name", LONG_NAMES)
def test_a_long_targets_writes_fit_the_file_name_limit(tmp_path: Path, monkeypatch,
                                                       name: str) -> None:
    path = tmp_path / name
    mkstemp = atomic.tempfile.mkstemp
    temp_names = []

    def watching(**kwargs: str) -> tuple[int, str]:
        fd, tmp = mkstemp(**kwargs)
        temp_names.append(os.path.basename(tmp))
        return fd, tmp

    monkeypatch.setattr(atomic.tempfile, "mkstemp", watching)
    atomic.write_bytes_atomic(str(path), b"picture")
    atomic.write_bytes_atomic(str(path), b"new picture")
    assert path.read_bytes() == b"new picture" and os.listdir(tmp_path) == [name]
    path.unlink()
    assert atomic.write_bytes_once(str(path), b"kept", or_replace=True)
    assert path.read_bytes() == b"kept" and os.listdir(tmp_path) == [name]
    for temp in temp_names:
        assert len(temp.encode("utf-8")) <= 255
        assert atomic.temp_target(temp) == atomic.temp_stem(name)


def test_a_short_names_temp_file_is_named_after_it() -> None:
    # What a reader of the folder sees, and what the sweeps recognise, for every usual name.
    name = "c" * 237 + ".jpg"
    assert atomic.temp_stem(name) == name
    assert atomic.temp_stem("config.json") == "config.json"


def test_long_names_have_stems_of_their_own() -> None:
    stems = {atomic.temp_stem(name) for name in ("a" * 300 + "1", "a" * 300 + "2")}
    assert len(stems) == 2
    assert all(len(stem.encode("utf-8")) <= 241 for stem in stems)
    stem = atomic.temp_stem("é" * 130)
    assert stem.startswith("é" * 112 + "~")  # never half a character


@pytest.mark.parametrize("name", LONG_NAMES)
def test_a_dead_writers_temp_file_of_a_long_name_is_swept(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    orphan = tmp_path / f".{atomic.temp_stem(name)}.k2j4x9_a.tmp"
    orphan.write_bytes(b"half")
    other = tmp_path / f".{atomic.temp_stem('x' + name)}.k2j4x9_a.tmp"
    other.write_bytes(b"another file's")
    assert atomic.remove_orphan_temp_files(str(path)) == [orphan.name]
    assert other.exists()
