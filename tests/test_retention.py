"""Retention: the choice of cycle folders to remove, their removal, and the daemon's free-space floor."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from recorder.daemon import Daemon
from recorder.space_gate import LOW_SPACE_RETRY_SECONDS
from recorder.retention import (MB, CycleFolder, Limits, Removal, apply_retention,
                                choose_removals, free_bytes, remove_cycles, scan_cycles)
from shared import settings
from shared.atomic import write_json_atomic
from shared.config import setting, validate_config
from shared.global_settings import GlobalSettings
from shared.errors import ConfigError
from shared.control_file import request_start
from shared.output_tree import OutputDir
from shared.status_file import empty_status, read_status

NOW = 1_760_000_000.0
HOUR = 3600
NO_LIMITS = Limits(0, 0, 0)


def folders(*ages_hours: float, size: int = MB) -> list[CycleFolder]:
    """Cycle folders 20250101_000000, _000001, … (oldest name first) last written ``ages_hours`` ago."""
    return [CycleFolder(f"20250101_0000{i:02d}", NOW - age * HOUR, size)
            for i, age in enumerate(ages_hours)]


def names(removals: list[Removal]) -> list[str]:
    return [r.name for r in removals]


# -- the choice ------------------------------------------------------------------

def test_no_limits_remove_nothing() -> None:
    assert choose_removals(folders(900, 500, 1), NOW, NO_LIMITS, None, 0) == []


@pytest.mark.parametrize("max_cycles, current, expected", [
    (3, None, ["20250101_000000", "20250101_000001"]),
    (5, None, []),
    (1, "20250101_000004", ["20250101_000000", "20250101_000001", "20250101_000002",
                            "20250101_000003"]),
    # The folder being recorded counts among the N kept and is never the one removed.
    (2, "20250101_000000", ["20250101_000001", "20250101_000002", "20250101_000003"]),
])
def test_max_cycles_keeps_the_newest(max_cycles, current, expected) -> None:
    chosen = choose_removals(folders(5, 4, 3, 2, 1), NOW, Limits(max_cycles, 0, 0), current, None)
    assert names(chosen) == expected
    assert all(f"more than {max_cycles} cycles" == r.reason for r in chosen)


def test_max_hours_removes_folders_last_written_too_long_ago() -> None:
    chosen = choose_removals(folders(200, 169, 167.9, 1), NOW, Limits(0, 168, 0), None, None)
    assert names(chosen) == ["20250101_000000", "20250101_000001"]
    assert {r.reason for r in chosen} == {"older than 168 h"}


def test_both_limits_together_each_removal_named_once_oldest_first() -> None:
    # 000000 breaks both rules, 000001 only the count, 000003 only the age.
    items = folders(300, 10, 9, 8, 1, 0.5)
    items[3] = CycleFolder(items[3].name, NOW - 400 * HOUR, MB)  # touched long ago
    chosen = choose_removals(items, NOW, Limits(4, 168, 0), None, None)
    assert names(chosen) == ["20250101_000000", "20250101_000001", "20250101_000003"]
    assert [r.reason for r in chosen] == ["more than 4 cycles", "more than 4 cycles",
                                          "older than 168 h"]


def test_a_busy_folder_is_left_this_time_and_no_newer_one_taken_in_its_stead() -> None:
    # The last cycle's contact sheet still being drawn as the next one starts.
    items = folders(5, 4, 3)
    chosen = choose_removals(items, NOW, Limits(1, 1, 0), "20250101_000002", None,
                             busy={"20250101_000001"})
    assert names(chosen) == ["20250101_000000"]
    assert choose_removals(items, NOW, Limits(1, 0, 0), "20250101_000002", None,
                           busy={"20250101_000000", "20250101_000001"}) == []
    # A busy folder older than others: left, and the newer ones within the limit kept.
    assert names(choose_removals(folders(5, 4, 3, 2), NOW, Limits(2, 0, 0), "20250101_000003",
                                 None, busy={"20250101_000000"})) == ["20250101_000001"]
    assert choose_removals(folders(5, 4, 3), NOW, Limits(2, 0, 0), "20250101_000002", None,
                           busy={"20250101_000000"}) == []
    # Below the floor the disk comes first: a busy folder goes as any other.
    assert names(choose_removals(folders(5, 4, 3), NOW, Limits(0, 0, 1024), "20250101_000002",
                                 1022 * MB, busy={"20250101_000001"})) == [
        "20250101_000000", "20250101_000001"]


def test_the_current_cycle_is_never_removed_whatever_its_age() -> None:
    items = folders(500, 400)
    chosen = choose_removals(items, NOW, Limits(1, 1, 10**6), "20250101_000001", 0)
    assert names(chosen) == ["20250101_000000"]


def test_non_cycle_names_are_ignored() -> None:
    items = folders(500) + [CycleFolder(name, NOW - 900 * HOUR, MB) for name in
                            ("backup", "2025-01-01", "20250101_000000.old", "20250101_0000")]
    assert names(choose_removals(items, NOW, Limits(1, 1, 0), None, None)) == ["20250101_000000"]


def test_below_the_floor_the_oldest_go_until_the_shortfall_is_covered() -> None:
    items = folders(5, 4, 3, 2, 1, size=100 * MB)
    chosen = choose_removals(items, NOW, Limits(0, 0, 1024), "20250101_000004", 850 * MB)
    # 174 MB short: two folders of 100 MB cover it.
    assert names(chosen) == ["20250101_000000", "20250101_000001"]
    assert {r.reason for r in chosen} == {"free space below 1024 MB"}


def test_below_the_floor_nothing_goes_when_our_folders_could_not_cover_it() -> None:
    # Something else filled the disk: deleting our clips would not bring the floor back.
    items = folders(5, 4, 3, size=100 * MB)
    assert choose_removals(items, NOW, Limits(0, 0, 1024), None, 600 * MB) == []


def test_the_floor_counts_what_the_other_rules_already_free() -> None:
    items = folders(500, 4, 3, 2, size=100 * MB)
    chosen = choose_removals(items, NOW, Limits(0, 168, 1024), None, 950 * MB)
    assert names(chosen) == ["20250101_000000"]  # the aged one frees the 74 MB missing


def test_above_the_floor_or_unknown_free_space_removes_nothing_for_space() -> None:
    items = folders(3, 2, 1, size=100 * MB)
    assert choose_removals(items, NOW, Limits(0, 0, 1024), None, 2048 * MB) == []
    assert choose_removals(items, NOW, Limits(0, 0, 1024), None, None) == []


# -- on a real folder --------------------------------------------------------------

def make_cycle(root: Path, name: str, size: int = 4096, age_hours: float = 0) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "cam1.mp4").write_bytes(b"x" * size)
    stamp = NOW - age_hours * HOUR
    os.utime(folder, (stamp, stamp))
    return folder


def test_scan_sees_real_cycle_folders_only(tmp_path: Path) -> None:
    root = tmp_path / "output"
    make_cycle(root, "20250101_000000", size=64 * 1024, age_hours=2)
    make_cycle(root, "notes")
    (root / "20250101_000001").write_text("a file, not a folder")
    outside = make_cycle(tmp_path / "elsewhere", "20240101_000000")
    (root / "20250101_000002").symlink_to(outside, target_is_directory=True)
    scanned = scan_cycles(OutputDir("./output", str(root)))
    assert [f.name for f in scanned] == ["20250101_000000"]
    assert scanned[0].mtime == NOW - 2 * HOUR
    assert scanned[0].size >= 64 * 1024
    assert [f.size for f in scan_cycles(OutputDir("./output", str(root)), sizes=False)] == [0]
    assert scan_cycles(OutputDir("./missing", str(tmp_path / "missing"))) == []


def test_apply_removes_with_one_log_line_each_and_never_follows_symlinks(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "output"
    for i in range(4):
        make_cycle(root, f"20250101_00000{i}", size=512 * 1024, age_hours=10 - i)
    outside = make_cycle(tmp_path / "elsewhere", "20200101_000000", age_hours=900)
    (root / "20200101_000000").symlink_to(outside, target_is_directory=True)
    out = OutputDir("./output", str(root))
    with caplog.at_level(logging.INFO, logger="recorder.retention"):
        removed = apply_retention(out, NOW, Limits(2, 0, 0), "20250101_000003")
    assert removed == ["20250101_000000", "20250101_000001"]
    assert sorted(os.listdir(root)) == ["20200101_000000", "20250101_000002", "20250101_000003"]
    assert (outside / "cam1.mp4").exists() and (root / "20200101_000000").is_symlink()
    lines = [r.getMessage() for r in caplog.records if "retention: removed" in r.getMessage()]
    assert lines == ["retention: removed cycle 20250101_000000 (more than 2 cycles; 0.5 MB)",
                     "retention: removed cycle 20250101_000001 (more than 2 cycles; 0.5 MB)"]


def test_remove_skips_what_is_gone_or_became_a_symlink(tmp_path: Path) -> None:
    root = tmp_path / "output"
    make_cycle(root, "20250101_000002")
    outside = make_cycle(tmp_path / "elsewhere", "x")
    (root / "20250101_000001").symlink_to(outside, target_is_directory=True)
    out = OutputDir("./output", str(root))
    plan = [Removal("20250101_000000", "test", 0), Removal("20250101_000001", "test", 0),
            Removal("20250101_000002", "test", 0)]
    assert remove_cycles(out, plan) == ["20250101_000002"]
    assert (outside / "cam1.mp4").exists()


def test_free_bytes_probes_the_nearest_existing_folder(tmp_path: Path) -> None:
    probed = free_bytes(str(tmp_path / "not" / "yet" / "there"))
    assert probed is not None and probed > 0
    assert abs(probed - free_bytes(str(tmp_path))) < 64 * MB


# -- the settings ------------------------------------------------------------------

def test_retention_settings_are_optional_with_defaults_and_validated() -> None:
    base = validate_config({"global_config": {}, "streams": []})["global_config"]
    assert "retention_max_cycles" not in base  # not written into configs that leave them out
    assert Limits.from_settings(GlobalSettings.from_config(base)) == Limits(1000, 168, 1024)
    chosen = validate_config({"global_config": {"retention_max_cycles": 0,
                                                "retention_max_hours": 24,
                                                "min_free_space_mb": 0}, "streams": []})
    assert Limits.from_settings(GlobalSettings.from_config(chosen["global_config"])) == Limits(0, 24, 0)
    assert setting(chosen["global_config"], "retention_max_hours") == 24


@pytest.mark.parametrize("key", ["retention_max_cycles", "retention_max_hours",
                                 "min_free_space_mb"])
@pytest.mark.parametrize("value, reason", [(True, "必须是整数"), ("5", "必须是整数"),
                                           (5.0, "必须是整数"), (-1, "必须大于等于 0")])
def test_retention_settings_reject_non_integers_and_negatives(key, value, reason) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config({"global_config": {key: value}, "streams": []})
    assert caught.value.field == f"global_config.{key}" and reason in caught.value.reason


# -- the daemon, with the free-space probe faked -------------------------------------

class FakeDisk:
    """The free-space seam: reports ``free`` bytes, which a test changes at will."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.probed: list[str] = []

    def __call__(self, path: str) -> int:
        self.probed.append(path)
        return self.free


