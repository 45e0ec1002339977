"""Tasks and scheduler: the recorder's live status, and starting or stopping it."""
from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify

from app.context import config_as_written, config_in_force, control_file, status_file
from shared import task_record, task_status
from shared.clock import SYSTEM_CLOCK
from shared.cluster_config import ClusterSettings, cluster_settings
from shared.cluster_control import change_cluster_control, read_cluster_control
from shared.cluster_status import cluster_client, cluster_status_from, read_cluster_status_text
from shared.control_file import read_control, start_change, stop_change, update_control
from shared.errors import PatrolError, RecorderUnavailable
from shared.file_cache import FileCache
from shared.status_file import (STATS_KEYS, completion_rate, is_alive, read_status,
                                report_problem_in)

bp = Blueprint("scheduler", __name__, url_prefix="/api")

# The status file is rewritten every second and polled by every client: keep
# its parsed form (and the rendered tasks) while the file is unchanged.
_FILES = FileCache()


class EncodedTasks:
    """A status's task records, each read back as the API answers it, encoded once when first
    asked for (hundreds of tasks are most of an answer; many requests need none of them)."""

    def __init__(self, stored: list) -> None:
        self._stored, self._text = stored, ""

    @property
    def text(self) -> str:
        if not self._text:
            tasks = [task_record.from_stored(task) for task in self._stored]
            self._text = json.dumps(tasks, ensure_ascii=False, separators=(",", ":"))
        return self._text


def _parse_status(path: str) -> tuple[dict, EncodedTasks]:
    """The status and its task list, encoded when first needed."""
    return _with_encoded_tasks(read_status(path))


def _with_encoded_tasks(status: dict) -> tuple[dict, EncodedTasks]:
    return status, EncodedTasks(status["tasks"])


def local_status() -> dict:
    """This host's recorder's status file (parsed once per version): its camera checks, its
    own heartbeat, whichever recorder coordinates the cluster."""
    return _FILES.get(status_file(), _parse_status)[0]


def _status(fresh: bool = False) -> tuple[dict, EncodedTasks]:
    """The recorder's status and its encoded tasks: in cluster mode the coordinator's, from
    Redis (it may run on another host; ``fresh``: read again, whenever it was last read),
    else (or when Redis has none, or only a stopped or dead coordinator's, no longer renewed)
    the status file's."""
    cluster = _cluster()
    raw = _mirror_text(cluster, fresh) if cluster else None
    # Parsed once per version, as the file is: its text is the version (it changes about once a
    # second; thousands of tasks take ~30 ms a thousand to parse and encode again).
    parsed = _FILES.get_version(_MIRRORED, raw, lambda: _with_encoded_tasks(
        cluster_status_from(raw))) if raw else None
    if parsed is None or not is_alive(parsed[0]):
        return _FILES.get(status_file(), _parse_status)
    return parsed


_MIRRORED = "cluster status"  # the cache's key of the coordinator's status from Redis
# The coordinator's status is read from Redis at most this often per process: it changes about
# once a second, and a video player's range requests each ask whether the clip is being
# recorded (megabytes of status at thousands of tasks; with Redis away, a timeout each).
MIRROR_READ_SECONDS = 1.0
_mirror_read: tuple[float, str, bytes | None] = (float("-inf"), "", None)  # when, whose, what


def _mirror_text(cluster: ClusterSettings, fresh: bool = False) -> bytes | None:
    """The coordinator's status text in Redis (None: none, or Redis away), read again only
    MIRROR_READ_SECONDS after the last read (or when ``fresh``)."""
    global _mirror_read
    now, whose = SYSTEM_CLOCK.monotonic(), f"{cluster.redis_url} {cluster.queue}"
    when, read_for, raw = _mirror_read
    if fresh or read_for != whose or not 0 <= now - when < MIRROR_READ_SECONDS:
        raw = read_cluster_status_text(cluster)
        _mirror_read = (now, whose, raw)
    return raw


def _cluster() -> ClusterSettings | None:
    """The cluster of config.json; None in single-box mode, or while a hand edit has broken
    more than its output rule (the status file says so, as in single-box mode: the recorder's
    copy of the config in force has the Redis password masked)."""
    try:
        # The cached validation: every status read (each live update, /api/tasks) asks
        # this, and validating 1,000 streams again costs ~10 ms.
        config, error = config_in_force()
        if error is not None:
            # Only its output_directory refused by the rule: the file still names the cluster
            # (and the recorder, which keeps the last valid config, still works in it).
            config = config_as_written()
        return cluster_settings(config) if config is not None else None
    except PatrolError:
        return None


def _desired() -> dict:
    """The desired state: in cluster mode the cluster's (once one was set through the API),
    else (or with Redis away) this host's control.json."""
    cluster = _cluster()
    if cluster is not None:
        from redis.exceptions import RedisError
        try:
            desired = read_cluster_control(cluster_client(cluster), cluster.queue)
        except RedisError:
            desired = None
        if desired is not None:
            return desired
    return _FILES.get(control_file(), read_control)


def _change_desired(change) -> None:
    """Apply ``change`` to the desired state: in cluster mode the whole cluster's, which every
    recorder of it follows (shared/cluster_control.py), else this host's control.json.

    :raises RecorderUnavailable: cluster mode, Redis away.
    """
    cluster = _cluster()
    if cluster is None:
        update_control(control_file(), change)
        return
    from redis.exceptions import RedisError
    try:
        change_cluster_control(cluster_client(cluster), cluster.queue, change)
    except RedisError:
        raise RecorderUnavailable("集群的 Redis 不可达, 请稍后再试") from None


