#!/usr/bin/python3
"""Standalone RTSP test-camera server built on gst-rtsp-server (run with the system Python)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

# Must run before the GObject subclasses below are registered: their class_init
# touches GstMessage's GType, which only exists after gst_init().
Gst.init(None)

# Small, cheap, always-changing picture: the overlay makes every frame differ.
VIDEO_SRC = (
    "videotestsrc is-live=true pattern=ball {extra} "
    "! video/x-raw,width=320,height=240,framerate=25/1 "
    "! timeoverlay font-desc=\"Sans 18\" "
)
H264 = (
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bitrate=256 "
    "! video/x-h264,profile=baseline "
    "! rtph264pay name=pay0 pt=96 config-interval=-1 "
)
H265 = (
    "! x265enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bitrate=256 "
    "! rtph265pay name=pay0 pt=96 config-interval=-1 "
)
# 20 ms packets of 8 kHz mono, i.e. what a real G.711 camera sends.
AUDIO_SRC = (
    "audiotestsrc is-live=true wave=sine samplesperbuffer=160 "
    "! audio/x-raw,rate=8000,channels=1 "
)
ALAW = AUDIO_SRC + "! alawenc ! rtppcmapay pt=8 name=pay1 "
MULAW = AUDIO_SRC + "! mulawenc ! rtppcmupay pt=0 name=pay1 "

# Picture faults (README "Picture checks"). The healthy picture is SMPTE bars with
# a clock and the pattern's noise patch: sharp, well lit, never two frames alike.
PICTURE_SIZE = "video/x-raw,width=320,height=240,framerate={rate}/1"
PICTURE_CLOCK = "! timeoverlay font-desc=\"Sans 18\" "
PICTURE_FAULTS: dict[str, tuple[str, str, int]] = {
    # name: (source, what follows the size caps, frames per second)
    "healthy": ("videotestsrc is-live=true pattern=smpte", PICTURE_CLOCK, 25),
    "black": ("videotestsrc is-live=true pattern=black", "", 25),
    # One sharp picture (colour bars without the noise patch), repeated: what a
    # camera whose image pipeline hung sends.
    "still": ("videotestsrc is-live=true pattern=smpte100", "", 25),
    # Made 32 px wide and back: no edge survives.
    "blurred": ("videotestsrc is-live=true pattern=smpte", PICTURE_CLOCK
                + "! videoscale ! video/x-raw,width=32,height=24 ! videoscale "
                  "! video/x-raw,width=320,height=240 ", 25),
    "dark": ("videotestsrc is-live=true pattern=smpte",
             PICTURE_CLOCK + "! videobalance brightness=-0.05 contrast=0.2 ", 25),
    "bright": ("videotestsrc is-live=true pattern=smpte",
               PICTURE_CLOCK + "! videobalance brightness=0.7 contrast=0.3 ", 25),
    # Grey bars under a half-opaque magenta veil: a camera whose IR-cut filter stuck. The
    # veil is not live, so it is there from the first frame (a live one is missing until its
    # first buffer; a clip was judged without its cast once in a full suite run, cause not
    # found: this is a guess).
    "cast": ("videotestsrc is-live=true pattern=smpte",
             PICTURE_CLOCK + "! videobalance saturation=0.2 ! videoconvert ! m.sink_0 "
             "videotestsrc is-live=false pattern=solid-color foreground-color=0xffff00ff "
             "! video/x-raw,width=320,height=240,framerate=25/1 ! m.sink_1 "
             "compositor name=m sink_1::alpha=0.45 ", 25),
    "lowfps": ("videotestsrc is-live=true pattern=smpte", PICTURE_CLOCK, 2),
    # Turned half round every other client: the view of a camera knocked between cycles
    # (upside down alone leaves the bars' upper two thirds as they were).
    "moved": ("videotestsrc is-live=true pattern=smpte",
              PICTURE_CLOCK + "! videoflip name=turn method=none ", 25),
}


# zerolatency's sliced threads cut each picture in slices, and rtph264pay sends
# SPS and PPS again before each slice of a keyframe: ffmpeg then takes the two
# halves for two pictures, each half of it concealed (two keyframes 0.04 s apart,
# neither whole). A camera sends a keyframe in one piece.
ONE_SLICE = "threads=1"


def picture_launch(name: str, keyframe_seconds: int = 1, h265: bool = False) -> str:
    """The launch description of picture fault ``name`` (1 s between keyframes, as the others).

    ``h265``: encoded in H.265 (x265 makes one slice a picture without being told).
    """
    source, after, rate = PICTURE_FAULTS[name]
    gop = f"key-int-max={rate * keyframe_seconds}"
    encoder = (H265.replace("key-int-max=25", gop) if h265
               else H264.replace("key-int-max=25", f"{gop} {ONE_SLICE}"))
    return launch(source, "! " + PICTURE_SIZE.format(rate=rate), after, "! videoconvert ", encoder)


# 720p at 1 Mb/s, a keyframe every 1 or 4 s: the stream of issue 13's CPU figures.
HD_KEYFRAME_SECONDS = (1, 4)


def hd_launch(keyframe_seconds: int) -> str:
    """A 1280x720 25 fps 1 Mb/s camera (bars, a clock, the noise patch) with that keyframe interval."""
    encoder = (H264.replace("key-int-max=25", f"key-int-max={25 * keyframe_seconds} {ONE_SLICE}")
               .replace("bitrate=256", "bitrate=1000"))
    return launch("videotestsrc is-live=true pattern=smpte",
                  "! video/x-raw,width=1280,height=720,framerate=25/1", PICTURE_CLOCK,
                  "! videoconvert ", encoder)


def _turn_every_other() -> Callable[[GstRtspServer.RTSPMediaFactory, GstRtspServer.RTSPMedia], None]:
    """A media-configure handler: every second media shows the picture turned half round."""
    made = 0

    def configure(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        nonlocal made
        made += 1
        if made % 2 == 0:
            media.get_element().get_by_name("turn").set_property("method", "rotate-180")

    return configure


# 75 frames at 25 fps: the source emits EOS after ~3 s of video.
ENDING_FRAMES = 75
# /stall sends this many frames (~3 s), then nothing more, its session left open.
STALL_FRAMES = 75


def launch(*parts: str) -> str:
    """Wrap pipeline fragments in the bin syntax gst-rtsp-server expects."""
    return "( " + " ".join(parts) + " )"


class SharedKeyFactory(GstRtspServer.RTSPMediaFactory):
    """Factory whose media key ignores the URL, so every mount using it shares one pipeline."""

    def do_gen_key(self, url: GstRtspServer.RTSPUrl) -> str:
        # The default key is the request path; a constant key makes /bench1../benchN
        # all resolve to the same cached shared media, i.e. a single encoder.
        return "bench-shared"


class EndingMedia(GstRtspServer.RTSPMedia):
    """Media that closes its clients' RTSP connections shortly after its pipeline hits EOS."""

    def do_handle_message(self, message: Gst.Message) -> bool:
        if message.type == Gst.MessageType.EOS:
            # rtpbin sends RTCP BYE on EOS, which ffmpeg treats as end of stream. As a
            # backstop for clients that ignore BYE, drop the connection a bit later.
            GLib.timeout_add(1500, _close_clients_of, self)
        return GstRtspServer.RTSPMedia.do_handle_message(self, message)


