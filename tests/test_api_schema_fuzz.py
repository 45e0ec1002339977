"""Schemathesis against the served ``/api/openapi.json`` on a real gunicorn: the document is the API.

Every operation gets generated requests: valid ones (positive) and, where the
document constrains something, ones that break it (negative). Every answer
must be documented (status code, content type, body schema, headers), none may
be a 500, and a request that breaks the document must be refused with a 4xx.
A closing pass of hand-written requests makes every operation answer 200 once
(generated cycle names and clip paths never hit the real ones), so every
success body is checked against the document too.

The server works on a temp folder: a config with two 127.0.0.1 streams and an
output tree with two cycle folders of clips. Deletes and config writes are
real, and stay in that folder: a generated ``output_directory`` that the API
would accept and that leads out of it is replaced before sending. The
recorder is not running, so start/stop answer 503 (documented).
"""
from __future__ import annotations

import io
import os
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_headers_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)

from shared import settings as patrol_settings
from shared.atomic import write_json_atomic
from shared.clip_names import CONTACT_SHEET, contact_sheet_name, thumbnail_name
from shared.config_file import load_config
from shared.history_schema import connect_writer, history_path
from shared.output_rule import output_directory_problem
from shared.task_status import COMPLETED, CONNECTION_ERROR
from tests.helpers import valid_config
from testkit.history_rows import record
from testkit.servers import GunicornServer

pytestmark = pytest.mark.integration

# Per operation and generation mode (operations without parameters have one distinct request).
EXAMPLES_PER_MODE = 60
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
# 503 is documented for start/stop (no recorder here) and lock timeouts; the test
# itself checks it came from start/stop only. A refused precondition (412) is a
# refusal like any other: If-Match is checked before the body's content. So is
# gunicorn's 414 for an invalid query that made the request line too long.
CONFIG = schemathesis.Config.from_dict({"checks": {
    "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]},
    "negative_data_rejection": {"expected-statuses": ["400", "401", "403", "404", "405", "409",
                                                      "412", "413", "414"]}}})
CLIP = b"\x00\x00\x00\x18ftypisom" + b"a" * 100
CYCLES = {"20250101_120000": ("test_stream1.mp4", "test_stream2.mp4"),
          "20250102_080000": ("cam7.mp4",)}
# A "check now" folder (output/checks/<folder>/) with its clip and thumbnail.
CHECK = "20250103_090000_test_stream1"
RECORDER_ONLY = {("POST", "/api/scheduler/start"), ("POST", "/api/scheduler/stop"),
                 ("POST", "/api/cameras/{camera}/check")}


def _tree(folder: Path) -> str:
    """A config with two 127.0.0.1 streams and an output tree with two cycle folders of clips."""
    config_path = folder / "config.json"
    write_json_atomic(str(config_path), valid_config())
    for cycle, clips in CYCLES.items():
        (folder / "output" / cycle).mkdir(parents=True)
        for name in clips:
            (folder / "output" / cycle / name).write_bytes(CLIP)
        (folder / "output" / cycle / "rtsp_report.json").write_text("{}\n", encoding="utf-8")
        for name in clips:  # each clip's thumbnail, and the cycle's contact sheet
            (folder / "output" / cycle / thumbnail_name(name)).write_bytes(_jpeg())
        (folder / "output" / cycle / CONTACT_SHEET).write_bytes(_jpeg())
        (folder / "output" / cycle / contact_sheet_name(2)).write_bytes(_jpeg())
    check = folder / "output" / "checks" / CHECK
    check.mkdir(parents=True)
    (check / "test_stream1.mp4").write_bytes(CLIP)
    (check / thumbnail_name("test_stream1.mp4")).write_bytes(_jpeg())
    history = connect_writer(history_path(str(config_path)))
    now = time.time()
    record(history, "test_stream1", now - 60, COMPLETED, clip="./output/x/test_stream1.mp4",
           size=len(CLIP), clip_seconds=5.0)
    record(history, "test_stream2", now - 60, CONNECTION_ERROR, error="连接被拒绝")
    record(history, "removed_cam", now - 60, COMPLETED)
    history.close()
    return str(config_path)


