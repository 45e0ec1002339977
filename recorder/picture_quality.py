"""The picture checks: ffmpeg's per-keyframe figures (metadata=print) turned into measures and verdicts."""
from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field

from shared.quality_settings import QualitySettings
from shared.quality_verdicts import (BLACK, BLURRED, COLOUR_CAST, FROZEN, LOW_BITRATE, LOW_FPS,
                                     SCENE_CHANGED, TOO_BRIGHT, TOO_DARK)
from shared.task_record import unchecked_quality as unchecked

# metadata=print's file ("frame:3    pts:270000  pts_time:3" opens a keyframe, then one
# "lavfi.key=value" line per figure): only the figures the verdicts use are kept, in
# one pass of one regex over the whole text (signalstats alone writes 29 a keyframe).
USED_KEYS = ("signalstats.YAVG", "signalstats.UAVG", "signalstats.VAVG", "blur",
             "black_start", "black_end", "freezedetect.freeze_start", "freezedetect.freeze_end")
_FIGURE_RE = re.compile(
    r"^(?:frame:\S+\s+pts:\S+\s+pts_time:(\S+)|lavfi\.("
    + "|".join(re.escape(key) for key in USED_KEYS) + r")=(\S*))\s*$", re.MULTILINE)
# A black or still picture explains these by itself (a flat picture has no edges,
# little colour, and compresses to almost nothing): listed once, as black or frozen.
# (scene_changed too, in with_similarity.)
_EXPLAINED_BY_FLAT = {FROZEN, BLURRED, TOO_DARK, COLOUR_CAST, LOW_BITRATE}
_EXPLAINED_BY_STILL = {LOW_BITRATE}
NEUTRAL_CHROMA = 128.0
# Verdicts whose measure is a share with an "at least" threshold.
_SHARES = (BLACK, FROZEN)


@dataclass
class PictureLog:
    """The figures of each keyframe the checks saw, read from ffmpeg's stderr lines."""

    frames: list[dict[str, float]] = field(default_factory=list)

    def went_back(self, gap: float = 0.0) -> bool:
        """True when a keyframe's time was not after the one before (the camera's clock restarted),
        or, sampled ``gap`` apart (recorder/ffmpeg_command.py), closer than that."""
        times = [frame["pts_time"] for frame in self.frames]
        return any(later <= earlier or later - earlier < gap
                   for earlier, later in zip(times, times[1:]))

    def with_blur(self, blur: PictureLog) -> PictureLog:
        """These keyframes given the blur figures of ``blur`` (the thumbnails' keyframes, a few of
        these, recorder/ffmpeg_command.py), matched by time."""
        values = {frame["pts_time"]: frame["blur"] for frame in blur.frames if "blur" in frame}
        for frame in self.frames:
            if frame["pts_time"] in values:
                frame["blur"] = values[frame["pts_time"]]
        return self

    @classmethod
    def parse(cls, text: str) -> PictureLog:
        """The keyframes of metadata=print's file output (complete lines; a cut last one is skipped)."""
        frames: list[dict[str, float]] = []
        for match in _FIGURE_RE.finditer(text):
            time, key, value = match.groups()
            if time is not None:
                frames.append({"pts_time": _number(time)})
            elif frames:
                frames[-1][key] = _number(value)
        return cls(frames)


@dataclass(frozen=True)
class Recorded:
    """What the recording itself says: seconds, frames, bytes, the frame rate the stream announced."""

    seconds: float
    frames: int
    size: int
    announced_fps: float | None = None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def judge(log: PictureLog, recorded: Recorded, limits: QualitySettings) -> dict:
    """The quality object: per verdict its measured value and threshold, and the verdicts found
    (of all but ``scene_changed``: :func:`with_similarity` adds it).

    ``measures`` is keyed by verdict (``too_dark``: mean luma against its floor);
    a measure that could not be taken is left out, and decides nothing.
    """
    frames = log.frames
    if not frames or recorded.seconds <= 0:
        return unchecked()
    measures: dict[str, dict] = {"keyframes": {"value": len(frames)}}
    issues = []
    for verdict, value, threshold, bad_below in _rows(frames, recorded, limits):
        if value is None:
            continue
        measures[verdict] = {"value": round(value, 3), "threshold": threshold}
        if (value < threshold) if bad_below else (value >= threshold if verdict in _SHARES
                                                   else value > threshold):
            issues.append(verdict)
    if BLACK in issues:
        issues = [v for v in issues if v not in _EXPLAINED_BY_FLAT]
    if FROZEN in issues:
        issues = [v for v in issues if v not in _EXPLAINED_BY_STILL]
    return {"checked": True, "issues": issues, "measures": measures}


