"""Two attempts of one cluster task: the first to end owns the clip and the outcome; leftovers go."""
from __future__ import annotations

import json
import math
import os

import pytest

from recorder.clip_files import recover_work_files
from recorder.ffmpeg_command import SourceCodecs, container_of
from recorder.pipe_watcher import PipeWatcher
from recorder.picture_quality import Recorded
from shared import task_status as st
from shared.clip_names import (MAX_CLIP_NAME_BYTES, MAX_NAME_BYTES, attempt_work_name,
                               attempt_work_names, blur_figures_work_name, clip_of_thumbnail_work,
                               figures_work_name, is_attempt_leftover, thumbnail_name,
                               thumbnail_work_name, work_name)
from shared.output_tree.names import is_picture_name, is_video_name
from shared.timefmt import format_local
from testkit.fake_runner import FakeRunner

pytest.importorskip("rq")
from recorder.cluster import task_job  # noqa: E402 - only with the [cluster] extra
from recorder.cluster.camera_facts import FIELD as FACTS_FIELD  # noqa: E402
from recorder.cluster.camera_facts import CameraFacts  # noqa: E402
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
    from recorder.cluster.link import OUTCOME_TTL_SECONDS, connect
    from shared.cluster_config import ClusterSettings
    with RedisServer(str(tmp_path)) as redis:
        connection = connect(ClusterSettings(redis.url))
        connection.hset("k", "attempts", 3)
        second = task_job._Claim(connection, "k", 2)
        assert second() and second.attempts == 3
        assert second()  # asked again (a retried call): still it
        assert not task_job._Claim(connection, "k", 1)()
        # A hash an attempt made again after it expired lives a day, not for good.
        assert 0 < connection.ttl("k") <= OUTCOME_TTL_SECONDS


def test_a_finished_remote_task_gives_the_history_and_the_contact_sheet_their_figures() -> None:
    from recorder.cluster.remote_task import RemoteContext, RemoteRecording
    from recorder.finished_task import from_recording
    from recorder.planner import PlannedTask
    from shared import task_status as st
    from shared.global_settings import GlobalSettings
    context = RemoteContext(None, "patrol", "c", "/out/c", "./output/c",
                            GlobalSettings.from_config({}), {}, 0.0, None)
    task = RemoteRecording(PlannedTask(1, 0, 0.0, 3), STREAM, context, None)
    # never run (cancelled while queued): the history has "not checked", as a single box's
    assert task.quality == {"checked": False, "issues": [], "measures": {}}
    black = {"checked": True, "issues": ["black"], "measures": {}}
    facts = {"video": "hevc", "audio": "aac", "resolution": "1920x1080", "connect_seconds": 0.25}
    task._take({"status": st.COMPLETED, "progress": 3.0, "bytes_received": 4096,
                "frames_received": 75, "output_file": "./output/c/cam.mp4", "quality": black,
                FACTS_FIELD: facts}, final=True, wall=100.0)
    row = from_recording("c", 90.0, task)
    assert (row.status, row.bytes, row.frames, row.clip, row.ended, row.quality) == (
        st.COMPLETED, 4096, 75, "./output/c/cam.mp4", 100.0, black)
    # what the worker learned of the camera, as a single box's history has it
    assert (row.codec, row.resolution, row.connect_seconds) == ("hevc", "1920x1080", 0.25)
    assert task.stderr.codecs == SourceCodecs("hevc", "aac")  # the next cycle's command
    assert FACTS_FIELD not in task.as_dict()  # the task record keeps its own fields
    # and the contact sheet finds the thumbnail the worker's picture checks left
    assert task.picture.path == os.path.join("/out/c", thumbnail_name("cam.mp4"))


