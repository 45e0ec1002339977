"""The contact sheets' thread: the loop hands a cycle's tiles over, never waits for the drawing."""
from __future__ import annotations

import logging
import threading

from recorder.contact_sheet import Tile
from recorder.contact_sheet_writer import (SHEET_ATTEMPTS, SHEET_RETRY_DELAYS_SECONDS,
                                           ContactSheetWriter)

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


def test_close_waits_then_drops_what_was_not_begun_and_leaves_the_drawing_one(caplog) -> None:
    sheets = SlowSheets()
    writer = ContactSheetWriter(sheets)
    writer.submit("/out/a", TILES)
    writer.submit("/out/b", TILES)
    with caplog.at_level(logging.ERROR):
        writer.close(timeout=0.05)
    assert "/out/a unfinished, 1 more dropped" in caplog.text
    sheets.go.set()  # the thread ends with its sheet, and draws no other
    writer._thread.join(30)
    assert sheets.written == ["/out/a"] and not writer._thread.is_alive()


def test_the_folders_of_the_sheets_not_yet_written_are_known() -> None:
    sheets = SlowSheets()
    writer = ContactSheetWriter(sheets)
    assert writer.pending() == frozenset()
    writer.submit("/out/20251010_163000", TILES)
    writer.submit("/out/20251010_164000", TILES)
    assert writer.pending() == {"20251010_163000", "20251010_164000"}
    sheets.go.set()
    assert writer.wait(30) and writer.pending() == frozenset()
    writer.close()


def test_no_thread_is_started_before_a_sheet_is_handed_over() -> None:
    writer = ContactSheetWriter(SlowSheets())
    writer.close(timeout=0)
    assert writer._thread is None


def test_tiles_found_on_the_thread_are_drawn_and_none_found_draws_nothing(caplog) -> None:
    sheets = SlowSheets()
    sheets.go.set()
    writer = ContactSheetWriter(sheets)
    with caplog.at_level(logging.ERROR):
        writer.submit("/out/none", lambda: [])
        writer.submit("/out/some", lambda: TILES)
        writer.submit("/out/bug", lambda: 1 / 0)
        assert writer.wait(30)
    assert sheets.written == ["/out/some"]
    assert "contact sheet of /out/bug failed unexpectedly" in caplog.text
    writer.close()


def test_a_sheet_handed_over_after_close_is_dropped_and_said_so(caplog) -> None:
    writer = ContactSheetWriter(SlowSheets())
    writer.close(timeout=0)
    with caplog.at_level(logging.ERROR):
        writer.submit("/out/late", TILES)
    assert "contact sheet of /out/late not written: the recorder is stopping" in caplog.text
    assert writer.pending() == frozenset() and writer.wait(0)


def test_a_reports_tasks_are_read_and_a_broken_report_gives_none(tmp_path) -> None:
    # What a restart draws a missing sheet from (recorder/daemon.py _redraw_sheet).
    from recorder.reports import written_rows
    from shared.atomic import write_json_atomic
    path = str(tmp_path / "rtsp_report.json")
    write_json_atomic(path, {"summary": {"interrupted": "中断"}, "tasks": [{}]})
    assert written_rows(str(tmp_path), "rtsp_report.json")[1] == [{}]
    for broken in ("[1]", "{", '{"tasks": 3}'):
        (tmp_path / "rtsp_report.json").write_text(broken, encoding="utf-8")
        assert written_rows(str(tmp_path), "rtsp_report.json")[1] == []
    assert written_rows(str(tmp_path), "missing.json")[1] == []


class FailingSheets:
    """A ``write`` that fails (returns False, as a full disk makes write_contact_sheet do) its
    first ``failures`` calls, then writes."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.written: list[str] = []

    def __call__(self, cycle_dir: str, tiles: list[Tile]) -> bool:
        self.calls += 1
        if self.calls <= self.failures:
            return False
        self.written.append(cycle_dir)
        return True


FIRST_PAUSE, SECOND_PAUSE = SHEET_RETRY_DELAYS_SECONDS


def test_a_sheet_that_could_not_be_written_is_drawn_again_after_a_pause(caplog) -> None:
    sheets = FailingSheets(failures=1)
    writer = ContactSheetWriter(sheets)
    with caplog.at_level(logging.WARNING):
        writer.submit("/out/20251010_163000", TILES)
        assert writer.wait(30) and sheets.written == []
        writer.retry_failed(100.0)  # the loop's next step: its pause begins
        writer.retry_failed(100.0 + FIRST_PAUSE - 0.1)  # a full disk is not cleared in a second
        assert writer.wait(30) and sheets.calls == 1
        assert writer.pending() == {"20251010_163000"}  # kept from retention meanwhile
        writer.retry_failed(100.0 + FIRST_PAUSE)
        assert writer.wait(30)
    assert sheets.written == ["/out/20251010_163000"] and sheets.calls == 2
    assert writer.pending() == frozenset()
    assert f"attempt 1 of 3 failed, drawn again in {FIRST_PAUSE:.0f} s" in caplog.text
    writer.retry_failed(10_000.0)  # written: not drawn again
    assert writer.wait(30) and sheets.calls == 2
    writer.close()


def test_a_sheet_is_tried_a_bounded_number_of_times_a_longer_pause_apart_then_given_up(
        caplog) -> None:
    sheets = FailingSheets(failures=100)
    writer = ContactSheetWriter(sheets)
    with caplog.at_level(logging.WARNING):
        writer.submit("/out/a", TILES)
        assert writer.wait(30)
        writer.retry_failed(0.0)
        writer.retry_failed(FIRST_PAUSE)  # the second attempt
        assert writer.wait(30) and sheets.calls == 2
        writer.retry_failed(FIRST_PAUSE + 1.0)  # its second pause begins
        writer.retry_failed(FIRST_PAUSE + SECOND_PAUSE)
        assert writer.wait(30) and sheets.calls == 2
        writer.retry_failed(FIRST_PAUSE + 1.0 + SECOND_PAUSE)  # the last attempt
        assert writer.wait(30) and sheets.calls == SHEET_ATTEMPTS == 3
        writer.retry_failed(100_000.0)
        assert writer.wait(30)
    assert sheets.calls == SHEET_ATTEMPTS and writer.pending() == frozenset()
    assert f"attempt 2 of 3 failed, drawn again in {SECOND_PAUSE:.0f} s" in caplog.text
    assert f"contact sheet of /out/a not written after {SHEET_ATTEMPTS} attempts" in caplog.text
    writer.close()
