"""Classifying outcomes from ffmpeg's own words, and reading its progress and stderr."""
from __future__ import annotations

import pytest

from recorder.cycle_folder import create_cycle_folder, next_name
from recorder.ffmpeg_output import ProgressParser, StderrLog
from recorder.outcome import CLOCK_WENT_BACK_WARNING, Observation, classify
from shared import task_status as st
from shared.timefmt import is_cycle_name

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


def test_early_end_says_how_much_was_recorded() -> None:
    _, message = classify(observe(recorded_seconds=2.96, frames=74, exit_code=0))
    assert message == "媒体流提前结束: 仅录制 3.0秒 / 15秒"


def test_progress_blocks_are_parsed_across_chunks() -> None:
    parser = ProgressParser()
    assert not parser.feed("frame=10\ntotal_size=2048\nout_time_us=400")
    assert parser.feed("000\nprogress=continue\n")
    assert (parser.progress.frames, parser.progress.total_size) == (10, 2048)
    assert parser.progress.seconds == pytest.approx(0.4)
    parser.feed("frame=375\nout_time_us=15000000\nprogress=end\n")
    assert parser.progress.ended and parser.progress.seconds == 15.0


def test_stderr_log_learns_codecs_and_connection() -> None:
    log = StderrLog()
    log.feed("Input #0, rtsp, from 'rtsp://127.0.0.1/x':\n  Duration: N/A\n"
             "  Stream #0:0: Video: hevc (Main), yuv420p, 320x240, 25 fps\n"
             "  Stream #0:1: Audio: pcm_alaw, 8000 Hz, mono\nOutput #0, mp4, to 'x':\n"
             "  Stream #0:0: Video: hevc (hvc1)\n  Stream #0:1: Audio: aac\n")
    assert log.connected
    assert (log.codecs.video, log.codecs.audio) == ("hevc", "pcm_alaw")
    assert log.last_line() == ""  # nothing went wrong


def test_stderr_log_keeps_the_last_error_line_and_bounded_memory() -> None:
    log = StderrLog()
    log.feed("x" * 100_000)
    log.feed("\n[mp4 @ 0x1] Non-monotonous DTS; changing to 1\n" + REFUSED + "\n")
    assert log.last_line() == REFUSED
    assert all(len(line) <= 500 for line in log.tail)


def test_cycle_names_never_collide_and_sort(tmp_path) -> None:
    first = create_cycle_folder(str(tmp_path), 1_760_000_000.0, "")
    same_second = create_cycle_folder(str(tmp_path), 1_760_000_000.0, first)
    clock_went_back = create_cycle_folder(str(tmp_path), 1_759_990_000.0, same_second)
    names = [first, same_second, clock_went_back]
    assert names == sorted(names) and len(set(names)) == 3
    assert all(is_cycle_name(n) for n in names)
    assert next_name("20251010_163000", "20251010_163000_09") == "20251010_163000_10"


def test_verbose_chatter_is_not_taken_for_an_error() -> None:
    log = StderrLog()
    log.feed("[tcp @ 0x1] Starting connection attempt to 127.0.0.1 port 5\n"
             "[tcp @ 0x1] Successfully connected to 127.0.0.1 port 5\n"
             "[rtsp @ 0x2] SDP:\nv=0\no=- 1 1 IN IP4 127.0.0.1\na=control:rtsp://u:p@h/x\n"
             "[h264 @ 0x3] concealing 140 DC, 140 AC, 140 MV errors in I frame\n"
             "[AVIOContext @ 0x4] Statistics: 140606 bytes written, 2 seeks, 4 writeouts\n")
    assert log.connected  # the server answered DESCRIBE
    assert log.last_line() == ""


def test_no_sdp_means_not_connected() -> None:
    log = StderrLog()
    log.feed("[tcp @ 0x1] Successfully connected to 127.0.0.1 port 5\n")
    assert not log.connected
