"""Reading ffmpeg's progress blocks and its stderr (recorder/ffmpeg_output.py)."""
from __future__ import annotations

import pytest

from recorder.ffmpeg_output import ProgressParser, StderrLog

REFUSED = "rtsp://127.0.0.1:5/cam1: Connection refused"


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


def test_picture_check_lines_are_skipped_but_the_connection_and_errors_still_seen() -> None:
    log = StderrLog()
    log.feed("[rtsp @ 0x2] SDP:\n"
             "[Parsed_scale_2 @ 0x5] w:1280 h:720 fmt:yuv420p -> w:320 h:180 fmt:yuvj420p\n"
             "[freezedetect @ 0x6] lavfi.freezedetect.freeze_start: 2\n"
             "[swscaler @ 0x7] deprecated pixel format used, make sure you did set range correctly\n"
             "[Parsed_blurdetect_8 @ 0x8] blur mean: 4.7187068\n"
             "[image2 @ 0x9] Could not open file : x.jpg.tmp\n" + REFUSED + "\n")
    assert log.connected
    # the checks' chatter, even an "error" word in it, is no diagnosis
    assert log.tail == ["[rtsp @ 0x2] SDP:", REFUSED]
    assert log.last_line() == REFUSED
