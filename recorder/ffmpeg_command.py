"""The ffmpeg command line of one recording, built with ffmpeg-python (we run the process ourselves)."""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import ffmpeg
from ffmpeg._utils import escape_chars

from shared.clip_names import PART_SUFFIX
from shared.config import OPTIONAL_DEFAULTS

# Containers that cannot hold G.711 (and other PCM) audio as is.
_MP4_FAMILY = (".mp4", ".m4v", ".mov")
# Audio codecs each container family takes by stream copy.
_COPYABLE_AUDIO = {
    ".mp4": {"aac", "mp3", "opus", "alac"},
    ".m4v": {"aac", "mp3"},
    ".mov": {"aac", "mp3", "alac", "pcm_alaw", "pcm_mulaw"},
    ".mkv": {"aac", "mp3", "opus", "pcm_alaw", "pcm_mulaw", "ac3", "vorbis", "flac"},
    ".ts": {"aac", "mp3", "ac3", "opus"},
}
_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".ts": "mpegts"}
# A probe's output (a camera check that keeps no clip): the null muxer, nothing written.
NULL_OUTPUT = "-"
_NULL = "null"
_MUXERS[_NULL] = "null"
# What ffmpeg needs to learn a stream's codecs; small values keep the per-process
# cost low, large enough for a camera that sends its SPS with the first key frame.
PROBE_SIZE = 500_000
ANALYZE_MICROSECONDS = 2_000_000
# Video timestamps that never go back: a camera (or platform) that restarts its
# clock for every new viewer of a shared stream sends a timeline that jumps back
# at every join. Each jump adds the offset that carries on from the last packet
# (plus 40 ms, a frame's worth), so the clip's timeline follows the media
# received; without jumps the offset stays 0 and every packet passes unchanged.
# ffmpeg's -t still counts the raw input clock, so the recording's watchdog
# ends such a clip (recorder.recording). "\," escapes the commas of the bsf list.
_OFFSET = (r"if(lte(DTS\,PREV_INDTS)\,PREV_OUTDTS+0.04/TB-DTS\,"
           r"PREV_OUTDTS-PREV_INDTS)")
CONTINUOUS_TIMESTAMPS = f"setts=dts=DTS+{_OFFSET}:pts=PTS+{_OFFSET}"


@dataclass(frozen=True)
class SourceCodecs:
    """What a camera sent last time (learned from ffmpeg's own input description)."""

    video: str | None = None
    audio: str | None = None



def container_of(filename: str) -> str:
    """The extension that picks the muxer (``.mp4``), also for ``clip.mp4.part`` work files."""
    if filename.endswith(PART_SUFFIX):
        filename = filename[:-len(PART_SUFFIX)]
    return os.path.splitext(filename)[1].lower()


def audio_codec_for(container: str, mode: str, source: SourceCodecs | None) -> str | None:
    """``"copy"``, ``"aac"``, or None to drop audio.

    ``auto`` copies when the container is known to take the camera's audio and
    transcodes to AAC otherwise (including the first contact, when we do not
    know the camera's audio yet: AAC always fits).
    """
    if mode == "drop":
        return None
    if mode == "auto" and source and source.audio in _COPYABLE_AUDIO.get(container, ()):
        return "copy"
    return "aac"


# RTP over TCP (interleaved) passes NAT and firewalls on the RTSP port alone; some
# cameras and NVRs answer "461 Unsupported transport" to it and speak UDP only.
# prefer_tcp asks for TCP and, refused, sets up UDP in the same session.
_TRANSPORT_OPTIONS: dict[str, dict[str, str]] = {
    "auto": {"rtsp_flags": "prefer_tcp"},
    "tcp": {"rtsp_transport": "tcp"},
    "udp": {"rtsp_transport": "udp"},
}

