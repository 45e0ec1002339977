"""The daemon's hold on config.json, driven step by step (no processes: configs without streams)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from recorder.config_watch import ConfigWatch
from recorder.daemon import Daemon
from shared import settings
from shared.atomic import write_json_atomic
from shared.control_file import request_start
from shared.status_file import empty_status, read_status

NOW = 1_760_000_000.0


def started_daemon(tmp_path: Path, output_directory: str = "./output") -> Daemon:
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {"cycle_interval_seconds": 0,
                                                 "output_directory": output_directory,
                                                 "min_free_space_mb": 0},
                               "streams": []})
    request_start(settings.control_path(config), empty_status())
    return Daemon(config)


@pytest.mark.parametrize("dangerous", ["/", "/etc/cams", "..", "."])
def test_a_hand_edited_dangerous_output_directory_is_refused(tmp_path: Path, dangerous: str) -> None:
    daemon = started_daemon(tmp_path, dangerous)
    daemon.step(10.0, NOW)
    assert daemon.cycle is None and daemon.config_watch.config is None
    error = read_status(daemon.publisher.path)["config_error"]
    assert error["field"] == "global_config.output_directory"


@pytest.mark.parametrize("kind", ["file", "link"])
def test_a_hand_edit_to_a_file_keeps_the_last_valid_config(tmp_path: Path, kind: str) -> None:
    # It was taken, and the recorder then failed to make the folder every 5 s (File exists).
    daemon = started_daemon(tmp_path)
    daemon.step(10.0, NOW)
    good = daemon.config_watch.config
    assert good is not None
    (tmp_path / "notes.txt").write_text("notes", encoding="utf-8")
    if kind == "link":
        (tmp_path / "notes-link").symlink_to(tmp_path / "notes.txt")
    path = Path(daemon.config_path)
    target = "notes.txt" if kind == "file" else "notes-link"
    path.write_text(path.read_text(encoding="utf-8").replace("./output", f"./{target}"),
                    encoding="utf-8")
    daemon.step(11.0, NOW + 1)
    assert daemon.config_watch.config == good
    error = read_status(daemon.publisher.path)["config_error"]
    assert error["field"] == "global_config.output_directory"
    assert "已存在且不是目录" in error["reason"] and error["line"] is not None
    assert daemon.state.running  # cycles go on into the last valid folder


def test_a_broken_edit_keeps_the_last_valid_config_until_fixed(tmp_path: Path) -> None:
    daemon = started_daemon(tmp_path)
    daemon.step(10.0, NOW)
    good = daemon.config_watch.config
    assert good is not None and daemon.config_watch.error is None
    path = Path(daemon.config_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"streams": []', '"streams": [1,]'), encoding="utf-8")
    daemon.step(11.0, NOW + 1)
    assert daemon.config_watch.config == good
    error = read_status(daemon.publisher.path)["config_error"]
    assert error["file"] == "config.json" and error["line"] is not None
    assert daemon.state.running  # cycles go on with the last valid config
    path.write_text(json.dumps({"global_config": {"max_concurrent_streams": 3,
                                                  "min_free_space_mb": 0},
                                "streams": []}), encoding="utf-8")
    daemon.step(12.0, NOW + 2)
    assert daemon.config_watch.error is None
    assert daemon.config_watch.config["global_config"]["max_concurrent_streams"] == 3
    assert read_status(daemon.publisher.path)["config_error"] is None


def test_a_finished_run_stays_finished_across_a_restart(tmp_path: Path) -> None:
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {"poll_cycles": 1, "cycle_interval_seconds": 0,
                                                 "min_free_space_mb": 0}, "streams": []})
    request_start(settings.control_path(config), empty_status())
    first = Daemon(config)
    first.recover()
    for step in range(5):  # a cycle without streams ends at once; then the run is done
        first.step(10.0 + step, NOW + step)
    assert not first.state.running and first.state.cycles_done == 1
    first.publisher.publish(20.0, NOW + 10)

    restarted = Daemon(config)
    restarted.recover()
    for step in range(3):
        restarted.step(30.0 + step, NOW + 20 + step)
    assert not restarted.state.running and restarted.state.cycles_done == 0
    assert restarted.last_cycle is None  # no cycle ran again

    # A new start through the control file runs the cycles again.
    request_start(settings.control_path(config), read_status(restarted.publisher.path))
    for step in range(5):
        restarted.step(40.0 + step, NOW + 30 + step)
    assert restarted.state.cycles_done == 1


def test_cycle_numbers_keep_growing_across_stops_and_restarts(tmp_path: Path) -> None:
    # One output folder, one numbering: "第 1 轮" twice would make two reports claim one cycle.
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {"poll_cycles": 1, "cycle_interval_seconds": 0,
                                                 "min_free_space_mb": 0}, "streams": []})
    request_start(settings.control_path(config), empty_status())
    first = Daemon(config)
    first.recover()
    for step in range(5):
        first.step(10.0 + step, NOW + step)
    assert first.last_cycle.number == 1
    request_start(settings.control_path(config), read_status(first.publisher.path))
    for step in range(5):  # a new start of the scheduler in the same process
        first.step(20.0 + step, NOW + 10 + step)
    assert first.last_cycle.number == 2
    first.publisher.publish(30.0, NOW + 20)

    restarted = Daemon(config)
    restarted.recover()
    request_start(settings.control_path(config), read_status(restarted.publisher.path))
    for step in range(5):
        restarted.step(40.0 + step, NOW + 30 + step)
    assert restarted.last_cycle.number == 3
    assert read_status(restarted.publisher.path)["current_cycle"] == 3


def test_a_copy_of_the_config_in_force_that_failed_is_written_once_it_can_be(
        tmp_path: Path) -> None:
    # A full disk, a folder in the way: the API's read-only views need the copy; it is tried
    # again at each poll, not only when config.json changes next.
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {}, "streams": []})
    copy = settings.config_in_force_path(config)
    os.makedirs(copy)  # in the way
    watch = ConfigWatch(config)
    watch.poll()
    assert watch.config is not None and os.path.isdir(copy)
    os.rmdir(copy)
    watch.poll()  # config.json unchanged
    assert os.path.isfile(copy)


def test_a_file_read_while_it_is_rewritten_in_place_is_read_again_before_it_counts(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # An editor or json.dump(open(p, "w")) truncates, then writes: read in between, the file
    # is empty. That was logged as an ERROR and alerted as recorder.config_error at once.
    from recorder.config_watch import SETTLE_SECONDS
    config = tmp_path / "config.json"
    write_json_atomic(str(config), {"global_config": {}, "streams": []})
    watch = ConfigWatch(str(config))
    watch.poll()
    good = watch.config
    config.write_text("", encoding="utf-8")  # truncated, not written yet
    written = os.stat(config).st_mtime
    with caplog.at_level("ERROR"):
        watch.poll(wall=written + 0.1)
        watch.poll(wall=written + 0.3)  # unchanged, read again all the same
    assert watch.error is None and watch.config == good and not caplog.records
    watch.poll(wall=written - 0.2)  # written after the step read its time
    assert watch.error is None
    config.write_text('{"global_config": {"poll_cycles": 3}, "streams": []}', encoding="utf-8")
    watch.poll(wall=os.stat(config).st_mtime + 0.1)
    assert watch.error is None and watch.config["global_config"]["poll_cycles"] == 3
    # Still no JSON once it settled: broken, as before.
    config.write_text('{"global_config": ', encoding="utf-8")
    written = os.stat(config).st_mtime
    watch.poll(wall=written + 0.2)
    assert watch.error is None
    watch.poll(wall=written + SETTLE_SECONDS)
    assert watch.error is not None and "JSON 格式错误" in watch.error.message
    # A rule broken in whole JSON is no half-written file: said at once.
    config.write_text('{"global_config": {"max_concurrent_streams": 0}, "streams": []}',
                      encoding="utf-8")
    watch.poll(wall=os.stat(config).st_mtime)
    assert "max_concurrent_streams" in watch.error.message


@pytest.mark.parametrize("edit, said", [
    ({"cycle_interval_seconds": 5}, "config changed; cycle_interval_seconds 5 applies at once, "
                                    "to the pause before the next cycle"),
    ({"cycle_interval_seconds": 5, "poll_cycles": 3},
     "config changed; cycle_interval_seconds 5 applies at once, to the pause before the next "
     "cycle; the other changes apply from the next cycle"),
    ({"cycle_interval_seconds": 0, "poll_cycles": 3},
     "config changed; applies from the next cycle"),
])
def test_the_log_says_when_an_edit_applies(tmp_path: Path, edit: dict, said: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    # Every edit was said to apply "from the next cycle"; the interval moves the pause at once.
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {"cycle_interval_seconds": 0}, "streams": []})
    watch = ConfigWatch(config)
    watch.poll()
    write_json_atomic(config, {"global_config": edit, "streams": []})
    with caplog.at_level("INFO", logger="recorder.config_watch"):
        watch.poll()
    assert caplog.messages == [said]


def test_a_config_valid_again_says_when_its_edit_applies(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "config.json"
    write_json_atomic(str(config), {"global_config": {"cycle_interval_seconds": 0},
                                    "streams": []})
    watch = ConfigWatch(str(config))
    watch.poll()
    config.write_text('{"global_config": ', encoding="utf-8")
    watch.poll()
    write_json_atomic(str(config), {"global_config": {"cycle_interval_seconds": 7},
                                    "streams": []})
    with caplog.at_level("INFO", logger="recorder.config_watch"):
        watch.poll()
    assert caplog.messages[-1:] == ["config valid again; cycle_interval_seconds 7 applies at "
                                    "once, to the pause before the next cycle"]


def test_a_broken_config_at_the_start_says_there_is_no_valid_one_yet(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # It said 'keeping the last valid one' though none had been loaded.
    config = tmp_path / "config.json"
    config.write_text('{"broken": true}', encoding="utf-8")
    watch = ConfigWatch(str(config))
    with caplog.at_level("ERROR", logger="recorder.config_watch"):
        watch.poll()
    assert watch.config is None and watch.error is not None
    [said] = caplog.messages
    assert said.startswith("config rejected, no valid config yet: ")
    good = {"global_config": {"min_free_space_mb": 0}, "streams": []}
    write_json_atomic(str(config), good)
    watch.poll()
    assert watch.config is not None and watch.error is None
    caplog.clear()
    config.write_text('{"broken": again}', encoding="utf-8")
    with caplog.at_level("ERROR", logger="recorder.config_watch"):
        watch.poll(force=True)
    [said] = caplog.messages
    assert said.startswith("config rejected, keeping the last valid one: ")
