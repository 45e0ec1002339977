"""Classifying outcomes from ffmpeg's own words."""
from __future__ import annotations

import pytest

from recorder.outcome import CLOCK_WENT_BACK_WARNING, Observation, classify, needs_no_probe
from shared import task_status as st

REFUSED = "rtsp://127.0.0.1:5/cam1: Connection refused"
NOT_FOUND = ("[rtsp @ 0x5] method DESCRIBE failed: 404 Not Found\n"
             "rtsp://127.0.0.1:5/nosuch: Server returned 404 Not Found")
SESSION = "[rtsp @ 0x5] method SETUP failed: 454 Session Not Found"
UNAUTHORIZED = "[rtsp @ 0x5] method DESCRIBE failed: 401 Unauthorized"
DNS = "rtsp://nosuch.invalid/x: Name or service not known"
TIMED_OUT = "[rtsp @ 0x5] Operation timed out"


def observe(**kw) -> Observation:
    base = dict(requested_seconds=15, recorded_seconds=0.0, frames=0, exit_code=1, stderr="",
                last_line="")
    base.update(kw)
    if base["stderr"] and not base["last_line"]:
        base["last_line"] = base["stderr"].splitlines()[-1]
    return Observation(**base)


@pytest.mark.parametrize("obs,code", [
    (observe(recorded_seconds=15.0, frames=375, exit_code=0), st.COMPLETED),
    (observe(recorded_seconds=14.2, frames=355, exit_code=0), st.COMPLETED),  # within 1 s
    (observe(recorded_seconds=13.5, frames=330, exit_code=0), st.RECORDING_ERROR),
    (observe(stderr=REFUSED), st.CONNECTION_ERROR),
    (observe(stderr=UNAUTHORIZED), st.CONNECTION_ERROR),
    (observe(stderr=DNS), st.CONNECTION_ERROR),
    (observe(stderr=NOT_FOUND), st.STREAM_UNAVAILABLE),
    (observe(stderr=SESSION), st.STREAM_UNAVAILABLE),
    (observe(stderr="Output file #0 does not contain any stream"), st.STREAM_UNAVAILABLE),
    (observe(connect_timeout=True, exit_code=-9), st.TIMEOUT),
    (observe(read_timeout=True, recorded_seconds=4.0, frames=100), st.TIMEOUT),
    (observe(stderr=TIMED_OUT, recorded_seconds=4.0, frames=100), st.TIMEOUT),
    (observe(cancelled=True, recorded_seconds=4.0, frames=100), st.CANCELLED),
    (observe(cancelled=True, recorded_seconds=15.0, frames=375), st.CANCELLED),
    (observe(write_failed="磁盘空间不足, 写入失败", recorded_seconds=3.0, frames=9), st.RECORDING_ERROR),
])
def test_classification(obs: Observation, code: int) -> None:
    status, message = classify(obs)
    assert status == code
    assert (message == "") == (code == st.COMPLETED)


@pytest.mark.parametrize("obs,verdict", [
    (observe(recorded_seconds=15.0, frames=375, exit_code=0, clip_kept=False),
     (st.RECORDING_ERROR, "录制文件无法使用")),
    (observe(recorded_seconds=15.0, frames=375, exit_code=0, clip_kept=True), (st.COMPLETED, "")),
    # Only a full recording turns on the clip: a cancelled or failed one says why it ended.
    (observe(cancelled=True, recorded_seconds=15.0, frames=375, clip_kept=False),
     (st.CANCELLED, "任务已取消")),
    (observe(stderr=REFUSED, clip_kept=False), (st.CONNECTION_ERROR, REFUSED)),
])
def test_a_full_recording_is_complete_only_when_its_clip_was_kept(obs: Observation,
                                                                   verdict: tuple) -> None:
    assert classify(obs) == verdict


@pytest.mark.parametrize("obs,trusted", [
    (observe(recorded_seconds=15.0, frames=375, exit_code=0), True),
    (observe(recorded_seconds=15.0, frames=375, exit_code=255), False),  # stopped by a signal
    (observe(recorded_seconds=13.5, frames=330, exit_code=0), False),     # ended early
    (observe(recorded_seconds=15.0, frames=375, exit_code=0, cancelled=True), False),
    (observe(recorded_seconds=15.0, frames=375, exit_code=0, write_failed="磁盘空间不足"), False),
])
def test_only_a_full_recording_that_ended_on_its_own_skips_the_probe(obs: Observation,
                                                                     trusted: bool) -> None:
    assert needs_no_probe(obs) is trusted