def test_a_workers_picture_is_held_against_the_coordinators_reference(tmp_path) -> None:
    # A worker has no reference: the coordinator holds each kept thumbnail against its own,
    # as a single box does; the first healthy one becomes it.
    from PIL import Image

    from recorder.cluster.remote_task import RemoteContext, RemoteRecording
    from recorder.planner import PlannedTask
    from shared.global_settings import GlobalSettings
    view = Image.linear_gradient("L").resize((320, 180))
    turned = view.transpose(Image.Transpose.ROTATE_90).resize((320, 180))
    refs, ok = tmp_path / "refs", {"checked": True, "issues": [], "measures": {}}
    reference = refs / "cam.jpg"

    def outcome(cycle: str, picture, quality: dict) -> RemoteRecording:
        folder = tmp_path / cycle
        folder.mkdir()
        picture.save(folder / thumbnail_name("cam.mp4"))
        context = RemoteContext(None, "patrol", cycle, str(folder), f"./output/{cycle}",
                                GlobalSettings.from_config({}), {}, 0.0, None, str(refs))
        task = RemoteRecording(PlannedTask(1, 0, 0.0, 3), STREAM, context, None)
        task._take({"status": st.COMPLETED, "progress": 3.0,
                    "output_file": f"./output/{cycle}/cam.mp4", "quality": quality},
                   final=True, wall=100.0)
        return task

    first = outcome("c1", view, ok)
    assert first.quality == ok and reference.read_bytes() == (
        tmp_path / "c1" / thumbnail_name("cam.mp4")).read_bytes()
    brighter = view.point(lambda luma: min(255, luma + 12))  # healthy, other bytes
    same = outcome("c2", brighter, ok)
    assert same.quality["issues"] == [] and same.quality["measures"]["scene_changed"][
        "value"] > 0.9
    moved = outcome("c3", turned, ok)
    assert moved.quality["issues"] == ["scene_changed"]
    assert moved.quality["measures"]["scene_changed"]["value"] < 0.2
    assert moved.as_dict()["quality"] == moved.quality  # the status, the reports
    black = outcome("c4", turned, {"checked": True, "issues": ["black"], "measures": {}})
    assert black.quality["issues"] == ["black"]  # a flat picture is like no view
    # the reference stays the first healthy picture
    assert reference.read_bytes() == (tmp_path / "c1" / thumbnail_name("cam.mp4")).read_bytes()
    unchecked = outcome("c5", turned, {"checked": False, "issues": [], "measures": {}})
    assert unchecked.quality == {"checked": False, "issues": [], "measures": {}}


def test_a_clip_its_worker_may_still_finish_stays_named_when_the_coordinator_stops() -> None:
    from recorder.cluster.remote_task import RemoteContext, RemoteRecording
    from recorder.planner import PlannedTask
    from shared.global_settings import GlobalSettings
    context = RemoteContext(None, "patrol", "c", "/out/c", "./output/c",
                            GlobalSettings.from_config({}), {}, 0.0, None)
    task = RemoteRecording(PlannedTask(1, 0, 0.0, 3), STREAM, context, None)
    task.proc = task.job  # enqueued, and a worker records it
    task._take({"status": st.RECORDING, "output_file": "./output/c/cam.mp4"}, final=False,
               wall=10.0)
    task.kill_now(11.0)
    assert (task.status, task.as_dict()["output_file"]) == (st.CANCELLED, "./output/c/cam.mp4")
    # ended here: the report has its end (a later --import-history needs it)
    assert task.as_dict()["end_time"] == format_local(11.0)


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
        self.watcher, self.status = self, st.RECORDING
        self.record = {"status": st.RECORDING}
        self.bytes_read = 0
        self.stderr = CameraFacts(SourceCodecs("h264", "aac"), "1280x720")
        self.connect_seconds = 0.3

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
        return self.record

    def watch_due(self, now: float) -> float:
        return float("inf")


