"""shared/locks.py: bounded waits, and a lock path planted as a link never harms its target."""
from __future__ import annotations

import errno
import os
import runpy
import time
from pathlib import Path

import filelock
import pytest
from flask.testing import FlaskClient

from shared import locks
from shared.errors import LockTimeout
from tests.helpers import WriteStatus, assert_error, file_digest
from testkit.servers import REPO_ROOT

VICTIM_TEXT = b"precious data that must survive\n"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "victim.txt"
    path.parent.mkdir()
    path.write_bytes(VICTIM_TEXT)
    return path


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.json"
    path.write_text("{}\n", encoding="utf-8")
    return path


def _assert_really_held(data_file: Path) -> None:
    """While we hold the lock, another lock object on the same path cannot get it."""
    other = filelock.FileLock(locks.lock_path_for(str(data_file)), timeout=0.05)
    with pytest.raises(filelock.Timeout):
        other.acquire()


# --- the library guarantee we rely on ---------------------------------------------------------

def test_installed_filelock_refuses_to_follow_a_symlink(tmp_path: Path, victim: Path) -> None:
    # filelock >= 3.20.1 opens with O_NOFOLLOW (setup.cfg requires it): a link planted
    # after our own check is refused, not followed. Older versions truncated the target.
    link = tmp_path / "x.lock"
    link.symlink_to(victim)
    with pytest.raises(OSError) as caught:
        filelock.FileLock(str(link), timeout=0.1).acquire()
    assert caught.value.errno == errno.ELOOP
    assert victim.read_bytes() == VICTIM_TEXT


# --- planted links ------------------------------------------------------------------------------

def test_a_planted_symlink_is_removed_and_its_target_untouched(data_file: Path,
                                                               victim: Path) -> None:
    lock_path = Path(locks.lock_path_for(str(data_file)))
    lock_path.symlink_to(victim)
    with locks.locked(str(data_file)):
        assert not lock_path.is_symlink() and lock_path.is_file()
        _assert_really_held(data_file)
    assert victim.read_bytes() == VICTIM_TEXT


