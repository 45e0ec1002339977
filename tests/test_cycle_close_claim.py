"""Cluster mode: a cycle's end waits to know who reports it (recorder/cycle_launcher.py close)."""
from __future__ import annotations

from types import SimpleNamespace

from recorder.cycle_launcher import REPORT_WAIT_MESSAGE, CycleLauncher
from recorder.scheduler_state import SchedulerState


class Lead:
    def __init__(self, answers: list) -> None:
        self.answers, self.asked = answers, 0

    def may_report(self, config: dict, name: str, now: float):
        self.asked += 1
        return self.answers.pop(0)


def cycle() -> SimpleNamespace:
    return SimpleNamespace(config={"cluster": {"redis_url": "redis://127.0.0.1:1/0"}},
                           name="20261202_120000", number=3,
                           settings=SimpleNamespace(cycle_interval_seconds=30),
                           stats=lambda: {"completed_tasks": 1, "failed_tasks": 0,
                                          "cancelled_tasks": 0, "total_tasks": 1})


def launcher(answers: list, reported: list) -> CycleLauncher:
    made = CycleLauncher("/nonexistent/config.json", None, None, None)
    made.lead = Lead(answers)
    made._report = lambda cycle, state, interrupted: reported.append(interrupted)
    return made


def test_a_cycle_whose_reporter_is_not_known_yet_waits_then_is_reported() -> None:
    reported: list = []
    closing, state, ended = launcher([None, True], reported), SchedulerState(), cycle()
    assert closing.close(ended, state, 100.0) is None
    assert state.message == REPORT_WAIT_MESSAGE.format(number=3, name=ended.name)
    assert reported == [] and state.cycles_done == 0
    assert closing.close(ended, state, 101.0) is True
    assert reported == [""] and state.cycles_done == 1 and state.message == ""
    assert state.next_cycle_at == 131.0


def test_a_cycle_taken_over_meanwhile_ends_unreported_and_uncounted() -> None:
    reported: list = []
    closing, state = launcher([False], reported), SchedulerState()
    assert closing.close(cycle(), state, 100.0) is False
    assert reported == [] and state.cycles_done == 0


def test_a_clean_stop_reports_even_when_the_reporter_is_not_known() -> None:
    reported: list = []
    closing, state = launcher([None], reported), SchedulerState()
    assert closing.close(cycle(), state, 100.0, interrupted="录制守护进程停止") is True
    assert reported == ["录制守护进程停止"]


def test_single_box_cycles_ask_nobody() -> None:
    reported: list = []
    closing, state, ended = launcher([], reported), SchedulerState(), cycle()
    ended.config = {}
    assert closing.close(ended, state, 100.0) is True
    assert reported == [""] and closing.lead.asked == 0
