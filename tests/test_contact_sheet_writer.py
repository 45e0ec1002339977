"""The contact sheets' thread: the loop hands a cycle's tiles over, never waits for the drawing."""
from __future__ import annotations

import logging
import threading

from recorder.contact_sheet import Tile
from recorder.contact_sheet_writer import ContactSheetWriter

TILES = [Tile("cam", "[4] 已完成", "ok", None)]


class SlowSheets:
    """A ``write`` that records each sheet and holds the thread until let go."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.go = threading.Event()

    def __call__(self, cycle_dir: str, tiles: list[Tile]) -> None:
        assert self.go.wait(30)
        if cycle_dir == "broken":
            raise RuntimeError("a bug")
        self.written.append(cycle_dir)


def test_a_sheet_handed_over_is_drawn_while_the_loop_goes_on_in_order() -> None:
    sheets = SlowSheets()
    writer = ContactSheetWriter(sheets)
    writer.submit("a", TILES)  # returns at once though the drawing is held
    writer.submit("b", TILES)
    assert not writer.wait(0.05) and sheets.written == []
    sheets.go.set()
    assert writer.wait(30)
    assert sheets.written == ["a", "b"]
    writer.close()


def test_a_failing_sheet_is_logged_and_the_next_still_drawn(caplog) -> None:
    sheets = SlowSheets()
    sheets.go.set()
    writer = ContactSheetWriter(sheets)
    with caplog.at_level(logging.ERROR):
        writer.submit("broken", TILES)
        writer.submit("c", TILES)
        writer.close()
    assert sheets.written == ["c"]
    assert "contact sheet of broken failed unexpectedly" in caplog.text


def test_close_waits_for_the_sheets_then_gives_up_after_its_timeout(caplog) -> None:
    sheets = SlowSheets()
    writer = ContactSheetWriter(sheets)
    writer.submit("a", TILES)
    with caplog.at_level(logging.ERROR):
        writer.close(timeout=0.05)
    assert "not all written within" in caplog.text and sheets.written == []
    sheets.go.set()  # the daemon thread ends with its sheet
    writer.close()
    assert sheets.written == ["a"]


def test_no_thread_is_started_before_a_sheet_is_handed_over() -> None:
    before = threading.active_count()
    writer = ContactSheetWriter(SlowSheets())
    writer.close(timeout=0)
    assert threading.active_count() == before
