"""``GET /api/openapi.json``: an OpenAPI 3 document of the whole API, built from compact tables."""
from __future__ import annotations

from flask import Blueprint, jsonify

from shared import camera_view, output_tree
from shared import config as model
from shared import task_record
from shared.clip_names import MAX_CONTACT_SHEET_PAGES
from shared.camera_state import STATES
from shared.timefmt import CYCLE_NAME_RE

bp = Blueprint("openapi", __name__, url_prefix="/api")

_INT = {"type": "integer"}
_NUM = {"type": "number"}
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}


# Beside every Chinese message, its English when the request asks (app/language.py).
_MESSAGE_EN = {"type": "string", "description": "message in English; only with Accept-Language: en"}


def _obj(required: tuple[str, ...] = (), extra: bool = True, **props: dict) -> dict:
    if "message" in props:
        props = {**props, "message_en": _MESSAGE_EN}
    schema: dict = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    if not extra:
        schema["additionalProperties"] = False
    return schema


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


# The config schemas are the rules' own descriptions (shared/config_rules.py).
_GLOBAL_PROPS = {key: rule.schema() for key, rule in model.GLOBAL_RULES.items()}
_STREAM_PROPS = {key: rule.schema() for key, rule in model.STREAM_RULES.items()}
_STATS = {"total_tasks": _INT, "completed_tasks": _INT, "failed_tasks": _INT,
          "cancelled_tasks": _INT, "max_concurrent_used": _INT, "completion_rate": _NUM}
_SUMMARY = {"scheduler_running": _BOOL, **_STATS, "recorder_alive": _BOOL,
            "desired_running": _BOOL, "config_error": {"type": "object", "nullable": True},
            "status_message": _STR, "next_cycle_time": _STR,
            # The latest reports the recorder could not write (until a later cycle's are).
            "report_problem": {**_obj(("cycle", "reason", "message"), cycle=_STR, reason=_STR,
                                      message=_STR), "nullable": True},
            # This host's recorder a standby (cluster mode): whose lock it waits for, since when.
            "standby": {**_obj(("coordinator", "since"), coordinator=_STR, since=_STR),
                        "nullable": True}}

SCHEMAS = {
    "Error": _obj(("error", "message"), error=_STR, message=_STR),
    "Timestamp": _obj(("timestamp", "video_count", "total_size", "contact_sheet",
                       "contact_sheet_pages"),
                      timestamp=_STR, video_count=_INT, total_size=_INT,
                      contact_sheet={**_STR, "nullable": True},
                      contact_sheet_pages={**_INT, "minimum": 0}),
    "Video": _obj(("filename", "full_path", "timestamp_dir", "file_size", "created_time",
                   "stream_index", "url", "thumbnail"), filename=_STR, full_path=_STR,
                  timestamp_dir=_STR, file_size=_INT, created_time=_STR, stream_index=_STR,
                  url=_STR, thumbnail={**_STR, "nullable": True}),
    # What GET answers: the seed's eight global keys and every stream key are always there.
    "GlobalConfig": _obj(tuple(model.GLOBAL_DEFAULTS), **_GLOBAL_PROPS),
    "GlobalUpdate": _obj(extra=False, **_GLOBAL_PROPS),
    "Stream": _obj(model.STREAM_KEYS, **_STREAM_PROPS),
    "StreamInput": _obj(model.REQUIRED_STREAM_KEYS, extra=False, **_STREAM_PROPS),
    # A key sent as null is removed (a merge patch); the required two cannot be.
    "StreamUpdate": _obj(extra=False, **{
        key: prop if key in model.REQUIRED_STREAM_KEYS else {**prop, "nullable": True}
        for key, prop in _STREAM_PROPS.items()}),
    "Config": _obj(model.TOP_KEYS, extra=False, global_config=_ref("GlobalConfig"),
                   streams={"type": "array", "maxItems": model.MAX_STREAMS,
                            "items": _ref("Stream")}),
    # What PUT /api/config takes: a key left out takes its default (as in a
    # hand-written config.json), so only the two sections and each stream's
    # URL and duration are required.
    "ConfigInput": _obj(model.TOP_KEYS, extra=False, global_config=_ref("GlobalUpdate"),
                        streams={"type": "array", "maxItems": model.MAX_STREAMS,
                                 "items": _ref("StreamInput")}),
    "Task": task_record.openapi_schema(),
    "Check": task_record.openapi_schema(check=True),
}
_NULL_STR = {"type": "string", "nullable": True}
_NULL_INT = {"type": "integer", "nullable": True}
_NULL_NUM = {"type": "number", "nullable": True}
_SHARE = {"type": "number", "nullable": True, "minimum": 0, "maximum": 1,
          "description": "Share of the tasks in the window that ended completed (4); null: none"}