def idle_daemon(tmp_path: Path, disk: FakeDisk, **global_config) -> Daemon:
    """A daemon on a config without streams (cycles start and end at once), scheduler started."""
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, {"global_config": {"cycle_interval_seconds": 0,
                                                      **global_config}, "streams": []})
    request_start(settings.control_path(config_path), empty_status())
    return Daemon(config_path, free_space=disk)


def cycle_folders(tmp_path: Path) -> list[str]:
    root = tmp_path / "output"
    return sorted(os.listdir(root)) if root.exists() else []


def test_below_the_floor_no_cycle_starts_and_the_status_says_why(tmp_path: Path) -> None:
    disk = FakeDisk(512 * MB)
    daemon = idle_daemon(tmp_path, disk)
    daemon.step(100.0, NOW)
    assert daemon.cycle is None and cycle_folders(tmp_path) == []
    assert daemon.state.running
    status = read_status(daemon.publisher.path)
    assert status["message"] == "磁盘剩余空间不足: 剩余 512 MB, 低于下限 1024 MB"
    assert disk.probed and disk.probed[0] == str(tmp_path / "output")

    daemon.step(100.0 + LOW_SPACE_RETRY_SECONDS - 0.5, NOW + 4)
    assert daemon.cycle is None  # not retried before its time
    disk.free = 2048 * MB
    daemon.step(100.0 + LOW_SPACE_RETRY_SECONDS, NOW + 5)
    assert daemon.cycle is not None and daemon.state.message == ""
    assert len(cycle_folders(tmp_path)) == 1


