"""Tasks and scheduler endpoints, driven by a hand-written status file and checked via the control file."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared import task_status
from shared.control_file import read_control
from tests.helpers import WriteStatus, assert_error

TASK_FIELDS = {"task_id", "stream_index", "rtsp_url", "output_file", "duration_seconds",
               "status", "status_code", "status_text", "status_name", "start_time", "end_time",
               "progress", "bytes_received", "frames_received", "error_message",
               # beyond SPEC's list: when the task was planned, really started, and took
               "planned_offset", "start_offset", "run_seconds",
               # the picture checks' verdict (README "Picture checks")
               "quality"}
STATS_FIELDS = {"total_tasks", "completed_tasks", "failed_tasks", "cancelled_tasks",
                "max_concurrent_used", "completion_rate"}
SCHEDULE_INFO = "调度方案: 2个任务\n任务 0: 0秒开始, 持续 15秒\n任务 1: 5秒开始, 持续 20秒"


def _task(index: int, status: int, **extra: Any) -> dict:
    task = {
        "task_id": index, "stream_index": index,
        "rtsp_url": f"rtsp://127.0.0.1:8554/cam{index + 1}",
        "output_file": f"./output/20251011_144708/test_stream{index + 1}.mp4",
        "duration_seconds": 15 + 5 * index, "status": status,
        "start_time": "2025-10-11 14:47:08" if status else "", "end_time": "",
        "progress": 3 * index, "bytes_received": 1000 * index, "frames_received": 25 * index,
        "error_message": "",
    }
    task.update(extra)
    return task


def _running_status(write_status: WriteStatus, *, stale: bool = False, **extra: Any) -> dict:
    fields: dict[str, Any] = {
        "scheduler_running": True, "start_generation": 1, "start_time": "2025-10-11 14:47:08",
        "end_time": "", "current_cycle": 3,
        "cycle": {"dir": "20251011_144708", "running": True, "start_time": "2025-10-11 14:47:08",
                  "started_at": time.time() - 25, "elapsed_seconds": 25, "total_seconds": 60},
        "stats": {"total_tasks": 2, "completed_tasks": 1, "failed_tasks": 0,
                  "cancelled_tasks": 0, "max_concurrent_used": 2},
        "schedule_info": SCHEDULE_INFO,
        "tasks": [_task(0, task_status.COMPLETED, end_time="2025-10-11 14:47:23", progress=15),
                  _task(1, task_status.RECORDING, progress=12)],
    }
    fields.update(extra)
    return write_status(stale=stale, **fields)


# --- no recorder -----------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/api/tasks", "/api/tasks/status"])
def test_tasks_without_a_status_file(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200
    body = response.get_json()
    assert body["scheduler_running"] is False
    assert body["recorder_alive"] is False
    assert body["count"] == 0 and body["tasks"] == []
    assert {key: body[key] for key in STATS_FIELDS} == {key: 0 for key in STATS_FIELDS}
    assert isinstance(body["completion_rate"], float)


def test_list_tasks_without_a_status_file_has_schedule_info(client: FlaskClient) -> None:
    body = client.get("/api/tasks").get_json()
    assert body["schedule_info"] == ""
    assert body["not_scheduled"] == []


def test_scheduler_status_without_a_status_file(client: FlaskClient) -> None:
    body = client.get("/api/scheduler/status").get_json()
    assert body["is_running"] is False
    assert body["recorder_alive"] is False
    assert body["start_time"] == "" and body["end_time"] == ""
    assert STATS_FIELDS <= set(body)


def test_cycle_without_a_status_file(client: FlaskClient) -> None:
    body = client.get("/api/scheduler/cycle").get_json()
    assert body["is_running"] is False and body["scheduler_running"] is False
    assert body["current_cycle"] == 0
    assert body["cycle_info"] == {"start_time": "", "elapsed_seconds": 0, "total_duration": 0,
                                  "progress_percentage": 0.0}
    assert body["cycle_progress"] == {"elapsed_seconds": 0, "total_seconds": 0,
                                      "progress_percentage": 0.0}
    assert body["active_tasks"] == []
    assert set(body["scheduler_stats"]) == STATS_FIELDS


@pytest.mark.parametrize("action", ["start", "stop"])
def test_start_stop_without_recorder_is_503(client: FlaskClient, control_path: Path,
                                            action: str) -> None:
    body = assert_error(client.post(f"/api/scheduler/{action}"), 503)
    assert body["message"] == "录制守护进程未运行"
    assert not control_path.exists()


@pytest.mark.parametrize("action", ["start", "stop"])
def test_start_stop_with_stale_heartbeat_is_503(client: FlaskClient, write_status: WriteStatus,
                                                control_path: Path, action: str) -> None:
    _running_status(write_status, stale=True)
    assert_error(client.post(f"/api/scheduler/{action}"), 503, "录制守护进程未运行")
    assert not control_path.exists()


def test_damaged_status_file_counts_as_no_recorder(client: FlaskClient, status_path: Path) -> None:
    status_path.parent.mkdir(parents=True, exist_ok=True)
    status_path.write_text('{"heartbeat": ', encoding="utf-8")
    assert client.get("/api/tasks").get_json()["recorder_alive"] is False
    assert_error(client.post("/api/scheduler/start"), 503)


def test_status_without_monotonic_beat_uses_wall_clock(client: FlaskClient,
                                                       write_status: WriteStatus) -> None:
    write_status(heartbeat_monotonic=None, heartbeat=time.time())
    assert client.get("/api/tasks").get_json()["recorder_alive"] is True
    write_status(heartbeat_monotonic=None, heartbeat=time.time() - 3600)
    assert client.get("/api/tasks").get_json()["recorder_alive"] is False


# --- start and stop --------------------------------------------------------------------------

def test_start(client: FlaskClient, write_status: WriteStatus, control_path: Path) -> None:
    write_status(scheduler_running=False)
    response = client.post("/api/scheduler/start")
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "message": "调度器启动成功",
                                   "is_running": True}
    control = read_control(str(control_path))
    assert control["scheduler_running"] is True
    assert control["start_generation"] == 1
    assert control["changed_at"]


def test_second_start_while_running_is_409(client: FlaskClient, write_status: WriteStatus,
                                           control_path: Path) -> None:
    write_status(scheduler_running=False)
    assert client.post("/api/scheduler/start").status_code == 200
    # The recorder picks the start up.
    write_status(scheduler_running=True, start_generation=1)
    response = client.post("/api/scheduler/start")
    assert response.get_json() == {"error": "Conflict", "message": "调度器已经在运行中"}
    assert response.status_code == 409
    control = read_control(str(control_path))
    assert (control["scheduler_running"], control["start_generation"]) == (True, 1)


def test_second_start_before_the_recorder_acts_is_409(client: FlaskClient,
                                                      write_status: WriteStatus,
                                                      control_path: Path) -> None:
    write_status(scheduler_running=False, start_generation=0)
    assert client.post("/api/scheduler/start").status_code == 200
    assert_error(client.post("/api/scheduler/start"), 409, "调度器已经在运行中")
    assert read_control(str(control_path))["start_generation"] == 1


def test_stop(client: FlaskClient, write_status: WriteStatus, control_path: Path) -> None:
    write_status(scheduler_running=False)
    assert client.post("/api/scheduler/start").status_code == 200
    write_status(scheduler_running=True, start_generation=1)
    response = client.post("/api/scheduler/stop")
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "message": "调度器停止成功",
                                   "is_running": False}
    control = read_control(str(control_path))
    assert control["scheduler_running"] is False
    assert control["start_generation"] == 1
    # Stopping twice is harmless.
    assert client.post("/api/scheduler/stop").status_code == 200


def test_start_after_stop_bumps_the_generation(client: FlaskClient, write_status: WriteStatus,
                                               control_path: Path) -> None:
    write_status(scheduler_running=True, start_generation=1)
    assert client.post("/api/scheduler/start").status_code == 200
    first = read_control(str(control_path))["start_generation"]
    assert client.post("/api/scheduler/stop").status_code == 200
    assert client.post("/api/scheduler/start").status_code == 200
    control = read_control(str(control_path))
    assert (control["scheduler_running"], control["start_generation"]) == (True, first + 1)


def test_start_counts_on_from_the_generation_the_recorder_acted_on(
        client: FlaskClient, write_status: WriteStatus, control_path: Path) -> None:
    # The control file was lost (deleted, damaged) after the recorder acted on start 3
    # and was stopped: a start must carry a generation the recorder has not seen, or
    # it would take it for the old one and stay stopped.
    write_status(scheduler_running=False, start_generation=3)
    control_path.parent.mkdir(parents=True, exist_ok=True)
    control_path.write_bytes(b"\x00damaged")
    assert client.post("/api/scheduler/start").status_code == 200
    control = read_control(str(control_path))
    assert (control["scheduler_running"], control["start_generation"]) == (True, 4)


def test_desired_state_is_reported(client: FlaskClient, write_status: WriteStatus) -> None:
    write_status(scheduler_running=False)
    assert client.get("/api/tasks").get_json()["desired_running"] is False
    client.post("/api/scheduler/start")
    assert client.get("/api/tasks").get_json()["desired_running"] is True


# --- tasks -----------------------------------------------------------------------------------

def test_tasks_list(client: FlaskClient, write_status: WriteStatus) -> None:
    _running_status(write_status, not_scheduled=[
        {"stream_index": 2, "rtsp_url": "rtsp://h/c", "reason": "窗口内放不下"}])
    response = client.get("/api/tasks")
    assert response.status_code == 200
    body = response.get_json()
    assert body["scheduler_running"] is True and body["recorder_alive"] is True
    assert {key: body[key] for key in STATS_FIELDS} == {
        "total_tasks": 2, "completed_tasks": 1, "failed_tasks": 0, "cancelled_tasks": 0,
        "max_concurrent_used": 2, "completion_rate": 0.5}
    assert body["count"] == 2
    assert body["schedule_info"] == SCHEDULE_INFO
    assert body["not_scheduled"] == [{"stream_index": 2, "rtsp_url": "rtsp://h/c",
                                      "reason": "窗口内放不下"}]
    first, second = body["tasks"]
    assert set(first) == TASK_FIELDS
    assert first == {
        "task_id": 0, "stream_index": 0, "rtsp_url": "rtsp://127.0.0.1:8554/cam1",
        "output_file": "./output/20251011_144708/test_stream1.mp4", "duration_seconds": 15,
        "status": 4, "status_code": 4, "status_text": "已完成", "status_name": "已完成",
        "start_time": "2025-10-11 14:47:08", "end_time": "2025-10-11 14:47:23", "progress": 15,
        "bytes_received": 0, "frames_received": 0, "error_message": "",
        "planned_offset": None, "start_offset": None, "run_seconds": None,
        "quality": {"checked": False, "issues": [], "measures": {}}}
    assert (second["status"], second["status_text"], second["end_time"]) == (3, "录制中", "")


def test_live_tasks(client: FlaskClient, write_status: WriteStatus) -> None:
    _running_status(write_status)
    body = client.get("/api/tasks/status").get_json()
    assert body["scheduler_running"] is True
    assert body["completion_rate"] == 0.5
    assert [set(task) for task in body["tasks"]] == [TASK_FIELDS, TASK_FIELDS]
    assert [task["progress"] for task in body["tasks"]] == [15, 12]


@pytest.mark.parametrize("code", sorted(task_status.NAMES))
def test_every_status_code_has_its_name(client: FlaskClient, write_status: WriteStatus,
                                        code: int) -> None:
    write_status(tasks=[_task(0, code)])
    task = client.get("/api/tasks").get_json()["tasks"][0]
    assert (task["status"], task["status_code"]) == (code, code)
    assert task["status_text"] == task["status_name"] == task_status.NAMES[code]


def test_status_names_match_the_spec() -> None:
    assert task_status.NAMES == {0: "等待中", 1: "连接中", 2: "已连接", 3: "录制中", 4: "已完成",
                                 5: "连接错误", 6: "录制错误", 7: "超时", 8: "已取消", 9: "流不可用"}


@pytest.mark.parametrize(("url", "masked"), [
    ("rtsp://admin:s3cret@10.0.0.5:554/Streaming/101", "rtsp://admin:***@10.0.0.5:554/Streaming/101"),
    ("rtsp://admin@10.0.0.5/x", "rtsp://***@10.0.0.5/x"),
    ("rtsps://u:p@ss@cam.example.com/live", "rtsps://u:***@cam.example.com/live"),
    ("rtsp://10.0.0.5/plain", "rtsp://10.0.0.5/plain"),
])
def test_task_rtsp_url_is_masked(client: FlaskClient, write_status: WriteStatus, url: str,
                                 masked: str) -> None:
    write_status(tasks=[_task(0, task_status.RECORDING, rtsp_url=url)])
    for endpoint in ("/api/tasks", "/api/tasks/status"):
        response = client.get(endpoint)
        assert response.get_json()["tasks"][0]["rtsp_url"] == masked
        assert "s3cret" not in response.get_data(as_text=True)


def test_incomplete_task_records_get_safe_defaults(client: FlaskClient,
                                                   write_status: WriteStatus) -> None:
    write_status(tasks=[{"task_id": 0, "stream_index": 0, "status_code": 5,
                         "start_time": None, "progress": "x"}])
    task = client.get("/api/tasks").get_json()["tasks"][0]
    assert set(task) == TASK_FIELDS
    assert (task["status"], task["status_name"]) == (5, "连接错误")
    assert task["start_time"] == task["end_time"] == task["error_message"] == ""
    assert task["progress"] == task["bytes_received"] == task["frames_received"] == 0
    assert task["rtsp_url"] == ""


def test_a_task_without_a_clip_names_no_file(client: FlaskClient,
                                             write_status: WriteStatus) -> None:
    write_status(tasks=[_task(0, task_status.CONNECTION_ERROR, output_file=None),
                        _task(1, task_status.COMPLETED)])
    for url in ("/api/tasks", "/api/tasks/status"):
        tasks = client.get(url).get_json()["tasks"]
        assert [task["output_file"] for task in tasks] == [
            None, "./output/20251011_144708/test_stream2.mp4"]


def test_stale_status_is_not_running(client: FlaskClient, write_status: WriteStatus) -> None:
    _running_status(write_status, stale=True)
    for url in ("/api/tasks", "/api/tasks/status"):
        body = client.get(url).get_json()
        assert body["scheduler_running"] is False
        assert body["recorder_alive"] is False
    assert client.get("/api/scheduler/status").get_json()["is_running"] is False


@pytest.mark.parametrize(("stats", "rate"), [
    ({"total_tasks": 0, "completed_tasks": 0}, 0.0),
    ({"total_tasks": 4, "completed_tasks": 1}, 0.25),
    ({"total_tasks": 3, "completed_tasks": 2}, 0.6667),
    ({"total_tasks": 2, "completed_tasks": 2}, 1.0),
])
def test_completion_rate(client: FlaskClient, write_status: WriteStatus, stats: dict,
                         rate: float) -> None:
    write_status(stats=stats)
    for url in ("/api/tasks", "/api/tasks/status", "/api/scheduler/status"):
        assert client.get(url).get_json()["completion_rate"] == rate
    assert client.get("/api/scheduler/cycle").get_json()["scheduler_stats"]["completion_rate"] \
        == rate


# --- scheduler status and cycle --------------------------------------------------------------

def test_scheduler_status(client: FlaskClient, write_status: WriteStatus) -> None:
    _running_status(write_status)
    body = client.get("/api/scheduler/status").get_json()
    assert {key: body[key] for key in ("is_running", "start_time", "end_time")} == {
        "is_running": True, "start_time": "2025-10-11 14:47:08", "end_time": ""}
    assert {key: body[key] for key in STATS_FIELDS} == {
        "total_tasks": 2, "completed_tasks": 1, "failed_tasks": 0, "cancelled_tasks": 0,
        "max_concurrent_used": 2, "completion_rate": 0.5}


def test_cycle_shape(client: FlaskClient, write_status: WriteStatus) -> None:
    tasks = [_task(i, code) for i, code in enumerate(sorted(task_status.NAMES))]
    _running_status(write_status, tasks=tasks)
    body = client.get("/api/scheduler/cycle").get_json()
    assert body["is_running"] is True and body["scheduler_running"] is True
    assert body["current_cycle"] == 3
    assert body["recorder_alive"] is True
    info, progress = body["cycle_info"], body["cycle_progress"]
    assert set(info) == {"start_time", "elapsed_seconds", "total_duration", "progress_percentage"}
    assert set(progress) == {"elapsed_seconds", "total_seconds", "progress_percentage"}
    assert info["start_time"] == "2025-10-11 14:47:08"
    assert 25 <= info["elapsed_seconds"] <= 27
    assert info["elapsed_seconds"] == progress["elapsed_seconds"]
    assert info["total_duration"] == progress["total_seconds"] == 60
    assert info["progress_percentage"] == progress["progress_percentage"] == round(
        100 * info["elapsed_seconds"] / 60, 2)
    assert set(body["scheduler_stats"]) == STATS_FIELDS
    assert body["scheduler_stats"]["completion_rate"] == 0.5
    active = body["active_tasks"]
    assert [task["status"] for task in active] == [1, 2, 3]
    assert active[2] == {"stream_index": 3, "status": 3, "progress_seconds": 9,
                         "target_duration": 30}


def test_cycle_of_a_stale_recorder_uses_the_last_written_progress(
        client: FlaskClient, write_status: WriteStatus) -> None:
    _running_status(write_status, stale=True,
                    cycle={"dir": "20251011_144708", "running": True,
                           "start_time": "2025-10-11 14:47:08", "started_at": time.time() - 500,
                           "elapsed_seconds": 30, "total_seconds": 60})
    body = client.get("/api/scheduler/cycle").get_json()
    assert body["is_running"] is False and body["recorder_alive"] is False
    assert body["cycle_running"] is False
    assert body["cycle_progress"] == {"elapsed_seconds": 30, "total_seconds": 60,
                                      "progress_percentage": 50.0}


def test_cycle_progress_is_capped_at_100(client: FlaskClient, write_status: WriteStatus) -> None:
    _running_status(write_status, cycle={"started_at": time.time() - 500, "total_seconds": 60,
                                         "running": True})
    body = client.get("/api/scheduler/cycle").get_json()
    assert body["cycle_progress"]["progress_percentage"] == 100.0


def test_task_records_are_encoded_once_a_version_and_only_for_answers_that_carry_them(
        client, write_status, monkeypatch) -> None:
    from app import scheduler
    read_back = []
    original = scheduler.task_record.from_stored
    monkeypatch.setattr(scheduler.task_record, "from_stored",
                        lambda raw: read_back.append(1) or original(raw))
    write_status(tasks=[{"stream_index": 0, "status": 3}, {"stream_index": 1, "status": 4}])
    for _ in range(2):
        assert client.get("/api/scheduler/status").status_code == 200
        assert client.get("/api/scheduler/cycle").status_code == 200
    assert read_back == []  # the status is parsed, its tasks not read back nor encoded
    assert [client.get("/api/tasks").get_json()["count"] for _ in range(3)] == [2, 2, 2]
    assert len(read_back) == 2


def test_when_the_next_cycle_is_due_is_shown_while_the_recorder_lives(
        client: FlaskClient, write_status: WriteStatus) -> None:
    due = "2025-10-11 14:52:08"
    write_status(scheduler_running=True, next_cycle_time=due)
    for url in ("/api/scheduler/status", "/api/scheduler/cycle", "/api/tasks"):
        assert client.get(url).get_json()["next_cycle_time"] == due, url
    write_status(stale=True, scheduler_running=True, next_cycle_time=due)  # a dead recorder's
    for url in ("/api/scheduler/status", "/api/scheduler/cycle", "/api/tasks"):
        assert client.get(url).get_json()["next_cycle_time"] == "", url


@pytest.mark.parametrize("url", ["/api/tasks", "/api/tasks/status", "/api/scheduler/status"])
def test_the_status_answers_say_which_reports_could_not_be_written_and_why(
        client: FlaskClient, write_status: WriteStatus, url: str) -> None:
    # Only status_message said it, in Chinese, within whatever else it said.
    from shared.status_file import report_problem
    reason = "写入失败 ./output/20251011_144708/report.json: Operation not permitted"
    said = f"第 3 轮 (20251011_144708) 报告写入失败: {reason}"
    problem = report_problem("20251011_144708", reason, said)
    _running_status(write_status, message=said, report_problem=problem)
    assert client.get(url).get_json()["report_problem"] == problem
    english = client.get(url, headers={"Accept-Language": "en"}).get_json()["report_problem"]
    assert english == {
        **problem,
        "reason_en": "Writing ./output/20251011_144708/report.json failed: Operation not permitted",
        "message_en": "Cycle 3 (20251011_144708): the reports could not be written: Writing "
                      "./output/20251011_144708/report.json failed: Operation not permitted"}
    _running_status(write_status)  # a later cycle's reports written: the status names none
    assert client.get(url).get_json()["report_problem"] is None
