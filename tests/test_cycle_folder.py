"""Naming and creating cycle folders (recorder/cycle_folder.py)."""
from __future__ import annotations

from recorder.cycle_folder import create_cycle_folder, next_name
from shared.timefmt import cycle_name, is_cycle_name


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