# Stand-ins for the values that differ between recordings of the same kind.
_URL_SLOT = "\x00url"
_OUTPUT_SLOT = "\x00output"
_THUMBNAIL_SLOT = "\x00thumbnail"
# Inside the filter graph (metadata's file option), so put in escaped: by ffmpeg's
# rules for an option value (\\ ' :), then for the graph (\\ ' [ ] , ;).
_FIGURES_SLOT = "\x00figures"
_BLUR_SLOT = "\x00blur"
# The picture checks (README "Picture checks"): keyframes only, made 320 px wide
# before any filter (the scaling itself costs about what the decoding does; the filters on
# full-size pictures would triple it), then ffmpeg's own detectors, whose
# per-picture figures metadata=print writes to a file beside the clip, read once
# at the end (recorder/picture_quality.py): on stderr they woke the recorder 30
# times a keyframe. direct: each line written at once, so the file can be read
# while ffmpeg runs (the clock check of recorder/recording.py).
THUMBNAIL_WIDTH = 320
# skip_frame is a decoder option: the stream copy never decodes, so only the
# checks see it. But ffmpeg's probe decodes with the same options, and waits for
# 7 decoded pictures (to guess the decoder's delay, max_ts_probe packets at most)
# and 20 frame durations (fpsprobesize) before it starts any output: with
# keyframes alone that held the clip back by the whole 2 s analyze duration
# (and lost the first 2 s of a stream that stalls). Both waits off, the probe
# ends at the first keyframe; the frame rate still comes from the SDP or the SPS.
# One decoder thread: a keyframe a second needs no frame threads, whose start-up
# and hand-overs cost more than they save (bench/picture_checks.py).
KEYFRAMES_ONLY = {"skip_frame": "nokey", "max_ts_probe": "1", "fpsprobesize": "0",
                  "threads": "1"}
# Decoding keyframes only, the probe learns the picture's size from the first
# keyframe alone: joined mid-GOP, a camera with 4 s between keyframes had none in
# 2 s, and the clip failed ("unspecified size"), where the plain probe waited for
# it. Up to 10 s then; the probe still ends at the first keyframe.
KEYFRAME_ANALYZE_MICROSECONDS = 10_000_000
# Nor do filters on a 320 px picture a second need a thread per core.
CHECK_GLOBAL_ARGS = ("-filter_complex_threads", "1")
# The thumbnails' times made to rise by 40 ms at least, as the clip's do
# (CONTINUOUS_TIMESTAMPS; the checks see the camera's own times, so that a clock
# that went back shows, recorder/recording.py): the JPEG encoder refuses a picture no later than the
# last one in its time base, and that error ends the whole ffmpeg, the clip with
# it (a camera whose clock restarts, a keyframe sent in two pieces 3 ms apart).
# Keyframes are 0.5 s apart or more: 40 ms after the last one is "at once". The
# encoder's time base is 1 ms (THUMBNAIL_TICKS), not the camera's frame rate
# (a 2 fps camera's 0.5 s would round 40 ms away).
RISING_PTS = "if(isnan(PREV_INPTS),PTS,PREV_OUTPTS+max(PTS-PREV_INPTS,0.04/TB))"
THUMBNAIL_TICKS = 1000
# One keyframe looked at per ``sample_seconds`` (shared/quality_settings.py): the
# decoder still decodes every keyframe (it cannot skip what it is given), but the
# ones closer to the last one looked at are dropped before the scaling, the filters
# and the JPEG encoder, which cost 4-5 times the decoding (docs/PERFORMANCE.md). The
# gap allows a quarter of it for a camera's keyframe jitter (1.96 s for 2 s); a
# keyframe no later than the one before it (the camera's clock went back) is taken
# too, so the figures show the jump: two keyframes looked at closer than the gap.
SAMPLE_SLACK = 0.75
# Two keyframes of a hung picture that the camera keeps encoding at a constant bitrate
# are not bit-identical (another quantiser each): −55 to −71 dB apart on real footage,
# while a still view with sensor noise is −45 to −49 dB (docs/QUALITY.md's sweep).
FREEZE_NOISE = "-52dB"
FREEZE_SECONDS = 2
# blurdetect's figure; the thumbnails' figures file holds it alone.
BLUR_KEY = "lavfi.blur"


