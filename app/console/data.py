"""What the console shows, read with the same shared/ functions as the API (one way of reading)."""
from __future__ import annotations

from dataclasses import dataclass, field

from app.cameras import last_clip_thumbnails
from app.console.quality import last_issues
from app.context import config_file, config_in_force, output_free_bytes
from app.scheduler import cycle_progress, local_standby, status_view
from shared import camera_view, history_read
from shared.camera_roster import configured_cameras
from shared.camera_state import STATES
from shared.clock import SYSTEM_CLOCK
from shared.errors import ConfigUnavailable
from shared.history_schema import history_path
from shared.status_file import report_problem_in, report_problem_of

# The heartbeat strip: this many of a camera's newest outcomes, oldest at the left.
HEARTBEATS = 24
# A live update carries at most this many changed cameras; the rest come with the next one.
LIVE_CHANGES = 25


@dataclass
class Recorder:
    """The recorder's state as the overview header shows it."""

    alive: bool
    running: bool
    cycle: int
    elapsed: int
    total: int
    percent: float
    disk_free: int | None
    config_error: dict | None
    message: str
    stats: dict = field(default_factory=dict)
    next_cycle: str = ""  # local time the next cycle is due, while the scheduler waits for it
    # The latest cycle's reports could not be written: shared.status_file.report_problem_of.
    report_problem: dict | None = None
    standby: dict | None = None  # this host's recorder a standby: {"coordinator", "since"}


def history():
    """The history database, read-only (a context manager yielding None when there is none)."""
    return history_read.open_history(history_path(config_file()))


def recorder_state(config: dict | None) -> Recorder:
    """Recorder liveness, cycle progress, disk free and the config error of the status file."""
    status, alive = status_view()
    elapsed, total, percent = cycle_progress(status["cycle"], alive)
    disk_free = output_free_bytes(config) if config is not None else None
    problem = report_problem_of(status, status["cycle"]["dir"])
    message = status["message"]  # a report problem, last, is shown on its own, in a banner
    if any_problem := report_problem_in(status):  # the banner only while its cycle is latest
        message = message.removesuffix(any_problem["message"]).removesuffix("; ")
    return Recorder(alive, bool(alive and status["scheduler_running"]), status["current_cycle"],
                    elapsed, total, percent, disk_free, status["config_error"],
                    message, status["stats"],
                    status["next_cycle_time"] if alive else "", problem,
                    local_standby())


def banner_config_error(error: dict | None, recorder: Recorder) -> dict | None:
    """The config error a page's banner shows: config.json's as the API reads it
    (:func:`config_or_error`), else the one the recorder's status file names."""
    return error or recorder.config_error


def config_or_error() -> tuple[dict | None, dict | None]:
    """The config in force and the error (file/line/field) of a broken config.json: the last
    valid config then (as the recorder works with it), None when there is none."""
    try:
        config, error = config_in_force()
    except ConfigUnavailable as exc:
        return None, exc.cause.to_dict()
    return config, error.to_dict() if error else None


def camera_summaries(conn, config: dict, only: set[str] | None = None) -> list[dict]:
    """Every configured camera's summary (the API's), worst state first; ``only``: these ids."""
    now, rows = SYSTEM_CLOCK.wall(), {}
    if conn is not None and only is None:
        rows = history_read.camera_rows(conn, now)
    elif conn is not None:  # a few cameras: one seek each, not every camera's uptimes
        for camera in only:
            rows.update(history_read.camera_rows(conn, now, only=camera))
    cameras = [camera for camera in configured_cameras(config)
               if only is None or camera.id in only]
    items = camera_view.summaries(cameras, rows, thumbnails=last_clip_thumbnails(rows, config))
    return camera_view.sort_summaries(items, "state")


def with_heartbeats(conn, items: list[dict]) -> list[dict]:
    """``items`` each given ``beats``, its newest outcome statuses, oldest first, and
    ``picture``, its last checked picture's quality when that had issues (else None), both
    from the same :data:`HEARTBEATS` outcomes."""
    for item in items:
        rows = history_read.recent_outcomes(conn, item["id"], HEARTBEATS) if conn else []
        item["beats"] = [(status, ended) for status, ended, _ in rows]
        item["picture"] = last_issues(text for _, _, text in reversed(rows))
    return items


def counts(items: list[dict]) -> dict[str, int]:
    """How many cameras are in each state."""
    found = dict.fromkeys(STATES, 0)
    for item in items:
        found[item["state"]] += 1
    return found


def roster_version(config: dict | None) -> str:
    """A short tag of the configured camera ids: a page built for others must reload."""
    ids = ",".join(camera.id for camera in configured_cameras(config)) if config else ""
    return format(hash(ids) & 0xFFFFFFFF, "08x")
