"""Naming and creating cycle folders (recorder/cycle_folder.py)."""
from __future__ import annotations

from recorder.cycle_folder import create_cycle_folder, next_name
from shared.timefmt import is_cycle_name


def test_cycle_names_never_collide_and_sort(tmp_path) -> None:
    first = create_cycle_folder(str(tmp_path), 1_760_000_000.0, "")
    same_second = create_cycle_folder(str(tmp_path), 1_760_000_000.0, first)
    clock_went_back = create_cycle_folder(str(tmp_path), 1_759_990_000.0, same_second)
    names = [first, same_second, clock_went_back]
    assert names == sorted(names) and len(set(names)) == 3
    assert all(is_cycle_name(n) for n in names)
    assert next_name("20251010_163000", "20251010_163000_09") == "20251010_163000_10"