def build_argv(url: str, output_file: str, duration: int, *, io_timeout: int,
               audio_mode: str = OPTIONAL_DEFAULTS["audio_mode"], source: SourceCodecs | None = None,
               transport: str = OPTIONAL_DEFAULTS["rtsp_transport"],
               ffmpeg_binary: str = "ffmpeg", checks: CheckFiles | None = None) -> list[str]:
    """The argv of one recording: RTSP over ``transport``, video stream copy, ``-t duration``,
    progress on stdout, errors on stderr; ``io_timeout`` in seconds.

    With ``checks`` the same process also checks the picture (its figures to
    ``checks.figures`` and ``checks.blur_figures``) and keeps the last of its two
    thumbnail keyframes (:func:`thumbnail_expression`) in ``checks.thumbnail`` as a JPEG;
    without it the argv has neither.
    """
    container = _NULL if output_file == NULL_OUTPUT else container_of(output_file)
    # What the camera's codecs change in the command, and no more: a camera first met and
    # one whose codecs are known often get the same command, built once.
    audio = None if container == _NULL else audio_codec_for(container, audio_mode, source)
    hvc1 = container in _MP4_FAMILY and source is not None and source.video == "hevc"
    template = _argv_template(container, duration, io_timeout, audio, hvc1, transport,
                              ffmpeg_binary, checks.sample_seconds if checks else None)
    slots = {_URL_SLOT: url, _OUTPUT_SLOT: output_file}
    if checks:
        slots[_THUMBNAIL_SLOT] = checks.thumbnail
        graph = template.index("-filter_complex") + 1
        argv = [slots.get(arg, arg) for arg in template]
        argv[graph] = (argv[graph].replace(_FIGURES_SLOT, _in_graph(checks.figures))
                       .replace(_BLUR_SLOT, _in_graph(checks.blur_figures)))
        return argv
    return [slots.get(arg, arg) for arg in template]


def _in_graph(path: str) -> str:
    """``path`` escaped for an option value inside the filter graph."""
    return escape_chars(escape_chars(path, "\\':"), "\\'[],;")


@dataclass(frozen=True)
class CheckFiles:
    """The picture checks of one recording: where its thumbnail and figures go, how often it samples."""

    thumbnail: str
    figures: str
    blur_figures: str
    sample_seconds: float = 0.0


@functools.lru_cache(maxsize=256)
def _argv_template(container: str, duration: int, io_timeout: int, audio: str | None,
                   hvc1: bool, transport: str,
                   ffmpeg_binary: str, sample_seconds: float | None) -> tuple[str, ...]:
    # Built by ffmpeg-python once per kind of recording (a cycle of hundreds of
    # streams has a handful of kinds), with the URL and output file left as slots.
    url, checks = _URL_SLOT, sample_seconds is not None
    stream = ffmpeg.input(
        url,
        **_TRANSPORT_OPTIONS[transport],
        # ffmpeg 5.1's rtsp "timeout": socket I/O timeout in microseconds. Only a
        # backstop: our own watchdogs apply the connection and read timeouts, and
        # can tell them apart (ffmpeg reports both as "Invalid data found").
        timeout=str(io_timeout * 1_000_000),
        probesize=str(PROBE_SIZE),
        analyzeduration=str(KEYFRAME_ANALYZE_MICROSECONDS if checks else ANALYZE_MICROSECONDS),
        fflags="+genpts+discardcorrupt",
        **(KEYFRAMES_ONLY if checks else {}),
    )
    return _outputs(stream, container, duration, audio, hvc1, sample_seconds, ffmpeg_binary)


def _outputs(stream, container: str, duration: int, audio: str | None, hvc1: bool,
             sample_seconds: float | None, ffmpeg_binary: str) -> tuple[str, ...]:
    output_file = _OUTPUT_SLOT
    # flush_packets: hand each fragment to the kernel at once, so what was
    # recorded survives a SIGKILL (the default 32 KB buffer can hold seconds).
    options: dict[str, str | int] = {"t": duration, "c:v": "copy", "f": _MUXERS[container],
                                     "flush_packets": "1", "bsf:v": CONTINUOUS_TIMESTAMPS}
    maps = [stream["v:0"]]
    if audio is not None:
        maps.append(stream["a:0?"])
        options["c:a"] = audio
    if container in _MP4_FAMILY:
        # Fragmented MP4 stays playable whenever ffmpeg stops, even on SIGKILL.
        options["movflags"] = "+frag_keyframe+empty_moov+default_base_moof"
        if hvc1:
            options["tag:v"] = "hvc1"  # what Apple and browsers expect for H.265 in MP4
    out = ffmpeg.output(*maps, output_file, **options)
    checks = sample_seconds is not None
    if checks:
        out = ffmpeg.merge_outputs(out, *_check_outputs(stream, duration, sample_seconds))
    out = out.global_args(
        # verbose: adds the server's SDP (the moment it answered) and a few
        # lines more per recording; the classification reads both.
        # -progress once a second: the status file is published once a second
        # anyway, and the daemon reads half as much as at ffmpeg's default 0.5 s.
        "-nostdin", "-hide_banner", "-loglevel", "verbose", "-nostats",
        "-progress", "pipe:1", "-stats_period", "1", *(CHECK_GLOBAL_ARGS if checks else ()))
    return tuple(out.compile(cmd=ffmpeg_binary, overwrite_output=True))


