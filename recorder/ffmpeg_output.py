"""Reading what ffmpeg says: ``-progress`` blocks on stdout, input description and errors on stderr."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from recorder.ffmpeg_command import SourceCodecs

_SIZE_RE = re.compile(r", ([1-9][0-9]{1,4}x[1-9][0-9]{1,4})\b")
_STREAM_RE = re.compile(r"Stream #0:\d+.*?: (Video|Audio): ([A-Za-z0-9_]+)")
_FPS_RE = re.compile(r", (\d+(?:\.\d+)?) fps,")
# Lines that say what went wrong (as opposed to ffmpeg's informational chatter).
_ERROR_RE = re.compile(r"error|failed|invalid|refused|timed out|not found|unreachable|"
                       r"unauthorized|forbidden|no space|denied|end of file|could not|"
                       r"cannot|unable|no route|returned \d{3}|broken pipe|reset", re.IGNORECASE)
# The picture checks' filters and outputs (recorder/picture_quality.py): their log lines
# (about half of a checked clip's stderr) never carry a diagnosis.
_CHECK_TAGS = ("blackdetect", "freezedetect", "blurdetect", "swscaler", "image2", "mjpeg", "null",
               "wrapped_avframe")
# Those lines told by their start, before the general tests (ffmpeg's "[name @ 0x…]").
_CHECK_PREFIXES = ("[Parsed_", *(f"[{tag} @" for tag in _CHECK_TAGS))
# Lines that carry no diagnosis: stats, stream mapping, encoder chatter (the checks' lines
# never reach it: StderrLog._line drops them first).
_NOISE_RE = re.compile(r"^(frame=|size=|video:|\s|Stream mapping|Press \[q\]|Output #|Input #|"
                       r"Metadata|Duration|  |[a-z]=|Last message repeated|"
                       r"Input file #|Output file #|Total:|\*\*\* \d+ dup|"
                       r"\[(h264|hevc|aac|pcm_\w+|graph\w*|format_out\w*|auto_\w+|AVIOContext) @)")


@dataclass
class Progress:
    """The latest figures of one recording."""

    out_time_us: int = 0
    total_size: int = 0
    frames: int = 0
    ended: bool = False  # ffmpeg reported progress=end

    @property
    def seconds(self) -> float:
        """Seconds of media written so far."""
        return max(0, self.out_time_us) / 1_000_000


@dataclass
class ProgressParser:
    """Turns ``key=value`` lines of ``-progress pipe:1`` into :class:`Progress` updates."""

    progress: Progress = field(default_factory=Progress)
    _partial: str = ""

    def feed(self, chunk: str) -> bool:
        """Consume a chunk of stdout; True when a complete block changed the figures."""
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()
        changed = False
        for line in lines:
            key, _, value = line.strip().partition("=")
            value = value.strip()
            if key in ("out_time_us", "out_time_ms") and value.lstrip("-").isdigit():
                self.progress.out_time_us = max(self.progress.out_time_us, int(value))
            elif key == "total_size" and value.isdigit():
                self.progress.total_size = int(value)
            elif key == "frame" and value.isdigit():
                self.progress.frames = int(value)
            elif key == "progress":
                changed = True
                self.progress.ended = value == "end"
        return changed


@dataclass
class StderrLog:
    """Keeps what matters of ffmpeg's stderr: the input's codecs, the connection, the last errors."""

    connected: bool = False
    codecs: SourceCodecs = field(default_factory=SourceCodecs)
    resolution: str | None = None  # the input video's WIDTHxHEIGHT, for the history
    tail: list[str] = field(default_factory=list)
    _partial: str = ""
    keep: int = 12
    announced_fps: float | None = None  # the input video's frame rate, as ffmpeg read it

    def feed(self, chunk: str) -> None:
        """Consume a chunk of stderr."""
        text = self._partial + chunk.replace("\r", "\n")
        lines = text.split("\n")
        self._partial = lines.pop()
        if len(self._partial) > 4096:  # a line without end: keep memory bounded
            lines.append(self._partial)
            self._partial = ""
        for line in lines:
            self._line(line)

    def close(self) -> None:
        """Flush a last line without newline."""
        if self._partial:
            self._line(self._partial)
            self._partial = ""

    def _line(self, line: str) -> None:
        # "[rtsp @ 0x…] SDP:" (at -loglevel verbose) is the server's answer to
        # DESCRIBE: connected, even while ffmpeg still probes the media.
        if line.startswith("Input #0") or (line.startswith("[rtsp @") and line.endswith("SDP:")):
            self.connected = True
        if line.startswith(_CHECK_PREFIXES):
            return
        # Most lines are neither: a substring test spares them the regex.
        match = (_STREAM_RE.search(line) if "Stream #" in line and not self._output_started
                 else None)
        if match:
            kind, codec = match.groups()
            if kind == "Video" and self.codecs.video is None:
                self.codecs = SourceCodecs(codec, self.codecs.audio)
                size = _SIZE_RE.search(line)
                self.resolution = size.group(1) if size else None
                fps = _FPS_RE.search(line)
                self.announced_fps = float(fps.group(1)) if fps else None
            elif kind == "Audio" and self.codecs.audio is None:
                self.codecs = SourceCodecs(self.codecs.video, codec)
        if line.startswith("Output #"):
            self._output_started = True
        if line.strip() and not _NOISE_RE.match(line):
            self.tail.append(line.strip()[:500])
            del self.tail[:-self.keep]

    _output_started: bool = False

    def text(self) -> str:
        """All kept lines, for classification."""
        return "\n".join(self.tail)

    def last_line(self) -> str:
        """ffmpeg's own last line that reports a problem, for ``error_message`` ("" if none)."""
        for line in reversed(self.tail):
            if _ERROR_RE.search(line):
                return line
        return ""