def test_below_the_floor_retention_frees_our_oldest_cycles_first(tmp_path: Path) -> None:
    root = tmp_path / "output"
    old = [make_cycle(root, f"20250101_00000{i}", size=8192, age_hours=3 - i) for i in range(3)]
    disk = FakeDisk(1024 * MB - 1000)  # short by less than one folder

    def probe(path: str) -> int:
        # Each removed folder gives its bytes back, as a real disk would.
        return disk(path) + 8192 * sum(not folder.exists() for folder in old)

    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, {"global_config": {"cycle_interval_seconds": 0},
                                    "streams": []})
    request_start(settings.control_path(config_path), empty_status())
    daemon = Daemon(config_path, free_space=probe)
    daemon.step(100.0, NOW)
    assert daemon.cycle is not None, daemon.state.message
    assert cycle_folders(tmp_path)[:2] == ["20250101_000001", "20250101_000002"]
    assert len(cycle_folders(tmp_path)) == 3  # the new one


def test_every_new_cycle_applies_the_count_limit(tmp_path: Path) -> None:
    daemon = idle_daemon(tmp_path, FakeDisk(10**12), retention_max_cycles=2)
    started = []
    for i in range(5):
        # Each step ends the cycle begun by the last one (an empty plan) and begins the next.
        daemon.step(100.0 + i, NOW + i)
        started.append(daemon.cycle.name)
    assert daemon.state.cycles_done == 4
    assert cycle_folders(tmp_path) == started[-2:]


