"""Retention of check folders (output/checks/<ts>_<id>/) by count and age; cycles never see them."""
from __future__ import annotations

import os

from recorder.check_folders import choose_old, retain_checks
from recorder.retention import HOUR, Limits, scan_cycles
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
