"""A task's record (SPEC "Each task"): its fields, masked URL and status name, defined once.

The recorder builds it (:func:`build`), the status file and the reports hold
it, the API reads it back (:func:`from_stored`) and documents it
(:func:`openapi_schema`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from shared import i18n
from shared import task_status as st
from shared.timefmt import format_local, parse_local
from shared.urls import mask_credentials

INTERRUPTED_MESSAGE = "录制守护进程意外退出, 任务中断"
# A task's own fields, the planner's: what a worker's stored outcome or a report's row never
# changes when its verdict is taken into the task.
OWN_FIELDS = ("task_id", "stream_index", "rtsp_url", "duration_seconds", "planned_offset",
              "start_offset")


@dataclass(frozen=True)
class Field:
    """One field of the record: its JSON type, and whether SPEC lists it."""

    name: str
    kind: str              # "integer", "number", "string", "boolean" or "object"
    nullable: bool = False
    spec: bool = True      # in SPEC's list (required in the OpenAPI schema)


FIELDS: tuple[Field, ...] = (
    Field("task_id", "integer"), Field("stream_index", "integer"), Field("rtsp_url", "string"),
    # The clip's path while the task may still write it; once the verdict is in, only when
    # the clip was kept (null: no file was left), or when it was left to a cluster worker
    # still recording it (the coordinator stopped).
    Field("output_file", "string", nullable=True),
    Field("duration_seconds", "number"), Field("status", "integer"),
    Field("status_code", "integer"), Field("status_text", "string"),
    Field("status_name", "string"), Field("start_time", "string"), Field("end_time", "string"),
    Field("progress", "number"), Field("bytes_received", "integer"),
    Field("frames_received", "integer"), Field("error_message", "string"),
    # Beyond SPEC's list: when the task was planned, really started, and how long it ran.
    Field("planned_offset", "number", nullable=True, spec=False),
    Field("start_offset", "number", nullable=True, spec=False),
    Field("run_seconds", "number", nullable=True, spec=False),
    # The picture checks (README "Picture checks"): never part of the status code.
    Field("quality", "object", spec=False),
)
NAMES = tuple(field.name for field in FIELDS)
_TYPES = {"integer": (int,), "number": (int, float), "string": (str,), "boolean": (bool,),
          "object": (dict,)}
_STATUS = FIELDS[NAMES.index("status")]


def unchecked_quality() -> dict:
    """The ``quality`` of a task whose picture was not checked (no video, or the checks off)."""
    return {"checked": False, "issues": [], "measures": {}}


def quality_text(quality: dict | None) -> str:
    """The picture verdict in a word: ``ok``, the issues (``black+blurred``), or "" unchecked."""
    if not quality or not quality.get("checked"):
        return ""
    return "+".join(quality.get("issues") or ["ok"])


QUALITY_SCHEMA = {
    "type": "object", "required": ["checked", "issues", "measures"],
    "properties": {
        "checked": {"type": "boolean"},
        "issues": {"type": "array", "items": {"type": "string"}},
        # verdict -> {"value": measured, "threshold": its limit}; "keyframes" -> {"value": n}
        "measures": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {"value": {"type": "number"},
                                             "threshold": {"type": "number"}}}},
    },
}


def status_fields(code: int) -> dict:
    """The four fields that say a status: its code twice and its name twice."""
    name = st.status_name(code)
    return {"status": code, "status_code": code, "status_text": name, "status_name": name}


def build(*, task_id: int, stream_index: int, rtsp_url: str, output_file: str | None,
          duration_seconds: float, status: int, start_wall: float | None,
          end_wall: float | None, progress: float, bytes_received: int, frames_received: int,
          error_message: str, planned_offset: float | None = None,
          start_offset: float | None = None, run_seconds: float | None = None,
          quality: dict | None = None) -> dict:
    """The record of a task, with the URL's credentials masked and the status named."""
    values = {
        "task_id": task_id, "stream_index": stream_index,
        "rtsp_url": mask_credentials(rtsp_url), "output_file": output_file,
        "duration_seconds": duration_seconds, **status_fields(status),
        "start_time": format_local(start_wall), "end_time": format_local(end_wall),
        "progress": progress, "bytes_received": bytes_received,
        "frames_received": frames_received, "error_message": error_message,
        "planned_offset": planned_offset, "start_offset": start_offset,
        "run_seconds": run_seconds, "quality": quality or unchecked_quality(),
    }
    return {name: values[name] for name in NAMES}


_EMPTY = {"string": str, "object": unchecked_quality}


def with_english_name(record: dict) -> dict:
    """``record`` as answered to ``Accept-Language: en``: ``status_name_en`` after
    ``status_name``."""
    return i18n.beside(record, ("status_name",))


