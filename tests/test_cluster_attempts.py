"""Two attempts of one cluster task: the first to end owns the clip and the outcome; leftovers go."""
from __future__ import annotations

import os

import pytest

from recorder.clip_files import recover_work_files
from recorder.ffmpeg_command import container_of
from recorder.pipe_watcher import PipeWatcher
from recorder.picture_quality import Recorded
from shared.clip_names import (MAX_CLIP_NAME_BYTES, MAX_NAME_BYTES, attempt_work_name,
                               attempt_work_names, blur_figures_work_name, clip_of_thumbnail_work,
                               figures_work_name, is_attempt_leftover, thumbnail_name,
                               thumbnail_work_name, work_name)
from shared.output_tree.names import is_picture_name, is_video_name
from testkit.fake_runner import FakeRunner

pytest.importorskip("rq")
from recorder.cluster import task_job  # noqa: E402 - only with the [cluster] extra
from testkit.cluster import RedisServer, redis_available  # noqa: E402

STREAM = {"rtsp_url": "rtsp://127.0.0.1:8554/cam", "output_filename": "cam.mp4"}


def attempt(folder, number: int, claim) -> task_job.AttemptRecording:
    """Attempt ``number`` of the task, its work file already written by "ffmpeg"."""
    recording = task_job._recording(
        {"planned": [1, 0, 0.0, 3], "stream": STREAM, "cycle_dir": str(folder),
         "display_dir": "./output/c", "global_config": {}, "queue": "patrol", "source": None},
        number, claim)
    recording.runner, recording.watcher = FakeRunner(), PipeWatcher()
    with open(recording.work_path, "w") as handle:
        handle.write(f"attempt {number}")
    return recording


def with_pictures(recording: task_job.AttemptRecording) -> task_job.AttemptRecording:
    """``recording`` whose "ffmpeg" also wrote its thumbnail and its figures files."""
    for path in (recording.picture.work_path, recording.picture.files.figures,
                 recording.picture.files.blur_figures):
        with open(path, "w") as handle:
            handle.write(f"{os.path.basename(recording.work_path)}'s")
    return recording


def end(recording: task_job.AttemptRecording) -> None:
    """What Recording._complete does with the files: the clip kept or not, then the pictures."""
    recording.clip_kept = recording._keep_clip(trusted=True)
    recording.picture.finish(recording.clip_kept, Recorded(3.0, 75, 4096))


def test_attempt_work_files_are_named_apart() -> None:
    assert attempt_work_name("cam.mp4", 1) == work_name("cam.mp4") == ".cam.mp4.part"
    assert attempt_work_name("cam.mp4", 2) == "..try2.cam.mp4.part"
    assert container_of(attempt_work_name("cam.mp4", 2)) == ".mp4"  # ffmpeg's muxer
    assert is_attempt_leftover("..try2.cam.mp4.part")
    assert not is_attempt_leftover(".cam.mp4.part") and not is_attempt_leftover(".try2.mp4.part")


def test_a_retrys_picture_work_files_are_named_apart() -> None:
    assert attempt_work_names("cam.mp4", 1) == (
        work_name("cam.mp4"), thumbnail_work_name("cam.mp4"), figures_work_name("cam.mp4"),
        blur_figures_work_name("cam.mp4"))  # single-box mode's names, unchanged
    retry = attempt_work_names("cam.mp4", 2)
    assert retry == ("..try2.cam.mp4.part", "..try2.cam.mp4.jpg.tmp", "..try2.cam.mp4.fig.tmp",
                     "..try2.cam.mp4.blur.tmp")
    for name in retry:  # hidden, never a clip, a thumbnail or a thumbnail to recover
        assert is_attempt_leftover(name) and clip_of_thumbnail_work(name) is None
        assert not is_video_name(name) and not is_picture_name(name)
    assert clip_of_thumbnail_work(".cam.mp4.jpg.tmp") == "cam.mp4"


def test_a_retrys_names_too_long_for_the_file_system_are_the_first_attempts() -> None:
    longest = "c" * (MAX_CLIP_NAME_BYTES - 4) + ".mp4"
    assert attempt_work_names(longest, 2) == attempt_work_names(longest, 1)
    assert max(len(name) for name in attempt_work_names(longest, 1)) <= MAX_NAME_BYTES