def _stall_after(frames: int) -> Callable[[GstRtspServer.RTSPMediaFactory, GstRtspServer.RTSPMedia], None]:
    """A media-configure handler: the payloader passes ``frames`` buffers, then drops the rest.

    Nothing ends: no EOS, no RTCP BYE, the RTSP connection and session stay open
    (rtpbin still sends its RTCP reports), so a client sees the media just stop,
    as with a camera whose encoder froze.
    """

    def configure(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        sent = 0

        def gate(_pad: Gst.Pad, _info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
            nonlocal sent
            sent += 1
            return Gst.PadProbeReturn.OK if sent <= frames else Gst.PadProbeReturn.DROP

        pay = media.get_element().get_by_name("pay0")
        pay.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, gate)

    return configure


_SERVER: GstRtspServer.RTSPServer | None = None
KEEP = GstRtspServer.RTSPFilterResult.KEEP


def _close_clients_of(media: GstRtspServer.RTSPMedia) -> bool:
    """Close every RTSP client that has a session playing `media`."""

    def drop_client(_server: object, client: GstRtspServer.RTSPClient, _data: object) -> GstRtspServer.RTSPFilterResult:
        holds = False

        def check_session(_client: object, session: GstRtspServer.RTSPSession, _d: object) -> GstRtspServer.RTSPFilterResult:
            def check_media(_s: object, sm: GstRtspServer.RTSPSessionMedia, _d2: object) -> GstRtspServer.RTSPFilterResult:
                nonlocal holds
                holds = holds or sm.get_media() == media
                return KEEP

            session.filter(check_media, None)
            return KEEP

        client.session_filter(check_session, None)
        if holds:
            client.close()
        return KEEP

    if _SERVER is not None:
        _SERVER.client_filter(drop_client, None)
    return GLib.SOURCE_REMOVE  # one-shot timeout


def make_factory(
    desc: str,
    shared: bool,
    cls: type[GstRtspServer.RTSPMediaFactory] = GstRtspServer.RTSPMediaFactory,
    live_clock: bool = True,
) -> GstRtspServer.RTSPMediaFactory:
    """Create a media factory for a launch description."""
    factory = cls()
    factory.set_launch(desc)
    # Shared media keeps running until its last client leaves, then is torn down, so
    # idle mounts cost nothing and the next client gets a fresh pipeline.
    factory.set_shared(shared)
    # Live, like a camera: this clock mode makes the server treat the media as not
    # seekable. Otherwise ffmpeg's "PLAY ... Range: npt=0.000-" flush-seeks a shared
    # pipeline back to 0 at every join, so the timestamps of every client already
    # watching start over, and during a burst of joins (128 in 5 s) no media time
    # passes for them at all: clips took 20 s instead of 15, or timed out.
    # (/tsreset leaves it out on purpose: a camera whose clock restarts for every viewer.)
    if live_clock:
        factory.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)
    return factory