def _fits(field: Field, value: object) -> bool:
    return isinstance(value, _TYPES[field.kind]) and (
        field.kind == "boolean" or not isinstance(value, bool))


def from_stored(raw: dict) -> dict:
    """A record read back: each field of its type (or its default), URL masked, status named."""
    code = raw.get("status", raw.get("status_code", 0))
    code = code if _fits(_STATUS, code) else 0
    record = {}
    for field in FIELDS:
        value = raw.get(field.name)
        if not _fits(field, value):
            value = None if field.nullable else _EMPTY.get(field.kind, lambda: 0)()
        record[field.name] = value
    record.update(status_fields(code), rtsp_url=mask_credentials(record["rtsp_url"]))
    return record


def with_verdict(task: dict, ended: dict) -> dict:
    """``task`` as ``ended`` (a worker's stored outcome, a report's row of it) ended it: a record
    read back with the task's OWN_FIELDS."""
    return from_stored({**ended, **{name: task.get(name) for name in OWN_FIELDS}})


def interrupted(record: dict, clip_kept: bool, killed_at: float | None = None) -> dict:
    """``record`` after its recorder died: an unfinished task is cancelled, its clip named if kept.

    ``killed_at``: the best known time of the kill (shared/status_file.py::interrupted_at), its
    end then, and its ``run_seconds`` from its start if it had one."""
    if record["status"] in st.FINISHED:
        return record
    ended = {} if killed_at is None else {"end_time": format_local(killed_at),
                                          "run_seconds": _ran(record, killed_at)}
    return {**record, **status_fields(st.CANCELLED), "error_message": INTERRUPTED_MESSAGE,
            "output_file": record["output_file"] if clip_kept else None, **ended}


def _ran(record: dict, ended: float) -> float | None:
    """Seconds from ``record``'s start to ``ended``; None when it had not started."""
    started = parse_local(record.get("start_time"))
    return round(max(0.0, ended - started), 3) if started is not None else None


# What a camera check's record (the status file's ``checks``) has beside a task's fields.
CHECK_FIELDS: tuple[Field, ...] = (
    Field("check_id", "integer"), Field("camera", "string"),
    Field("kind", "string"),  # "check" or "probe"
    Field("requested_at", "string"),
    # 已取消 by a stop of the recorder and to be run again at its next start (not in SPEC's list)
    Field("run_again", "boolean", spec=False),
)
_CHECK_DEFAULTS = {"string": "", "boolean": False}


def check_record(record: dict, *, check_id: int, camera: str, kind: str,
                 requested_at: str, run_again: bool = False) -> dict:
    """A camera check's record: the task's ``record`` and what names the check."""
    return {**record, "check_id": check_id, "camera": camera, "kind": kind,
            "requested_at": requested_at, "run_again": run_again}


def check_from_stored(raw: dict) -> dict:
    """A check's record read back (as :func:`from_stored`, with the check's own fields)."""
    extra = {field.name: raw.get(field.name) if _fits(field, raw.get(field.name)) else
             _CHECK_DEFAULTS.get(field.kind, 0) for field in CHECK_FIELDS}
    return {**from_stored(raw), **extra}


def openapi_schema(check: bool = False) -> dict:
    """The OpenAPI 3.0 schema of the record."""
    properties = {}
    fields = FIELDS + CHECK_FIELDS if check else FIELDS
    for field in fields:
        properties[field.name] = {"type": field.kind, **({"nullable": True} if field.nullable
                                                          else {})}
    properties["quality"] = QUALITY_SCHEMA
    return {"type": "object", "required": [f.name for f in fields if f.spec],
            "properties": properties,
            "description": "With Accept-Language: en, also status_name_en (the status's "
                           "English name) after status_name."}


# ffmpeg's "[rtsp @ 0x5581c0a3e2c0] " (ffmpeg 6: "[in#0/rtsp @ 0x…] ") before a line of its
# own, at the start of a message or of the reason a summary gives in brackets.
_FFMPEG_PREFIX = re.compile(r"(^|\()\[[\w:#/.-]+ @ 0x[0-9a-f]+\]\s*")


def short_error(message: str, url: str) -> str:
    """A task's ``error_message`` said where the camera is already named (an alert, a contact
    sheet's tile): without the camera's URL, which ffmpeg puts before its reason, nor
    ffmpeg's ``[rtsp @ 0x…]`` prefix."""
    message = _FFMPEG_PREFIX.sub(r"\1", message or "")
    if url:  # "rtsp://cam/1:" is not in rtsp://cam/10's "rtsp://cam/10:"
        message = re.sub(r"(^|\()" + re.escape(url) + r":\s*", r"\1", message)
    return message
