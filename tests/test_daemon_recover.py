"""recover(): what a restarted daemon does with the cycle a killed predecessor left behind."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from recorder.daemon import Daemon
from recorder.finished_task import FinishedTask
from recorder.history_store import HistoryStore
from recorder.history_writer import HistoryWriter
from shared import settings
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.history_schema import history_path
from shared.status_file import empty_status
from testkit.recorder_process import ffprobe

CYCLE = "20251010_163000"


def config(output_directory: str) -> dict:
    return {"global_config": {
        "total_poll_duration_seconds": 30, "max_concurrent_streams": 2,
        "output_directory": output_directory, "report_filename": "rtsp_report.json",
        "connection_timeout_seconds": 5, "read_timeout_seconds": 5, "poll_cycles": -1,
        "cycle_interval_seconds": 0}, "streams": [
        {"rtsp_url": f"rtsp://127.0.0.1:5/cam{i}", "duration_seconds": 20,
         "output_filename": f"cam{i}.mp4"} for i in (0, 1)]}


def recording_task(index: int, output_file: str) -> dict:
    """A task as the status file shows it while it records."""
    return {"task_id": index, "stream_index": index, "rtsp_url": f"rtsp://127.0.0.1:5/cam{index}",
            "output_file": output_file, "duration_seconds": 20, "planned_offset": 0.0,
            "status": st.RECORDING, "status_code": st.RECORDING, "status_text": "录制中",
            "status_name": "录制中", "start_time": "2025-10-10 16:30:00", "end_time": "",
            "progress": 6.0, "bytes_received": 60000, "frames_received": 150,
            "error_message": ""}


def killed_mid_cycle(config_path: str, output_directory: str) -> None:
    """The status file of a daemon killed while recording two tasks into ``output_directory``."""
    status = empty_status()
    status.update(pid=1, heartbeat=1_760_085_000.0, scheduler_running=True, current_cycle=3,
                  cycle={"dir": CYCLE, "running": True, "start_time": "2025-10-10 16:30:00",
                         "started_at": 1_760_085_000.0, "elapsed_seconds": 8,
                         "total_seconds": 30},
                  schedule_info="调度方案: 2个任务",
                  tasks=[recording_task(i, f"{output_directory}/{CYCLE}/cam{i}.mp4")
                         for i in (0, 1)])
    os.makedirs(settings.state_dir(config_path), exist_ok=True)
    write_json_atomic(settings.status_path(config_path), status)


def recovered(config_path: str) -> Daemon:
    """A daemon after its recovery, the contact sheet it draws meanwhile drawn (the folder
    listed before or after it: a .tmp of it, or none, at random)."""
    daemon = Daemon(config_path)
    daemon.recover()
    assert daemon.launcher.sheets.wait(30)
    return daemon


def test_recovery_finds_the_cycle_where_it_was_recorded_after_an_output_folder_change(
        tmp_path) -> None:
    # The cycle was recording into ./old; the config was then changed to ./new (which
    # applies from the next cycle), and the daemon was killed before that cycle ended.
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, config("./new"))
    killed_mid_cycle(config_path, "./old")
    folder = tmp_path / "old" / CYCLE
    folder.mkdir(parents=True)
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25",
                    "-t", "2", "-c:v", "libx264", "-f", "mp4", "-movflags",
                    "+frag_keyframe+empty_moov+default_base_moof", "-y",
                    str(folder / ".cam0.mp4.part")], check=True, stdin=subprocess.DEVNULL)
    (folder / ".cam1.mp4.part").write_bytes(b"")

    recovered(config_path)

    assert sorted(p.name for p in folder.iterdir()) == [
        "cam0.mp4", "report.txt", "rtsp_report.json", "streams.csv"]
    assert float(ffprobe(str(folder / "cam0.mp4"))["format"]["duration"]) > 1
    report = json.loads((folder / "rtsp_report.json").read_text(encoding="utf-8"))
    assert [t["status"] for t in report["tasks"]] == [st.CANCELLED, st.CANCELLED]
    assert report["summary"]["interrupted"] and report["summary"]["cycle"] == 3
    assert {key: report["summary"][key] for key in (
        "total_tasks", "completed_tasks", "failed_tasks", "cancelled_tasks", "completion_rate")
    } == {"total_tasks": 2, "completed_tasks": 0, "failed_tasks": 0, "cancelled_tasks": 2,
          "completion_rate": 0.0}
    assert not (tmp_path / "new").exists()
    # Only the clip that was recovered is named; the empty work file left none.
    assert [t["output_file"] for t in report["tasks"]] == [f"./old/{CYCLE}/cam0.mp4", None]
    text = (folder / "report.txt").read_text(encoding="utf-8")
    assert "cam0.mp4" in text and "cam1.mp4" not in text


def test_a_recovered_report_has_the_summary_of_a_cycle_report(tmp_path) -> None:
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, config("./output"))
    killed_mid_cycle(config_path, "./output")
    (tmp_path / "output" / CYCLE).mkdir(parents=True)

    Daemon(config_path).recover()

    report = json.loads((tmp_path / "output" / CYCLE / "rtsp_report.json").read_text("utf-8"))
    assert set(report["summary"]) == {
        "cycle", "cycle_dir", "start_time", "end_time", "total_duration",
        "max_concurrent_streams", "total_tasks", "completed_tasks", "failed_tasks",
        "cancelled_tasks", "max_concurrent_used", "completion_rate", "not_scheduled",
        "interrupted"}
    # This status file predates the cycle's own cap in it: the configured one stands in.
    assert report["summary"]["max_concurrent_streams"] == 2


def test_recovery_in_the_configured_folder_still_works(tmp_path) -> None:
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, config("./output"))
    killed_mid_cycle(config_path, "./output")
    folder = tmp_path / "output" / CYCLE
    folder.mkdir(parents=True)
    (folder / ".cam0.mp4.part").write_bytes(b"not a video")

    recovered(config_path)

    assert sorted(p.name for p in folder.iterdir()) == [  # a sheet of grey tiles
        "contact_sheet.jpg", "report.txt", "rtsp_report.json", "streams.csv"]


def test_a_status_pointing_outside_a_cycle_folder_is_not_followed(tmp_path) -> None:
    # The task paths must name the cycle's own folder; anything else falls back to
    # the configured output folder, where this cycle does not exist: nothing is touched.
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, config("./output"))
    killed_mid_cycle(config_path, "./elsewhere")
    status_path = settings.status_path(config_path)
    status = json.loads(open(status_path, encoding="utf-8").read())
    for task in status["tasks"]:
        task["output_file"] = "./elsewhere/cam0.mp4"
    write_json_atomic(status_path, status)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / ".cam0.mp4.part").write_bytes(b"not a video")

    Daemon(config_path).recover()

    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == [".cam0.mp4.part"]


def test_recovery_works_while_the_config_is_broken(tmp_path) -> None:
    # The restart found config.json broken by a hand edit: the status file still names
    # the cycle's folder and report file, so the interrupted cycle is finished anyway.
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, config("./output"))
    killed_mid_cycle(config_path, "./output")
    status_path = settings.status_path(config_path)
    status = json.loads(open(status_path, encoding="utf-8").read())
    folder = tmp_path / "output" / CYCLE
    status["cycle"].update(path=str(folder), report_filename="patrol.json",
                           max_concurrent_streams=2)
    write_json_atomic(status_path, status)
    folder.mkdir(parents=True)
    (folder / ".cam0.mp4.part").write_bytes(b"not a video")
    (tmp_path / "config.json").write_text("{ broken", encoding="utf-8")

    recovered(config_path)

    assert sorted(p.name for p in folder.iterdir()) == ["patrol.json", "report.txt",
                                                        "streams.csv"]
    report = json.loads((folder / "patrol.json").read_text(encoding="utf-8"))
    assert report["summary"]["max_concurrent_streams"] == 2
    assert [t["status"] for t in report["tasks"]] == [st.CANCELLED, st.CANCELLED]


def killed_before_publishing_the_next_cycle(config_path: str, tmp_path) -> Path:
    """A recorder killed between creating the next cycle's folder and publishing it: the
    status shows the cycle before, finished. The new folder, empty."""
    killed_mid_cycle(config_path, "./output")
    status_path = settings.status_path(config_path)
    status = json.loads(open(status_path, encoding="utf-8").read())
    status["cycle"]["running"] = False
    write_json_atomic(status_path, status)
    (tmp_path / "output" / CYCLE).mkdir(parents=True)
    newer = tmp_path / "output" / "20251010_163100"
    newer.mkdir()
    return newer


def test_a_cycle_folder_made_after_the_last_status_write_is_reported_too(tmp_path) -> None:
    # Killed between creating the next cycle's folder and publishing it: the status
    # still shows the cycle before, finished. The new folder gets a report all the same.
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, config("./output"))
    newer = killed_before_publishing_the_next_cycle(config_path, tmp_path)
    (newer / ".cam0.mp4.part").write_bytes(b"")

    daemon = Daemon(config_path)
    daemon.recover()

    assert sorted(p.name for p in newer.iterdir()) == ["report.txt", "rtsp_report.json",
                                                       "streams.csv"]
    report = json.loads((newer / "rtsp_report.json").read_text(encoding="utf-8"))
    assert report["summary"]["interrupted"] and report["summary"]["cycle"] == 4
    assert report["tasks"] == []
    assert not (tmp_path / "output" / CYCLE / "rtsp_report.json").exists()  # it had its own end
    assert daemon.state.last_cycle_number == 4


def cycle_finished_config(config_path: str) -> None:
    """config.json with a webhook of cycle.finished (nothing listens: the outbox is read)."""
    g = config("./output")
    g["global_config"]["alerts"] = {"webhooks": [{"url": "http://127.0.0.1:9/hook",
                                                  "events": ["cycle.finished"]}]}
    write_json_atomic(config_path, g)


def outbox(config_path: str) -> list[tuple[str, dict]]:
    conn = sqlite3.connect(history_path(config_path))
    try:
        rows = conn.execute("SELECT event, body FROM outbox ORDER BY id").fetchall()
    finally:
        conn.close()
    return [(event, json.loads(body)) for event, body in rows]


def queued_so_far(config_path: str) -> list[tuple[str, dict]]:
    """The outbox, or nothing while the history's thread has not made it yet (its file may
    exist before its tables: a read then found no outbox table, once in four runs)."""
    if not os.path.exists(history_path(config_path)):
        return []  # not made yet (a connect would make an empty file)
    try:
        return outbox(config_path)
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return []


def test_a_cycle_folder_made_after_the_last_status_write_sends_its_cycle_finished_once(
        tmp_path) -> None:
    # Its report was written at the restart, but no cycle.finished: a receiver never heard of
    # that cycle, as it did of an interrupted cycle the status showed.
    config_path = str(tmp_path / "config.json")
    cycle_finished_config(config_path)
    killed_before_publishing_the_next_cycle(config_path, tmp_path)

    Daemon(config_path).recover()
    os.remove(tmp_path / "output" / "20251010_163100" / "rtsp_report.json")
    Daemon(config_path).recover()  # killed after the write, before its status: done again

    [(event, body)] = outbox(config_path)
    assert (event, body["cycle"], body["recovered"]) == ("cycle.finished", "20251010_163100",
                                                          True)
    assert body["counts"] == {"total_tasks": 0, "completed_tasks": 0, "failed_tasks": 0,
                              "cancelled_tasks": 0, "not_scheduled": 0}
    assert body["message"].startswith("第 4 轮巡检结束（20251010_163100）")


def test_a_killed_ffmpegs_thumbnail_is_kept_with_its_recovered_clip_and_removed_without(
        tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, config("./output"))
    killed_mid_cycle(config_path, "./output")
    folder = tmp_path / "output" / CYCLE
    folder.mkdir(parents=True)
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25",
                    "-t", "2", "-c:v", "libx264", "-f", "mp4", "-movflags",
                    "+frag_keyframe+empty_moov+default_base_moof", "-y",
                    str(folder / ".cam0.mp4.part")], check=True, stdin=subprocess.DEVNULL)
    (folder / ".cam0.mp4.jpg.tmp").write_bytes(b"\xff\xd8 last keyframe")
    (folder / ".cam1.mp4.part").write_bytes(b"")  # nothing playable: no clip, no thumbnail
    (folder / ".cam1.mp4.jpg.tmp").write_bytes(b"\xff\xd8")
    # The picture checks' figures of both: no verdict is drawn from a killed ffmpeg's.
    (folder / ".cam0.mp4.fig.tmp").write_text("frame:0    pts:0       pts_time:0\n")
    (folder / ".cam1.mp4.fig.tmp").write_text("")
    (folder / ".cam0.mp4.blur.tmp").write_text("frame:0    pts:0       pts_time:0\n")

    recovered(config_path)

    assert sorted(p.name for p in folder.iterdir()) == [
        ".cam0.mp4.jpg", "cam0.mp4", "contact_sheet.jpg", "report.txt", "rtsp_report.json",
        "streams.csv"]
    assert (folder / ".cam0.mp4.jpg").read_bytes() == b"\xff\xd8 last keyframe"
    assert f"recovered interrupted cycle {CYCLE}: 1 partial clip kept" in caplog.text  # not clips


def finished_before_the_kill(config_path: str, live_cam0: bool) -> float:
    """cam0 ended 已完成 and cam1 failed before the kill; cam0's outcome was committed when
    ``live_cam0`` (the history's batch not yet written otherwise). Returns cam0's end."""
    status_path = settings.status_path(config_path)
    status = json.loads(open(status_path, encoding="utf-8").read())
    for task, code, name in zip(status["tasks"], (st.COMPLETED, st.CONNECTION_ERROR),
                                ("已完成", "连接失败")):
        task.update(status=code, status_code=code, status_text=name, status_name=name,
                    end_time=f"2025-10-10 16:30:2{task['task_id']}")
    write_json_atomic(status_path, status)
    ended = time.mktime(time.strptime("2025-10-10 16:30:20", "%Y-%m-%d %H:%M:%S")) + 0.4
    if live_cam0:  # as the recorder wrote it: sub-second end, before it was killed
        writer = HistoryWriter(HistoryStore(history_path(config_path)))
        writer.record(FinishedTask(camera="cam0", name="", url="rtsp://127.0.0.1:5/cam0",
                                   alerts=True, cycle=CYCLE, ended=ended, status=st.COMPLETED))
        writer.flush(None, 0.0, ended, force=True)
        writer.close()
    return ended


def outcomes(config_path: str) -> list[tuple]:
    conn = sqlite3.connect(history_path(config_path))
    try:
        return conn.execute("SELECT camera, cycle, status FROM outcomes ORDER BY camera").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("live_cam0", [False, True])
def test_recovery_puts_the_interrupted_cycles_outcomes_into_the_history_once(
        tmp_path, live_cam0) -> None:
    # The history commits outcomes in batches: a kill -9 loses the last one. The
    # report recovery writes has them; what the history already had stays single.
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, config("./output"))
    killed_mid_cycle(config_path, "./output")
    (tmp_path / "output" / CYCLE).mkdir(parents=True)
    finished_before_the_kill(config_path, live_cam0)

    Daemon(config_path).recover()
    Daemon(config_path).recover()  # killed again before its first write: nothing twice

    assert outcomes(config_path) == [("cam0", CYCLE, st.COMPLETED),
                                     ("cam1", CYCLE, st.CONNECTION_ERROR)]


def test_an_outcome_recovery_puts_back_raises_the_event_it_would_have_raised(tmp_path) -> None:
    # cam1's failure took it offline, but the batch holding the outcome and its event
    # was not written before the kill: the restart queues camera.offline, once.
    config_path = str(tmp_path / "config.json")
    g = config("./output")
    g["global_config"].update(offline_after_failures=1,
                              alerts={"webhooks": [{"url": "http://127.0.0.1:9/hook"}]})
    write_json_atomic(config_path, g)
    killed_mid_cycle(config_path, "./output")
    (tmp_path / "output" / CYCLE).mkdir(parents=True)
    finished_before_the_kill(config_path, live_cam0=True)

    Daemon(config_path).recover()
    Daemon(config_path).recover()

    conn = sqlite3.connect(history_path(config_path))
    try:
        events = conn.execute("SELECT event, body FROM outbox").fetchall()
    finally:
        conn.close()
    assert [(event, json.loads(body).get("camera", {}).get("id")) for event, body in events] == [
        ("camera.offline", "cam1"), ("cycle.finished", None)]


def test_the_interrupted_cycle_sends_its_cycle_finished_once_saying_it_was_recovered(
        tmp_path) -> None:
    # The killed recorder never sent the cycle's cycle.finished and the recovery that wrote
    # its report did not either: a cycle.finished receiver missed that cycle's summary.
    config_path = str(tmp_path / "config.json")
    cycle_finished_config(config_path)
    killed_mid_cycle(config_path, "./output")
    (tmp_path / "output" / CYCLE).mkdir(parents=True)
    finished_before_the_kill(config_path, live_cam0=True)

    Daemon(config_path).recover()
    Daemon(config_path).recover()  # killed again while recovering: not queued twice

    [(event, body)] = outbox(config_path)
    assert (event, body["cycle"], body["recovered"]) == ("cycle.finished", CYCLE, True)
    assert body["counts"] == {"total_tasks": 2, "completed_tasks": 1, "failed_tasks": 1,
                              "cancelled_tasks": 0, "not_scheduled": 0}
    assert body["message"].startswith("第 3 轮巡检结束（20251010_163000）：共 2 个任务")
    assert "意外退出" in body["message"]


@pytest.mark.parametrize("restarted_again", [False, True])
def test_a_restart_without_a_valid_config_sends_the_cycle_once_a_valid_one_is_loaded(
        tmp_path, restarted_again) -> None:
    # No valid config at the restart: the interrupted cycle's report was written, but its
    # tasks never reached the history nor its cycle.finished a receiver (both need the config's
    # cameras and receivers), not after the config was fixed either.
    config_path = str(tmp_path / "config.json")
    cycle_finished_config(config_path)
    killed_mid_cycle(config_path, "./output")
    (tmp_path / "output" / CYCLE).mkdir(parents=True)
    finished_before_the_kill(config_path, live_cam0=False)
    valid = (tmp_path / "config.json").read_text(encoding="utf-8")
    (tmp_path / "config.json").write_text("{ broken", encoding="utf-8")
    daemon = Daemon(config_path)
    daemon.recover()
    assert (tmp_path / "output" / CYCLE / "rtsp_report.json").exists()
    if restarted_again:  # still without one: its status shows no cycle any more
        daemon.history.close(0.0, 1e9, lambda: None)
        write_json_atomic(settings.status_path(config_path), empty_status())
        daemon = Daemon(config_path)
        daemon.recover()
    daemon.history.step(0.0, 1e9, lambda: None)
    assert queued_so_far(config_path) == []

    (tmp_path / "config.json").write_text(valid, encoding="utf-8")
    daemon.config_watch.poll(force=True)
    daemon.history.step(1.0, 1e9, lambda: None)
    daemon.history.step(2.0, 1e9, lambda: None)  # handed over once
    daemon.history.close(3.0, 1e9, lambda: None)

    [(event, body)] = outbox(config_path)
    assert (event, body["cycle"], body["recovered"]) == ("cycle.finished", CYCLE, True)
    assert body["counts"]["completed_tasks"] == 1 and body["counts"]["failed_tasks"] == 1
    assert outcomes(config_path) == [("cam0", CYCLE, st.COMPLETED),
                                     ("cam1", CYCLE, st.CONNECTION_ERROR)]
    restarted = Daemon(config_path)  # the note is gone: nothing sent twice
    restarted.recover()
    restarted.history.close(4.0, 1e9, lambda: None)
    assert len(outbox(config_path)) == 1


def test_the_last_finished_cycles_tasks_missing_from_the_history_are_put_back(tmp_path) -> None:
    # Killed between the cycle's end (report written, status published) and the
    # history's commit of its last batch: the restart reads them from the report.
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, config("./output"))
    killed_mid_cycle(config_path, "./output")
    (tmp_path / "output" / CYCLE).mkdir(parents=True)
    finished_before_the_kill(config_path, live_cam0=True)
    Daemon(config_path).recover()  # writes the cycle's report
    conn = sqlite3.connect(history_path(config_path))
    with conn:
        conn.execute("DELETE FROM outcomes WHERE camera = 'cam1'")
    conn.close()
    status_path = settings.status_path(config_path)
    status = json.loads(open(status_path, encoding="utf-8").read())
    status["cycle"]["running"] = False
    write_json_atomic(status_path, status)

    Daemon(config_path).recover()

    assert outcomes(config_path) == [("cam0", CYCLE, st.COMPLETED),
                                     ("cam1", CYCLE, st.CONNECTION_ERROR)]


def cluster_config_with_a_worker_writing(tmp_path, queue_now: str | None) -> tuple[str, object]:
    """A config of cluster queue ``queue_now`` (None: single-box mode) and cycle CYCLE's folder
    in the output, a worker's ffmpeg writing its clip there."""
    config_path = str(tmp_path / "config.json")
    data = config("./output")
    if queue_now is not None:
        data["cluster"] = {"redis_url": "redis://127.0.0.1:1/0", "queue": queue_now}
    write_json_atomic(config_path, data)
    folder = tmp_path / "output" / CYCLE
    folder.mkdir(parents=True)
    (folder / ".cam0.mp4.part").write_bytes(b"a worker's ffmpeg writes here")
    return config_path, folder


def cluster_cycle_killed(tmp_path, queue_now: str | None, report: dict | None = None):
    """A coordinator killed while the workers of queue "patrol" recorded its cycle, restarted
    with a config of cluster queue ``queue_now`` (None: single-box mode now); ``report``: the
    cycle's report written meanwhile (by a takeover)."""
    config_path, folder = cluster_config_with_a_worker_writing(tmp_path, queue_now)
    if report is not None:
        write_json_atomic(str(folder / "rtsp_report.json"), report)
    killed_mid_cycle(config_path, "./output")
    status_path = settings.status_path(config_path)
    with open(status_path, encoding="utf-8") as handle:
        status = json.load(handle)
    status["cycle"]["cluster_queue"] = "patrol"
    write_json_atomic(status_path, status)
    daemon = Daemon(config_path)
    daemon.recover()
    return daemon, folder


def test_a_cluster_cycle_is_left_to_the_takeover_its_workers_files_untouched(tmp_path) -> None:
    daemon, folder = cluster_cycle_killed(tmp_path, "patrol")
    assert sorted(p.name for p in folder.iterdir()) == [
        ".cam0.mp4.part", "report.txt", "rtsp_report.json", "streams.csv"]
    assert (folder / ".cam0.mp4.part").read_bytes() == b"a worker's ffmpeg writes here"
    report = json.loads((folder / "rtsp_report.json").read_text(encoding="utf-8"))
    assert report["summary"]["interrupted"]  # reported again by the takeover
    assert daemon.launcher.left_status["cycle"]["dir"] == CYCLE  # for the takeover to report


def test_a_restarted_coordinator_does_not_undo_what_a_takeover_reported_since(tmp_path) -> None:
    # Another recorder took the lock, reported the cycle with cam0's outcome from Redis (which
    # keeps it 10 minutes more), then this one restarts on its old status: cam0 stays done.
    done = dict(recording_task(0, f"./output/{CYCLE}/cam0.mp4"), status=st.COMPLETED,
                status_code=st.COMPLETED, end_time="2025-10-10 16:30:21", progress=20.0)
    _, folder = cluster_cycle_killed(tmp_path, "patrol", {
        "summary": {"interrupted": "录制守护进程意外退出"},
        "tasks": [done, dict(recording_task(1, ""), status=st.CANCELLED,
                             error_message="录制守护进程意外退出, 任务中断")]})
    report = json.loads((folder / "rtsp_report.json").read_text(encoding="utf-8"))
    assert [(t["status"], t["progress"]) for t in report["tasks"]] == [
        (st.COMPLETED, 20.0), (st.CANCELLED, 6.0)]
    assert report["summary"]["completed_tasks"] == 1


def test_a_damaged_report_neither_stops_recovery_nor_changes_a_tasks_own_fields(
        tmp_path) -> None:
    rows = ["x", {"stream_index": [0], "status": st.COMPLETED},
            {"stream_index": 0, "status": [st.COMPLETED]},
            {"stream_index": 0, "status": float(st.COMPLETED)},
            {"stream_index": 1.0, "status": st.COMPLETED},
            {"stream_index": 1, "status": st.COMPLETED, "rtsp_url": "rtsp://elsewhere/x",
             "duration_seconds": 99, "task_id": 7}]
    _, folder = cluster_cycle_killed(tmp_path, "patrol", {
        "summary": {"interrupted": "录制守护进程意外退出"}, "tasks": rows})
    tasks = json.loads((folder / "rtsp_report.json").read_text(encoding="utf-8"))["tasks"]
    assert [t["status"] for t in tasks] == [st.CANCELLED, st.COMPLETED]
    assert [(t["task_id"], t["rtsp_url"], t["duration_seconds"]) for t in tasks] == [
        (i, f"rtsp://127.0.0.1:5/cam{i}", 20) for i in (0, 1)]


@pytest.mark.parametrize("queue_now", [None, "other"])
def test_a_cluster_cycle_of_a_queue_the_config_names_no_more_is_recovered_here(
        tmp_path, queue_now) -> None:
    daemon, folder = cluster_cycle_killed(tmp_path, queue_now)
    assert daemon.launcher.sheets.wait(30)  # the sheet the restart draws (grey tiles), drawn
    assert sorted(p.name for p in folder.iterdir()) == [  # nothing playable in the work file
        "contact_sheet.jpg", "report.txt", "rtsp_report.json", "streams.csv"]
    assert daemon.launcher.left_status is None


def test_a_standby_leaves_the_coordinators_live_cycle_folder_alone(tmp_path) -> None:
    # Cluster mode, a second recorder on its own (fresh) state folder: the shared output holds
    # the coordinator's live cycle, no report yet, a worker writing its clip. Not a cycle made
    # "just before this recorder was killed": left alone.
    config_path, live = cluster_config_with_a_worker_writing(tmp_path, "patrol")

    daemon = Daemon(config_path)
    daemon.recover()

    assert sorted(p.name for p in live.iterdir()) == [".cam0.mp4.part"]
    assert daemon.launcher.left_status is None