def test_a_retrys_picture_check_writes_files_of_its_own(tmp_path) -> None:
    first, second = attempt(tmp_path, 1, lambda: True), attempt(tmp_path, 2, lambda: True)
    assert first.picture.files.thumbnail == str(tmp_path / thumbnail_work_name("cam.mp4"))
    assert first.picture.files.figures == str(tmp_path / figures_work_name("cam.mp4"))
    assert first.picture.files.blur_figures == str(tmp_path / blur_figures_work_name("cam.mp4"))
    assert [os.path.basename(path) for path in (
        second.work_path, second.picture.files.thumbnail, second.picture.files.figures,
        second.picture.files.blur_figures)] == list(attempt_work_names("cam.mp4", 2))
    assert second.picture.work_path == second.picture.files.thumbnail
    assert first.picture.path == second.picture.path == str(tmp_path / thumbnail_name("cam.mp4"))


@pytest.mark.parametrize("winner", [1, 2])
def test_two_attempts_with_checks_leave_one_thumbnail_the_winners(tmp_path, winner) -> None:
    claims = {}
    first, second = (with_pictures(attempt(tmp_path, n, lambda n=n: claims.setdefault(
        "winner", n) == n)) for n in (1, 2))
    won, lost = (first, second) if winner == 1 else (second, first)
    end(won)  # the first to end claims the task
    end(lost)
    assert (won.won, lost.won) == (True, False)
    assert sorted(os.listdir(tmp_path)) == [thumbnail_name("cam.mp4"), "cam.mp4"]
    assert (tmp_path / thumbnail_name("cam.mp4")).read_text() == (
        f"{os.path.basename(won.work_path)}'s")


def test_the_later_attempt_to_end_neither_replaces_the_clip_nor_keeps_its_file(tmp_path) -> None:
    claims = {}
    first, second = (attempt(tmp_path, n, lambda n=n: claims.setdefault("winner", n) == n)
                     for n in (1, 2))
    assert second._keep_clip(trusted=True) and second.won
    assert not first._keep_clip(trusted=True) and first.won is False
    assert open(tmp_path / "cam.mp4").read() == "attempt 2"
    assert sorted(os.listdir(tmp_path)) == ["cam.mp4"]


def test_an_attempt_never_replaces_a_clip_already_there(tmp_path) -> None:
    (tmp_path / "cam.mp4").write_text("published before Redis lost the claim")
    late = attempt(tmp_path, 2, lambda: True)
    assert not late._keep_clip(trusted=True)
    assert (tmp_path / "cam.mp4").read_text() == "published before Redis lost the claim"


def test_the_winner_removes_a_dead_attempts_work_file(tmp_path) -> None:
    attempt(tmp_path, 1, lambda: False)  # killed mid-clip: its file stays behind
    winner = attempt(tmp_path, 2, lambda: True)
    assert winner._keep_clip(trusted=True)
    task_job.remove_attempt_files(str(tmp_path), "cam.mp4", 2, keep=2)
    assert sorted(os.listdir(tmp_path)) == ["cam.mp4"]


@pytest.mark.parametrize("dead", [1, 2])
def test_the_winner_removes_a_dead_attempts_thumbnail_and_figures(tmp_path, dead) -> None:
    with_pictures(attempt(tmp_path, dead, lambda: False))  # killed mid-clip
    winner = with_pictures(attempt(tmp_path, 3 - dead, lambda: True))
    end(winner)
    task_job.remove_attempt_files(str(tmp_path), "cam.mp4", 2, keep=3 - dead)
    assert sorted(os.listdir(tmp_path)) == [thumbnail_name("cam.mp4"), "cam.mp4"]


def test_a_task_given_up_leaves_no_attempts_picture_files(tmp_path) -> None:
    for number in (1, 2):
        with_pictures(attempt(tmp_path, number, lambda: False))
    task_job.remove_attempt_files(str(tmp_path), "cam.mp4", 0)  # remote_task._give_up's call
    assert os.listdir(tmp_path) == []


def test_recovery_never_publishes_a_retry_leftover_as_a_clip(tmp_path) -> None:
    (tmp_path / "..try2.cam.mp4.part").write_text("half a clip")
    assert recover_work_files(FakeRunner(), str(tmp_path)) == []
    assert os.listdir(tmp_path) == []


def test_recovery_removes_a_retrys_thumbnail_and_figures(tmp_path) -> None:
    for name in attempt_work_names("cam.mp4", 2):
        (tmp_path / name).write_text("a killed retry's")
    assert recover_work_files(FakeRunner(), str(tmp_path)) == []
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not redis_available(), reason="needs Debian's redis-server")
def test_the_claim_in_redis_goes_to_the_first_attempt_only(tmp_path) -> None:
    from recorder.cluster.link import connect
    from shared.cluster_config import ClusterSettings
    with RedisServer(str(tmp_path)) as redis:
        connection = connect(ClusterSettings(redis.url))
        assert task_job._claim(connection, "k", 2)
        assert task_job._claim(connection, "k", 2)  # asked again (a retried call): still it
        assert not task_job._claim(connection, "k", 1)