def _jpeg() -> bytes:
    """A small real JPEG (what the recorder's thumbnails and contact sheets are)."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 18), (40, 90, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def _inside(path: str, folder: str) -> bool:
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return real == root or real.startswith(root + os.sep)


def _keep_output_inside(case, config_path: str) -> None:
    """Replace a generated ``output_directory`` the API would accept when it leads out of tmp."""
    if case.path not in ("/api/config", "/api/config/global") or not isinstance(case.body, dict):
        return
    holder = case.body.get("global_config") if case.path == "/api/config" else case.body
    if not isinstance(holder, dict):
        return
    value = holder.get("output_directory")
    if not isinstance(value, str) or "\x00" in value:
        return  # refused by the model's rules before anything is written
    if output_directory_problem(value, config_path) is not None:
        return  # refused by the output_directory rule: nothing is written or deleted there
    folder = os.path.dirname(config_path)
    if not _inside(patrol_settings.resolve_output_dir(value, config_path), folder):
        holder["output_directory"] = "./output"


def _negatable(spec: dict) -> bool:
    """Whether a request to this operation can break the document (a body, or a constrained parameter).

    A free-form string (a header like If-Match) takes any value, so an operation
    with nothing else has no invalid request to generate.
    """
    return "requestBody" in spec or any(
        param["schema"] != {"type": "string"} for param in spec.get("parameters", []))


def _known_good(ops: dict, folder: Path) -> list:
    """Hand-written requests that succeed on the fixture tree, one or more per operation."""
    first, second = sorted(CYCLES)
    clip = f"./output/{first}/{CYCLES[first][0]}"
    cases = [ops["PUT", "/api/config"].Case(body=valid_config())]  # undo the fuzzed edits
    cases += [op.Case() for (method, path), op in sorted(ops.items())
              if method == "GET" and "{" not in path
              and all(p["in"] == "header" for p in op.definition.raw.get("parameters", []))]
    cases += [
        ops["GET", "/api/videos"].Case(query={"order": "newest", "limit": 1, "offset": 0}),
        ops["GET", "/api/videos"].Case(query={"timestamp": first}),
        ops["GET", "/api/videos/{timestamp}"].Case(path_parameters={"timestamp": first}),
        ops["GET", "/api/clips/{location}"].Case(
            path_parameters={"location": f"{first}/{CYCLES[first][0]}"}),
        ops["GET", "/api/thumbnails/{timestamp}/{clip}"].Case(
            path_parameters={"timestamp": first, "clip": CYCLES[first][0]}),
        ops["GET", "/api/contact_sheets/{timestamp}"].Case(path_parameters={"timestamp": first}),
        ops["GET", "/api/contact_sheets/{timestamp}/{page}"].Case(
            path_parameters={"timestamp": first, "page": 2}),
        ops["GET", "/api/clips/{location}"].Case(
            path_parameters={"location": f"checks/{CHECK}/test_stream1.mp4"}),
        ops["GET", "/api/thumbnails/checks/{check}/{clip}"].Case(
            path_parameters={"check": CHECK, "clip": "test_stream1.mp4"}),
        ops["POST", "/api/cameras/{camera}/reference"].Case(
            path_parameters={"camera": "test_stream1"}),
        ops["GET", "/api/cameras/{camera}/reference"].Case(
            path_parameters={"camera": "test_stream1"}),
        ops["GET", "/api/cameras"].Case(query={"include_removed": "1", "sort": "-uptime_24h"}),
        ops["GET", "/api/cameras/{camera}"].Case(path_parameters={"camera": "test_stream1"}),
        ops["GET", "/api/cameras/{camera}/history"].Case(
            path_parameters={"camera": "removed_cam"}, query={"since": "2020-01-01", "limit": 5}),
        ops["PUT", "/api/config/global"].Case(body={"max_concurrent_streams": 3}),
        ops["POST", "/api/config/streams"].Case(
            body={"rtsp_url": "rtsp://127.0.0.1:8554/cam3", "duration_seconds": 5}),
        ops["PUT", "/api/config/streams/{index}"].Case(path_parameters={"index": "2"},
                                                       body={"weight": 2.5}),
        ops["DELETE", "/api/config/streams/{index}"].Case(path_parameters={"index": "2"}),
        ops["POST", "/api/config/save"].Case(body={"file_path": "copy.json"}),
        ops["POST", "/api/config/save"].Case(body={"file_path": None}),
        ops["POST", "/api/config/reload"].Case(),
        ops["DELETE", "/api/video"].Case(query={"path": clip}),
        ops["DELETE", "/api/timestamp/{timestamp}"].Case(path_parameters={"timestamp": second}),
    ]
    return cases


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("schema")
    config_path = _tree(folder)
    with GunicornServer(config_path, workers=2) as server:
        yield server, config_path, folder


def test_every_operation_conforms_to_the_served_document(served) -> None:
    server, config_path, folder = served
    # Loaded as a dict: from_url would leave out the document's own operation.
    document = requests.get(server.url("/api/openapi.json"), timeout=10).json()
    schema = schemathesis.openapi.from_dict(document, config=CONFIG)
    ops = {(op.method.upper(), op.path): op
           for op in (result.ok() for result in schema.get_all_operations())}
    documented = {(method.upper(), path) for path, item in document["paths"].items()
                  for method in item}
    assert set(ops) == documented and len(ops) >= 20
    sent: Counter = Counter()
    statuses: dict[tuple, Counter] = {key: Counter() for key in documented}
    failures: list[str] = []
    session = requests.Session()
    session.trust_env = False  # 127.0.0.1 directly, whatever *_proxy says

    def send(case, key: tuple, mode: str) -> int:
        _keep_output_inside(case, config_path)
        response = case.call(base_url=server.url(""), session=session, timeout=15)
        sent[key, mode] += 1
        statuses[key][response.status_code] += 1
        checks = CHECKS + ([negative_data_rejection] if mode == "negative" else [])
        try:
            case.validate_response(response, checks=checks)
        except FailureGroup as exc:
            # Collected, not raised: one run shows every disagreement at once.
            failures.append(f"{mode} {case.method} {case.formatted_path}: {exc}")
        return response.status_code

    for key, operation in sorted(ops.items()):
        modes = [GenerationMode.POSITIVE]
        if _negatable(operation.definition.raw):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case) -> None:
                send(case, key, mode.value)  # noqa: B023 - run() is called right here

            run()

    succeeded = set()
    for case in _known_good(ops, folder):
        key = (case.method.upper(), case.operation.path)
        status = send(case, key, "explicit")
        assert status == 200, (key, status)
        succeeded.add(key)

    # The one answer that is not the app's: gunicorn's HTML 414 for a request line over
    # 4094 bytes (negative examples reach it now and then), documented as such.
    too_long = ops["GET", "/api/videos"].Case(query={"timestamp": "x" * 5000})
    assert send(too_long, ("GET", "/api/videos"), "explicit") == 414

    total = sum(sent.values())
    every: Counter = Counter()
    for counts in statuses.values():
        every.update(counts)
    by_mode = Counter()
    for (_, mode), count in sent.items():
        by_mode[mode] += count
    print(f"\nschemathesis: {total} requests {dict(by_mode)} over {len(ops)} operations; "
          f"statuses {dict(sorted(every.items()))}")
    assert failures == [], "\n\n".join(failures[:10])
    assert {key for key, _ in sent} == documented, "an operation got no request"
    assert succeeded == documented - RECORDER_ONLY
    assert total >= 300 and by_mode["negative"] >= 100
    assert 500 not in every
    assert {key for key, counts in statuses.items() if 503 in counts} == RECORDER_ONLY
    assert "Traceback" not in server.log()
    # The explicit deletes happened, in the temp tree only.
    first, second = sorted(CYCLES)
    assert not (folder / "output" / first / CYCLES[first][0]).exists()
    assert (folder / "output" / first / CYCLES[first][1]).exists()
    assert not (folder / "output" / second).exists()
    # Whatever configs were written, the output folder never left the temp folder.
    written = load_config(config_path)["global_config"]["output_directory"]
    assert _inside(patrol_settings.resolve_output_dir(written, config_path), str(folder))
