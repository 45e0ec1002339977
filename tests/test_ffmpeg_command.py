"""The ffmpeg argv built with ffmpeg-python, compared literally."""
from __future__ import annotations

import pytest

from recorder.ffmpeg_command import SourceCodecs, audio_codec_for, build_argv, build_retag_argv

INPUT = ["ffmpeg", "-analyzeduration", "2000000", "-fflags", "+genpts+discardcorrupt",
         "-probesize", "500000", "-rtsp_flags", "prefer_tcp", "-timeout", "15000000",
         "-i", "rtsp://127.0.0.1:8554/cam1"]
GLOBAL = ["-nostdin", "-hide_banner", "-loglevel", "verbose", "-nostats", "-progress", "pipe:1",
          "-stats_period", "1", "-y"]
FRAG = ["-movflags", "+frag_keyframe+empty_moov+default_base_moof"]
# Video timestamps carried on over a camera clock that goes back (no-op otherwise).
_OFFSET = r"if(lte(DTS\,PREV_INDTS)\,PREV_OUTDTS+0.04/TB-DTS\,PREV_OUTDTS-PREV_INDTS)"
BSF = ["-bsf:v", f"setts=dts=DTS+{_OFFSET}:pts=PTS+{_OFFSET}"]


def test_first_contact_mp4_copies_video_and_makes_audio_aac() -> None:
    argv = build_argv("rtsp://127.0.0.1:8554/cam1", "/o/.a.mp4.part", 15, io_timeout=15)
    assert argv == INPUT + ["-map", "0:v:0", "-map", "0:a:0?", "-f", "mp4", *BSF, "-c:a", "aac",
                            "-c:v", "copy", "-flush_packets", "1", *FRAG, "-t", "15", "/o/.a.mp4.part", *GLOBAL]


def test_recordings_of_one_kind_share_a_template_but_not_their_url_or_file() -> None:
    first = build_argv("rtsp://u:p@10.0.0.1/a", "/o/.a.mp4.part", 15, io_timeout=15)
    second = build_argv("rtsp://127.0.0.1:8554/cam1", "/o/.b.mp4.part", 15, io_timeout=15)
    assert first[first.index("-i") + 1] == "rtsp://u:p@10.0.0.1/a"
    assert second == INPUT + ["-map", "0:v:0", "-map", "0:a:0?", "-f", "mp4", *BSF, "-c:a", "aac",
                              "-c:v", "copy", "-flush_packets", "1", *FRAG, "-t", "15",
                              "/o/.b.mp4.part", *GLOBAL]
    assert not any("\x00" in arg for arg in first + second)
    assert build_argv("rtsp://x/", "/o/.c.mp4.part", 20, io_timeout=15)[-12] == "20"


def test_known_hevc_source_is_tagged_hvc1() -> None:
    argv = build_argv("rtsp://127.0.0.1:8554/cam1", "/o/.a.mp4.part", 15, io_timeout=15,
                      source=SourceCodecs("hevc", None))
    assert argv[argv.index("-tag:v") + 1] == "hvc1"


def test_cameras_whose_codecs_change_nothing_in_the_command_share_its_template() -> None:
    # A camera met first and the same camera known (H.264, no audio or G.711, which MP4
    # cannot take): one command, built once; H.265 or copyable audio: a command of its own.
    from recorder import ffmpeg_command
    build = ffmpeg_command._argv_template
    build.cache_clear()
    argvs = [build_argv("rtsp://x/", "/o/.a.mp4.part", 17, io_timeout=15, source=source)
             for source in (None, SourceCodecs("h264"), SourceCodecs("h264", "pcm_alaw"))]
    assert argvs[0] == argvs[1] == argvs[2] and build.cache_info().misses == 1
    hevc = build_argv("rtsp://x/", "/o/.a.mp4.part", 17, io_timeout=15,
                      source=SourceCodecs("hevc"))
    aac = build_argv("rtsp://x/", "/o/.a.mp4.part", 17, io_timeout=15,
                     source=SourceCodecs("h264", "aac"))
    assert "hvc1" in hevc and aac[aac.index("-c:a") + 1] == "copy"
    assert build.cache_info().misses == 3
    # H.265 into MKV needs no tag: the same command as H.264's.
    mkv = [build_argv("rtsp://x/", "/o/.a.mkv.part", 17, io_timeout=15, source=source)
           for source in (SourceCodecs("hevc"), SourceCodecs("h264"))]
    assert mkv[0] == mkv[1] and "hvc1" not in mkv[0] and build.cache_info().misses == 4


def test_audio_drop_maps_video_only() -> None:
    argv = build_argv("rtsp://127.0.0.1:8554/cam1", "/o/.a.mkv.part", 5, io_timeout=3,
                      audio_mode="drop")
    assert "0:a:0?" not in argv and "-c:a" not in argv
    assert argv[argv.index("-f") + 1] == "matroska"
    assert argv[argv.index("-timeout") + 1] == "3000000"


@pytest.mark.parametrize("container,mode,audio,expected", [
    (".mp4", "auto", None, "aac"),            # unknown source: AAC always fits
    (".mp4", "auto", "pcm_alaw", "aac"),      # MP4 cannot hold G.711
    (".mp4", "auto", "aac", "copy"),
    (".mkv", "auto", "pcm_alaw", "copy"),
    (".mov", "auto", "pcm_mulaw", "copy"),
    (".mp4", "aac", "aac", "aac"),
    (".mp4", "drop", "aac", None),
])
def test_audio_codec_choice(container: str, mode: str, audio: str | None, expected) -> None:
    source = SourceCodecs("h264", audio) if audio else None
    assert audio_codec_for(container, mode, source) == expected


def test_retag_argv() -> None:
    assert build_retag_argv("/o/in.part", "/o/.tag.a.mp4.part") == [
        "ffmpeg", "-i", "/o/in.part", "-f", "mp4", "-c", "copy", *FRAG, "-tag:v", "hvc1",
        "/o/.tag.a.mp4.part", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


def test_audio_mode_is_an_optional_validated_setting() -> None:
    from shared.config import setting, validate_config
    from shared.errors import ConfigError
    base = {"global_config": {}, "streams": []}
    assert "audio_mode" not in validate_config(base)["global_config"]
    assert setting(validate_config(base)["global_config"], "audio_mode") == "auto"
    drop = validate_config({"global_config": {"audio_mode": "drop"}, "streams": []})
    assert setting(drop["global_config"], "audio_mode") == "drop"
    with pytest.raises(ConfigError, match="audio_mode"):
        validate_config({"global_config": {"audio_mode": "mp3"}, "streams": []})


@pytest.mark.parametrize(("transport", "options"), [
    ("auto", ["-rtsp_flags", "prefer_tcp"]), ("tcp", ["-rtsp_transport", "tcp"]),
    ("udp", ["-rtsp_transport", "udp"])])
def test_the_transport_is_tcp_first_by_default_or_the_one_forced(transport: str,
                                                                  options: list[str]) -> None:
    argv = build_argv("rtsp://127.0.0.1:8554/cam1", "/o/.a.mp4.part", 15, io_timeout=15,
                      transport=transport)
    assert argv[argv.index("-probesize") + 2:argv.index("-timeout")] == options