class _Redis:
    """Just enough of a Redis client for run_task, on a dict: it counts the live-record writes."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict] = {}
        self.records = 0

    def hexists(self, key, field) -> bool:
        return field in self.hashes.get(key, {})

    def hincrby(self, key, field, amount) -> int:
        fields = self.hashes.setdefault(key, {})
        fields[field] = int(fields.get(field, 0)) + amount
        return fields[field]

    def hget(self, key, field) -> bytes | None:
        value = self.hashes.get(key, {}).get(field)
        return None if value is None else str(value).encode()

    def hset(self, key, field, value) -> int:
        self.records += field == "record"
        self.hashes.setdefault(key, {})[field] = value
        return 1

    def hsetnx(self, key, field, value) -> int:
        fields = self.hashes.setdefault(key, {})
        if field in fields:
            return 0
        fields[field] = value
        return 1

    def expire(self, key, seconds) -> bool:
        return True

    def pipeline(self) -> _Pipeline:
        return _Pipeline(self)


class _Pipeline:
    """Commands queued, then run one after the other by execute (a transaction, as redis-py's)."""

    def __init__(self, redis: _Redis) -> None:
        self.redis, self.calls = redis, []

    def __getattr__(self, name: str):
        def queue(*args) -> _Pipeline:
            self.calls.append((getattr(self.redis, name), args))
            return self
        return queue

    def execute(self) -> list:
        calls, self.calls = self.calls, []
        return [command(*args) for command, args in calls]


def test_a_job_reads_ffmpeg_once_a_progress_tick_not_at_every_write(
        tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    clock, redis = _Clock(), _Redis()
    busy = _BusyRecording(clock, seconds=10.0)
    monkeypatch.setattr(task_job, "SYSTEM_CLOCK", clock)
    monkeypatch.setattr(task_job, "get_current_job",
                        lambda: SimpleNamespace(connection=redis, id="job-1"))
    monkeypatch.setattr(task_job, "_recording", lambda spec, number, claim: busy)
    task_job.run_task({"queue": "patrol", "cycle_dir": str(tmp_path), "stream": STREAM})
    # woken at every write: 1,000 reads; in the daemon's 0.2 s batches: 50
    assert busy.reads <= 10.0 / task_job.PROGRESS_SECONDS + 1
    # the live record once a wake-up at most, and the outcome's
    assert 2 <= redis.records <= 10.0 / task_job.PROGRESS_SECONDS + 2
    # The outcome carries what the worker learned of the camera, for the coordinator.
    outcome = json.loads(redis.hashes[task_job.task_key("patrol", "job-1")]["outcome"])
    assert outcome == {"status": st.RECORDING, FACTS_FIELD: {
        "video": "h264", "audio": "aac", "resolution": "1280x720", "connect_seconds": 0.3}}


@pytest.mark.parametrize("sent", [
    None, "h264", {},
    {"video": "h264 -i x", "audio": 7, "resolution": "big", "connect_seconds": -1.0},
    {"video": "", "audio": None, "resolution": "0x0", "connect_seconds": float("nan")},
    {"video": ["h264"], "resolution": "1280x720x3", "connect_seconds": True},
    {"connect_seconds": 10 ** 400}, {"connect_seconds": float("inf")}])
def test_camera_facts_not_of_their_form_are_unknown(sent) -> None:
    assert CameraFacts.of_outcome({"status": st.COMPLETED, FACTS_FIELD: sent}) == CameraFacts()


class _Waiting:
    """What _next_wait asks of a recording: its status and when its next watchdog is due."""

    def __init__(self, status: int, due: float = float("inf")) -> None:
        self.status, self.due = status, due

    def watch_due(self, now: float) -> float:
        return self.due


def test_a_job_wakes_each_second_while_connecting_then_each_progress_period() -> None:
    assert task_job._next_wait(_Waiting(st.CONNECTING), False, 0.0) == \
        task_job.CONNECTING_PROGRESS_SECONDS
    assert task_job._next_wait(_Waiting(st.RECORDING), False, 0.0) == task_job.PROGRESS_SECONDS
    assert task_job.PROGRESS_SECONDS > task_job.CONNECTING_PROGRESS_SECONDS


def test_a_job_wakes_just_after_a_watchdog_is_due_and_in_batches_after_the_exit() -> None:
    from recorder.wakeup import READ_BATCH_SECONDS
    assert task_job._next_wait(_Waiting(st.RECORDING, due=10.5), False, 10.0) == \
        pytest.approx(0.5 + task_job.WATCH_LATE_SECONDS)
    assert task_job._next_wait(_Waiting(st.RECORDING, due=9.0), False, 10.0) == \
        READ_BATCH_SECONDS  # overdue (a stop followed): the daemon's batch, never a busy loop
    assert task_job._next_wait(_Waiting(st.RECORDING), True, 10.0) == READ_BATCH_SECONDS


def test_a_job_whose_ffmpeg_writes_much_is_read_each_second_again() -> None:
    assert task_job._next_wait(_Waiting(st.RECORDING), False, 0.0, busy=True) == \
        task_job.CONNECTING_PROGRESS_SECONDS


def test_a_stall_is_a_read_timeout_on_time_though_the_job_reads_its_pipes_seldom(
        tmp_path, monkeypatch) -> None:
    from recorder.planner import PlannedTask
    from shared.global_settings import GlobalSettings
    from testkit.fake_runner import progress_block

    settings = GlobalSettings.from_config({"connection_timeout_seconds": 3,
                                           "read_timeout_seconds": 4})
    clock, runner = _Clock(), FakeRunner()
    monkeypatch.setattr(task_job, "SYSTEM_CLOCK", clock)
    try:
        recording = task_job.AttemptRecording(
            PlannedTask(0, 0, 0.0, 60), dict(STREAM, duration_seconds=60), str(tmp_path),
            "./output/x", settings, runner, None, PipeWatcher(), claim=lambda: True)
        recording.start(clock.monotonic(), clock.wall())
        runner.processes[0].write(stdout=progress_block(25, 1.0))  # one second, then nothing
        with task_job._ExitWatch(recording.proc) as exit_watch:
            task_job._follow(recording, lambda: None, exit_watch)
        # media seen at the first wake-up (1 s); the read timeout (4 s) is past at 5 s, and the
        # job wakes then, not at its next progress wake-up (6 s)
        assert recording._stop_sent == pytest.approx(1.0 + 4 + task_job.WATCH_LATE_SECONDS)
        assert recording.status == st.TIMEOUT and "读取超时" in recording.error_message
    finally:
        runner.close()


def test_an_unchanged_live_record_is_not_sent_again_and_a_failed_send_is_retried() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    class Flaky(_Redis):
        fail = False

        def hset(self, key, field, value) -> None:
            if self.fail:
                raise RedisConnectionError("down")
            super().hset(key, field, value)

    clock, redis = _Clock(), Flaky()
    busy = _BusyRecording(clock, seconds=1.0)
    publish = task_job._publisher(busy, redis, "key")
    publish()
    publish()  # as_dict gave the same record: nothing new to say
    assert redis.records == 1
    busy.record, redis.fail = {"status": st.COMPLETED}, True
    publish()  # Redis away: not stored...
    redis.fail = False
    publish()  # ...so sent at the next wake-up, though the record did not change since
    assert redis.records == 2
    busy.record = {"status": st.COMPLETED, "progress": 1.0}
    clock.now = 1.0  # finished: the outcome says it, with its record
    publish()
    assert redis.records == 2


def test_a_jobs_ffmpeg_waits_out_the_jobs_reading_period_before_its_own_io_timeout(
        tmp_path) -> None:
    from recorder.planner import PlannedTask
    from shared.global_settings import GlobalSettings

    settings = GlobalSettings.from_config({"connection_timeout_seconds": 10,
                                           "read_timeout_seconds": 4})
    runner = FakeRunner()
    try:
        recording = task_job.AttemptRecording(
            PlannedTask(0, 0, 0.0, 3), dict(STREAM, duration_seconds=3), str(tmp_path),
            "./output/x", settings, runner, None, PipeWatcher(), claim=lambda: True)
        recording.start(0.0, 1_700_000_000.0)
        argv = runner.processes[0].argv
        seconds = int(argv[argv.index("-timeout") + 1]) / 1_000_000
        # the daemon's backstop: 10 + 2 s; a job's pipes are read only each PROGRESS_SECONDS
        assert seconds == 10 + 2 + math.ceil(task_job.PROGRESS_SECONDS)
        # nor does the overstay guard come before a read timeout seen that late
        assert recording._overstay_timer()[2] == 10 + 3 + 4 + 5 + task_job.PROGRESS_SECONDS
    finally:
        runner.close()


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


@pytest.mark.parametrize("given", ["0.5", "-1", "nan", "inf", "61", "soon"])
def test_the_workers_progress_period_is_seconds_from_1_to_60(given: str, capsys) -> None:
    from recorder.worker import parse_args
    assert parse_args(["--config", "c.json", "--progress-seconds", "2.5"]).progress_seconds == 2.5
    with pytest.raises(SystemExit):
        parse_args(["--config", "c.json", "--progress-seconds", given])
    assert "from 1 to 60" in capsys.readouterr().err