def file_launch(path: str) -> str:
    """An H.264 MP4 file played once in real time, as a camera would send it."""
    return launch(f'filesrc location="{path}" ! qtdemux ! h264parse ! rtph264pay name=pay0 '
                  "pt=96 config-interval=-1")


def build_mounts(mount_count: int,
                 files: dict[str, str] | None = None) -> dict[str, GstRtspServer.RTSPMediaFactory]:
    """Return path -> factory for every mount the server offers."""
    h264 = launch(VIDEO_SRC.format(extra=""), H264)
    mounts: dict[str, GstRtspServer.RTSPMediaFactory] = {
        f"/cam{i}": make_factory(h264, shared=True) for i in range(1, 5)
    }
    # Shared and seekable: every new viewer's PLAY restarts the timestamps of
    # every viewer already watching, as some platforms do after a reconnect.
    mounts["/tsreset"] = make_factory(h264, shared=True, live_clock=False)
    mounts["/h265"] = make_factory(launch(VIDEO_SRC.format(extra=""), H265), shared=True)
    mounts["/h264_alaw"] = make_factory(launch(VIDEO_SRC.format(extra=""), H264, ALAW), shared=True)
    mounts["/h264_mulaw"] = make_factory(launch(VIDEO_SRC.format(extra=""), H264, MULAW), shared=True)
    ending = make_factory(
        launch(VIDEO_SRC.format(extra=f"num-buffers={ENDING_FRAMES}"), H264), shared=False
    )
    ending.set_media_gtype(EndingMedia)
    mounts["/ending"] = ending
    # Not shared: every client gets its own pipeline, and so its own 3 s before the stall.
    stall = make_factory(h264, shared=False)
    stall.connect("media-configure", _stall_after(STALL_FRAMES))
    mounts["/stall"] = stall
    for name in PICTURE_FAULTS:
        # Not shared for "moved": each client (each cycle) gets its own view.
        mounts[f"/picture/{name}"] = make_factory(picture_launch(name), shared=name != "moved")
    mounts["/picture/moved"].connect("media-configure", _turn_every_other())
    # The healthy picture with 4 s between keyframes, shared: a viewer joins mid-GOP.
    mounts["/picture/gop4"] = make_factory(picture_launch("healthy", 4), shared=True)
    # The healthy picture in H.265: the example config's second camera (make run).
    mounts["/picture/healthy_h265"] = make_factory(picture_launch("healthy", h265=True),
                                                   shared=True)
    if mount_count > 0:
        bench = make_factory(h264, shared=True, cls=SharedKeyFactory)
        for i in range(1, mount_count + 1):
            mounts[f"/bench{i}"] = bench
        for seconds in HD_KEYFRAME_SECONDS:  # the picture checks' bench (bench/picture_checks.py)
            hd = make_factory(hd_launch(seconds), shared=True, cls=SharedKeyFactory)
            for i in range(1, mount_count + 1):
                mounts[f"/hd{seconds}s/{i}"] = hd
    # Not shared: each client gets the file from its start (bench/quality_scenes.py).
    for mount, path in (files or {}).items():
        mounts[f"/file/{mount}"] = make_factory(file_launch(path), shared=False)
    return mounts


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, start the server and run until SIGTERM/SIGINT."""
    global _SERVER
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8554, help="0 picks a free port")
    parser.add_argument("--mount-count", type=int, default=0, help="add /bench1../benchN")
    parser.add_argument("--file", action="append", default=[], metavar="NAME=PATH",
                        help="add /file/NAME playing this H.264 MP4 (repeatable)")
    args = parser.parse_args(argv)

    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    points = server.get_mount_points()
    for path, factory in build_mounts(args.mount_count, dict(
            item.split("=", 1) for item in args.file)).items():
        points.add_factory(path, factory)

    loop = GLib.MainLoop()
    # attach() creates and binds the listening socket, so the real port is known after it.
    if server.attach(None) == 0:
        print(f"failed to listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    _SERVER = server
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, _quit, loop)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


def _quit(loop: GLib.MainLoop) -> bool:
    """Stop the main loop from a signal handler."""
    loop.quit()
    return GLib.SOURCE_REMOVE


if __name__ == "__main__":
    sys.exit(main())