def with_similarity(quality: dict, similarity: float | None, limits: QualitySettings) -> dict:
    """``quality`` with the picture's similarity to its camera's reference (None: no
    reference) measured and judged: ``scene_changed`` below ``min_similarity``, unless the
    picture is black (a flat picture is like no view). A cluster coordinator adds it to its
    worker's verdict (the references are the coordinator's); a quality of another form is
    returned as it is."""
    if (similarity is None or not isinstance(quality, dict) or quality.get("checked") is not True
            or not isinstance(quality.get("issues"), list)
            or not isinstance(quality.get("measures"), dict)):
        return quality
    measures = {**quality["measures"], SCENE_CHANGED: {"value": round(similarity, 3),
                                                         "threshold": limits.min_similarity}}
    issues = [verdict for verdict in quality["issues"] if verdict != SCENE_CHANGED]
    if similarity < limits.min_similarity and BLACK not in issues:
        issues.append(SCENE_CHANGED)
    return {**quality, "issues": issues, "measures": measures}


def _rows(frames: list[dict], recorded: Recorded, limits: QualitySettings) -> list[tuple]:
    """(verdict, measured value or None, threshold, True when a value below it is the fault)."""
    fps_floor = limits.min_fps
    if recorded.announced_fps:
        fps_floor = max(fps_floor, round(limits.fps_ratio * recorded.announced_fps, 2))
    luma = _mean(frames, "signalstats.YAVG")
    return [
        (BLACK, _black_ratio(frames), limits.black_ratio, False),
        (FROZEN, _frozen_ratio(frames), limits.frozen_ratio, False),
        (BLURRED, _median(frames, "blur"), limits.blur_max, False),
        (TOO_DARK, luma, limits.dark_luma, True),
        (TOO_BRIGHT, luma, limits.bright_luma, False),
        (COLOUR_CAST, _chroma_offset(frames), limits.cast_max, False),
        (LOW_FPS, recorded.frames / recorded.seconds, fps_floor, True),
        (LOW_BITRATE, recorded.size * 8 / recorded.seconds / 1000, limits.min_bitrate_kbps,
         True),
    ]


def _values(frames: list[dict], key: str) -> list[float]:
    return [frame[key] for frame in frames if key in frame and math.isfinite(frame[key])]


def _mean(frames: list[dict], key: str) -> float | None:
    values = _values(frames, key)
    return statistics.fmean(values) if values else None


def _median(frames: list[dict], key: str) -> float | None:
    values = _values(frames, key)
    return statistics.median(values) if values else None


def _chroma_offset(frames: list[dict]) -> float | None:
    """How far the picture's mean colour is from grey: the larger of the U and V offsets."""
    u, v = _mean(frames, "signalstats.UAVG"), _mean(frames, "signalstats.VAVG")
    if u is None or v is None:
        return None
    return max(abs(u - NEUTRAL_CHROMA), abs(v - NEUTRAL_CHROMA))


def _black_ratio(frames: list[dict]) -> float:
    """The share of keyframes inside a blackdetect interval (a start opens one, an end closes it)."""
    black, inside = 0, False
    for frame in frames:
        if "black_end" in frame:
            inside = False
        if "black_start" in frame:
            inside = True
        black += inside
    return black / len(frames)


def _frozen_ratio(frames: list[dict]) -> float | None:
    """The share of the sampled time freezedetect calls frozen (None: one keyframe is no span)."""
    times = _values(frames, "pts_time")
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    frozen, start = 0.0, None
    for frame in frames:
        if "freezedetect.freeze_start" in frame and "freezedetect.freeze_end" in frame:
            # freezedetect reports a span it has no similar frame in: keyframes further
            # apart than its minimum freeze, this one unlike the last (a start can only
            # be set while no freeze is open, so this one's start is its own).
            continue
        if "freezedetect.freeze_end" in frame and start is not None:
            frozen += frame["freezedetect.freeze_end"] - start
            start = None
        if "freezedetect.freeze_start" in frame:
            start = frame["freezedetect.freeze_start"]
    if start is not None:
        frozen += times[-1] - start
    return min(1.0, max(0.0, frozen / (times[-1] - times[0])))