def test_a_failed_report_stays_in_the_status_message_until_one_is_written(tmp_path: Path) -> None:
    daemon = idle_daemon(tmp_path, FakeDisk(10**12), poll_cycles=2, cycle_interval_seconds=1)
    daemon.step(100.0, NOW)
    assert daemon.cycle is not None
    failed = daemon.cycle.name
    shutil.rmtree(daemon.cycle.dir)  # the folder vanished: its reports cannot be written
    daemon.step(100.5, NOW + 0.5)
    assert daemon.cycle is None and daemon.state.cycles_done == 1
    status = read_status(daemon.publisher.path)
    message = status["message"]
    # ... and in the status's report_problem, naming the cycle and why (the console shows it)
    problem = status["report_problem"]
    assert problem["cycle"] == failed and problem["message"] in message, status
    assert problem["reason"] and problem["reason"] in message, status
    daemon.step(101.0, NOW + 1)  # publish once more later: still there
    daemon.step(101.2, NOW + 1.2)
    later = read_status(daemon.publisher.path)["message"]
    assert "第 1 轮" in message and "报告写入失败" in message, message
    assert "报告写入失败" in later
    daemon.step(101.6, NOW + 1.6)  # cycle 2 starts and ends with its report written
    daemon.step(102.0, NOW + 2.0)
    daemon.step(103.5, NOW + 3.5)
    final = read_status(daemon.publisher.path)["message"]
    assert read_status(daemon.publisher.path)["report_problem"] is None
    assert "报告写入失败" not in final and "已完成全部 2 轮巡检" in final, final