def test_a_dangling_symlink_creates_nothing_at_its_target(data_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "created-by-us"
    lock_path = Path(locks.lock_path_for(str(data_file)))
    lock_path.symlink_to(target)
    with locks.locked(str(data_file)):
        _assert_really_held(data_file)
    assert not target.exists() and not target.parent.exists()


def test_a_planted_hard_link_is_removed_and_its_target_untouched(data_file: Path,
                                                                 victim: Path) -> None:
    lock_path = Path(locks.lock_path_for(str(data_file)))
    os.link(victim, lock_path)
    with locks.locked(str(data_file)):
        assert os.stat(lock_path).st_nlink == 1
    assert victim.read_bytes() == VICTIM_TEXT
    assert os.stat(victim).st_nlink == 1


def test_a_planted_fifo_is_removed(data_file: Path) -> None:
    lock_path = Path(locks.lock_path_for(str(data_file)))
    os.mkfifo(lock_path)
    with locks.locked(str(data_file)):
        assert lock_path.is_file()


def test_our_own_lock_file_is_kept(data_file: Path) -> None:
    with locks.locked(str(data_file)):
        pass
    lock_path = locks.lock_path_for(str(data_file))
    inode = os.stat(lock_path).st_ino
    assert locks.remove_planted_link(lock_path) is False
    with locks.locked(str(data_file)):
        assert os.stat(lock_path).st_ino == inode


def test_a_link_planted_after_our_check_is_a_retryable_timeout(
        data_file: Path, victim: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock_path = Path(locks.lock_path_for(str(data_file)))
    lock_path.symlink_to(victim)
    monkeypatch.setattr(locks, "remove_planted_link", lambda path: False)  # the race lost
    with pytest.raises(LockTimeout):
        with locks.locked(str(data_file), timeout=0.1):
            pytest.fail("must not get the lock through a symlink")
    assert victim.read_bytes() == VICTIM_TEXT
    monkeypatch.undo()
    with locks.locked(str(data_file), timeout=0.1):  # the next attempt heals it
        assert lock_path.is_file()


# --- bounded waits ------------------------------------------------------------------------------

def test_contention_times_out_after_the_timeout(data_file: Path) -> None:
    holder = filelock.FileLock(locks.lock_path_for(str(data_file)))
    with holder:
        started = time.monotonic()
        with pytest.raises(LockTimeout) as caught:
            with locks.locked(str(data_file), timeout=0.3):
                pytest.fail("got a lock someone else holds")
        waited = time.monotonic() - started
    assert 0.25 <= waited < 3.0
    assert caught.value.lock_path == locks.lock_path_for(str(data_file))


def test_the_default_timeout_is_read_at_call_time(data_file: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "DEFAULT_TIMEOUT_SECONDS", 0.2)
    with filelock.FileLock(locks.lock_path_for(str(data_file))):
        started = time.monotonic()
        with pytest.raises(LockTimeout):
            with locks.locked(str(data_file)):
                pass
    assert time.monotonic() - started < 3.0


def test_lock_waits_stay_far_below_gunicorns_worker_timeout() -> None:
    settings = runpy.run_path(os.path.join(REPO_ROOT, "gunicorn.conf.py"))
    worst_wait = locks.MAX_LOCK_WAITS_PER_REQUEST * locks.DEFAULT_TIMEOUT_SECONDS
    # Half the worker timeout at most: a request that waited its worst still has time to
    # write and answer 503 before gunicorn would kill the worker as hung.
    assert worst_wait <= settings["timeout"] / 2, (worst_wait, settings["timeout"])
    assert 1 <= locks.DEFAULT_TIMEOUT_SECONDS <= 10


def test_a_write_that_cannot_get_the_lock_is_503_with_retry_after(
        client: FlaskClient, config_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "DEFAULT_TIMEOUT_SECONDS", 0.2)  # the real path, a short wait
    digest = file_digest(config_path)
    with filelock.FileLock(locks.lock_path_for(str(config_path))):
        started = time.monotonic()
        response = client.put("/api/config/global", json={"poll_cycles": 5},
                              headers={"If-Match": "*"})
        waited = time.monotonic() - started
    assert_error(response, 503, "请稍后重试")
    assert int(response.headers["Retry-After"]) >= 1
    assert waited < 3.0
    assert file_digest(config_path) == digest


# --- through the API ----------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "url", "body"), [
    ("put", "/api/config/global", {"poll_cycles": 5}),
    ("put", "/api/config", None),
    ("post", "/api/config/streams", {"rtsp_url": "rtsp://127.0.0.1/cam9", "duration_seconds": 5}),
    ("post", "/api/config/save", None),
    ("post", "/api/config/reload", None),
])
def test_api_writes_never_touch_a_symlinked_lock_target(
        client: FlaskClient, config_path: Path, victim: Path, method: str, url: str,
        body: object) -> None:
    if body is None and url == "/api/config":
        body = client.get("/api/config").get_json()
        body["global_config"]["poll_cycles"] = 5
    lock_path = Path(locks.lock_path_for(str(config_path)))
    lock_path.symlink_to(victim)
    response = getattr(client, method)(url, json=body)
    assert response.status_code == 200, response.get_json()
    assert victim.read_bytes() == VICTIM_TEXT
    assert not lock_path.is_symlink()


def test_control_file_lock_symlink_is_harmless(client: FlaskClient, control_path: Path,
                                               write_status: WriteStatus, victim: Path) -> None:
    write_status(scheduler_running=False)
    control_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = Path(locks.lock_path_for(str(control_path)))
    lock_path.symlink_to(victim)
    assert client.post("/api/scheduler/start").status_code == 200
    assert victim.read_bytes() == VICTIM_TEXT
    assert not lock_path.is_symlink()


def test_taking_the_lock_removes_temp_files_of_dead_writers(tmp_path: Path) -> None:
    # Every writer holds the lock while its temp file exists; one killed mid-write
    # (SIGKILL of a gunicorn worker) leaves it behind, and the next holder removes it.
    data = tmp_path / "config.json"
    data.write_text("{}\n", encoding="utf-8")
    orphan = tmp_path / ".config.json.k2j4x9.tmp"
    orphan.write_text('{"half": ', encoding="utf-8")
    others = [tmp_path / ".status.json.a1b2c3.tmp", tmp_path / ".config.json.keep",
              tmp_path / "config.json.tmp"]
    for path in others:
        path.write_text("x", encoding="utf-8")
    (tmp_path / ".config.json.dir.tmp").mkdir()
    with locks.locked(str(data), timeout=1):
        assert not orphan.exists()
    assert all(path.exists() for path in others)
    assert (tmp_path / ".config.json.dir.tmp").is_dir()
    assert data.read_text(encoding="utf-8") == "{}\n"
