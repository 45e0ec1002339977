"""Soak: the real daemon runs a hundred short cycles of failing cameras without leaking anything.

Every cycle spawns three ffmpeg processes that fail three ways (refused, RTSP
404, a silent server killed by the connect watchdog). After about ten cycles
and after the last one we look at the daemon from /proc: open file
descriptors, resident memory and unreaped children.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pytest

from shared import settings
from shared import task_status as st
from shared.atomic import write_json_atomic
from shared.control_file import request_start
from shared.status_file import read_status
from testkit.recorder_process import RecorderProcess, ffmpeg_pids, wait_for

pytestmark = pytest.mark.integration

CYCLES = 100
# A cycle cannot be shorter than connection_timeout_seconds (1 s, the least allowed:
# the silent server is only given up then), plus a tick, spawn and report time:
# ~1.25 s, so the run takes about two minutes.
SECONDS_PER_CYCLE_LIMIT = 2.0
EXPECTED = [st.CONNECTION_ERROR, st.STREAM_UNAVAILABLE, st.TIMEOUT]
RSS_GROWTH_LIMIT_KB = 8 * 1024


@dataclass
class Sample:
    """What /proc shows of the daemon over about one cycle."""

    fds: int           # the fewest own descriptors seen (see own_fds)
    rss_kb: int
    zombies: set[int]  # zombie children seen at any moment


def fd_targets(pid: int, gone_ok: bool = False) -> list[str]:
    """What each open descriptor of ``pid`` refers to (``pipe:[123]``, a path, ...)."""
    targets = []
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        if gone_ok:
            return []  # a child that exited while we looked
        raise
    for fd in fds:
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue  # closed meanwhile
    return targets


def own_fds(pid: int) -> int:
    """The daemon's open descriptors, less the pipes it shares with a live ffmpeg.

    Those come and go with the tasks; a pipe kept after its ffmpeg ended is
    counted, so a leak shows however the samples fall in the cycle.
    """
    children = [int(entry) for entry in os.listdir("/proc")
                if entry.isdigit() and parent_and_state(int(entry))[0] == pid]
    shared = {target for child in children for target in fd_targets(child, gone_ok=True)
              if target.startswith("pipe:")}
    return sum(target not in shared for target in fd_targets(pid))


def parent_and_state(pid: int) -> tuple[int, str]:
    """(ppid, state letter) of ``pid``; (0, "") when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state, ppid = handle.read().rsplit(")", 1)[1].split()[:2]
    except (OSError, ValueError):
        return 0, ""
    return int(ppid), state


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def zombie_children(pid: int) -> set[int]:
    return {int(entry) for entry in os.listdir("/proc")
            if entry.isdigit() and parent_and_state(int(entry)) == (pid, "Z")}


def sample_during(status_path: str, pid: int, cycle: int) -> Sample:
    """Watch the daemon from the start of ``cycle`` until the next one begins."""
    wait_for(lambda: read_status(status_path)["current_cycle"] >= cycle,
             cycle * SECONDS_PER_CYCLE_LIMIT + 20, f"cycle {cycle}")
    fds: list[int] = []
    zombies: set[int] = set()

    def sampled_one_cycle() -> bool:
        fds.append(own_fds(pid))
        zombies.update(zombie_children(pid))
        return read_status(status_path)["current_cycle"] > cycle

    wait_for(sampled_one_cycle, 3 * SECONDS_PER_CYCLE_LIMIT, f"cycle {cycle} to end",
             interval=0.05)
    return Sample(min(fds), rss_kb(pid), zombies)


def reaped(pid: int, zombies: set[int]) -> bool:
    """True once none of ``zombies`` is still an unreaped child of ``pid``.

    A child is a zombie for the moment between its exit and the daemon's
    next look at it; one that stays a zombie is a leak.
    """
    return not zombies & zombie_children(pid)


def test_a_hundred_failing_cycles_leak_no_fds_memory_or_children(
        tmp_path, camera_server, hanging_port, refusing_port) -> None:
    config_path = str(tmp_path / "config.json")
    write_json_atomic(config_path, {"global_config": {
        "total_poll_duration_seconds": 1, "max_concurrent_streams": 3,
        "output_directory": "./output", "report_filename": "rtsp_report.json",
        "connection_timeout_seconds": 1, "read_timeout_seconds": 1, "poll_cycles": CYCLES,
        "cycle_interval_seconds": 0}, "streams": [
        {"rtsp_url": f"rtsp://127.0.0.1:{refusing_port}/cam", "duration_seconds": 1,
         "output_filename": "refused.mp4"},
        {"rtsp_url": camera_server.url("nosuch"), "duration_seconds": 1,
         "output_filename": "missing.mp4"},
        {"rtsp_url": f"rtsp://127.0.0.1:{hanging_port}/cam", "duration_seconds": 1,
         "output_filename": "hanging.mp4"}]})
    request_start(settings.control_path(config_path), {})
    status_path = settings.status_path(config_path)

    with RecorderProcess(config_path) as recorder:
        pid = recorder.proc.pid
        early = sample_during(status_path, pid, 10)
        assert wait_for(lambda: reaped(pid, early.zombies), 2, "zombies of cycle 10 reaped")
        late = sample_during(status_path, pid, CYCLES - 5)
        assert wait_for(lambda: reaped(pid, late.zombies), 2, "late zombies reaped")
        status = wait_for(lambda: (s := read_status(status_path))["current_cycle"] == CYCLES
                          and not s["scheduler_running"] and s,
                          CYCLES * SECONDS_PER_CYCLE_LIMIT, "the last cycle to end")
        # Idle now: no ffmpeg of ours runs, nothing is left to reap.
        assert ffmpeg_pids(str(tmp_path)) == []
        end = Sample(own_fds(pid), rss_kb(pid), zombie_children(pid))
        log = recorder.log()

    assert status["message"] == f"已完成全部 {CYCLES} 轮巡检", status["message"]
    assert end.zombies == set()
    assert late.fds <= early.fds + 1 and end.fds <= early.fds + 1, (early, late, end)
    assert end.rss_kb - early.rss_kb < RSS_GROWTH_LIMIT_KB, (early, end)
    assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]

    folders = sorted(os.listdir(tmp_path / "output"))
    assert len(folders) == CYCLES, folders
    verdicts = {}
    for name in folders:
        report = json.loads((tmp_path / "output" / name / "rtsp_report.json").read_text("utf-8"))
        verdicts[name] = [t["status"] for t in report["tasks"]]
    wrong = {name: codes for name, codes in verdicts.items() if codes != EXPECTED}
    assert not wrong, (wrong, log[-3000:])
    leftovers = [p for p in (tmp_path / "output").rglob("*") if p.suffix in (".mp4", ".part")]
    assert leftovers == []