def status_view(fresh: bool = False) -> tuple[dict, bool]:
    """The recorder's status (parsed once per file version) and whether the recorder is alive;
    in cluster mode the coordinator's, whichever host it runs on (its cycle is the one the
    workers write into the shared folder), as read up to MIRROR_READ_SECONDS ago unless
    ``fresh``."""
    status, _ = _status(fresh)
    return status, is_alive(status)


def _with_tasks(fields: dict):
    """``fields`` plus ``"tasks"`` (spliced in encoded) as the JSON answer."""
    status, tasks = _status()
    head = json.dumps({**fields, "count": len(status["tasks"])}, ensure_ascii=False,
                      separators=(",", ":"))
    return current_app.response_class(f'{head[:-1]},"tasks":{tasks.text}}}\n',
                                      mimetype="application/json")


def _summary(status: dict, alive: bool) -> dict:
    stats = {key: int(status["stats"].get(key) or 0) for key in STATS_KEYS}
    return {"scheduler_running": alive and status["scheduler_running"], **stats,
            "completion_rate": completion_rate(stats), "recorder_alive": alive,
            "desired_running": _desired()["scheduler_running"],
            "config_error": status["config_error"], "status_message": status["message"],
            "report_problem": report_problem_in(status),
            "next_cycle_time": status["next_cycle_time"] if alive else "",
            "standby": local_standby()}


def local_standby() -> dict | None:
    """Cluster mode: this host's recorder waiting as a standby, ``{"coordinator", "since"}``
    (its status file's, while alive: the status served is the coordinator's, from Redis);
    None when it coordinates, is not in cluster mode, or is not running."""
    local = local_status()
    standby = local["standby"]
    if not is_alive(local) or not isinstance(standby, dict):
        return None
    return {"coordinator": str(standby.get("coordinator") or ""),
            "since": str(standby.get("since") or "")}


@bp.get("/tasks")
def list_tasks():
    status, alive = status_view()
    return _with_tasks({**_summary(status, alive), "schedule_info": status["schedule_info"],
                        "not_scheduled": status["not_scheduled"]})


@bp.get("/tasks/status")
def live_tasks():
    status, alive = status_view()
    # Camera checks beside the cycle's tasks: the last finished, the running, the waiting.
    checks = [task_record.check_from_stored(check) for check in status["checks"]]
    return _with_tasks({**_summary(status, alive), "checks": checks})


@bp.get("/scheduler/status")
def scheduler_status():
    status, alive = status_view()
    summary = _summary(status, alive)
    return jsonify(is_running=summary.pop("scheduler_running"), start_time=status["start_time"],
                   end_time=status["end_time"], **summary)


def cycle_progress(cycle: dict, alive: bool) -> tuple[int, int, float]:
    """Elapsed and planned seconds of the cycle, and the percentage done."""
    total = int(cycle.get("total_seconds") or 0)
    started = cycle.get("started_at")
    if alive and cycle.get("running") and isinstance(started, (int, float)):
        elapsed = max(0, int(SYSTEM_CLOCK.wall() - started))
    else:
        elapsed = int(cycle.get("elapsed_seconds") or 0)
    percent = round(min(100.0, 100.0 * elapsed / total), 2) if total else 0.0
    return elapsed, total, percent


@bp.get("/scheduler/cycle")
def scheduler_cycle():
    status, alive = status_view()
    cycle = status["cycle"]
    elapsed, total, percent = cycle_progress(cycle, alive)
    summary = _summary(status, alive)
    running = summary.pop("scheduler_running")
    stats = {key: summary[key] for key in (*STATS_KEYS, "completion_rate")}
    active = [{"stream_index": task.get("stream_index"), "status": task.get("status"),
               "progress_seconds": task.get("progress", 0),
               "target_duration": task.get("duration_seconds", 0)}
              for task in status["tasks"] if task.get("status") in task_status.ACTIVE]
    return jsonify(
        is_running=running, scheduler_running=running, current_cycle=status["current_cycle"],
        cycle_dir=cycle.get("dir", ""), cycle_running=bool(alive and cycle.get("running")),
        cycle_info={"start_time": cycle.get("start_time", ""), "elapsed_seconds": elapsed,
                    "total_duration": total, "progress_percentage": percent},
        cycle_progress={"elapsed_seconds": elapsed, "total_seconds": total,
                        "progress_percentage": percent},
        scheduler_stats=stats, active_tasks=active, recorder_alive=alive,
        next_cycle_time=summary["next_cycle_time"])


def require_recorder() -> dict:
    """The recorder's status. :raises RecorderUnavailable: it is not running."""
    status, alive = status_view()
    if not alive:
        raise RecorderUnavailable("录制守护进程未运行")
    return status


@bp.post("/scheduler/start")
def start_scheduler():
    _change_desired(start_change(require_recorder()))
    return jsonify(success=True, message="调度器启动成功", is_running=True)


@bp.post("/scheduler/stop")
def stop_scheduler():
    require_recorder()
    _change_desired(stop_change)
    return jsonify(success=True, message="调度器停止成功", is_running=False)