_TIME = {"type": "string", "nullable": True, "description": "ISO 8601 with the local offset"}
_CAMERA_PROPS = {
    "id": _STR, "name": _STR, "rtsp_url": _STR, "state": {"type": "string", "enum": list(STATES)},
    "last_status": _NULL_INT, "last_status_name": _NULL_STR, "last_error": _STR,
    "last_ok_at": _TIME, "offline_since": _TIME, "consecutive_failures": _INT,
    "uptime_24h": _SHARE, "uptime_7d": _SHARE, "uptime_30d": _SHARE, "last_clip": _NULL_STR,
    "thumbnail": {**_NULL_STR, "description": "URL of the last clip's thumbnail; null: none "
                  "(no clip yet, or its thumbnail is gone)"},
    "removed": {"type": "boolean", "description": "no longer in the config (?include_removed=1)"}}
SCHEMAS["Camera"] = _obj(camera_view.SUMMARY_FIELDS, **_CAMERA_PROPS)
SCHEMAS["Outcome"] = _obj(
    ("id", "camera", "cycle", "kind", "ended", "status", "status_name", "error"),
    id=_INT, camera=_STR, cycle=_STR, kind={"type": "string", "enum": ["cycle", "check", "probe"]},
    planned_start=_TIME, started=_TIME, ended=_STR, status=_INT, status_name=_STR, error=_STR,
    connect_seconds=_NULL_NUM, bytes=_INT, frames=_INT, clip_seconds=_NULL_NUM,
    codec=_NULL_STR, resolution=_NULL_STR, clip=_NULL_STR,
    quality={**task_record.QUALITY_SCHEMA, "nullable": True,
             "description": "the task's picture verdict; null: not known (written before "
                            "the picture checks)"})
_OUTCOMES = {"type": "array", "items": _ref("Outcome")}

_TASKS = {"type": "array", "items": _ref("Task")}
_CYCLE_PROGRESS = _obj(elapsed_seconds=_INT, total_seconds=_INT, progress_percentage=_NUM)


def _path_param(name: str, schema: dict = _STR) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema}


# Anything else in these places is answered 403 (delete) or 404 (list, stream index).
_CYCLE = _path_param("timestamp", {"type": "string", "pattern": CYCLE_NAME_RE.pattern
                                   .replace("\\A", "^").replace("\\Z", "$")})
_INDEX = _path_param("index", {"type": "string", "pattern": "^[0-9]+$"})


def _query_param(name: str, required: bool, schema: dict = _STR) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema}


_PAGING = [_query_param("limit", False, {"type": "integer", "minimum": 1, "maximum": 10000}),
           _query_param("offset", False, {"type": "integer", "minimum": 0}),
           _query_param("order", False, {"type": "string", "enum": ["oldest", "newest"]})]
_PAGE_FIELDS = {"limit": _INT, "offset": _INT, "order": _STR}
_CAMERA = _path_param("camera")
_STATE_RE = "(" + "|".join(STATES) + ")"
_CAMERA_QUERY = [
    _query_param("state", False, {"type": "string", "pattern": f"^{_STATE_RE}(,{_STATE_RE})*$",
                                  "description": "only these states (comma-separated)"}),
    _query_param("sort", False, {"type": "string", "enum": [
        prefix + key for key in camera_view.SORT_KEYS for prefix in ("", "-")]}),
    _query_param("include_removed", False, {"type": "string", "enum": ["0", "1"]}),
    *_PAGING[:2]]