def test_a_clip_ended_past_its_length_by_our_watchdog_is_completed_with_a_warning() -> None:
    obs = observe(clock_went_back=True, recorded_seconds=16.2, frames=405, exit_code=255)
    assert classify(obs) == (st.COMPLETED, CLOCK_WENT_BACK_WARNING)


def test_error_message_is_ffmpegs_own_line() -> None:
    assert classify(observe(stderr=NOT_FOUND))[1] == "rtsp://127.0.0.1:5/nosuch: Server returned 404 Not Found"


@pytest.mark.parametrize("flag,message", [("connect_timeout", "连接超时: 服务器未在规定时间内响应"),
                                          ("read_timeout", "读取超时: 长时间未收到数据")])
def test_watchdog_verdicts_say_what_the_watchdog_saw(flag: str, message: str) -> None:
    # ffmpeg's last words came from probing, seconds before the stream went quiet.
    stale = "[h264 @ 0x5] concealing 160 DC, 160 AC, 160 MV errors in I frame"
    obs = observe(stderr=stale, recorded_seconds=2.6, frames=70, exit_code=-9, **{flag: True})
    assert classify(obs) == (st.TIMEOUT, message)


CONNECT_TIMEOUT = (st.TIMEOUT, "连接超时: 服务器未在规定时间内响应")


@pytest.mark.parametrize("said,verdict", [
    # ffmpeg 5.1 and 6.0 close with "URL: reason"
    (REFUSED, (st.CONNECTION_ERROR, REFUSED)),
    ("rtsp://127.0.0.1:5/cam1: Invalid data found when processing input", CONNECT_TIMEOUT),
    # ffmpeg 6 may put its input's name before the demuxer's
    ("[in#0/rtsp @ 0x5] method DESCRIBE failed: 404 Not Found",
     (st.STREAM_UNAVAILABLE, "[in#0/rtsp @ 0x5] method DESCRIBE failed: 404 Not Found")),
    ("[in#0/rtsp @ 0x5] method SETUP failed: 461 Unsupported transport", CONNECT_TIMEOUT),
    # ffmpeg 6.1 and 7 close with "Error opening input …" lines
    ("[in#0 @ 0x5] Error opening input: Connection refused\n"
     "Error opening input file rtsp://127.0.0.1:5/cam1.\n"
     "Error opening input files: Connection refused",
     (st.CONNECTION_ERROR, "Error opening input files: Connection refused")),
    ("Error opening input files: Server returned 404 Not Found",
     (st.STREAM_UNAVAILABLE, "Error opening input files: Server returned 404 Not Found")),
    ("[in#0 @ 0x5] Error opening input: Invalid data found when processing input\n"
     "Error opening input file rtsp://127.0.0.1:5/cam1.\n"
     "Error opening input files: Invalid data found when processing input", CONNECT_TIMEOUT),
], ids=["url-reason", "url-own-io-timeout", "in#0-describe-404", "in#0-setup-461",
        "error-opening-refused", "error-opening-404", "error-opening-own-io-timeout"])
@pytest.mark.parametrize("timed_out", [
    {"connect_timeout": True, "exit_code": -9},  # our watchdog killed it
    {"own_timeout_unanswered": True, "exit_code": 1},  # its own, seen first by a late loop
], ids=["watchdog", "own-io-timeout-seen-late"])
def test_what_ffmpeg_said_once_it_gave_up_is_the_verdict_over_a_connection_timeout(
        said: str, verdict: tuple, timed_out: dict) -> None:
    assert classify(observe(stderr=said, **timed_out)) == verdict


def test_a_closed_connection_is_a_connection_error_unless_ffmpegs_own_timeout_could_have_ended_it(
        ) -> None:
    # ffmpeg 5.1 says the same when the server closed the connection and when it never answered
    said = "rtsp://127.0.0.1:5/cam1: Invalid data found when processing input"
    assert classify(observe(stderr=said)) == (st.CONNECTION_ERROR, said)
    assert classify(observe(stderr=said, own_timeout_unanswered=True)) == CONNECT_TIMEOUT


def test_early_end_says_how_much_was_recorded() -> None:
    _, message = classify(observe(recorded_seconds=2.96, frames=74, exit_code=0))
    assert message == "媒体流提前结束: 仅录制 3.0秒 / 15秒"
