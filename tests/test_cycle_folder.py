"""Naming and creating cycle folders (recorder/cycle_folder.py)."""
from __future__ import annotations

import os

import pytest

from recorder.cycle_folder import create_cycle_folder, next_name
from shared import i18n
from shared.output_rule import output_directory_problem
from shared.timefmt import cycle_name, is_cycle_name

WALL = 1_760_000_000.0


def test_cycle_names_never_collide_and_sort(tmp_path) -> None:
    first = create_cycle_folder(str(tmp_path), 1_760_000_000.0, "")
    same_second = create_cycle_folder(str(tmp_path), 1_760_000_000.0, first)
    clock_went_back = create_cycle_folder(str(tmp_path), 1_759_990_000.0, same_second)
    names = [first, same_second, clock_went_back]
    assert names == sorted(names) and len(set(names)) == 3
    assert all(is_cycle_name(n) for n in names)
    assert next_name("20251010_163000", "20251010_163000_09") == "20251010_163000_10"


def test_a_folder_named_like_no_real_time_is_not_taken_for_the_newest_cycle(tmp_path) -> None:
    (tmp_path / "20261399_256199").mkdir()  # month 13…: it would sort after every real cycle
    name = create_cycle_folder(str(tmp_path), 1_760_000_000.0, "")
    assert name == cycle_name(1_760_000_000.0)


@pytest.mark.parametrize("below", ["", "out"])
def test_no_output_folder_is_made_through_a_link_to_a_place_still_missing(tmp_path,
                                                                          below: str) -> None:
    # The rule takes such a link as "not there yet" (a disk mounted later makes its target):
    # the recorder waits for it, saying so, and makes nothing beneath the mount point.
    (tmp_path / "mnt").mkdir()
    (tmp_path / "clips").symlink_to(tmp_path / "mnt" / "disk" / "clips")
    root = os.path.join(tmp_path / "clips", below)
    config_file = str(tmp_path / "config.json")
    assert output_directory_problem(os.path.join("./clips", below), config_file) is None
    with pytest.raises(FileNotFoundError) as refused:
        create_cycle_folder(root, WALL, "", config_file)
    assert refused.value.strerror.startswith("是指向尚不存在位置的符号链接")
    assert refused.value.filename == str(tmp_path / "clips")
    assert os.listdir(tmp_path / "mnt") == []
    english = i18n.translate(f"无法创建输出目录 ./clips: {refused.value.strerror}")
    assert english and "symbolic link to a place that does not exist yet" in english
    (tmp_path / "mnt" / "disk" / "clips").mkdir(parents=True)  # the disk mounted
    name = create_cycle_folder(root, WALL, "", config_file)
    assert os.path.isdir(os.path.join(tmp_path, "mnt", "disk", "clips", below, name))