def test_a_finished_remote_task_gives_the_history_and_the_contact_sheet_their_figures() -> None:
    from recorder.cluster.remote_task import RemoteContext, RemoteRecording
    from recorder.finished_task import from_recording
    from recorder.planner import PlannedTask
    from shared import task_status as st
    from shared.global_settings import GlobalSettings
    context = RemoteContext(None, "patrol", "c", "/out/c", "./output/c",
                            GlobalSettings.from_config({}), {}, 0.0, None)
    task = RemoteRecording(PlannedTask(1, 0, 0.0, 3), STREAM, context, None)
    black = {"checked": True, "issues": ["black"], "measures": {}}
    task._take({"status": st.COMPLETED, "progress": 3.0, "bytes_received": 4096,
                "frames_received": 75, "output_file": "./output/c/cam.mp4", "quality": black},
               final=True, wall=100.0)
    row = from_recording("c", 90.0, task)
    assert (row.status, row.bytes, row.frames, row.clip, row.ended, row.quality) == (
        st.COMPLETED, 4096, 75, "./output/c/cam.mp4", 100.0, black)
    # and the contact sheet finds the thumbnail the worker's picture checks left
    assert task.picture.path == os.path.join("/out/c", thumbnail_name("cam.mp4"))


class _Clock:
    """Fake time: it passes only when slept or when a wait says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class _BusyRecording:
    """A recording whose ffmpeg writes all the time: every wait has a pipe to read at once."""

    def __init__(self, clock: _Clock, seconds: float) -> None:
        self.clock, self.seconds, self.reads, self.won = clock, seconds, 0, True
        self.watcher, self.status = self, 0

    def start(self, now: float, wall: float) -> None:
        pass

    def wait(self, timeout: float, read_pipes: bool = True) -> bool:
        self.reads += read_pipes
        self.clock.now += 0.01  # a progress line came 10 ms into the wait
        return False

    def tick(self, now: float, wall: float) -> None:
        pass

    def close(self) -> None:
        pass

    @property
    def finished(self) -> bool:
        return self.clock.now >= self.seconds

    def as_dict(self) -> dict:
        return {"status": 1}


class _Redis:
    """Just enough of a Redis client for run_task: it counts the live-record writes."""

    def __init__(self) -> None:
        self.records = 0

    def hexists(self, key, field) -> bool:
        return False

    def hincrby(self, key, field, amount) -> int:
        return 1

    def hget(self, key, field):
        return b"1"

    def hset(self, key, field, value) -> None:
        self.records += field == "record"

    def pipeline(self):
        return self

    def hsetnx(self, key, field, value) -> None:
        pass

    def expire(self, key, seconds) -> None:
        pass

    def execute(self) -> list:
        return []


def test_a_job_reads_ffmpeg_once_a_progress_tick_not_at_every_write(
        tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    clock, redis = _Clock(), _Redis()
    busy = _BusyRecording(clock, seconds=4.0)
    monkeypatch.setattr(task_job, "SYSTEM_CLOCK", clock)
    monkeypatch.setattr(task_job, "get_current_job",
                        lambda: SimpleNamespace(connection=redis, id="job-1"))
    monkeypatch.setattr(task_job, "_recording", lambda spec, number, claim: busy)
    task_job.run_task({"queue": "patrol", "cycle_dir": str(tmp_path), "stream": STREAM})
    # woken at every write: 400 reads; in the daemon's 0.2 s batches: 20
    assert busy.reads <= 4.0 / task_job.PROGRESS_SECONDS + 1
    assert 1 <= redis.records <= 4.0 / task_job.PROGRESS_SECONDS + 1


def test_a_jobs_wait_ends_when_its_ffmpeg_exits() -> None:
    from recorder.processes import ProcessRunner
    runner = ProcessRunner()
    running, ended = runner.spawn(["sleep", "30"]), runner.spawn(["true"])
    try:
        with task_job._ExitWatch(running) as watch:
            watch.wait(0.01)
            assert not watch.exited
        with task_job._ExitWatch(ended) as watch:
            watch.wait(600.0)  # returns at the exit, not in ten minutes
            assert watch.exited
    finally:
        running.kill()
        running.wait(10)
        ended.wait(10)
