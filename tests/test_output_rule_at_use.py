"""The output_directory rule is checked where the output folder resolves at every use.

A hand edit (the API's writes and the recorder's config load refuse it, but
nothing re-checked it on delete), or ``output`` swapped for a symlink while
everything runs, must not let a list, a delete, a new cycle or retention touch
a forbidden folder (here: the config's own folder and the one above it).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from app import create_app
from recorder.cycle_folder import create_cycle_folder
from recorder.retention import Limits, apply_retention
from shared.atomic import write_json_atomic
from shared.output_tree import OutputDir
from shared.status_file import read_status
from tests.helpers import assert_error, snapshot_files, valid_config
from tests.test_retention import FakeDisk, idle_daemon

CYCLE = "20250101_000000"
NOW = 1_760_000_000.0
REFUSED = "输出目录不符合规则"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """<tmp>/site/cfg/config.json; <tmp>/site holds a cycle-named folder that is not ours."""
    (tmp_path / "site" / "cfg").mkdir(parents=True)
    victim = tmp_path / "site" / CYCLE
    victim.mkdir()
    (victim / "cam.mp4").write_bytes(b"not ours")
    return tmp_path / "site"


def _client(config: Path, output_directory: str) -> FlaskClient:
    body = valid_config()
    body["global_config"]["output_directory"] = output_directory
    write_json_atomic(str(config), body)
    return create_app({"CONFIG_PATH": str(config)}).test_client()


def _every_operation(client: FlaskClient, video_path: str) -> list:
    return [client.get("/api/timestamps"), client.get("/api/videos"),
            client.get(f"/api/videos/{CYCLE}"), client.get("/api/videos?limit=5"),
            client.delete("/api/video", query_string={"path": video_path}),
            client.delete(f"/api/timestamp/{CYCLE}")]


def test_a_hand_edited_forbidden_output_is_neither_listed_nor_deleted(site: Path) -> None:
    # Such a config is broken, as for the recorder; with no valid one kept before it (the
    # recorder's copy in force), nothing is served: the error names the rule, file and line.
    client = _client(site / "cfg" / "config.json", "..")  # the folder above the config's
    before = snapshot_files(site)
    for response in _every_operation(client, str(site / CYCLE / "cam.mp4")):
        assert_error(response, 503, "global_config.output_directory 不能是配置文件所在目录或其上级目录"
                                    " (config.json 第5行)")
    assert snapshot_files(site) == before


def test_an_output_swapped_for_a_forbidden_symlink_is_neither_listed_nor_deleted(
        site: Path) -> None:
    output = site / "cfg" / "output"
    (output / CYCLE).mkdir(parents=True)
    client = _client(site / "cfg" / "config.json", "./output")
    assert client.get("/api/timestamps").get_json()["count"] == 1
    os.rename(output, site / "cfg" / "moved")
    output.symlink_to(site, target_is_directory=True)
    before = snapshot_files(site)
    for response in _every_operation(client, f"./output/{CYCLE}/cam.mp4"):
        assert_error(response, 503, REFUSED)
    assert snapshot_files(site) == before


def test_an_output_symlinked_to_an_allowed_folder_still_works(site: Path) -> None:
    elsewhere = site / "elsewhere"
    (elsewhere / CYCLE).mkdir(parents=True)
    (elsewhere / CYCLE / "cam.mp4").write_bytes(b"ours")
    (site / "cfg" / "output").symlink_to(elsewhere, target_is_directory=True)
    client = _client(site / "cfg" / "config.json", "./output")
    assert client.get("/api/videos").get_json()["count"] == 1
    response = client.delete("/api/video", query_string={"path": f"./output/{CYCLE}/cam.mp4"})
    assert response.status_code == 200
    assert client.delete(f"/api/timestamp/{CYCLE}").status_code == 200
    assert (site / CYCLE / "cam.mp4").exists()


def test_retention_and_a_new_cycle_refuse_a_swapped_output(site: Path) -> None:
    config = str(site / "cfg" / "config.json")
    output = site / "cfg" / "output"
    output.symlink_to(site, target_is_directory=True)
    before = snapshot_files(site)
    out = OutputDir("./output", str(output), config)
    assert apply_retention(out, NOW, Limits(1, 1, 0), None) == []
    with pytest.raises(PermissionError, match=REFUSED):
        create_cycle_folder(str(output), NOW, "", config)
    assert snapshot_files(site) == before


def test_the_recorder_stops_recording_into_a_swapped_output(tmp_path: Path) -> None:
    daemon = idle_daemon(tmp_path, FakeDisk(10**12), retention_max_cycles=1)
    daemon.step(100.0, NOW)
    first = daemon.cycle.name
    # Swapped for a link to the config's own folder, which holds a cycle-named folder.
    (tmp_path / CYCLE).mkdir()
    os.rename(tmp_path / "output", tmp_path / "moved")
    (tmp_path / "output").symlink_to(tmp_path, target_is_directory=True)
    before = sorted(os.listdir(tmp_path))
    daemon.step(101.0, NOW + 1)
    daemon.step(102.0, NOW + 2)
    assert sorted(os.listdir(tmp_path)) == before
    assert daemon.cycle is None
    assert REFUSED in read_status(daemon.publisher.path)["message"]
    assert os.listdir(tmp_path / "moved") == [first]
