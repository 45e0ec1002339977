"""The console's read pages: a camera, the cycles, one cycle, the live tasks."""
from __future__ import annotations

import os

from flask import redirect, render_template, request, send_file, url_for

from app.cameras import RECENT_OUTCOMES, camera_summary, clip_thumbnails
from app.console import bp, data
from app.console.notices import page_notice, page_notice_failed
from app.context import cached_config, control_file, output_dir
from app.pictures import reference_path
from app.requests import query_flag
from app.results import page_query, recording_now
from app.scheduler import status_view
from shared import (camera_view, cycle_summary, history_read, output_tree, task_record,
                    task_status)
from shared.clock import SYSTEM_CLOCK
from shared.camera_roster import stream_of_record
from shared.camera_state import camera_id
from shared.config import OTHER_REPORTS
from shared.control_file import being_checked, read_control
from shared.errors import PatrolError, UnsafePath
from shared.reference_file import reference_stamp
from shared.timefmt import parse_local

# The cycles page lists this many cycles, newest first, unless ?limit= says otherwise.
CYCLES_PAGE = 50
# The camera page plays this many of its newest clips.
LAST_CLIPS = 6
# A check that ended longer ago and is still not in the history (unwritable) is not followed.
CHECK_FOLLOW_SECONDS = 60


def _clip_link(outcome: dict) -> str | None:
    """The URL of an outcome's kept clip (its ``clip`` is the clip's display path)."""
    clip = outcome.get("clip")
    if not clip:
        return None
    return output_tree.clip_url(outcome["cycle"], os.path.basename(clip))


def _still_there(out: output_tree.OutputDir, outcome: dict) -> bool:
    """Whether an outcome's clip is still in the output tree (it may have been deleted since)."""
    try:
        handle, _ = output_tree.open_clip(out, outcome["cycle"], os.path.basename(outcome["clip"]))
    except (PatrolError, OSError):
        return False
    handle.close()
    return True


def _playable(out: output_tree.OutputDir, history: list[dict], kind: str) -> list[dict]:
    """The newest :data:`LAST_CLIPS` outcomes of ``kind`` (``cycle``, ``check``) whose clip is
    still in the output tree."""
    found = []
    for item in history:
        if len(found) == LAST_CLIPS:
            break
        if item["kind"] == kind and item["url"] and _still_there(out, item):
            found.append(item)
    return found


def _check_not_in_history(camera: str, status: dict, rows: list[dict]) -> bool:
    """Whether the camera's newest check the status says ended (within a minute) is newer than
    every check in its history ``rows`` (the history is written after the status)."""
    ended = [parse_local(check.get("end_time")) for check in status.get("checks", [])
             if check.get("camera") == camera and check.get("status") in task_status.FINISHED]
    newest = max((when for when in ended if when is not None), default=None)
    if newest is None or SYSTEM_CLOCK.wall() - newest > CHECK_FOLLOW_SECONDS:
        return False
    # end_time is to the second; the history keeps the same end to the microsecond
    return max((row["ended"] for row in rows if row["kind"] != "cycle"), default=0.0) < newest


def _cycles_there(out: output_tree.OutputDir) -> set[str]:
    """The cycle folders in the output tree (the history remembers deleted ones too)."""
    with output_tree.opened_root(out) as root:
        return set(output_tree.cycle_names(root)) if root else set()


@bp.get("/cameras")
def cameras_page():
    """The cameras are listed on the overview (a camera's page is /cameras/<id>)."""
    return redirect(url_for("console.overview"), code=302)


@bp.get("/cameras/<camera>")
def camera_page(camera: str):
    with data.history() as conn:
        found = camera_summary(conn, camera)
        rows = history_read.outcomes(conn, camera, limit=RECENT_OUTCOMES) if conn else []
        beats = history_read.recent_statuses(conn, camera, data.HEARTBEATS) if conn else []
    out = output_dir()[0]
    thumbnails = clip_thumbnails([row.get("clip") for row in rows])
    there = _cycles_there(out)
    history = [{**camera_view.outcome(row), "url": _clip_link(row),
                "thumbnail": thumbnails.get(row.get("clip") or ""),
                "cycle_there": row["cycle"] in there} for row in rows]
    reference = None
    if not found.get("removed"):
        try:  # the URL changes with the picture: a new one is shown, not the cached one
            reference = (url_for("pictures.reference", camera=camera)
                         + f"?v={int(reference_stamp(reference_path(camera)).st_mtime)}")
        except OSError:
            pass  # none (yet), just deleted by the operator, or a symlink (never shown)
    status, _ = status_view()
    # While a check of it is asked for, running, or ended but not yet in the history (written
    # within a second of the status), the page's check section follows it.
    checking = (camera in being_checked(read_control(control_file()), status)
                or _check_not_in_history(camera, status, rows))
    return render_template("console/camera.html", camera={**found, "beats": beats},
                           history=history, clips=_playable(out, history, "cycle"),
                           check_clips=_playable(out, history, "check"), checking=checking,
                           reference=reference, notice=page_notice(),
                           notice_failed=page_notice_failed())