_TIME_QUERY = {"type": "string", "description": "ISO 8601 (local time without an offset) "
                                                "or Unix seconds"}


_JPEG = {"type": "string", "format": "binary"}
# (path, method, summary, parameters, request body schema, success schema, error statuses)
OPERATIONS = [
    ("/api/timestamps", "get", "List cycle folders, newest first", [], None,
     _obj(("count", "timestamps"), count=_INT,
          timestamps={"type": "array", "items": _ref("Timestamp")}), (503,)),
    ("/api/videos", "get", "List clips (of one cycle with ?timestamp=)",
     [_query_param("timestamp", False), *_PAGING], None,
     _obj(("count", "videos"), count=_INT, timestamp=_STR,
          videos={"type": "array", "items": _ref("Video")}, **_PAGE_FIELDS), (400, 404, 503)),
    ("/api/videos/{timestamp}", "get", "List the clips of one cycle",
     [_CYCLE, *_PAGING], None,
     _obj(("timestamp", "count", "videos"), timestamp=_STR, count=_INT,
          videos={"type": "array", "items": _ref("Video")}, **_PAGE_FIELDS), (400, 404, 503)),
    ("/api/video", "delete", "Delete one clip", [_query_param("path", True)], None,
     _obj(("success", "path", "message"), success=_BOOL, path=_STR, message=_STR),
     (400, 403, 404, 409, 500, 503)),
    ("/api/timestamp/{timestamp}", "delete", "Delete a whole cycle folder",
     [_CYCLE], None,
     _obj(("success", "timestamp", "path", "message"), success=_BOOL, timestamp=_STR,
          path=_STR, message=_STR), (403, 404, 409, 500, 503)),
    ("/api/clips/{location}", "get", "One clip's bytes (Range, ETag; ?download=1: attachment)",
     [_path_param("location", {"type": "string", "description": "<cycle>/<file>, or a "
                               "check's clip: checks/<YYYYMMDD_HHMMSS>_<camera>/<file>"}),
      _query_param("download", False, {"type": "string", "enum": ["0", "1"]})], None,
     {"type": "string", "format": "binary"}, (403, 404, 409, 412, 416, 503)),
    ("/api/config", "get", "The whole config", [], None, _ref("Config"), (503,)),
    ("/api/config", "put", "Replace the whole config", [], _ref("ConfigInput"),
     _obj(("success", "message"), success=_BOOL, message=_STR), (400, 413, 500, 503)),
    ("/api/config/global", "get", "The global section", [], None, _ref("GlobalConfig"), (503,)),
    ("/api/config/global", "put", "Update part of the global section", [],
     _ref("GlobalUpdate"),
     _obj(("success", "message", "updated_config"), success=_BOOL, message=_STR,
          updated_config=_ref("GlobalConfig")), (400, 413, 500, 503)),
    ("/api/config/streams", "get", "List streams", [], None,
     _obj(("count", "streams"), count=_INT, streams={"type": "array", "items": _obj(
         ("index",), index=_INT, **_STREAM_PROPS)}), (503,)),
    ("/api/config/streams", "post", "Add a stream", [], _ref("StreamInput"),
     _obj(("success", "message", "stream_index", "index", "added_stream"), success=_BOOL,
          message=_STR, stream_index=_INT, index=_INT, added_stream=_ref("Stream")),
     (400, 413, 500, 503)),
    ("/api/config/streams/{index}", "put", "Update part of a stream",
     [_INDEX], _ref("StreamUpdate"),
     _obj(("success", "message", "stream_index", "index", "updated_stream"), success=_BOOL,
          message=_STR, stream_index=_INT, index=_INT, updated_stream=_ref("Stream")),
     (400, 404, 413, 500, 503)),
    ("/api/config/streams/{index}", "delete", "Remove a stream", [_INDEX], None,
     _obj(("success", "message", "deleted_stream_index", "deleted_index"), success=_BOOL,
          message=_STR, deleted_stream_index=_INT, deleted_index=_INT,
          deleted_stream=_ref("Stream")), (404, 500, 503)),
    ("/api/config/save", "post", "Write the config to a file in its folder", [],
     _obj(extra=False, file_path={"type": "string", "nullable": True,
                                  "description": "a .json file name directly in the config's "
                                                 "folder (no subfolder); null or left out: "
                                                 "config.json itself"}),
     _obj(("success", "message", "saved_to", "file_path"), success=_BOOL, message=_STR,
          saved_to=_STR, file_path=_STR), (400, 403, 413, 500, 503)),
    ("/api/config/reload", "post", "Re-read config.json and ask the recorder to apply it", [],
     None, _obj(("success", "message", "loaded_from", "file_path"), success=_BOOL,
                message=_STR, loaded_from=_STR, file_path=_STR), (400, 500, 503)),
    ("/api/tasks", "get", "The current cycle's tasks and plan", [], None,
     _obj(("count", "tasks", "schedule_info", *_STATS), **_SUMMARY, count=_INT, tasks=_TASKS,
          schedule_info=_STR, not_scheduled={"type": "array"}), ()),
    ("/api/tasks/status", "get", "Live task status (and the camera checks)", [], None,
     _obj(("count", "tasks", "checks", *_STATS), **_SUMMARY, count=_INT, tasks=_TASKS,
          checks={"type": "array", "items": _ref("Check")}), ()),
    ("/api/scheduler/status", "get", "Scheduler state", [], None,
     _obj(("is_running", "start_time", "end_time", *_STATS), is_running=_BOOL,
          start_time=_STR, end_time=_STR, **_SUMMARY), ()),
    ("/api/scheduler/cycle", "get", "The current cycle's progress", [], None,
     _obj(("is_running", "scheduler_running", "current_cycle", "cycle_info", "cycle_progress",
           "scheduler_stats", "active_tasks"), is_running=_BOOL, scheduler_running=_BOOL,
          current_cycle=_INT, cycle_dir=_STR, cycle_running=_BOOL, recorder_alive=_BOOL,
          next_cycle_time=_STR,
          cycle_info=_obj(start_time=_STR, elapsed_seconds=_INT, total_duration=_INT,
                          progress_percentage=_NUM),
          cycle_progress=_CYCLE_PROGRESS, scheduler_stats=_obj(**_STATS),
          active_tasks={"type": "array", "items": _obj(
              stream_index=_INT, status=_INT, progress_seconds=_NUM, target_duration=_NUM)}),
     ()),
    ("/api/scheduler/start", "post", "Start the scheduler", [], None,
     _obj(("success", "message", "is_running"), success=_BOOL, message=_STR, is_running=_BOOL),
     (409, 500, 503)),
    ("/api/scheduler/stop", "post", "Stop the scheduler (cancels running tasks)", [], None,
     _obj(("success", "message", "is_running"), success=_BOOL, message=_STR, is_running=_BOOL),
     (500, 503)),
    ("/api/cameras", "get", "Every configured camera's health", _CAMERA_QUERY, None,
     _obj(("count", "total", "cameras"), count=_INT, total=_INT, sort=_STR,
          cameras={"type": "array", "items": _ref("Camera")}, limit=_INT, offset=_INT),
     (400, 503)),
    ("/api/cameras/{camera}", "get", "One camera's health and its last 100 outcomes",
     [_CAMERA], None, _obj((*camera_view.SUMMARY_FIELDS, "history"), **_CAMERA_PROPS,
                           history=_OUTCOMES), (404, 503)),
    ("/api/cameras/{camera}/history", "get", "One camera's outcomes, newest first",
     [_CAMERA, _query_param("since", False, _TIME_QUERY),
      _query_param("until", False, _TIME_QUERY), *_PAGING[:2]], None,
     _obj(("camera", "count", "history"), camera=_STR, count=_INT, history=_OUTCOMES,
          limit=_INT, offset=_INT), (400, 404, 503)),
    ("/api/cameras/{camera}/check", "post", "Check a camera now, outside the cycle plan "
     "(the recorder takes the request; its outcome goes to the history and /api/tasks/status)",
     [_CAMERA, _query_param("probe", False, {"type": "string", "enum": ["0", "1"],
                                             "description": "1: connect and read 2 s, keep "
                                                            "no clip"})], None,
     _obj(("success", "message", "check_id", "camera", "kind"), success=_BOOL, message=_STR,
          check_id=_INT, camera=_STR, kind={"type": "string", "enum": ["check", "probe"]}),
     (404, 409, 500, 503)),
    ("/api/cameras/{camera}/reference", "post",
     "Make the camera's latest thumbnail (of a cycle or a \"check now\") its reference "
     "picture (scene_changed)", [_CAMERA], None,
     _obj(("success", "camera", "timestamp", "thumbnail", "message"), success=_BOOL,
          camera=_STR, timestamp={**_STR, "description": "the folder it came from: a cycle, "
                                  "or checks/<folder> for a check"},
          thumbnail=_STR, message=_STR), (404, 500, 503)),
    ("/api/cameras/{camera}/reference", "get",
     "The camera's reference picture (JPEG), what scene_changed compares each picture with; "
     "never through a symlink at its name (403)", [_CAMERA], None, _JPEG, (403, 404, 412, 416, 500, 503)),
    ("/api/thumbnails/{timestamp}/{clip}", "get", "A clip's thumbnail (JPEG)",
     [_CYCLE, _path_param("clip")], None, _JPEG, (403, 404, 412, 416, 503)),
    ("/api/thumbnails/checks/{check}/{clip}", "get",
     "The thumbnail of a check's clip (\"check now\"; JPEG), by the same rules",
     [_path_param("check", {"type": "string", "pattern": output_tree.CHECK_NAME_RE.pattern
                            .replace("\\A", "^").replace("\\Z", "$")}),
      _path_param("clip")], None, _JPEG, (403, 404, 412, 416, 503)),
    ("/api/contact_sheets/{timestamp}", "get", "A cycle's contact sheet (JPEG; its first page)",
     [_CYCLE], None, _JPEG, (403, 404, 412, 416, 503)),
    ("/api/contact_sheets/{timestamp}/{page}", "get",
     "A page of a cycle's contact sheet (JPEG; 1 to contact_sheet_pages)",
     [_CYCLE, _path_param("page", {"type": "integer", "minimum": 1,
                                   "maximum": MAX_CONTACT_SHEET_PAGES})], None, _JPEG,
     (403, 404, 412, 416, 503)),
    ("/metrics", "get", "Prometheus metrics, computed at scrape time", [], None, _STR, (503,)),
    ("/api/openapi.json", "get", "This document", [], None, {"type": "object"}, ()),
    ("/api/health", "get", "Liveness probe (reads no file)", [], None,
     _obj(("status",), status=_STR), ()),
]


