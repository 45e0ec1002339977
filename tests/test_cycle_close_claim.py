"""Cluster mode: a cycle's end waits to know who reports it (recorder/cycle_launcher.py close)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from recorder.cycle_launcher import REPORT_WAIT_MESSAGE, REPORT_WAIT_SECONDS, CycleLauncher
from recorder.scheduler_state import SchedulerState


class Lead:
    """The lead's answers, in turn (None: Redis away, the lock not surely its own)."""

    def __init__(self, answers: list) -> None:
        self.answers, self.asked = answers, 0

    def may_report(self, config: dict, name: str, now: float, report_exists) -> bool | None:
        self.asked += 1
        return self.answers.pop(0)


@pytest.fixture
def cycle(tmp_path) -> SimpleNamespace:
    return SimpleNamespace(config={"cluster": {"redis_url": "redis://127.0.0.1:1/0"}},
                           name="20261202_120000", number=3, dir=str(tmp_path),
                           settings=SimpleNamespace(cycle_interval_seconds=30,
                                                    report_filename="rtsp_report.json"),
                           stats=lambda: {"completed_tasks": 1, "failed_tasks": 0,
                                          "cancelled_tasks": 0, "total_tasks": 1})


def launcher(answers: list, reported: list) -> CycleLauncher:
    made = CycleLauncher("/nonexistent/config.json", None, None, None)
    made.lead = Lead(answers)
    made._report = lambda cycle, state, interrupted: reported.append(interrupted)
    return made


def test_a_cycle_whose_reporter_is_not_known_yet_waits_then_is_reported(cycle) -> None:
    reported: list = []
    closing, state = launcher([None, True], reported), SchedulerState()
    assert closing.close(cycle, state, 100.0) is None
    assert state.message == REPORT_WAIT_MESSAGE.format(number=3, name=cycle.name)
    assert reported == [] and state.cycles_done == 0
    assert closing.close(cycle, state, 101.0) is True
    assert reported == [""] and state.cycles_done == 1 and state.message == ""
    assert state.next_cycle_at == 131.0


def test_a_cycle_taken_over_meanwhile_ends_unreported_and_uncounted(cycle) -> None:
    reported: list = []
    closing, state = launcher([False], reported), SchedulerState()
    assert closing.close(cycle, state, 100.0) is False
    assert reported == [] and state.cycles_done == 0 and state.next_cycle_at == 130.0


@pytest.mark.parametrize("how", ["clean stop", "stop request", "waited long enough"])
def test_a_cycle_that_cannot_wait_is_reported_unless_a_takeover_has_reported_it(
        cycle, tmp_path, how) -> None:
    def close(closing: CycleLauncher, state: SchedulerState) -> bool | None:
        if how == "waited long enough":
            assert closing.close(cycle, state, 100.0) is None
            return closing.close(cycle, state, 100.0 + REPORT_WAIT_SECONDS)
        return closing.close(cycle, state, 100.0, interrupted="录制守护进程停止"
                             if how == "clean stop" else "", stopping=how == "stop request")
    reported: list = []
    assert close(launcher([None, None], reported), SchedulerState()) is True
    assert len(reported) == 1
    (tmp_path / "rtsp_report.json").write_text("{}")  # a takeover's, written meanwhile
    state = SchedulerState()
    assert close(launcher([None, None], reported), state) is False
    assert len(reported) == 1 and state.cycles_done == 0


def test_single_box_cycles_ask_nobody(cycle) -> None:
    reported: list = []
    closing, state = launcher([], reported), SchedulerState()
    cycle.config = {}
    assert closing.close(cycle, state, 100.0) is True
    assert reported == [""] and closing.lead.asked == 0
