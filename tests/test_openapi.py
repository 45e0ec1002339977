"""The OpenAPI document describes exactly the routes the app serves under /api."""
from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from shared import config as model
from shared import task_record
from shared.errors import ConfigError
from tests.helpers import WriteStatus, valid_config

_PARAM_RE = re.compile(r"<(?:[a-zA-Z_]+(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
IGNORED_METHODS = {"HEAD", "OPTIONS"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _routes(app: Flask) -> set[tuple[str, str]]:
    pairs = set()
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/") or rule.rule == "/metrics"):
            continue
        path = _PARAM_RE.sub(r"{\1}", rule.rule)
        for method in (rule.methods or set()) - IGNORED_METHODS:
            pairs.add((path, method.lower()))
    return pairs


def _document(client: FlaskClient) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_param_conversion() -> None:
    assert _PARAM_RE.sub(r"{\1}", "/api/videos/<path:timestamp>") == "/api/videos/{timestamp}"
    assert _PARAM_RE.sub(r"{\1}", "/api/x/<index>/<int(min=0):n>") == "/api/x/{index}/{n}"


def test_document_is_openapi_3(client: FlaskClient) -> None:
    document = _document(client)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] and document["info"]["version"]
    assert isinstance(document["paths"], dict) and document["paths"]


def test_paths_and_methods_match_the_url_map(app: Flask, client: FlaskClient) -> None:
    document = _document(client)
    documented = {(path, method) for path, item in document["paths"].items()
                  for method in item if method in HTTP_METHODS}
    served = _routes(app)
    assert len(served) >= 20
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


def test_every_operation_is_complete(client: FlaskClient) -> None:
    document = _document(client)
    schemas = document["components"]["schemas"]
    operation_ids = []
    for path, item in document["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        for method, operation in item.items():
            params = [p for p in operation.get("parameters", []) if p["in"] == "path"]
            assert [p["name"] for p in params] == names, (path, method)
            assert all(p["required"] is True for p in params)
        for method, operation in item.items():
            operation_ids.append(operation["operationId"])
            assert "200" in operation["responses"], (path, method)
            for status, response in operation["responses"].items():
                if status == "414":  # gunicorn's own HTML page, the only answer not from the app
                    assert set(response["content"]) == {"text/html"}
                    continue
                if status == "304":  # Not Modified has no body
                    assert "content" not in response and method == "get"
                    continue
                if path == "/metrics" and status == "200":  # the Prometheus text format
                    assert set(response["content"]) == {"text/plain"}
                    continue
                if path == "/api/clips/{location}" and status in ("200", "206"):  # the clip
                    assert set(response["content"]) == {"video/mp4"}
                    continue
                if ("{timestamp}" in path or path.startswith("/api/thumbnails/")
                        or path == "/api/cameras/{camera}/reference") \
                        and "/api/videos" not in path and status == "200" \
                        and method == "get":  # the pictures (app/pictures.py)
                    assert set(response["content"]) == {"image/jpeg"}
                    continue
                schema = response["content"]["application/json"]["schema"]
                if status != "200":
                    assert schema == {"$ref": "#/components/schemas/Error"}
    assert len(operation_ids) == len(set(operation_ids))
    text = str(document)
    for ref in set(re.findall(r"#/components/schemas/(\w+)", text)):
        assert ref in schemas


def test_documented_error_statuses_cover_the_spec(client: FlaskClient) -> None:
    paths = _document(client)["paths"]
    assert "403" in paths["/api/video"]["delete"]["responses"]
    assert "409" in paths["/api/timestamp/{timestamp}"]["delete"]["responses"]
    assert "404" in paths["/api/config/streams/{index}"]["delete"]["responses"]
    assert "409" in paths["/api/scheduler/start"]["post"]["responses"]
    assert "503" in paths["/api/scheduler/stop"]["post"]["responses"]
    assert "400" in paths["/api/config/reload"]["post"]["responses"]


def test_the_task_schema_is_the_task_record(client: FlaskClient,
                                            write_status: WriteStatus) -> None:
    task = _document(client)["components"]["schemas"]["Task"]
    assert list(task["properties"]) == list(task_record.NAMES)
    # SPEC's list is required; the three timing fields and quality beyond it are extras.
    assert set(task_record.NAMES) - set(task["required"]) == {
        "planned_offset", "start_offset", "run_seconds", "quality"}
    assert task["properties"]["output_file"] == {"type": "string", "nullable": True}
    write_status(tasks=[{"task_id": 0, "stream_index": 0, "status": 5, "output_file": None}])
    served = client.get("/api/tasks").get_json()["tasks"][0]
    assert list(served) == list(task["properties"])
    assert served["output_file"] is None
    # A record written before the picture checks existed: not checked.
    assert served["quality"] == {"checked": False, "issues": [], "measures": {}}


def test_documented_config_bounds_are_the_rules_bounds(client: FlaskClient) -> None:
    """Each documented minimum/maximum is accepted by shared.config, one step beyond is refused."""
    schemas = _document(client)["components"]["schemas"]
    global_props = schemas["GlobalUpdate"]["properties"]
    assert set(global_props) == set(model.GLOBAL_RULES)
    stream_props = schemas["StreamUpdate"]["properties"]
    assert set(stream_props) == set(model.STREAM_RULES)

    def accepted(section: str, key: str, value: object) -> bool:
        config = valid_config()
        target = config["global_config"] if section == "global" else config["streams"][0]
        target[key] = value
        try:
            model.validate_config(config)
        except ConfigError:
            return False
        return True

    checked = 0
    for section, props in (("global", global_props), ("stream", stream_props)):
        for key, schema in props.items():
            if schema.get("type") != "integer":
                continue
            low, high = schema["minimum"], schema["maximum"]
            assert accepted(section, key, high) and not accepted(section, key, high + 1), key
            assert not accepted(section, key, low - 1), key
            # poll_cycles: -1 is allowed, 0 is not (documented with "not").
            assert accepted(section, key, low) or key == "poll_cycles", key
            checked += 1
    assert checked == 13
    assert not accepted("global", "poll_cycles", 0) and accepted("global", "poll_cycles", 1)
    weight = stream_props["weight"]
    assert weight["exclusiveMinimum"] is True and not accepted("stream", "weight", weight["minimum"])
    assert accepted("stream", "weight", weight["maximum"])
    assert not accepted("stream", "weight", weight["maximum"] * 1.0001)


def test_the_documented_put_config_body_requires_only_what_the_server_requires(
        client: FlaskClient) -> None:
    """PUT /api/config fills left-out keys with their defaults: the document must not
    call them required (schemathesis sent such a body as "invalid" and got 200)."""
    document = _document(client)
    schemas = document["components"]["schemas"]
    body = document["paths"]["/api/config"]["put"]["requestBody"]["content"]["application/json"]
    name = body["schema"]["$ref"].rsplit("/", 1)[1]
    top = schemas[name]
    assert set(top["required"]) == set(model.TOP_KEYS)
    global_schema = schemas[top["properties"]["global_config"]["$ref"].rsplit("/", 1)[1]]
    stream_schema = schemas[top["properties"]["streams"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert not global_schema.get("required")
    assert set(stream_schema["required"]) == {"rtsp_url", "duration_seconds"}
    minimal = {"global_config": {}, "streams": [{"rtsp_url": "rtsp://h/cam", "duration_seconds": 5}]}
    model.validate_config(minimal)  # what the document calls enough is enough
    for key in ("rtsp_url", "duration_seconds"):
        stream = {k: v for k, v in minimal["streams"][0].items() if k != key}
        try:
            model.validate_config({"global_config": {}, "streams": [stream]})
        except ConfigError:
            continue
        raise AssertionError(f"a stream without {key} was accepted")


def test_documented_name_lengths_are_the_rules_bounds(client: FlaskClient) -> None:
    """A name of the documented maxLength (ASCII: a byte a character) passes; one more is refused."""
    schemas = _document(client)["components"]["schemas"]
    names = (("global_config", "report_filename", ".json"),
             ("streams", "output_filename", ".mp4"))
    for section, key, suffix in names:
        props = schemas["GlobalUpdate" if section == "global_config" else "StreamUpdate"]
        longest = props["properties"][key]["maxLength"]
        for size, ok in ((longest, True), (longest + 1, False)):
            config = valid_config()
            target = config[section] if section == "global_config" else config[section][0]
            target[key] = "n" * (size - len(suffix)) + suffix
            try:
                model.validate_config(config)
            except ConfigError:
                assert not ok, (key, size)
                continue
            assert ok, (key, size)