def _json(schema: dict, media_type: str = "application/json") -> dict:
    return {"content": {media_type: {"schema": schema}}}


# The success answers of GETs that are not JSON: the Prometheus text format, clips, pictures.
_TEXT_ANSWERS = {"/metrics": "text/plain", "/api/clips/{location}": "video/mp4",
                 "/api/thumbnails/{timestamp}/{clip}": "image/jpeg",
                 "/api/thumbnails/checks/{check}/{clip}": "image/jpeg",
                 "/api/contact_sheets/{timestamp}": "image/jpeg",
                 "/api/contact_sheets/{timestamp}/{page}": "image/jpeg",
                 "/api/cameras/{camera}/reference": "image/jpeg"}
# Answers with a part of the body (Range).
_PARTIAL = {"/api/clips/{location}": {"description": "Partial Content: the Range asked for",
                                      **_json({"type": "string", "format": "binary"},
                                              "video/mp4")}}


_ETAG = {"ETag": {"description": "Tag of config.json's bytes; send it back in If-Match",
                  "schema": _STR}}
_IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": _STR,
             "description": "Write only if config.json still has this ETag (\"*\": any); "
                            "else 412"}
_ACCEPT_LANGUAGE = {"name": "Accept-Language", "in": "header", "required": False,
                    "schema": _STR,
                    "description": "en (en-US…, q-values honoured) adds English beside the "
                                   "Chinese: message_en, status_name_en of each task, "
                                   "config_error.reason_en/message_en. Anything else or none: "
                                   "Chinese only"}
_IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False, "schema": _STR,
                  "description": "Answer 304 (no body) while config.json still has this ETag"}
_NOT_MODIFIED = {"description": "Not Modified: If-None-Match names the current ETag",
                 "headers": _ETAG}
_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": _STR}},
    412: {"ETag": {"description": "The current tag: config.json's for a config write, the "
                           "file's for a file (If-Match or If-Unmodified-Since failed)",
                   "schema": _STR}},
    503: {"Retry-After": {"description": "Seconds to wait (a lock was busy)", "schema": _STR}},
}
# The token is optional (app/auth.py): with one set, writes need it, and reads
# too when RTSP_PATROL_API_PROTECT_READS=1.
_SECURITY = [{"bearerToken": []}, {}]
SECURITY_SCHEMES = {"bearerToken": {"type": "http", "scheme": "bearer"}}


# The one answer that is not JSON: gunicorn refuses a request line over its
# limit_request_line (4094 bytes) with an HTML page, before the app sees it.
_URI_TOO_LONG = {"description": "Request line over 4094 bytes, refused by gunicorn (HTML page)",
                 "content": {"text/html": {"schema": _STR}}}
# "optional body {"file_path": …}" (SPEC): an empty request saves to config.json itself.
_OPTIONAL_BODIES = {("/api/config/save", "post")}