def _cycles_of_page(config: dict, paging: dict) -> tuple[int, list[dict]]:
    """How many cycles there are, and the page's, each with its report ``summary``
    (None without a readable report) and ``recording`` (it is the running cycle)."""
    out = output_dir(config)[0]
    total, cycles = output_tree.page_of_cycles(out, paging["offset"], paging["limit"],
                                               newest_first=paging["order"] == "newest")
    summaries = cycle_summary.read_summaries(out, [cycle["timestamp"] for cycle in cycles],
                                             report_names(config)[0])
    recording, _ = recording_now()
    return total, [{**cycle, "summary": summaries[cycle["timestamp"]],
                    "recording": cycle["timestamp"] == recording} for cycle in cycles]


@bp.get("/cycles")
def cycles_page():
    config, error = data.config_or_error()
    paging = page_query(CYCLES_PAGE, "newest")
    total, cycles = _cycles_of_page(config, paging) if config else (0, [])
    step, offset = paging["limit"], paging["offset"]
    # The page links keep a limit or order the operator gave.
    carried = {name: paging[name] for name in ("limit", "order") if name in request.args}
    banner_error = data.banner_config_error(error, data.recorder_state(config))
    return render_template("console/cycles.html", cycles=cycles, total=total, paging=paging,
                           previous=max(0, offset - step) if offset else None,
                           next=offset + step if offset + step < total else None,
                           carried=carried, config_error=banner_error)


def report_names(config: dict) -> tuple[str, ...]:
    """The three report files of a cycle folder (the JSON one is named by the config)."""
    return (config["global_config"]["report_filename"], *OTHER_REPORTS)


def _report_type(name: str) -> str:
    """A report's type as the browser opens it: JSON as JSON, the text and the CSV as UTF-8
    text (a browser saves text/csv instead of showing it; Flask adds text's charset=utf-8)."""
    return "application/json" if name.endswith(".json") else "text/plain"


@bp.get("/cycles/<timestamp>/reports/<name>")
def cycle_report(timestamp: str, name: str):
    """A report, opened in the browser (``?download=1``: saved, as the clips' links do)."""
    config = cached_config()
    if name not in report_names(config):
        raise UnsafePath("只能读取时间戳目录中的报告文件")
    handle, info = output_tree.open_in_cycle(output_dir(config)[0], timestamp, name)
    download = query_flag("download")
    response = send_file(handle, mimetype=_report_type(name) if not download else None,
                         download_name=name, as_attachment=download, conditional=False)
    response.content_length = info.st_size
    response.headers["X-Content-Type-Options"] = "nosniff"  # never read as a page
    return response


def _with_progress(task: dict) -> dict:
    """A task record (a cycle's or a check's) with what its row shows beside the record:
    ``percent`` done, ``fps``, and ``verdict``, its picture's quality once it finished.

    fps is frames per second *recorded* (``progress``), while recording and after alike, as
    the picture check measures it: ``run_seconds`` also counts the connection set-up."""
    planned = task.get("duration_seconds") or 0
    recorded = task.get("progress") or 0
    task["percent"] = min(100.0, 100.0 * recorded / planned) if planned else 0
    task["fps"] = round(task["frames_received"] / recorded, 1) if recorded else None
    task["verdict"] = task["quality"] if task["status"] in task_status.FINISHED else None
    return task


def _with_camera(task: dict, streams: list[dict]) -> dict:
    """A cycle's task record with ``camera``, the configured camera it records (``id`` and
    ``name``), or None when the config names no such stream (its row shows the masked URL)."""
    stream = stream_of_record(task, streams)
    task["camera"] = stream and {"id": camera_id(stream["output_filename"]),
                                 "name": stream.get("name", "")}
    return task


def _tasks_view() -> dict:
    """The cycle's tasks, each with its camera, and the camera checks not finished yet (the
    status file keeps the last finished ones too; the camera's page shows those); the
    recorder's line and the overview's banners (a broken config.json, a report problem)."""
    status, alive = status_view()
    config, error = data.config_or_error()
    streams = config["streams"] if config else []
    tasks = [_with_camera(_with_progress(task_record.from_stored(task)), streams)
             for task in status["tasks"]]
    checks = [_with_progress(check) for check in map(task_record.check_from_stored,
                                                     status["checks"])
              if check["status"] not in task_status.FINISHED]
    recorder = data.recorder_state(config)
    return {"tasks": tasks, "checks": checks, "recorder": recorder, "alive": alive,
            "config_error": data.banner_config_error(error, recorder)}


@bp.get("/tasks")
def tasks_page():
    return render_template("console/tasks.html", **_tasks_view())


@bp.get("/tasks/live")
def tasks_live():
    """The page's update: the recorder line and both tables, each to replace its own by id."""
    return render_template("console/_tasks.html", live=True, **_tasks_view())
