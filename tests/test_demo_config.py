"""scripts/demo_config.py: the demo config's cameras on another port, and the warning."""
from __future__ import annotations

import json

import pytest

from scripts import demo_config

CAMERA_PORT = 8554


@pytest.mark.parametrize("url, elsewhere", [
    ("rtsp://127.0.0.1:8554/picture/healthy", None),
    ("rtsp://127.0.0.1:18554/picture/healthy", 18554),
    ("rtsp://LOCALHOST:9000/cam1", 9000),
    ("rtsp://[::1]:9000/cam1", 9000),
    ("rtsp://127.0.0.2:9000/cam1", 9000),
    ("rtsp://127.0.0.1/cam1", 554),  # the scheme's port
    ("rtsps://127.0.0.1/cam1", 322),
    ("rtsp://10.0.0.7:9000/cam1", None),  # another machine: not the demo camera
    ("rtsp://camera.example:9000/cam1", None),
    ("rtsp://127.0.0.1:99999/cam1", None),  # a port the config rules refuse anyway
])
def test_only_cameras_on_this_machine_at_another_port_are_named(url, elsewhere):
    config = {"streams": [{"rtsp_url": url, "output_filename": "a.mp4"}]}
    found = demo_config.streams_off_the_camera_port(config, CAMERA_PORT)
    assert found == ([] if elsewhere is None else [(f"a.mp4 {url}", elsewhere)])


def test_a_camera_is_named_by_its_file_or_index_with_its_password_masked():
    config = {"streams": [{"rtsp_url": "rtsp://127.0.0.1:8554/ok"},
                          {"rtsp_url": "rtsp://admin:s3cret@127.0.0.1:9000/x?pwd=p"}]}
    assert demo_config.streams_off_the_camera_port(config, CAMERA_PORT) == [
        ("streams[1] rtsp://admin:***@127.0.0.1:9000/x?pwd=***", 9000)]


@pytest.mark.parametrize("text", ["{not json", "[]", '{"streams": {}}', '{"streams": [1]}',
                                  '{"streams": [{"rtsp_url": 5}]}'])
def test_a_config_it_cannot_read_gives_no_warning(tmp_path, text):
    path = tmp_path / "config.json"
    path.write_text(text, encoding="utf-8")
    assert demo_config.camera_port_warning(str(path), CAMERA_PORT) is None
    assert demo_config.camera_port_warning(str(tmp_path / "missing.json"), CAMERA_PORT) is None


def test_the_warning_names_each_camera_and_the_port_to_run_with(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"streams": [
        {"rtsp_url": "rtsp://127.0.0.1:8554/a", "output_filename": "a.mp4"},
        {"rtsp_url": "rtsp://127.0.0.1:18554/b", "output_filename": "b.mp4"},
        {"rtsp_url": "rtsp://127.0.0.1:18554/c", "output_filename": "c.mp4"}]}),
        encoding="utf-8")
    lines = demo_config.camera_port_warning(str(path), CAMERA_PORT).splitlines()
    assert lines[0] == (f"run_demo: warning: the demo camera listens on port 8554, but {path} "
                        "has cameras on this machine at another port:")
    assert lines[1:3] == ["run_demo:   b.mp4 rtsp://127.0.0.1:18554/b",
                          "run_demo:   c.mp4 rtsp://127.0.0.1:18554/c"]
    assert 'DEMO_ARGS="--camera-port 18554"' in lines[-1]
    path.write_text(json.dumps({"streams": [
        {"rtsp_url": "rtsp://127.0.0.1:1/b"}, {"rtsp_url": "rtsp://127.0.0.1:2/c"}]}),
        encoding="utf-8")
    assert 'DEMO_ARGS="--camera-port N"' in demo_config.camera_port_warning(str(path), CAMERA_PORT)