def _is_config(path: str) -> bool:
    return path == "/api/config" or path.startswith("/api/config/")


def build_document() -> dict:
    """The OpenAPI 3.0 document of every operation in :data:`OPERATIONS`."""
    paths: dict = {}
    for path, method, summary, params, body, success, errors in OPERATIONS:
        ok: dict = {"description": "OK",
                    **_json(success, _TEXT_ANSWERS.get(path, "application/json")
                            if method == "get" else "application/json")}
        if _is_config(path):
            ok["headers"] = _ETAG
        responses = {"200": ok}
        if path in _PARTIAL:
            responses["206"] = _PARTIAL[path]
        # Any write may get a malformed body or parameter (400), and a 401 without the
        # token; any route a wrong method (405); with protected reads, any a 401.
        extra = {400, 401, 405} if method != "get" else {401, 405}
        if _is_config(path) and method != "get":
            extra.add(412)
            params = [*params, _IF_MATCH]
        elif _is_config(path):
            responses["304"] = _NOT_MODIFIED
            params = [*params, _IF_NONE_MATCH]
        for status in sorted({*errors, *extra}):
            response = {"description": "Error", **_json(_ref("Error"))}
            if status in _HEADERS and (status != 503 or method != "get"):
                response["headers"] = _HEADERS[status]
            responses[str(status)] = response
        responses["414"] = _URI_TOO_LONG
        operation = {"summary": summary, "operationId": f"{method}_{path}", "responses": responses,
                     "security": _SECURITY, "parameters": [*params, _ACCEPT_LANGUAGE]}
        if body is not None:
            operation["requestBody"] = {"required": (path, method) not in _OPTIONAL_BODIES,
                                        **_json(body)}
        paths.setdefault(path, {})[method] = operation
    return {"openapi": "3.0.3",
            "info": {"title": "RTSP patrol recorder API", "version": "1.0.0",
                     "description": "CORS preflights (OPTIONS) are answered 204 No Content. "
                                    "Messages and status names are Chinese; send "
                                    "Accept-Language: en to get English beside them "
                                    "(*_en fields)."},
            "paths": paths,
            "components": {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES}}


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(build_document())
