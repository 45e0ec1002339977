"""Cycle folders order by (timestamp, suffix number) everywhere: names, the API, retention, the recorder."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from recorder.cycle_folder import create_cycle_folder, next_name
from recorder.retention import Limits, apply_retention, scan_cycles
from shared.output_tree import OutputDir
from shared.timefmt import MAX_SUFFIX_DIGITS, cycle_name, cycle_order, is_cycle_name
from tests.helpers import MakeCycle
from tests.test_retention import FakeDisk, cycle_folders, idle_daemon

FUTURE = "20991231_235959"
NOW = 1_760_000_000.0
# In creation order: the plain name, then the suffixes the recorder makes, past every width.
CREATED = ["20251010_163000", "20251010_163000_01", "20251010_163000_09", "20251010_163000_10",
           "20251010_163000_99", "20251010_163000_100", "20251010_163000_999",
           "20251010_163000_1000", "20251010_163000_10000", "20251010_163000_123456",
           "20251010_163001"]


def test_names_order_by_timestamp_then_suffix_number() -> None:
    assert sorted(reversed(CREATED), key=cycle_order) == CREATED
    assert sorted(CREATED) != CREATED  # as text, _100 sorts before _99


@pytest.mark.parametrize(("name", "expected"), [
    ("20251010_163000_10000", True),
    ("20251010_163000_" + "9" * MAX_SUFFIX_DIGITS, True),
    ("20251010_163000_" + "9" * (MAX_SUFFIX_DIGITS + 1), False),
    ("20251010_163000_1", False),
])
def test_every_suffix_the_recorder_can_make_is_a_cycle_name(name: str, expected: bool) -> None:
    assert is_cycle_name(name) is expected


@pytest.mark.parametrize(("last", "expected"), [
    ("20251010_163000_09", "20251010_163000_10"),
    ("20251010_163000_99", "20251010_163000_100"),
    ("20251010_163000_9999", "20251010_163000_10000"),
])
def test_next_suffix_counts_past_two_digits(last: str, expected: str) -> None:
    assert next_name("20251010_163000", last) == expected
    assert is_cycle_name(expected) and cycle_order(expected) > cycle_order(last)


def test_a_clock_behind_the_newest_folder_names_the_cycle_newest_and_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "output"
    (root / f"{FUTURE}_97").mkdir(parents=True)  # left by a clock that ran ahead
    made = []
    with caplog.at_level(logging.WARNING, logger="recorder.cycle_folder"):
        for i in range(5):
            made.append(create_cycle_folder(str(root), NOW + i, made[-1] if made else ""))
    assert made == [f"{FUTURE}_{n}" for n in (98, 99, 100, 101, 102)]
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == (f"cycle folder: the clock ({cycle_name(NOW)}) is behind the newest cycle "
                        f"{FUTURE}_97; naming this cycle {FUTURE}_98 so it sorts newest")
    assert len(lines) == 5


def test_the_recorder_reads_suffixes_past_four_digits_on_disk(tmp_path: Path) -> None:
    root = tmp_path / "output"
    (root / f"{FUTURE}_10000").mkdir(parents=True)
    assert create_cycle_folder(str(root), NOW, "") == f"{FUTURE}_10001"


def test_retention_keeps_the_newest_across_suffix_widths(tmp_path: Path) -> None:
    root = tmp_path / "output"
    for name in CREATED:
        (root / name).mkdir(parents=True)
    removed = apply_retention(OutputDir("./output", str(root)), NOW, Limits(5, 0, 0), None)
    assert removed == CREATED[:-5]
    assert [f.name for f in scan_cycles(OutputDir("./output", str(root)))] == CREATED[-5:]


def test_the_daemon_after_a_future_folder_keeps_the_newest_five(tmp_path: Path) -> None:
    # The repro: fast cycles, a hand-made future folder, retention_max_cycles 5.
    daemon = idle_daemon(tmp_path, FakeDisk(10**12), retention_max_cycles=5)
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / f"{FUTURE}_97").mkdir()
    started = []
    for i in range(17):
        daemon.step(100.0 + i, NOW + i)
        started.append(daemon.cycle.name)
    assert started[-1] == f"{FUTURE}_114"
    kept = sorted(cycle_folders(tmp_path), key=cycle_order)
    assert kept == [f"{FUTURE}_{n}" for n in range(110, 115)]


def test_api_lists_cycles_by_number_and_every_suffix_width(client: FlaskClient,
                                                          make_cycle: MakeCycle,
                                                          output_root: Path) -> None:
    for name in reversed(CREATED):
        make_cycle(name, reports=False)
    listed = [t["timestamp"] for t in client.get("/api/timestamps").get_json()["timestamps"]]
    assert listed == CREATED[::-1]
    videos = client.get("/api/videos").get_json()["videos"]
    assert [v["timestamp_dir"] for v in videos] == CREATED
    page = client.get("/api/videos?order=newest&limit=2").get_json()["videos"]
    assert [v["timestamp_dir"] for v in page] == CREATED[:-3:-1]
    assert client.get(f"/api/videos/{CREATED[-3]}").get_json()["count"] == 1
    response = client.delete(f"/api/timestamp/{CREATED[-3]}")
    assert response.status_code == 200, response.get_json()
    assert not (output_root / CREATED[-3]).exists()


def test_past_the_longest_suffix_no_name_is_made() -> None:
    last = "20251010_163000_" + "9" * MAX_SUFFIX_DIGITS
    with pytest.raises(OSError, match="no cycle name left"):
        next_name("20251010_163000", last)
