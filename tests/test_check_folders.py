"""Retention of check folders (output/checks/<ts>_<id>/) by count and age; cycles never see them."""
from __future__ import annotations

import os

import pytest

from recorder.check_folders import choose_old, make_check_folder, retain_checks
from recorder.retention import HOUR, Limits, scan_cycles
from shared.output_rule import OutputRefused
from shared.output_tree import OutputDir

NOW = 1_760_000_000.0


def test_count_and_age_limits_choose_the_oldest() -> None:
    folders = [("20250103_000000_gate", NOW), ("20250101_000000_gate", NOW - 10 * HOUR),
               ("20250102_000000_yard", NOW - HOUR), ("junk", 0.0)]
    assert choose_old(folders, NOW, Limits(2, 0, 0)) == ["20250101_000000_gate"]
    assert choose_old(folders, NOW, Limits(0, 5, 0)) == ["20250101_000000_gate"]
    assert choose_old(folders, NOW, Limits(1, 0, 0)) == [
        "20250101_000000_gate", "20250102_000000_yard"]
    assert choose_old(folders, NOW, Limits(1, 0, 0), keep=frozenset(
        {"20250101_000000_gate"})) == ["20250102_000000_yard"]
    assert choose_old(folders, NOW, Limits(0, 0, 0)) == []


def test_retain_checks_removes_folders_and_leaves_cycles_alone(tmp_path) -> None:
    root = tmp_path / "output"
    for name in ("20250101_000000_gate", "20250102_000000_gate", "20250103_000000_gate"):
        (root / "checks" / name).mkdir(parents=True)
        (root / "checks" / name / "gate.mp4").write_bytes(b"x")
    (root / "20250101_000000").mkdir()
    os.symlink(root / "20250101_000000", root / "checks" / "20250100_000000_link")
    out = OutputDir("./output", str(root))
    assert [f.name for f in scan_cycles(out)] == ["20250101_000000"]  # checks is no cycle
    assert retain_checks(out, NOW, Limits(2, 0, 0)) == ["20250101_000000_gate"]
    assert sorted(os.listdir(root / "checks")) == [
        "20250100_000000_link", "20250102_000000_gate", "20250103_000000_gate"]
    assert (root / "20250101_000000").is_dir()


def test_a_check_folder_is_made_in_the_output_folder_only(tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{}")
    out = OutputDir("./output", str(tmp_path / "output"), str(config))
    make_check_folder(out, "20251010_163000_cam")
    assert (tmp_path / "output" / "checks" / "20251010_163000_cam").is_dir()
    make_check_folder(out, "20251010_163000_cam")  # already there: fine


def test_a_symlinked_checks_folder_is_never_followed(tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "checks").symlink_to(elsewhere)
    with pytest.raises(OSError):
        make_check_folder(OutputDir("./output", str(tmp_path / "output")), "20251010_163000_cam")
    assert os.listdir(elsewhere) == []


def test_an_output_folder_the_rule_refuses_gets_no_check_folder(tmp_path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "config.json").write_text("{}")
    (site / "out").symlink_to(site)  # resolves to the config's own folder
    with pytest.raises(OutputRefused):
        make_check_folder(OutputDir("./out", str(site / "out"), str(site / "config.json")),
                          "20251010_163000_cam")
    assert not (site / "checks").exists()
