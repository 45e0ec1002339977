"""A count in a log line takes its noun in the singular for 1 only ("1 partial clips kept")."""
from __future__ import annotations

from shared.counts import counted
from shared.i18n import english


def test_one_is_singular_and_every_other_count_plural() -> None:
    assert counted(1, "partial clip") == "1 partial clip"
    assert [counted(n, "clip") for n in (0, 2, 10)] == ["0 clips", "2 clips", "10 clips"]
    assert counted(2, "worker process", "worker processes") == "2 worker processes"
    assert counted(1, "worker process", "worker processes") == "1 worker process"


def test_a_run_of_one_cycle_is_said_so_in_english_too() -> None:
    # 8094d00 made it 'The 1 patrol cycle done' (from 'All 1 patrol cycles done')
    assert english("已完成全部 1 轮巡检") == "The one patrol cycle is done"
    assert english("已完成全部 3 轮巡检") == "All 3 patrol cycles are done"


def test_the_cycle_list_past_its_end_counts_one_cycle_in_the_singular() -> None:
    assert english("这一页已超出末尾: 共 1 个巡检周期") == "This page is past the end: 1 cycle in all"
    assert english("这一页已超出末尾: 共 2 个巡检周期") == \
        "This page is past the end: 2 cycles in all"