def sample_expression(sample_seconds: float, duration: float | None = None) -> str:
    """select's expression: keyframes (I) only, one per ``sample_seconds`` (0: each one), and
    with ``duration`` the first one that far from the first, whatever the gap."""
    # skip_frame still lets a frame next to a keyframe through (decoded from a
    # partial reference over RTP, it is a corrupt picture): keyframes (I) only.
    if sample_seconds <= 0:
        return "eq(pict_type,I)"
    end = f"+gte(t-start_t,{duration:g})" if duration is not None else ""
    return (f"eq(pict_type,I)*(isnan(prev_selected_t)"
            f"+gte(t-prev_selected_t,{sample_gap(sample_seconds):g})+lte(t,prev_t){end})")


def sample_gap(sample_seconds: float) -> float:
    """The least time between two keyframes looked at, unless the clock went back between them."""
    return round(SAMPLE_SLACK * sample_seconds, 3)


def thumbnail_expression(duration: int) -> str:
    """select's expression for the thumbnail's keyframes, of the looked-at ones: the first and
    the first at or past the middle of the clip."""
    middle = f"{duration / 2:g}"
    return f"eq(n,0)+gte(t-start_t,{middle})*lt(prev_selected_t-start_t,{middle})"


def _check_outputs(stream, duration: int, sample_seconds: float) -> list:
    """The picture checks and the thumbnail: one chain from the sampled, scaled keyframes to the JPEG."""
    # The first keyframe past the clip's length ends the chain (trim), so ffmpeg ends
    # with the clip's -t: not at the next keyframe looked at, up to sample_seconds later
    # (a second more of receiving per 15 s clip at 1 s keyframes), nor at one that the
    # output's own -t would see, which the thumbnail's select may never pass.
    checked = (stream["v:0"].filter("select", sample_expression(sample_seconds, duration))
               .filter("trim", duration=duration)
               .filter("scale", THUMBNAIL_WIDTH, -2).filter("signalstats")
               .filter("freezedetect", n=FREEZE_NOISE, d=FREEZE_SECONDS)
               .filter("blackdetect", d=0)
               .filter("metadata", "print", file=_FIGURES_SLOT, direct=1))
    # The scale's output format is the JPEG encoder's (yuvj420p, full range: the format
    # negotiation runs through the chain), so every filter sees the picture the
    # thresholds were calibrated on, as when a split fed the encoder.
    # Only two keyframes go on to blurdetect and the JPEG encoder, which cost more a
    # keyframe than all the filters before (docs/PERFORMANCE.md): the first (a clip that
    # ends early still has a thumbnail) and the first at or past the clip's middle (the
    # thumbnail kept, -update 1: a view of the clip, not of its first second).
    thumbnails = (checked.filter("select", thumbnail_expression(duration))
                  .filter("blurdetect")
                  .filter("metadata", "print", key=BLUR_KEY, file=_BLUR_SLOT, direct=1))
    # passthrough: one output picture per keyframe, not 25 copies of it a second.
    # threads 1: the mjpeg encoder's frame threads (one per core by default) hold each
    # picture until that many more have come, so the first thumbnail was written only at
    # the middle one, and a recording killed before then left none.
    return [ffmpeg.output(thumbnails.filter("setpts", RISING_PTS), _THUMBNAIL_SLOT, f="image2",
                          update=1, **{"c:v": "mjpeg", "q:v": 5}, r=THUMBNAIL_TICKS,
                          t=duration, fps_mode="passthrough", threads=1)]


def build_retag_argv(source_file: str, output_file: str, ffmpeg_binary: str = "ffmpeg") -> list[str]:
    """Remux an H.265 clip with the ``hvc1`` tag (used when the first contact could not know it)."""
    out = ffmpeg.output(ffmpeg.input(source_file), output_file, c="copy", **{
        "tag:v": "hvc1", "f": _MUXERS[container_of(output_file)],
        "movflags": "+frag_keyframe+empty_moov+default_base_moof"})
    return out.global_args("-nostdin", "-hide_banner", "-loglevel", "error").compile(
        cmd=ffmpeg_binary, overwrite_output=True)
